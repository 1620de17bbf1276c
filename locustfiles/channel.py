"""A Locust worker's recordings travel to its master over Locust's own message channel, so a
worker on another machine needs no path shared with the master.

    worker (Uplink)                                       master (Inbox)
    hubchaos_batch {writer, session, seq, parts}   ──►    written into the worker's shards
                                                   ◄──    hubchaos_ack {session, seq}, once synced
    when the load stops:                           ◄──    hubchaos_drain
    hubchaos_drained {session, last_seq}           ──►    closes its shards once it holds 1..last_seq
    (also sent by a worker that stops on its own)

Back-pressure: at most `window` batches are unacknowledged; a full window makes the recorder's
flush wait, and a recorder whose buffer is full makes the users wait, so a slow master slows
the load instead of growing memory. A batch not acknowledged within `resend_after_s` is sent
again; the master acknowledges a batch it already holds without writing it twice.

A master restarted on the same run directory loses nothing it acknowledged: it logs each batch
it wrote, with its shards' sizes after it, to `events/<stem>.batches` (synced after the shards),
and a new `Inbox` cuts every logged shard back to its last logged size (a batch written but not
logged was never acknowledged, so it will come again), closes it, and knows from the logs which
batches it holds. Batch parts are Arrow IPC streams of the shards' own tables (events, ledger)
and the shards' JSON lines (discovery events, resource samples).

Nothing here imports Locust: `locustfiles.environment` carries these messages with a runner's
`send_message`/`register_message`; any other transport can carry them too.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract.rundir import EVENTS_SHARDS, LEDGER_SCHEMA
from locustfiles import eventcodec
from locustfiles.settings import RecorderSettings
from locustfiles.shards import KINDS, WRITE_OPTIONS, Manifest, Parts, ShardSet, shard_paths

log = logging.getLogger(__name__)

BATCH = "hubchaos_batch"
ACK = "hubchaos_ack"
DRAIN = "hubchaos_drain"
DRAINED = "hubchaos_drained"
LOG_SUFFIX = ".batches"
TICK_S = 0.05  # how often a waiting sender looks for batches to send again

Send = Callable[[str, dict[str, Any]], None]


class ChannelError(ValueError):
    """A message of the channel that cannot be used."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchMessage(_Message):
    writer: str = Field(pattern=r"^[A-Za-z0-9_-]{1,100}$")  # names the master's shard files
    session: str = Field(pattern=r"^[0-9a-f]{32}$")  # one recording process
    seq: int = Field(ge=1)
    events: bytes | None = None
    ledger: bytes | None = None
    discovery: bytes = b""
    resources: bytes = b""

    @classmethod
    def of(cls, writer: str, session: str, seq: int, parts: Parts) -> BatchMessage:
        return cls(
            writer=writer,
            session=session,
            seq=seq,
            events=_ipc(parts.events),
            ledger=_ipc(parts.ledger),
            discovery=parts.discovery,
            resources=parts.resources,
        )

    def parts(self) -> Parts:
        return Parts(
            events=_table(self.events, eventcodec.SHARD_SCHEMA),
            ledger=_table(self.ledger, LEDGER_SCHEMA),
            discovery=self.discovery,
            resources=self.resources,
        )


class Ack(_Message):
    session: str
    seq: int


class Drained(_Message):
    session: str
    last_seq: int = Field(ge=0)  # the last batch sent before the drain (0: none)


class LogEntry(_Message):
    """One batch the master wrote: its shards' sizes and row counts just after it."""

    writer: str
    session: str
    seq: int
    sizes: dict[str, int]
    rows: dict[str, int]


M = TypeVar("M", bound=_Message)


def parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ChannelError(f"bad {model.__name__}: {exc.errors()[0]['msg']}") from None


def _ipc(table: pa.Table | None) -> bytes | None:
    if table is None:
        return None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=WRITE_OPTIONS) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _table(data: bytes | None, schema: pa.Schema) -> pa.Table | None:
    if data is None:
        return None
    try:
        table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ChannelError(f"a batch part is not an Arrow stream: {exc}") from None
    if not table.schema.equals(schema):
        raise ChannelError("a batch part has the wrong columns")
    return table


@dataclass(slots=True)
class _Sent:
    message: dict[str, Any]
    at: float  # monotonic time it was last sent
    rows: dict[str, int]


