"""The national feed: the lifecycle's public events translated into published records (shared.contracts.feed) in
an ordered, replayable log.

Only published content enters (``contracts.is_public_event``): drafts, reviews, tests and the cancellation of an
item that was never published never leave. What enters is not the lifecycle's event but a published record made
from it (:func:`published_record`): the national platform's contract, versioned on its own.
Each entry is a structured CloudEvent whose ``subject`` is the item id and whose ``sequence`` is the feed cursor.
Entries are keyed by the source event id, so a redelivered or republished event never becomes two entries.

Inserts take ``LOCK TABLE feed_entries IN EXCLUSIVE MODE`` so that feed positions become visible strictly in order:
a reader that has seen position N can never later find a position below N. (The event store orders its readers by
transaction instead, because many writers append to it; the feed has one writer, the consumer below, which applies
a whole fetched batch in one transaction, so the lock costs one wait per batch.) Long-poll readers are woken by
NOTIFY on ``shixiang_feed``."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import ValidationError
from sqlalchemy import BigInteger, Column, DateTime, Identity, Integer, MetaData, Table, Text, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import contracts, jsoncodec
from shared.cloudevents import CloudEvent
from shared.contracts.feed import CHANGES, FEED_SOURCE, PublishedElements, PublishedItemRecord

log = logging.getLogger(__name__)

FEED_CHANNEL = "shixiang_feed"
# The lifecycle events the feed is made of.
FED_EVENTS = tuple(sorted(contracts.PUBLIC_LIFECYCLE_EVENTS))

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


class UnpublishableError(ValueError):
    """A public event that cannot become a published record (its content does not fit the published schema)."""


def published_record(event: CloudEvent, known_region: str | None) -> dict[str, Any]:
    """The published record (shared.contracts.feed) of one public lifecycle event. ``known_region``: the item's
    region as the feed last published it (a cancellation carries no elements)."""
    data = event.data
    if event.type == contracts.LIFECYCLE_PUBLISHED:
        change = "maintained" if data.get("maintenance") else "updated" if data.get("update") else "published"
    else:
        change = {contracts.LIFECYCLE_UNPUBLISHED: "unpublished", contracts.LIFECYCLE_RESUMED: "resumed",
                  contracts.LIFECYCLE_CANCELLED: "cancelled"}[event.type]
    _, label, operation = CHANGES[change]
    cancelled = change == "cancelled"
    try:
        elements = None if cancelled else PublishedElements.model_validate(
            {k: v for k, v in data["elements"].items() if k in PublishedElements.model_fields})
        state = contracts.Phase(data["phase"])
        record = PublishedItemRecord(
            item_id=event.subject, item_version=event.sequence, change=change, change_label=label,
            operation=operation, state=state.value, state_label=contracts.PHASE_LABELS[state], code=data.get("code"),
            previous_code=data.get("previous_code") if data.get("previous_code") != data.get("code") else None,
            region_code=elements.region_code if elements else known_region or "",
            revision=None if cancelled else data["revision"], elements=elements,
            offline_kind=data.get("kind") if change == "unpublished" else None,
            reason=data.get("reason") if change in ("unpublished", "cancelled") else None,
            successors=list(data.get("successors") or []) if cancelled else [], effective_at=data["at"])
    except (ValidationError, KeyError, ValueError) as exc:
        raise UnpublishableError(str(exc)) from exc
    return record.model_dump(mode="json")


def feed_entry(event: CloudEvent, record: dict[str, Any]) -> dict[str, Any]:
    """A feed entry: a structured CloudEvent of the feed's own vocabulary around a published record (its
    ``sequence``, the cursor, is added when read)."""
    return {"specversion": "1.0", "id": event.id, "type": CHANGES[record["change"]][0], "source": FEED_SOURCE,
            "subject": event.subject, "time": event.time.isoformat(), "datacontenttype": "application/json",
            "itemversion": event.sequence, "data": record}


_INSERT_ENTRIES = text("""
INSERT INTO feed_entries (event_id, item_id, item_version, type, entry)
SELECT n.event_id, n.item_id, n.item_version, n.type, n.entry::jsonb
FROM unnest(CAST(:event_ids AS text[]), CAST(:item_ids AS text[]), CAST(:item_versions AS int[]),
            CAST(:types AS text[]), CAST(:entries AS text[])) WITH ORDINALITY
     AS n(event_id, item_id, item_version, type, entry, ord)
