"""The operations log in PostgreSQL: its writes (inside a log consumer's transaction), its reads (the live
stream, pages, activity per minute) and its pruning.

Writes take ``LOCK TABLE operations_log IN EXCLUSIVE MODE`` — the four log consumers (one per topic) write
concurrently, and a stream reader that has seen position N must never later find a position below N (the feed
does the same, ``store.add_feed_entries``). The same transaction NOTIFYs :data:`OPS_CHANNEL`, which wakes the live
streams (:class:`OperationsReader`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import false, func, literal, or_, select, text, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import jsoncodec
from shared.dictionaries import Dictionaries
from shared.metrics import OPERATIONS_LOGGED

from sync_gateway.adapters.notify import NotifyListener
from sync_gateway.adapters.tables import operations_items_table, operations_log_table
from sync_gateway.domain.operations import EventFilter, ItemFacts, Projection, ops_event

OPS_CHANNEL = "shixiang_ops"

_INSERT = text("""
INSERT INTO operations_log (event_id, service, type, item_id, item_version, actor, reason, occurred_at,
                            correlation_id, details)
SELECT n.event_id, n.service, n.type, n.item_id, n.item_version, n.actor, n.reason, n.occurred_at,
       n.correlation_id, n.details::jsonb
FROM unnest(CAST(:event_ids AS text[]), CAST(:services AS text[]), CAST(:types AS text[]),
            CAST(:item_ids AS text[]), CAST(:item_versions AS int[]), CAST(:actors AS text[]),
            CAST(:reasons AS text[]), CAST(:occurred AS timestamptz[]), CAST(:correlations AS text[]),
            CAST(:details AS text[])) WITH ORDINALITY
     AS n(event_id, service, type, item_id, item_version, actor, reason, occurred_at, correlation_id, details, ord)
ORDER BY n.ord
ON CONFLICT (event_id) DO NOTHING
RETURNING position, service""")
# What an event says about its item fills in what was not known (or replaces what changed); what it does not say
# is kept.
_UPSERT_ITEMS = text("""
INSERT INTO operations_items (item_id, name, code, region_code, police_type)
SELECT * FROM unnest(CAST(:item_ids AS text[]), CAST(:names AS text[]), CAST(:codes AS text[]),
                     CAST(:regions AS text[]), CAST(:police_types AS text[]))
ON CONFLICT (item_id) DO UPDATE SET
    name = coalesce(excluded.name, operations_items.name),
    code = coalesce(excluded.code, operations_items.code),
    region_code = coalesce(excluded.region_code, operations_items.region_code),
    police_type = coalesce(excluded.police_type, operations_items.police_type)""")


async def record(conn: AsyncConnection, projections: Sequence[Projection]) -> int:
    """Append the events to the log in order (one already logged is skipped: a redelivery), update what is known
    of their items and wake the streams. Returns how many rows were added."""
    if not projections:
        return 0
    await conn.execute(text("LOCK TABLE operations_log IN EXCLUSIVE MODE"))
    rows = [p.row for p in projections]
    inserted = (await conn.execute(_INSERT, {
        "event_ids": [r.event_id for r in rows], "services": [r.service for r in rows],
        "types": [r.type for r in rows], "item_ids": [r.item_id for r in rows],
        "item_versions": [r.item_version for r in rows], "actors": [r.actor for r in rows],
        "reasons": [r.reason for r in rows], "occurred": [r.occurred_at for r in rows],
        "correlations": [r.correlation_id for r in rows],
        "details": [jsoncodec.dumps(r.details) for r in rows]})).all()
    facts = _merged([p.facts for p in projections if p.facts is not None])
    if facts:
        await conn.execute(_UPSERT_ITEMS, {
            "item_ids": [f.item_id for f in facts], "names": [f.name for f in facts],
            "codes": [f.code for f in facts], "regions": [f.region_code for f in facts],
            "police_types": [f.police_type for f in facts]})
    if inserted:
        for service in {r.service for r in inserted}:
            OPERATIONS_LOGGED.labels(service).inc(sum(r.service == service for r in inserted))
        await conn.execute(text("SELECT pg_notify(:c, :p)"),
                           {"c": OPS_CHANNEL, "p": str(max(r.position for r in inserted))})
    return len(inserted)


def _merged(facts: Sequence[ItemFacts]) -> list[ItemFacts]:
    """One row per item (an upsert may touch a row once), the batch's later facts over its earlier ones; in item
    order, so concurrent writers lock the rows in one order."""
    merged: dict[str, ItemFacts] = {}
    for f in facts:
        old = merged.get(f.item_id)
        merged[f.item_id] = f if old is None else ItemFacts(
            f.item_id, f.name or old.name, f.code or old.code, f.region_code or old.region_code,
            f.police_type or old.police_type)
    return [merged[k] for k in sorted(merged)]


async def prune(engine: AsyncEngine, older_than: datetime) -> int:
    """Delete the log rows of events that occurred before ``older_than``; how many."""
    async with engine.begin() as conn:
        result = await conn.execute(operations_log_table.delete().where(
            operations_log_table.c.occurred_at < older_than))
    return int(result.rowcount or 0)


# ---- reads --------------------------------------------------------------------------------------------------------
_log = operations_log_table.alias("l")
_items = operations_items_table.alias("i")
_COLUMNS = (*_log.c, _items.c.name.label("item_name"), _items.c.code.label("item_code"), _items.c.region_code,
            _items.c.police_type)
_FROM = _log.outerjoin(_items, _items.c.item_id == _log.c.item_id)


def _conditions(f: EventFilter) -> list[Any]:
    """The filter as SQL conditions on the log joined with its items."""
    conditions: list[Any] = []
    if f.services:
        conditions.append(_log.c.service.in_(f.services))
    if f.types or f.type_prefixes:
        conditions.append(or_(_log.c.type.in_(f.types), *(func.starts_with(_log.c.type, p) for p in f.type_prefixes)))
    if f.regions is not None:
        # An item whose region is not known (yet) matches no prefix: a region-limited caller never sees it.
        conditions.append(or_(false(), *(func.starts_with(_items.c.region_code, p) for p in f.regions)))
    if f.police_type:
        conditions.append(_items.c.police_type == f.police_type)
    if f.q:
        code = func.coalesce(_items.c.code, _log.c.details["code"].astext)
        name = func.coalesce(_items.c.name, _log.c.details["name"].astext)
        conditions.append(or_(func.starts_with(code, f.q.upper()), func.strpos(name, f.q) > 0))
    if f.item_id:
        conditions.append(_log.c.item_id == f.item_id)
    return conditions


@dataclass(frozen=True)
class StreamPage:
    """Events after a cursor and the cursor to read on from: past the last event, or past every position the read
    looked at (those of other filters included); ``at_end``: the read reached the log's end."""

    events: list[dict[str, Any]]
    cursor: int
    at_end: bool


