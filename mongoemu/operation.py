"""Operations in progress: a command's deadline (`maxTimeMS`), its interruption, and its turns
on the member's one event loop.

mongod runs every command on its own thread; a long one yields its locks every 10 ms
(`internalQueryExecYieldPeriodMS`) and checks there whether it was interrupted (maxTimeMS,
killOp, a stepdown). A member here is one asyncio event loop, so heartbeats, elections and other
clients only run between the steps of other work. To keep their timing, a command handler runs
in a greenlet (`run`): synchronous code anywhere below it (a write command's statements, a
collection scan, a sort's key extraction, an index build, an oplog batch being applied) calls
`checkpoint()` per document, and once the operation's time slice is used up the greenlet hands
the loop back and resumes on the next turn. This is how SQLAlchemy bridges synchronous code to
asyncio; it keeps storage code synchronous and lets every `await` of a handler work unchanged.

Between two checkpoints nothing else runs, so each document's change is atomic; a write
also holds an `atomic()` section from taking its optime to logging its entry, where a
checkpoint neither yields nor raises. Before an operation gives up its turn it runs its
`on_yield` hooks: a write journals the entries it has applied (so oplog order stays optime
order, and no one sees an applied but unjournaled change), oplog application publishes its
progress. Interruption and the deadline are checked at every checkpoint: `Operation.check()`
is the one place that decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet

from mongoemu.errors import CommandError

T = TypeVar("T")

# mongod's internalQueryExecYieldPeriodMS.
YIELD_PERIOD_S = 0.010
# Loop iterations per turn: a request wakes its handler in three hops (socket readable, the
# protocol's callback, the task's step), and a timer in two, so one turn serves them whole.
TURN_ITERATIONS = 3
# mongod's limit for maxTimeMS (a 32-bit signed millisecond count).
MAX_TIME_MS_LIMIT = 2**31 - 1


def max_time_expired() -> CommandError:
    return CommandError(50, "operation exceeded time limit", code_name="MaxTimeMSExpired")


def parse_max_time_ms(value: Any) -> int | None:
    """`maxTimeMS` as mongod validates it; None for no limit (absent or 0)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError(2, "maxTimeMS must be a number")
    if value != int(value):
        raise CommandError(2, f"maxTimeMS has non-integral value {value}")
    if not 0 <= value <= MAX_TIME_MS_LIMIT:
        raise CommandError(2, f"{int(value)} value for maxTimeMS is out of range [0, {MAX_TIME_MS_LIMIT}]")
    return int(value) or None