ORDER BY n.ord
ON CONFLICT (event_id) DO NOTHING
RETURNING position, event_id""")
_catalog_insert = pg_insert(catalog_table)
# Newer item versions only: a redelivered older event never moves the catalogue back.
_UPSERT_CATALOG = _catalog_insert.on_conflict_do_update(
    index_elements=["item_id"],
    set_={k: _catalog_insert.excluded[k] for k in ("item_version", "code", "phase", "region_code", "entry",
                                                    "feed_position")},
    where=catalog_table.c.item_version < _catalog_insert.excluded.item_version)


async def project_public_events(conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
    """Consumer effect, a fetched batch at a time: each public lifecycle event becomes a feed entry (in order) and
    refreshes its item's catalogue row. Refused for good: an unpublish, resume or cancellation of an item the feed
    never saw published, and content that does not fit the published schema."""
    public = [e for e in events if contracts.is_public_event(e.type, e.data)]
    if not public:
        return {}
    item_ids = sorted({e.subject for e in public})
    regions: dict[str, str | None] = dict((await conn.execute(
        select(catalog_table.c.item_id, catalog_table.c.region_code).where(catalog_table.c.item_id.in_(item_ids))
    )).all())
    refused: dict[str, str] = {}
    fed: list[tuple[CloudEvent, dict[str, Any]]] = []
    for event in public:
        if event.type != contracts.LIFECYCLE_PUBLISHED and event.subject not in regions:
            refused[event.id] = f"同步源从未发布过事项 {event.subject}，不能记录其{event.type}"
            continue
        try:
            record = published_record(event, regions.get(event.subject))
        except UnpublishableError as exc:
            refused[event.id] = f"无法转换为对外发布记录：{exc}"
            continue
        regions[event.subject] = record["region_code"]
        fed.append((event, feed_entry(event, record)))
    if not fed:
        return refused
    await conn.execute(text("LOCK TABLE feed_entries IN EXCLUSIVE MODE"))
    inserted = dict((r.event_id, r.position) for r in await conn.execute(_INSERT_ENTRIES, {
        "event_ids": [e.id for e, _ in fed], "item_ids": [e.subject for e, _ in fed],
        "item_versions": [e.sequence for e, _ in fed], "types": [entry["type"] for _, entry in fed],
        "entries": [jsoncodec.dumps(entry) for _, entry in fed]}))
    latest: dict[str, dict[str, Any]] = {}
    for event, entry in fed:
        position = inserted.get(event.id)
        if position is None:
            continue  # fed before (a redelivery or a republish)
        record = entry["data"]
        latest[event.subject] = {
            "item_id": event.subject, "item_version": event.sequence, "code": record["code"],
            "phase": record["state"], "region_code": record["region_code"],
            "entry": {**entry, "sequence": str(position)}, "feed_position": position}
    if latest:
        await conn.execute(_UPSERT_CATALOG, list(latest.values()))
        await conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": FEED_CHANNEL, "p": str(max(inserted.values()))})
    return refused


# An entry with its cursor, as JSON text (see FeedReader.read).
_READ_SQL = """SELECT position, (entry || jsonb_build_object('sequence', position::text))::text FROM feed_entries
WHERE position > $1 ORDER BY position LIMIT $2"""


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
            try:
                # Re-check at least every second in case a NOTIFY was missed (listener reconnecting).
                await asyncio.wait_for(changed.wait(), timeout=min(remaining, 1.0))
            except TimeoutError:
                pass

    async def _read(self, after: int, limit: int) -> list[tuple[int, str]]:
        async with self.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            return [(r[0], r[1]) for r in await driver.fetch(_READ_SQL, after, limit)]

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
