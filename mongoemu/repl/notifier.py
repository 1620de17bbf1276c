"""A broadcast wake-up: every task waiting when `notify()` runs resumes (new oplog entries,
replication progress), without each waiter polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Notifier:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """Wait for the next `notify()`; False when `timeout` seconds pass first."""
        event = self._event
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                await event.wait()
        except TimeoutError:
            return False
        return True

    async def wait_for(
        self, timeout: float, fetch: Callable[[], list[T]], stop: Callable[[], bool]
    ) -> list[T]:
        """Call `fetch` again after each `notify()` until it returns something, `stop()` says so
        or `timeout` seconds pass (an awaitData getMore)."""
        deadline = time.monotonic() + timeout
        batch = fetch()
        while not batch and not stop():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await self.wait(remaining)
            batch = fetch()
        return batch
