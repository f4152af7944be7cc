"""The sync gateway's read side: the feed after a cursor (with its long-poll), the catalogue snapshot and the
recorded national feedback. Reads only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import raw_driver

from sync_gateway.adapters.notify import NotifyListener
from sync_gateway.adapters.store import FEED_CHANNEL
from sync_gateway.adapters.tables import (
    catalog_table,
    feed_entries_table,
    feed_epoch_table,
    national_feedback_table,
    operations_items_table,
)
from sync_gateway.domain.feedback import FeedbackResult

# The feed's epoch (a row with no position), then the entries with their cursors, as JSON text (see
# FeedReader.read): one statement, so the epoch is the one of the entries it reads.
_EPOCH_ROW = "SELECT NULL::bigint, epoch, NULL::bigint FROM feed_epoch"
_READ_SQL = f"""{_EPOCH_ROW} UNION ALL
(SELECT position, (entry || jsonb_build_object('sequence', position::text))::text, NULL FROM feed_entries
WHERE position > $1 ORDER BY position LIMIT $2)"""
# The same for a caller of some regions: of the next $3 entries (scanned by position, reading only their region
# column), those whose region starts with one of the prefixes $4, at most $2; and a last row (entry NULL) with the
# highest position scanned and how many were scanned, where the caller's cursor moves on to when fewer than $2 of
# them were its own. One statement, so the scan and the entries are of one snapshot.
_READ_REGIONS_SQL = f"""WITH scanned AS MATERIALIZED (
    SELECT position, region_code FROM feed_entries WHERE position > $1 ORDER BY position LIMIT $3),
visible AS (
    SELECT position FROM scanned
    WHERE EXISTS (SELECT FROM unnest($4::text[]) AS p(prefix) WHERE starts_with(scanned.region_code, p.prefix))
    ORDER BY position LIMIT $2)
