"""One LISTEN connection per channel, shared by every waiter of the process: the feed's long-poll
(``queries.FeedReader``) and the operations log's live stream (``operations.OperationsReader``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import raw_driver

log = logging.getLogger(__name__)


class NotifyListener:
    """Listens on ``channel`` while started (:meth:`start`/:meth:`stop`: the app's lifespan calls them) and wakes
    every waiter on each NOTIFY. Waiters take :attr:`changed` *before* they read, then wait on it: a NOTIFY between
    their read and their wait still wakes them."""

    def __init__(self, engine: AsyncEngine, channel: str) -> None:
        self.engine = engine
        self.channel = channel
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def changed(self) -> asyncio.Event:
        return self._changed

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _wake(self, *_: Any) -> None:
        # Swap in a fresh event so every waiter of the old one wakes exactly once.
        old, self._changed = self._changed, asyncio.Event()
        old.set()

    async def _listen(self) -> None:
        while True:
            try:
                async with self.engine.connect() as conn:
                    driver = await raw_driver(conn)
                    lost = asyncio.Event()  # asyncpg calls its termination listeners when the connection is lost
                    driver.add_termination_listener(lambda _connection, lost=lost: lost.set())
                    await driver.add_listener(self.channel, self._wake)
                    if not driver.is_closed():
                        await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("listener on %s lost its connection; reconnecting", self.channel, exc_info=True)
                await asyncio.sleep(1)