# How many positions one stream read looks at: a viewer whose filter matches rarely walks the log in bounded steps.
SCAN_POSITIONS = 20_000


class OperationsReader:
    """Reads the operations log; :attr:`changed` is woken by every append (:meth:`start`/:meth:`stop` listen)."""

    def __init__(self, engine: AsyncEngine, dictionaries: Dictionaries) -> None:
        self.engine = engine
        self.dictionaries = dictionaries
        self._listener = NotifyListener(engine, OPS_CHANNEL)

    @property
    def changed(self) -> Any:
        return self._listener.changed

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    async def head(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(
                select(func.coalesce(func.max(operations_log_table.c.position), 0)))).scalar_one())

    async def after(self, cursor: int, f: EventFilter, limit: int) -> StreamPage:
        """One statement: the log's head, and the events after ``cursor`` matching ``f`` among the next
        :data:`SCAN_POSITIONS` positions up to that head (so the cursor may move past positions not the caller's,
        and never past one not visible yet)."""
        head_of_log = select(func.coalesce(func.max(operations_log_table.c.position), 0)).scalar_subquery()
        matches = select(*_COLUMNS).select_from(_FROM).where(
            _log.c.position > cursor, _log.c.position <= func.least(head_of_log, cursor + SCAN_POSITIONS),
            *_conditions(f)).order_by(_log.c.position).limit(limit).subquery("m")
        one = select(literal(1).label("one")).subquery("one")
        query = select(head_of_log.label("head"), *matches.c).select_from(one.outerjoin(matches, true())).order_by(
            matches.c.position)
        async with self.engine.connect() as conn:
            rows = [r._mapping for r in await conn.execute(query)]
        head = int(rows[0]["head"])
        matched = [r for r in rows if r["position"] is not None]
        events = [ops_event(r, self.dictionaries) for r in matched]
        if len(matched) == limit:
            return StreamPage(events, matched[-1]["position"], False)
        scanned_to = max(cursor, min(head, cursor + SCAN_POSITIONS))
        return StreamPage(events, scanned_to, scanned_to >= head)

    async def page(self, f: EventFilter, *, after: int | None, before: int | None, descending: bool,
                   limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """A page of the log, newest or oldest first, and the position to pass on (``None``: no more)."""
        query = select(*_COLUMNS).select_from(_FROM).where(*_conditions(f)).order_by(
            _log.c.position.desc() if descending else _log.c.position).limit(limit)
        if after is not None:
            query = query.where(_log.c.position > after)
        if before is not None:
            query = query.where(_log.c.position < before)
        async with self.engine.connect() as conn:
            rows = [r._mapping for r in await conn.execute(query)]
        events = [ops_event(r, self.dictionaries) for r in rows]
        return events, (rows[-1]["position"] if len(rows) == limit else None)

    async def activity(self, f: EventFilter, start: datetime, minutes: int) -> dict[tuple[str, datetime], int]:
        """Events per (service, minute) that occurred in the ``minutes`` minutes from ``start``."""
        minute = func.date_trunc("minute", _log.c.occurred_at).label("minute")
        query = select(_log.c.service, minute, func.count().label("n")).select_from(_FROM).where(
            _log.c.occurred_at >= start, _log.c.occurred_at < start + timedelta(minutes=minutes),
            *_conditions(f)).group_by(_log.c.service, minute)
        async with self.engine.connect() as conn:
            return {(r.service, r.minute): int(r.n) for r in await conn.execute(query)}
