"""Operations (mongoemu/operation.py): a handler's awaits run unchanged inside its greenlet,
synchronous code takes turns with the event loop at checkpoints, the deadline and
interruptions end it there, and a write's hooks run before every turn it gives away."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from mongoemu import operation
from mongoemu.errors import CommandError
from mongoemu.operation import Operation, Operations, checkpoint, parse_max_time_ms


@pytest.fixture
def every_checkpoint_yields(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A zero time slice: each checkpoint gives the loop a turn, so interleaving is exact."""
    monkeypatch.setattr(operation, "YIELD_PERIOD_S", 0.0)
    yield


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_awaits_inside_an_operation_behave_as_in_a_task() -> None:
    async def handler() -> Any:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        loop.call_later(0.01, fut.set_result, 5)
        value = await fut
        await asyncio.sleep(0)
        value += await asyncio.wait_for(asyncio.sleep(0.01, result=7), 1)
        failing = loop.create_future()
        loop.call_soon(failing.set_exception, ValueError("from a future"))
        with pytest.raises(ValueError, match="from a future"):
            await failing
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(1)
        except TimeoutError:
            value += 100
        return value

    async def main() -> Any:
        return await operation.run(Operation("t"), handler())

    assert run(main()) == 112


def test_cancelling_the_task_reaches_the_coroutine_and_its_checkpoints() -> None:
    async def waits() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "saw the cancellation"
        return "not cancelled"

    def spins() -> None:
        while True:
            checkpoint()

    async def main() -> tuple[str, bool]:
        task = asyncio.create_task(operation.run(Operation("a"), waits()))
        await asyncio.sleep(0.01)
        task.cancel()
        first = await task
        spinning = asyncio.create_task(operation.run_sync(Operation("b"), spins))
        await asyncio.sleep(0.05)
        spinning.cancel()
        with pytest.raises(asyncio.CancelledError):
            await spinning
        return first, spinning.cancelled()

    assert run(main()) == ("saw the cancellation", True)


def test_checkpoints_give_other_tasks_their_turns(every_checkpoint_yields: None) -> None:
    seen: list[str] = []

    def work() -> int:
        for i in range(5):
            seen.append(f"work{i}")
            checkpoint()
        return 5

    async def other() -> None:
        for i in range(5):
            seen.append(f"other{i}")
            await asyncio.sleep(0)

    async def main() -> int:
        side = asyncio.create_task(other())
        done = await operation.run_sync(Operation("w"), work)
        await side
        return done

    assert run(main()) == 5
    assert seen.index("other1") < seen.index("work4"), seen


def test_the_deadline_ends_synchronous_work_with_max_time_ms_expired() -> None:
    def scan() -> None:
        while True:
            checkpoint()

    async def main() -> None:
        await operation.run_sync(Operation.with_time_limit("find", 20), scan)

    with pytest.raises(CommandError) as err:
        run(main())
    assert (err.value.code, err.value.code_name) == (50, "MaxTimeMSExpired")


def test_the_deadline_ends_an_await_under_time_limit() -> None:
    async def handler(op: Operation) -> None:
        async with op.time_limit():
            await asyncio.sleep(5)

    async def main() -> None:
        op = Operation.with_time_limit("find", 20)
        await operation.run(op, handler(op))

    with pytest.raises(CommandError) as err:
        run(main())
    assert err.value.code == 50


def test_a_wait_that_reports_its_own_deadline_is_not_cut_short() -> None:
    async def handler(op: Operation) -> str:
        async with op.time_limit():
            timeout, deadline_first = op.timeout_for(10.0)
            assert deadline_first and timeout is not None and timeout <= 0.02
            with op.reports_own_deadline():
                try:
                    await asyncio.wait_for(asyncio.sleep(5), timeout)
                except TimeoutError:
                    await asyncio.sleep(0.05)  # past the deadline, still answering
                    return "reported"
        return "finished"

    async def main() -> str:
        op = Operation.with_time_limit("insert", 20)
        return await operation.run(op, handler(op))

    assert run(main()) == "reported"


def test_interruption_ends_the_operation_at_its_next_checkpoint(every_checkpoint_yields: None) -> None:
    registry = Operations()
    reads, writes = Operation("find"), Operation("insert", write=True)
    internal = Operation("oplog application", user=False, write=True)

    def scan() -> None:
        for _ in range(1000):
            checkpoint()

    async def main() -> list[Any]:
        with registry.track(reads), registry.track(writes), registry.track(internal):
            tasks = [asyncio.create_task(operation.run_sync(op, scan)) for op in (reads, writes, internal)]
            await asyncio.sleep(0)
            registry.interrupt(CommandError(11602, "state change"), writes_only=True)
            return await asyncio.gather(*tasks, return_exceptions=True)

    read_result, write_result, internal_result = run(main())
    assert read_result is None and internal_result is None
    assert isinstance(write_result, CommandError) and write_result.code == 11602


def test_hooks_run_before_each_turn_and_atomic_sections_never_yield(every_checkpoint_yields: None) -> None:
    events: list[str] = []

    def write(op: Operation) -> None:
        op.on_yield(lambda: events.append("flush"))
        with op.atomic():
            events.append("optime")
            checkpoint()  # inside the section: no turn, no hook
            events.append("applied")
        checkpoint()
        events.append("next")

    async def other() -> None:
        await asyncio.sleep(0)
        events.append("other")

    async def main() -> Operation:
        op = Operation("insert", write=True)
        side = asyncio.create_task(other())
        await operation.run_sync(op, write, op)
        await side
        return op

    op = run(main())
    assert events.index("optime") + 1 == events.index("applied")
    assert events.index("flush") < events.index("other") < events.index("next")
    assert not op._hooks  # dropped when the operation ends, so nothing keeps its command alive


def test_a_session_runs_one_retryable_write_at_a_time() -> None:
    registry = Operations()
    order: list[str] = []

    async def write(name: str) -> None:
        async with registry.checkout(b"session"):
            order.append(f"{name} starts")
            await asyncio.sleep(0.01)
            order.append(f"{name} ends")

    async def main() -> None:
        await asyncio.gather(write("first"), write("retry"))

    run(main())
    assert order == ["first starts", "first ends", "retry starts", "retry ends"]


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), (0, None), (1, 1), (2.0, 2), (2**31 - 1, 2**31 - 1)]
)
def test_max_time_ms_values(value: Any, expected: int | None) -> None:
    assert parse_max_time_ms(value) == expected


@pytest.mark.parametrize(("value", "message"), [(-1, "out of range"), (1.5, "non-integral"), ("5", "number")])
def test_bad_max_time_ms_is_bad_value(value: Any, message: str) -> None:
    with pytest.raises(CommandError) as err:
        parse_max_time_ms(value)
    assert err.value.code == 2 and message in str(err.value)