SELECT f.position, (f.entry || jsonb_build_object('sequence', f.position::text))::text, NULL::bigint
FROM visible JOIN feed_entries f USING (position)
UNION ALL
SELECT max(position), NULL, count(*) FROM scanned
UNION ALL
{_EPOCH_ROW}"""
# How many entries one statement of a region-limited read looks at, and how many such statements one request may
# run before it answers (maybe with no entry but a cursor moved on): a caller whose regions are rare in the feed
# walks it in bounded steps, never stalls at a cursor and never reads an entry twice.
SCAN_ROWS = 10_000
SCANS_PER_READ = 10


@dataclass(frozen=True)
class FeedPage:
    """Entries (position, JSON text) and the cursor to read on from: past the last entry, or — for a caller of some
    regions — past every entry the read looked at, those of other regions included."""

    entries: list[tuple[int, str]]
    cursor: int
    epoch: str  # the feed's epoch the entries and the cursor belong to


class FeedReader:
    """Reads the feed after a cursor; long-polls by waiting for NOTIFY from new entries (:meth:`start` listens,
    :meth:`stop` stops listening: the app's lifespan calls them)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._listener = NotifyListener(engine, FEED_CHANNEL)

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    async def read(self, after: int, limit: int, wait_s: float = 0.0,
                   regions: Sequence[str] | None = None, epoch: str | None = None) -> FeedPage:
        """The entries after ``after``, long-polling up to ``wait_s``: each one's position and its JSON text with
        its ``sequence``, for the HTTP response to join as it is (a page of 1,000 entries of 3 KB is 3 MB of JSON:
        PostgreSQL writes it out, Python never parses it). ``regions``: only entries of items whose region starts
        with one of these prefixes (``None``: every entry, read as cheaply as ever). ``epoch``: the epoch the caller
        follows; a page of another epoch is answered at once (its entries are not the caller's), never waited on."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        scans = 0
        while True:
            changed = self._listener.changed
            if regions is None:
                entries, current = await self._read(after, limit)
                page, at_end = FeedPage(entries, entries[-1][0] if entries else after, current), not entries
            else:
                page, at_end = await self._read_regions(after, limit, list(regions))
                scans += 1
            if page.entries or (not at_end and scans >= SCANS_PER_READ) or (epoch and page.epoch != epoch):
                return page
            after = page.cursor
            if not at_end:
                continue  # only other regions' entries so far: look further at once
            remaining = deadline - loop.time()
            if remaining <= 0:
                return page
            # Re-check at least every second in case a NOTIFY was missed (listener reconnecting). A wake by entries
            # of other regions moves the cursor past them and waits again: it never re-reads them.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=min(remaining, 1.0))

    async def _read(self, after: int, limit: int) -> tuple[list[tuple[int, str]], str]:
        async with self.engine.connect() as conn:
            driver = await raw_driver(conn)
            rows = await driver.fetch(_READ_SQL, after, limit)
        return sorted((r[0], r[1]) for r in rows if r[0] is not None), _epoch_of(rows)

    async def _read_regions(self, after: int, limit: int, prefixes: list[str]) -> tuple[FeedPage, bool]:
        """One bounded scan for a caller of some regions: its page, and whether the scan reached the feed's end."""
        async with self.engine.connect() as conn:
            driver = await raw_driver(conn)
            rows = await driver.fetch(_READ_REGIONS_SQL, after, limit, SCAN_ROWS, prefixes)
        epoch = _epoch_of(rows)
        entries = sorted((r[0], r[1]) for r in rows if r[2] is None and r[0] is not None)
        last_scanned, scanned = next((r[0], r[2]) for r in rows if r[2] is not None)
        if len(entries) == limit:  # entries of the caller's may follow the last one within the scan
            return FeedPage(entries, entries[-1][0], epoch), False
        return FeedPage(entries, last_scanned if scanned else after, epoch), scanned < SCAN_ROWS


def _epoch_of(rows: Sequence[Any]) -> str:
    """The epoch row's epoch among a read's rows (position and count NULL); "" before the gateway's first start
    wrote it (no client can hold that epoch, so none is told to stay)."""
    return next((r[1] for r in rows if r[0] is None and r[2] is None and r[1] is not None), "")


async def current_epoch(conn: AsyncConnection) -> str:
    epoch: str | None = await conn.scalar(select(feed_epoch_table.c.epoch))
    return epoch or ""


async def snapshot(engine: AsyncEngine, *, limit: int, after_item: str | None,
                   regions: Sequence[str] | None = None) -> tuple[list[dict[str, Any]], int, str]:
    """The current published catalogue (items whose last public event left them online), the cursor to continue
    the feed from and the feed's epoch. The cursor is read first: entries after it may repeat what the snapshot
    shows, never miss anything. ``regions``: only items whose region starts with one of these prefixes (``None``:
    all)."""
    async with engine.connect() as conn:
        cursor, epoch = (await conn.execute(select(
            func.coalesce(func.max(feed_entries_table.c.position), 0),
            select(feed_epoch_table.c.epoch).scalar_subquery()))).one()
        query = select(catalog_table.c.entry).where(catalog_table.c.phase == "online").order_by(
            catalog_table.c.item_id).limit(limit)
        if after_item:
            query = query.where(catalog_table.c.item_id > after_item)
        if regions is not None:
            query = query.where(_in_regions(catalog_table.c.region_code, regions))
        rows = await conn.execute(query)
        return [r.entry for r in rows], int(cursor), epoch or ""


async def feedback_for_item(engine: AsyncEngine, item_id: str,
                            regions: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The item's recorded national answers (the latest per version), by version. ``regions``: none unless the
    item, as last published, lies in one of these prefixes (``None``: any item)."""
    t = national_feedback_table
    query = select(t).where(t.c.item_id == item_id).order_by(t.c.item_version)
    if regions is not None:
        query = query.where(select(catalog_table.c.item_id).where(
            catalog_table.c.item_id == item_id, _in_regions(catalog_table.c.region_code, regions)).exists())
    async with engine.connect() as conn:
        return [feedback_view(r._mapping) for r in await conn.execute(query)]


async def item_region(conn: AsyncConnection, item_id: str) -> str | None:
    """The item's region as last published (None: never published, so the gateway keeps no stream of it but for
    national answers, which need a published entry)."""
    region: str | None = await conn.scalar(select(catalog_table.c.region_code).where(
        catalog_table.c.item_id == item_id))
    return region


async def known_region(conn: AsyncConnection, item_id: str) -> str | None:
    """The item's region as the gateway knows it at all: as last published, else as any service's event told the
    operations log (None: never heard of). Which region's operators may see the gateway's dead letters of it."""
    region = await item_region(conn, item_id)
    if region is None:
        region = await conn.scalar(select(operations_items_table.c.region_code).where(
            operations_items_table.c.item_id == item_id))
    return region


async def feed_entries_of_item(engine: AsyncEngine, item_id: str,
                               regions: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The item's feed entries in feed order, as the console lists them (what the national platform was sent: the
    change, its operation, the state and code; not the published elements). ``regions``: only entries whose region
    starts with one of these prefixes (``None``: all)."""
    t = feed_entries_table
    record = t.c.entry["data"]
    query = select(t.c.position, t.c.item_version, t.c.type, t.c.region_code, t.c.recorded_at,
                   t.c.entry["time"].astext.label("time"), record["change"].astext.label("change"),
                   record["change_label"].astext.label("change_label"),
                   record["operation"].astext.label("operation"), record["state"].astext.label("state"),
                   record["state_label"].astext.label("state_label"), record["code"].astext.label("code"),
                   record["reason"].astext.label("reason"),
                   ).where(t.c.item_id == item_id).order_by(t.c.position)
    if regions is not None:
        query = query.where(_in_regions(t.c.region_code, regions))
    async with engine.connect() as conn:
        return [{"sequence": str(r.position), "type": r.type, "itemversion": r.item_version, "time": r.time,
                 "operation": r.operation, "change": r.change, "change_label": r.change_label, "state": r.state,
                 "state_label": r.state_label, "code": r.code, "region_code": r.region_code, "reason": r.reason,
                 "recorded_at": r.recorded_at.isoformat()} for r in await conn.execute(query)]


def _in_regions(column: Any, regions: Sequence[str]) -> Any:
    """``column`` starts with one of the region prefixes (none: nothing matches)."""
    return or_(false(), *(func.starts_with(column, prefix) for prefix in regions))


def feedback_view(row: Any) -> dict[str, Any]:
    return {"item_id": row["item_id"], "item_version": row["item_version"], "result": row["result"],
            "result_label": "已接收" if row["result"] == FeedbackResult.acknowledged else "退回",
            "reason": row["reason"], "note": row["note"], "code": row["code"], "feed_sequence": row["feed_sequence"],
            "event_id": row["event_id"], "actor": row["actor"], "recorded_at": row["recorded_at"].isoformat()}
