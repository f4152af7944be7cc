"""Background workers of one service process (relay, consumers), started and stopped by its lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundWorkers:
    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, run: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
        self._tasks[name] = asyncio.create_task(run(self.stop), name=name)

    def health(self) -> dict[str, str]:
        return {name: "ok" if not task.done() else "stopped" for name, task in self._tasks.items()}

    async def shutdown(self, timeout_s: float = 10.0) -> None:
        self.stop.set()
        if not self._tasks:
            return
        done, pending = await asyncio.wait(self._tasks.values(), timeout=timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if task.exception():
                log.error("worker %s ended with %r", task.get_name(), task.exception())
