"""The sync gateway's writes, and the reads its writes decide on, inside the caller's transaction (``conn``).

Feed inserts take ``LOCK TABLE feed_entries IN EXCLUSIVE MODE`` so that feed positions become visible strictly in
order: a reader that has seen position N can never later find a position below N. (The event store orders its
readers by transaction instead, because many writers append to it; the feed has one writer, its consumer, which
applies a whole fetched batch in one transaction, so the lock costs one wait per batch.) The same transaction
NOTIFYs :data:`FEED_CHANNEL`, which wakes the long-poll readers (``adapters.queries.FeedReader``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared import jsoncodec

from sync_gateway.adapters.tables import catalog_table, feed_entries_table, national_feedback_table
from sync_gateway.domain.feed import FedEntry

FEED_CHANNEL = "shixiang_feed"

_INSERT_ENTRIES = text("""
INSERT INTO feed_entries (event_id, item_id, item_version, type, region_code, entry)
SELECT n.event_id, n.item_id, n.item_version, n.type, n.region_code, n.entry::jsonb
FROM unnest(CAST(:event_ids AS text[]), CAST(:item_ids AS text[]), CAST(:item_versions AS int[]),
            CAST(:types AS text[]), CAST(:regions AS text[]), CAST(:entries AS text[])) WITH ORDINALITY
     AS n(event_id, item_id, item_version, type, region_code, entry, ord)
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


# ---- the feed -----------------------------------------------------------------------------------------------------
async def published_regions(conn: AsyncConnection, item_ids: Iterable[str]) -> dict[str, str | None]:
    """Of these items, those the feed has published → the region it last published for each."""
    return dict((await conn.execute(
        select(catalog_table.c.item_id, catalog_table.c.region_code).where(
            catalog_table.c.item_id.in_(sorted(item_ids))))).tuples().all())


async def add_feed_entries(conn: AsyncConnection, fed: Sequence[FedEntry]) -> None:
    """Append the entries to the feed in order (an entry whose event is fed already is skipped: a redelivery or a
    republish), refresh their items' catalogue rows and wake the feed's readers."""
    if not fed:
        return
    await conn.execute(text("LOCK TABLE feed_entries IN EXCLUSIVE MODE"))
    inserted = {r.event_id: r.position for r in await conn.execute(_INSERT_ENTRIES, {
        "event_ids": [f.event_id for f in fed], "item_ids": [f.item_id for f in fed],
        "item_versions": [f.item_version for f in fed], "types": [f.entry["type"] for f in fed],
        "regions": [f.entry["data"]["region_code"] for f in fed],
        "entries": [jsoncodec.dumps(f.entry) for f in fed]})}
    latest: dict[str, dict[str, Any]] = {}
    for f in fed:
        position = inserted.get(f.event_id)
        if position is None:
            continue  # fed before (a redelivery or a republish)
        record = f.entry["data"]
        latest[f.item_id] = {
            "item_id": f.item_id, "item_version": f.item_version, "code": record["code"],
            "phase": record["state"], "region_code": record["region_code"],
            "entry": {**f.entry, "sequence": str(position)}, "feed_position": position}
    if latest:
        await conn.execute(_UPSERT_CATALOG, list(latest.values()))
        await conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": FEED_CHANNEL, "p": str(max(inserted.values()))})


async def feed_entry_of(conn: AsyncConnection, item_id: str, item_version: int) -> Row[Any, Any] | None:
    """The feed entry of one item version (its position and entry), or ``None`` if it was never fed."""
    return (await conn.execute(select(feed_entries_table.c.position, feed_entries_table.c.entry).where(
        feed_entries_table.c.item_id == item_id, feed_entries_table.c.item_version == item_version))).first()


# ---- national feedback --------------------------------------------------------------------------------------------
async def locked_feedback(conn: AsyncConnection, item_id: str, item_version: int) -> Row[Any] | None:
    """The answer recorded for the item version, locked (two answers to one version take turns), or ``None``."""
    t = national_feedback_table
    return (await conn.execute(select(t).where(t.c.item_id == item_id, t.c.item_version == item_version)
                               .with_for_update())).first()


async def save_feedback(conn: AsyncConnection, row: Mapping[str, Any]) -> None:
    """Record the version's latest answer (replacing an earlier one)."""
    stmt = pg_insert(national_feedback_table).values(**row)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["item_id", "item_version"],
        set_={k: stmt.excluded[k] for k in row if k not in ("item_id", "item_version")}))
