"""Timing and reporting of MongoDB operations, in the shape of Locust's `EventHook.measure()`.

`Instrument.measure(name)` wraps the code that performs one operation, including the iteration
that materialises a cursor, so the time reported is the round trip and not the construction of
a lazy cursor. It fires the `request` hook it was given (a Locust environment's
`events.request`, or anything with `fire(**kwargs)`), never a global. Writes are planned before
they run (`plan`), and their outcome goes to the ledger when the operation ends.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from bson import ObjectId
from pymongo.collection import Collection

from contract.rundir import LedgerEntry, WriteStatus
from locustfiles.classify import bulk_statuses, error_class

REQUEST_TYPE = "mongo"


class RequestHook(Protocol):
    def fire(self, **kwargs: Any) -> Any: ...


class LedgerSink(Protocol):
    def ledger(self, entry: LedgerEntry) -> None: ...


class WriteIds:
    """Write ids unique in a run, `<worker>-<n>` with n = 1, 2, ... so the ledger shows gaps."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.worker}-{next(self._counter)}"


def render_id(value: Any) -> tuple[str, str]:
    """A document id as the ledger stores it: its text and `id_type`."""
    if isinstance(value, ObjectId):
        return str(value), "oid"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"the ledger records ObjectId, str or int ids, not {type(value).__name__}")
    return str(value), "int" if isinstance(value, int) else "str"


def write_concern_text(collection: Collection[Any]) -> str:
    w = collection.write_concern.document.get("w")
    return "default" if w is None else str(w)


@dataclass(slots=True)
class PlannedWrite:
    write_id: str
    collection: str
    op: str  # insert | update | delete
    doc_id: str
    id_type: str
    write_concern: str
    token: str | None  # the value stored in the document's `_w`, None when the write stores none
    seq: int | None = None


@dataclass(slots=True)
class Call:
    """What the measured block reports back: the response size; the outcome is filled in."""

    response_size: int = 0
    exception: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.exception is None


class Instrument:
    def __init__(self, hook: RequestHook, ledger: LedgerSink | None, user_class: str, ids: WriteIds) -> None:
        self.hook = hook
        self.ledger_sink = ledger
        self.user_class = user_class
        self.ids = ids

    def plan(
        self,
        collection: Collection[Any],
        op: str,
        doc_id: Any,
        *,
        stores_token: bool = True,
        seq: int | None = None,
    ) -> PlannedWrite:
        """A write id for a write about to run; when `stores_token`, the write must set `_w` to it."""
        write_id = self.ids.next()
        text, id_type = render_id(doc_id)
        return PlannedWrite(
            write_id=write_id,
            collection=collection.name,
            op=op,
            doc_id=text,
            id_type=id_type,
            write_concern=write_concern_text(collection),
            token=write_id if stores_token else None,
            seq=seq,
        )

    @contextmanager
    def measure(
        self, name: str, *, writes: Sequence[PlannedWrite] = (), ordered: bool = True
    ) -> Iterator[Call]:
        """Time the block, report it, settle its planned writes; an `Exception` in the block is
        reported and swallowed (the caller reads `call.ok`), anything else propagates."""
        call = Call()
        t_start = time.time()
        t0 = time.perf_counter()
        try:
            yield call
        except Exception as exc:
            call.exception = exc
        except BaseException:
            # Interrupted (a stopping Locust kills its users): the write may have been sent.
            self._settle(writes, [WriteStatus.INDETERMINATE] * len(writes), t_start, None)
            raise
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        exc = call.exception
        self.hook.fire(
            request_type=REQUEST_TYPE,
            name=name,
            response_time=elapsed_ms,
            response_length=call.response_size,
            exception=exc,
            context={
                "user_class": self.user_class,
                "is_write": bool(writes),
                "error_class": None if exc is None else error_class(exc).value,
            },
            start_time=t_start,
            url=None,
            response=None,
        )
        if writes:
            self._settle(writes, bulk_statuses(exc, len(writes), ordered), t_start, time.time())

    def _settle(
        self,
        writes: Sequence[PlannedWrite],
        statuses: Sequence[WriteStatus],
        t_start: float,
        t_end: float | None,
    ) -> None:
        if self.ledger_sink is None:
            return
        for w, status in zip(writes, statuses, strict=True):
            self.ledger_sink.ledger(
                LedgerEntry(
                    write_id=w.write_id,
                    collection=w.collection,
                    op=w.op,
                    doc_id=w.doc_id,
                    id_type=w.id_type,
                    write_concern=w.write_concern,
                    t_start=t_start,
                    status=status.value,
                    t_ack=t_end if status is WriteStatus.ACKED else None,
                    token=w.token,
                    seq=w.seq,
                    user_class=self.user_class,
                    worker=self.ids.worker,
                )
            )
