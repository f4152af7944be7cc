"""The national feed: a projection of the lifecycle's public events into an ordered, replayable log.

Only published content enters (``contracts.is_public_event``): drafts, reviews, tests and the cancellation of an
item that was never published never leave.
Each entry is a structured CloudEvent whose ``subject`` is the item id and whose ``sequence`` is the feed cursor.
Entries are keyed by the source event id, so a redelivered or republished event never becomes two entries.

Like the event store, inserts take ``LOCK TABLE feed_entries IN EXCLUSIVE MODE`` so that feed positions become
visible strictly in order: a reader that has seen position N can never later find a position below N (see
shared/eventstore.py for the full argument). Long-poll readers are woken by NOTIFY on ``shixiang_feed``."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Identity, Integer, MetaData, Table, Text, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import contracts
from shared.cloudevents import CloudEvent

log = logging.getLogger(__name__)

FEED_CHANNEL = "shixiang_feed"

sync_metadata = MetaData()
feed_entries_table = Table(
    "feed_entries",
    sync_metadata,
    Column("position", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("item_id", Text, nullable=False, index=True),
    Column("item_version", Integer, nullable=False),
    Column("type", Text, nullable=False),
    Column("entry", JSONB, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
catalog_table = Table(
    "catalog",
    sync_metadata,
    Column("item_id", Text, primary_key=True),
    Column("item_version", Integer, nullable=False),
    Column("code", Text, index=True),
    Column("phase", Text, nullable=False),
    Column("region_code", Text, index=True),
    Column("entry", JSONB, nullable=False),
    Column("feed_position", BigInteger, nullable=False),
)


async def project_public_event(conn: AsyncConnection, event: CloudEvent) -> None:
    """Consumer effect: append a public lifecycle event to the feed and refresh the catalogue row."""
    if not contracts.is_public_event(event.type, event.data):
        return
    await conn.execute(text("LOCK TABLE feed_entries IN EXCLUSIVE MODE"))
    entry = {
        "specversion": "1.0",
        "id": event.id,
        "type": event.type,
        "source": event.source,
        "subject": event.subject,
        "time": event.time.isoformat(),
        "datacontenttype": "application/json",
        "itemversion": event.sequence,
        "data": event.data,
    }
    inserted = (await conn.execute(
        pg_insert(feed_entries_table)
        .values(event_id=event.id, item_id=event.subject, item_version=event.sequence, type=event.type, entry=entry)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(feed_entries_table.c.position)
    )).first()
    if inserted is None:
        return
    position = inserted.position
    elements = event.data.get("elements") or {}
    row = {"item_id": event.subject, "item_version": event.sequence, "code": event.data.get("code"),
           "phase": event.data.get("phase", ""), "region_code": elements.get("region_code"),
           "entry": {**entry, "sequence": str(position)}, "feed_position": position}
    stmt = pg_insert(catalog_table).values(**row)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["item_id"], set_={k: stmt.excluded[k] for k in row if k != "item_id"},
        where=catalog_table.c.item_version < stmt.excluded.item_version))
    await conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": FEED_CHANNEL, "p": str(position)})


class FeedReader:
    """Reads the feed after a cursor; long-polls by waiting for NOTIFY from new entries."""

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

    async def read(self, after: int, limit: int, wait_s: float = 0.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            changed = self._changed
            entries = await self._read(after, limit)
            remaining = deadline - asyncio.get_running_loop().time()
            if entries or remaining <= 0:
                return entries
            try:
                # Re-check at least every second in case a NOTIFY was missed (listener reconnecting).
                await asyncio.wait_for(changed.wait(), timeout=min(remaining, 1.0))
            except TimeoutError:
                pass

    async def _read(self, after: int, limit: int) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(feed_entries_table.c.position, feed_entries_table.c.entry)
                .where(feed_entries_table.c.position > after)
                .order_by(feed_entries_table.c.position)
                .limit(limit)
            )
            return [{**r.entry, "sequence": str(r.position)} for r in rows]

    def _wake(self, *_: Any) -> None:
        # Swap in a fresh event so every waiter of the old one wakes exactly once.
        old, self._changed = self._changed, asyncio.Event()
        old.set()

    async def _listen(self) -> None:
        while True:
            try:
                async with self.engine.connect() as conn:
                    driver = (await conn.get_raw_connection()).driver_connection
                    await driver.add_listener(FEED_CHANNEL, self._wake)
                    while not driver.is_closed():
                        await asyncio.sleep(1)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("feed listener lost its connection; reconnecting")
                await asyncio.sleep(1)


async def snapshot(engine: AsyncEngine, *, limit: int, after_item: str | None) -> tuple[list[dict[str, Any]], int]:
    """The current published catalogue (items whose last public event left them online) and the cursor to
    continue the feed from. The cursor is read first: entries after it may repeat what the snapshot shows, never
    miss anything."""
    async with engine.connect() as conn:
        cursor = int(await conn.scalar(select(func.coalesce(func.max(feed_entries_table.c.position), 0))))
        query = select(catalog_table.c.entry).where(catalog_table.c.phase == "online").order_by(
            catalog_table.c.item_id).limit(limit)
        if after_item:
            query = query.where(catalog_table.c.item_id > after_item)
        rows = await conn.execute(query)
        return [r.entry for r in rows], cursor
