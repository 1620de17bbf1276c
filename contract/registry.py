"""Named extensions, looked up by name: the one pattern behind fault kinds, heal steps, SLO checks,
SLO profiles and backends (mongoemu's `@command` registry is the model).

    FAULT_KINDS = Registry("fault kind", "hubchaos.faults", {"kill": "chaos.faults.kinds.kill:Kill"})
    FAULT_KINDS.get("kill")                    # imports chaos.faults.kinds.kill on first use
    FAULT_KINDS.get("orders_faults:SlowDisk")  # a reference written where the name goes
    FAULT_KINDS.register("slow_disk", SlowDisk)

A name is found, first match wins: registered in this process (`register`, a decorator too);
built in (a `module:attribute` reference, imported only when asked for, so that a command pays
for what it uses); an entry point of the registry's group in an installed distribution
(`[project.entry-points."hubchaos.faults"] slow_disk = "orders_faults:SlowDisk"`); or the name
itself as a `module:attribute` reference. Anything that cannot be found or imported is one
UsageError naming the registry, the name and what is known.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar, overload

from pydantic import BaseModel, ValidationError

from contract.errors import UsageError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Listing:
    """One name a registry knows, and where it comes from: built in, registered, entry point."""

    name: str
    source: str
    reference: str


def load_reference(reference: str, what: str) -> object:
    """The object a `package.module:attribute` reference names; UsageError if it cannot be had."""
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageError(f"{what} {reference!r}: a reference is written module:attribute")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"{what} {reference!r}: cannot import {module_name} ({exc})") from None
    obj: object = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"{what} {reference!r}: {module_name} has no {attribute}") from None
    return obj


def subclass_of(base: type[T]) -> Callable[[object], type[T]]:
    """A registry's check that what a reference names is a subclass of `base`."""

    def check(found: object) -> type[T]:
        if not (isinstance(found, type) and issubclass(found, base)):
            raise TypeError(f"expected a {base.__module__}.{base.__qualname__} subclass, not {found!r}")
        return found

    return check


class Registry(Generic[T]):
    def __init__(
        self,
        what: str,
        group: str,
        builtins: dict[str, str] | None = None,
        check: Callable[[object], T] | None = None,
    ) -> None:
        self.what = what
        self.group = group
        self._builtins = dict(builtins or {})
        self._registered: dict[str, T] = {}
        self._loaded: dict[str, T] = {}
        # Turns what a reference named into a T, or raises TypeError saying what it should be.
        self._check = check

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T) -> T: ...
    def register(self, name: str, obj: T | None = None) -> T | Callable[[T], T]:
        """Register `obj` under `name` (or decorate it); a later registration replaces an earlier one."""
        if obj is None:
            return lambda found: self.register(name, found)
        self._registered[name] = obj
        self._loaded.pop(name, None)
        return obj

    def get(self, name: str) -> T:
        if name in self._registered:
            return self._registered[name]
        if name in self._loaded:
            return self._loaded[name]
        reference = self._builtins.get(name) or self._entry_points().get(name)
        if reference is None and ":" not in name:
            known = ", ".join(self.names()) or "none"
            raise UsageError(f"unknown {self.what} {name!r} (known: {known}; or module:attribute)")
        found = load_reference(reference or name, self.what)
        if self._check is not None:
            try:
                found = self._check(found)
            except TypeError as exc:
                raise UsageError(f"{self.what} {name!r}: {exc}") from None
        self._loaded[name] = found  # type: ignore[assignment]
        return found  # type: ignore[return-value]

    def names(self) -> list[str]:
        return [listing.name for listing in self.listings()]

    def listings(self) -> list[Listing]:
        """Every name known without importing anything, each with its origin."""
        found = {n: Listing(n, "built in", ref) for n, ref in self._builtins.items()}
        found.update(
            {n: Listing(n, f"entry point ({self.group})", r) for n, r in self._entry_points().items()}
        )
        for name, obj in self._registered.items():
            where = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', name)}"
            found[name] = Listing(name, "registered", where)
        return sorted(found.values(), key=lambda listing: listing.name)

    def _entry_points(self) -> dict[str, str]:
        return {ep.name: ep.value for ep in entry_points(group=self.group)}


def build(registry: Registry[type[M]], data: dict[str, Any], key: str, label: str) -> M:
    """The model `data[key]` names in `registry` (a name or a module:Class reference), validated
    from the other fields; a bad one is one UsageError: `<label> <name>: <field>: <problem>`."""
    name = str(data.get(key, "?"))
    model = registry.get(name)
    try:
        return model.model_validate({k: v for k, v in data.items() if k != key})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or key
        message = str(err["msg"]).removeprefix("Value error, ")
        raise UsageError(f"{label} {name}: {loc}: {message}") from None