class Operation:
    """One command (or internal task) in progress on this member."""

    def __init__(
        self,
        name: str,
        *,
        deadline: float | None = None,
        user: bool = True,
        write: bool = False,
        always_expires: Callable[[], bool] | None = None,
    ) -> None:
        self.name = name
        # time.monotonic() after which the operation fails with MaxTimeMSExpired; None: never.
        self.deadline = deadline
        # Asked whenever a deadline is checked: True makes it count as passed (a fail point).
        self._always_expires = always_expires
        # A client's command (not replication's own work), and whether it writes.
        self.user = user
        self.write = write
        self._interrupted: CommandError | None = None
        self._hooks: list[Callable[[], None]] = []
        self._slice_end = 0.0
        self._atomic = 0
        self._backstop: asyncio.Timeout | None = None

    @classmethod
    def with_time_limit(
        cls,
        name: str,
        max_time_ms: int | None,
        *,
        write: bool = False,
        always_expires: Callable[[], bool] | None = None,
    ) -> Operation:
        """A client's command with its `maxTimeMS` (None: no limit)."""
        deadline = None if max_time_ms is None else time.monotonic() + max_time_ms / 1000
        return cls(name, deadline=deadline, write=write, always_expires=always_expires)

    # --- interruption and the deadline -------------------------------------------------------
    def expired(self) -> bool:
        """Whether the operation's time is up: the one place that decides. As mongod's
        OperationContext::hasDeadlineExpired, an operation without a deadline never expires,
        and one with any deadline (its own maxTimeMS or what its cursor inherited) expires at
        once while `maxTimeAlwaysTimeOut` is on."""
        if self.deadline is None:
            return False
        if self._always_expires is not None and self._always_expires():
            return True
        return time.monotonic() >= self.deadline

    def check(self) -> None:
        """Raise the error that ends this operation, if anything has ended it."""
        if self._interrupted is not None:
            raise self._interrupted
        if self.expired():
            raise max_time_expired()

    def interrupt(self, error: CommandError) -> None:
        """End the operation at its next checkpoint (mongod's killOp, or a state change)."""
        if self._interrupted is None:
            self._interrupted = error

    def remaining(self) -> float | None:
        """Seconds until the deadline (at least 0), or None without one."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def timeout_for(self, wait_secs: float | None) -> tuple[float | None, bool]:
        """The timeout for a wait of its own limit `wait_secs` (None: unbounded) inside this
        operation, and whether reaching it means the operation's deadline passed."""
        left = self.remaining()
        if left is None or (wait_secs is not None and wait_secs <= left):
            return wait_secs, False
        return left, True

    # --- turns on the event loop -----------------------------------------------------------
    def on_yield(self, hook: Callable[[], None]) -> None:
        """Run `hook` whenever this operation is about to give up its turn, from now on."""
        self._hooks.append(hook)

    def atomic(self) -> _Atomic:
        """A section that must not be interleaved with other work: checkpoints inside it
        neither yield nor raise (a write between taking its optime and logging its entry)."""
        return _Atomic(self)

    def _start_slice(self) -> None:
        self._slice_end = time.monotonic() + YIELD_PERIOD_S

    def _checkpoint(self, runner: _Runner) -> None:
        if self._atomic:
            return
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            self.check()
        if now < self._slice_end:
            return
        self.check()
        for hook in list(self._hooks):
            hook()
        runner.parent.switch(_TURN)
        self._start_slice()
        self.check()

    # --- the deadline while awaiting ---------------------------------------------------------
    def time_limit(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Within this block the deadline also ends the operation where it awaits (checkpoints
        check it themselves): MaxTimeMSExpired."""
        return _NOTHING if self.deadline is None else self._limited()

    @contextlib.asynccontextmanager
    async def _limited(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        timeout = asyncio.timeout_at(loop.time() + (self.remaining() or 0.0))
        self._backstop = timeout
        try:
            async with timeout:
                yield
        except TimeoutError:
            if timeout.expired():
                raise max_time_expired() from None
            raise
        finally:
            self._backstop = None

    def limit_to(self, seconds: float | None) -> None:
        """Give the operation a deadline `seconds` from now (None: none); a getMore inherits
        what its cursor has left of the opening command's maxTimeMS."""
        self.deadline = None if seconds is None else time.monotonic() + seconds

    @contextlib.contextmanager
    def reports_own_deadline(self) -> Iterator[None]:
        """Within this block, a wait that answers for the deadline itself (the write-concern
        wait reports it as a writeConcernError) is not cut off by `time_limit`."""
        backstop = self._backstop
        if backstop is None:
            yield
            return
        backstop.reschedule(None)
        try:
            yield
        finally:
            left = self.remaining()
            # Past the deadline the wait has answered for it; re-arming would cancel the reply.
            if left:
                backstop.reschedule(asyncio.get_running_loop().time() + left)

    async def sleep(self, seconds: float) -> None:
        """Sleep, but no longer than the deadline (mongod's interruptible opCtx->sleepFor)."""
        timeout, cut = self.timeout_for(seconds)
        await asyncio.sleep(timeout or 0)
        if cut:
            raise max_time_expired()


class _Atomic:
    """`with op.atomic():` without a generator's cost (it runs once per document written)."""

    __slots__ = ("_op",)

    def __init__(self, op: Operation) -> None:
        self._op = op

    def __enter__(self) -> None:
        self._op._atomic += 1

    def __exit__(self, *exc: object) -> None:
        self._op._atomic -= 1


class _Nothing:
    """A context manager that does nothing (every command passes through a few that usually
    have nothing to do: a generator-based one would cost more than the command's work)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NOTHING = _Nothing()


class _Tracked:
    __slots__ = ("_active", "_op")

    def __init__(self, active: set[Operation], op: Operation) -> None:
        self._active, self._op = active, op

    def __enter__(self) -> Operation:
        self._active.add(self._op)
        return self._op

    def __exit__(self, *exc: object) -> None:
        self._active.discard(self._op)


class _Checkout:
    """One session's hold: its lock, and how many commands hold or wait for it."""

    __slots__ = ("_sessions", "key", "lock", "users")

    def __init__(self, sessions: dict[bytes, _Checkout], key: bytes) -> None:
        self._sessions, self.key = sessions, key
        self.lock = asyncio.Lock()
        self.users = 0

    async def __aenter__(self) -> None:
        self.users += 1
        try:
            await self.lock.acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self.lock.release()
        self._leave()

    def _leave(self) -> None:
        self.users -= 1
        if not self.users:
            del self._sessions[self.key]


class Operations:
    """The member's operations in progress: what a state change interrupts, and the sessions
    they hold (a session runs one retryable write at a time, as mongod checks sessions out:
    a retry that arrives while the first attempt still runs waits for it)."""

    def __init__(self) -> None:
        self._active: set[Operation] = set()
        self._sessions: dict[bytes, _Checkout] = {}

    def __len__(self) -> int:
        return len(self._active)

    def track(self, op: Operation) -> contextlib.AbstractContextManager[Operation]:
        return _Tracked(self._active, op)

    def interrupt(self, error: CommandError, *, writes_only: bool = False) -> None:
        """End clients' operations (only the writes, or all) at their next checkpoint."""
        for op in self._active:
            if op.user and (op.write or not writes_only):
                op.interrupt(error)

    def checkout(self, session: bytes | None) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold `session` (None: nothing to hold) for the block."""
        if session is None:
            return _NOTHING
        entry = self._sessions.get(session)
        if entry is None:
            entry = self._sessions[session] = _Checkout(self._sessions, session)
        return entry


_TURN = object()  # what an operation's greenlet sends its parent to ask for a turn
_IDLE_RUNNERS_KEPT = 32


class _Done:
    """What a runner sends its parent when its job has finished (value or exception)."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any, error: BaseException | None) -> None:
        self.value, self.error = value, error


class _Runner(greenlet):  # type: ignore[misc]
    """A greenlet that runs operations one after another (creating a greenlet costs about
    twenty times a switch, so idle ones are kept)."""

    op: Operation

    def __init__(self) -> None:
        super().__init__(self._work)

    def _work(self, job: Coroutine[Any, Any, Any] | None) -> None:
        while True:
            assert job is not None
            try:
                done = _Done(_drive(self, job), None)
            except BaseException as exc:
                done = _Done(None, exc)
            job = None
            # The parent empties `done`: an idle runner holds no result (possibly a 48 MB request).
            job = self.parent.switch(done)


_idle: list[_Runner] = []


def current() -> Operation | None:
    """The operation whose greenlet is running, if any."""
    g = getcurrent()
    return g.op if isinstance(g, _Runner) else None


def checkpoint() -> None:
    """A yield point for synchronous code: checks the running operation's interruption and
    deadline and, once its time slice is used up, gives the event loop a turn. Outside an
    operation (start-up recovery, unit tests) it does nothing."""
    g = getcurrent()
    if isinstance(g, _Runner):
        g.op._checkpoint(g)


async def run(op: Operation, coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` as `op`: its awaits work as in a task, and synchronous code under it may
    `checkpoint()`. The caller's task stays the one that owns the coroutine (cancellation,
    `asyncio.timeout`); the coroutine's frames run in the operation's greenlet."""
    runner = _idle.pop() if _idle else _Runner()
    runner.parent = getcurrent()
    runner.op = op
    op._start_slice()
    try:
        return await _trampoline(runner, coro)
    finally:
        # Hooks refer back to the command (a write's batch holds its context, which holds
        # the operation): dropping them breaks that cycle, so a finished command's memory
        # (possibly 48 MB of documents) is freed at once, not at the next full collection.
        op._hooks.clear()


async def _trampoline(runner: _Runner, coro: Coroutine[Any, Any, T]) -> T:
    request = runner.switch(coro)
    while not isinstance(request, _Done):
        if request is _TURN:
            try:
                for _ in range(TURN_ITERATIONS):
                    await asyncio.sleep(0)
            except BaseException as exc:  # cancellation: raised at the checkpoint
                request = runner.throw(exc)
            else:
                request = runner.switch(None)
        else:
            request = runner.switch(await _outcome(request))
    if len(_idle) < _IDLE_RUNNERS_KEPT:
        _idle.append(runner)
    error, value = request.error, request.value
    request.error = request.value = None
    del request
    if error is None:
        return value  # type: ignore[no-any-return]
    try:
        raise error
    finally:
        error = None  # this frame is in the traceback: no cycle through the local


async def run_sync(op: Operation, fn: Callable[..., T], *args: Any) -> T:
    """Run the synchronous `fn(*args)` as `op`, yielding at its checkpoints."""

    async def call() -> T:
        return fn(*args)

    return await run(op, call())


async def _outcome(awaited: Any) -> BaseException | None:
    """Wait, on the coroutine's behalf, for what it yielded (a future, or None for a bare
    yield); return the exception to throw into it, or None to resume it."""
    try:
        if awaited is None:
            await asyncio.sleep(0)
        else:
            await awaited
    except asyncio.CancelledError as exc:
        # Our task was cancelled: the coroutine sees it as a task would, through its future
        # when that was cancelled too, else thrown in.
        if awaited is not None and awaited.cancelled():
            return None
        return exc
    except BaseException:
        return None  # the future's own exception: the coroutine reads it from the future
    return None


def _drive(runner: _Runner, coro: Coroutine[Any, Any, T]) -> T:
    """Inside the runner: step the coroutine as asyncio's Task would, handing each awaited
    future to the parent and resuming with its outcome."""
    throw: BaseException | None = None
    while True:
        try:
            awaited = coro.send(None) if throw is None else coro.throw(throw)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if awaited is not None:
            awaited._asyncio_future_blocking = False
        throw = runner.parent.switch(awaited)
