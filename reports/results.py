"""Pieces every analyser's result is made of."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Result(BaseModel):
    """Base of every analysis result: immutable, and unknown fields are an error when read back."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Moment(Result):
    """A point in a fault's anatomy: wall-clock time and seconds after the fault's injection."""

    t: float
    after_s: float

    @classmethod
    def after(cls, t: float, origin: float) -> Moment:
        return cls(t=t, after_s=t - origin)


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What an analyser produced, or why it could not: an analyser that raises yields an error."""

    value: T | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def attempt(analyser: Callable[..., T], *args: Any, **kwargs: Any) -> Outcome[T]:
    """Run an analyser; its exception becomes the outcome's error (ValueError: the message alone)."""
    try:
        return Outcome(value=analyser(*args, **kwargs))
    except ValueError as exc:
        return Outcome(error=str(exc))
    except Exception as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}")
