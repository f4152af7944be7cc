"""The sync gateway's read side: the feed after a cursor (with its long-poll), the catalogue snapshot and the
recorded national feedback. Reads only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import raw_driver

from sync_gateway.adapters.store import FEED_CHANNEL
from sync_gateway.adapters.tables import catalog_table, feed_entries_table, national_feedback_table
from sync_gateway.domain.feedback import FeedbackResult

log = logging.getLogger(__name__)

# An entry with its cursor, as JSON text (see FeedReader.read).
_READ_SQL = """SELECT position, (entry || jsonb_build_object('sequence', position::text))::text FROM feed_entries
WHERE position > $1 ORDER BY position LIMIT $2"""


class FeedReader:
    """Reads the feed after a cursor; long-polls by waiting for NOTIFY from new entries (:meth:`start` listens,
    :meth:`stop` stops listening: the app's lifespan calls them)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._changed = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._listener:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)

    async def read(self, after: int, limit: int, wait_s: float = 0.0) -> list[tuple[int, str]]:
        """The entries after ``after``, long-polling up to ``wait_s``: each one's position and its JSON text with
        its ``sequence``, for the HTTP response to join as it is (a page of 1,000 entries of 3 KB is 3 MB of JSON:
        PostgreSQL writes it out, Python never parses it)."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            changed = self._changed
            entries = await self._read(after, limit)
            remaining = deadline - asyncio.get_running_loop().time()
            if entries or remaining <= 0:
                return entries
            # Re-check at least every second in case a NOTIFY was missed (listener reconnecting).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=min(remaining, 1.0))

    async def _read(self, after: int, limit: int) -> list[tuple[int, str]]:
        async with self.engine.connect() as conn:
            driver = await raw_driver(conn)
            return [(r[0], r[1]) for r in await driver.fetch(_READ_SQL, after, limit)]

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
                    await driver.add_listener(FEED_CHANNEL, self._wake)
                    if not driver.is_closed():
                        await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("feed listener lost its connection; reconnecting", exc_info=True)
                await asyncio.sleep(1)


async def snapshot(engine: AsyncEngine, *, limit: int, after_item: str | None) -> tuple[list[dict[str, Any]], int]:
    """The current published catalogue (items whose last public event left them online) and the cursor to
    continue the feed from. The cursor is read first: entries after it may repeat what the snapshot shows, never
    miss anything."""
    async with engine.connect() as conn:
        cursor: int = (await conn.execute(
            select(func.coalesce(func.max(feed_entries_table.c.position), 0)))).scalar_one()
        query = select(catalog_table.c.entry).where(catalog_table.c.phase == "online").order_by(
            catalog_table.c.item_id).limit(limit)
        if after_item:
            query = query.where(catalog_table.c.item_id > after_item)
        rows = await conn.execute(query)
        return [r.entry for r in rows], cursor


async def feedback_for_item(engine: AsyncEngine, item_id: str) -> list[dict[str, Any]]:
    """The item's recorded national answers (the latest per version), by version."""
    t = national_feedback_table
    async with engine.connect() as conn:
        rows = await conn.execute(select(t).where(t.c.item_id == item_id).order_by(t.c.item_version))
        return [feedback_view(r._mapping) for r in rows]


def feedback_view(row: Any) -> dict[str, Any]:
    return {"item_id": row["item_id"], "item_version": row["item_version"], "result": row["result"],
            "result_label": "已接收" if row["result"] == FeedbackResult.acknowledged else "退回",
            "reason": row["reason"], "note": row["note"], "code": row["code"], "feed_sequence": row["feed_sequence"],
            "event_id": row["event_id"], "actor": row["actor"], "recorded_at": row["recorded_at"].isoformat()}