class Uplink:
    """The worker's end, a recorder's sink: numbered batches, at most `window` unacknowledged."""

    def __init__(self, send: Send, writer: str, settings: RecorderSettings) -> None:
        self.session = uuid.uuid4().hex
        self.manifest = Manifest(stem=f"{writer}.{self.session[:8]}", worker=writer, pid=os.getpid())
        self.settings = settings
        self.dropped = 0  # records made after the master's drain (or after giving up), not sent
        self._send = send
        self._seq = 0
        self._unacked: dict[int, _Sent] = {}
        self._sealed = False
        self._gave_up = False
        self._progress = time.monotonic()  # the last acknowledgement, or the first batch sent after it
        self._cond = threading.Condition()

    @property
    def last_seq(self) -> int:
        return self._seq

    def write(self, parts: Parts) -> None:
        rows = parts.rows()
        with self._cond:
            while len(self._unacked) >= self.settings.window and not self._sealed:
                if time.monotonic() - self._progress > self.settings.drain_timeout_s:
                    self._give_up()
                    break
                self._send_overdue()
                self._cond.wait(TICK_S)
            if self._sealed:
                self.dropped += sum(rows.values())
                return
            # Numbered once built: a batch that failed to build leaves no gap for the master to await.
            message = BatchMessage.of(self.manifest.worker, self.session, self._seq + 1, parts).model_dump()
            self._seq += 1
            if not self._unacked:
                self._progress = time.monotonic()  # the master's silence counts from here
            self._unacked[self._seq] = _Sent(message, time.monotonic(), rows)
        for kind, n in rows.items():
            setattr(self.manifest, kind, getattr(self.manifest, kind) + n)
        self._transmit(message)

    def on_ack(self, data: Any) -> None:
        ack = parse(Ack, data)
        if ack.session == self.session:
            with self._cond:
                self._unacked.pop(ack.seq, None)
                self._progress = time.monotonic()
                self._cond.notify_all()

    def settle(self, timeout_s: float) -> int:
        """Wait until every batch is acknowledged (sending again what is overdue), at most
        `timeout_s`; the number of batches still unacknowledged."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._unacked and time.monotonic() < deadline:
                self._send_overdue()
                self._cond.wait(TICK_S)
            return len(self._unacked)

    def finish(self, timeout_s: float) -> int:
        """Seal this uplink (what this process records from now on is not sent: the load has
        stopped; a later test start reopens it), wait up to `timeout_s` for every batch's
        acknowledgement, then tell the master which batch was the last (`Drained`), so that it
        closes this process's shards. The number of batches still unacknowledged."""
        self._sealed = True
        left = self.settle(timeout_s)
        try:
            self._send(DRAINED, Drained(session=self.session, last_seq=self._seq).model_dump())
        except Exception as exc:  # the master is away: it will report these shards unclosed
            log.debug("sending the last batch number failed: %s", exc)
        return left

    def reopen(self) -> None:
        self._sealed = False

    def close(self) -> None:
        """Finish (unless the master's drain did, or does), and say in the log what was delivered."""
        patience = 2 * self.settings.resend_after_s
        # Sealed by a drain, which may still await acknowledgements; a gone master sends none.
        left = self.finish(patience) if not self._sealed else self.settle(0.0 if self._gave_up else patience)
        self.manifest.closed = True
        worker = self.manifest.worker
        if left:
            lost = {k: sum(s.rows[k] for s in self._unacked.values()) for k in KINDS}
            log.error(
                "%s: %d batch(es) never acknowledged by the master (%d events, %d ledger entries)",
                worker,
                left,
                lost["events"],
                lost["ledger"],
            )
            return
        log.info(
            "%s: %d events, %d ledger entries, %d discovery events delivered to the master in %d batches%s",
            worker,
            self.manifest.events,
            self.manifest.ledger,
            self.manifest.discovery,
            self._seq,
            f"; {self.dropped} record(s) after the load stopped not sent" if self.dropped else "",
        )

    def _give_up(self) -> None:
        """The master acknowledged nothing for `drain_timeout_s` with the window full: it is gone
        (a Locust worker cannot join a restarted one), so stop waiting, and the users with it."""
        self._sealed = self._gave_up = True
        log.error(
            "%s: the master acknowledged no batch for %.0f s; recording stops here",
            self.manifest.worker,
            self.settings.drain_timeout_s,
        )

    def _send_overdue(self) -> None:
        now = time.monotonic()
        for sent in self._unacked.values():
            if now - sent.at >= self.settings.resend_after_s:
                sent.at = now
                self._transmit(sent.message)

    def _transmit(self, message: dict[str, Any]) -> None:
        try:
            self._send(BATCH, message)
        except Exception as exc:  # the master is away: the batch is sent again when overdue
            log.debug("sending batch %s failed: %s", message["seq"], exc)


@dataclass(slots=True)
class _Outbox:
    shards: ShardSet
    log: BinaryIO


class Inbox:
    """The master's end: every worker's batches into shards of its own run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        (run_dir / EVENTS_SHARDS).mkdir(parents=True, exist_ok=True)
        self._held: dict[str, set[int]] = recover(run_dir)
        self._open: dict[str, _Outbox] = {}
        self._awaiting: set[str] = set()
        self._reported: dict[str, Drained] = {}  # node -> its answer to the drain
        self._last: dict[str, int] = {}  # session -> the last batch it said it sent
        self._node: dict[str, str] = {}  # session -> the Locust node that sent it

    def holds(self, session: str) -> set[int]:
        return set(self._held.get(session, ()))

    def receive(self, data: Any, node: str | None = None) -> dict[str, Any]:
        """Write a batch (unless held already) and sync it; the acknowledgement to send back."""
        batch = parse(BatchMessage, data)
        if node is not None:
            self._node[batch.session] = node
        held = self._held.setdefault(batch.session, set())
        if batch.seq not in held:
            if batch.seq > self._last.get(batch.session, batch.seq):
                del self._last[batch.session]  # a worker recording again after a drain
            out = self._outbox(batch)
            out.shards.write(batch.parts(), durable=True)
            entry = LogEntry(
                writer=batch.writer,
                session=batch.session,
                seq=batch.seq,
                sizes=out.shards.sizes(),
                rows={k: getattr(out.shards.manifest, k) for k in KINDS},
            )
            out.log.write(entry.model_dump_json().encode() + b"\n")
            out.log.flush()
            os.fsync(out.log.fileno())
            held.add(batch.seq)
            self._close_if_complete(batch.session)
        return Ack(session=batch.session, seq=batch.seq).model_dump()

    def begin_drain(self, nodes: Iterable[str]) -> None:
        """The master asks these workers (Locust node ids) for their last batches."""
        self._awaiting = set(nodes)
        self._reported = {}

    def on_drained(self, node: str, data: Any) -> None:
        """A worker's last batch number: its shards are closed once every batch up to it is held."""
        drained = parse(Drained, data)
        self._reported[node] = drained
        self._last[drained.session] = drained.last_seq
        self._close_if_complete(drained.session)

    def undrained(self) -> list[str]:
        """Workers asked whose answer, or one of whose batches up to it, has not arrived; and the
        writers of shards still open that no worker asked holds: a worker stopped by its own
        signal leaves the master's list (Locust's `quit`) before its last batches arrive."""
        asked = [
            node
            for node in self._awaiting
            if (d := self._reported.get(node)) is None or not self._complete(d.session, d.last_seq)
        ]
        gone = [
            out.shards.manifest.worker
            for session, out in self._open.items()
            if self._node.get(session) not in self._awaiting
        ]
        return sorted(asked) + sorted(gone)

    def wait_drained(self, timeout_s: float) -> list[str]:
        """Wait (at most `timeout_s`) until every worker asked has delivered everything; those
        that have not."""
        deadline = time.monotonic() + timeout_s
        while (left := self.undrained()) and time.monotonic() < deadline:
            time.sleep(TICK_S)
        return left

    def _complete(self, session: str, last_seq: int) -> bool:
        return set(range(1, last_seq + 1)) <= self._held.get(session, set())

    def _close_if_complete(self, session: str) -> None:
        last = self._last.get(session)
        if last is not None and self._complete(session, last) and (out := self._open.pop(session, None)):
            out.shards.close()
            out.log.close()

    def _outbox(self, batch: BatchMessage) -> _Outbox:
        out = self._open.get(batch.session)
        if out is None:
            shards = ShardSet(self.run_dir, batch.writer)
            log_file = log_path(self.run_dir, shards.stem).open("ab")
            out = self._open[batch.session] = _Outbox(shards, log_file)
        return out


def log_path(run_dir: Path, stem: str) -> Path:
    return run_dir / EVENTS_SHARDS / f"{stem}{LOG_SUFFIX}"


def read_log(path: Path) -> list[LogEntry]:
    """The batches a log names, without a torn last line (its writer was killed mid-line)."""
    entries = []
    for line in path.read_bytes().split(b"\n"):
        try:
            entries.append(LogEntry.model_validate(json.loads(line)))
        except (ValueError, ValidationError):
            continue  # the torn tail (or the empty string after the last newline)
    return entries


def recover(run_dir: Path) -> dict[str, set[int]]:
    """After a master's restart: every batch-logged shard cut back to its last logged size and
    closed; the batches held, per session."""
    held: dict[str, set[int]] = defaultdict(set)
    for path in sorted((run_dir / EVENTS_SHARDS).glob(f"*{LOG_SUFFIX}")):
        stem = path.name.removesuffix(LOG_SUFFIX)
        entries = read_log(path)
        last = entries[-1] if entries else None
        for kind, shard in shard_paths(run_dir, stem).items():
            size = last.sizes[kind] if last is not None else 0
            if shard.exists() and shard.stat().st_size > size:
                os.truncate(shard, size)
        manifest = Manifest(
            stem=stem,
            worker=last.writer if last is not None else stem.rpartition(".")[0],
            pid=os.getpid(),
            closed=True,
            **(last.rows if last is not None else {}),
        )
        manifest.save(run_dir)
        for entry in entries:
            held[entry.session].add(entry.seq)
    return held
