"""The lifecycle's read side: the items list (from the ``lifecycle_items`` projection) and what verifying an item's
hash chain compares. Every function takes a connection and answers from committed rows; who may ask is the
service layer's business (it passes the caller's regions in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.auth import ALL_REGIONS
from shared.eventstore import ChainVerdict, load_stream, verify_chain

from lifecycle.adapters.tables import items_table, snapshots_table


@dataclass(frozen=True)
class ListFilter:
    phase: str | None = None
    step: str | None = None
    region: str | None = None  # prefix
    police_type: str | None = None
    item_type: str | None = None
    service_category: str | None = None
    code: str | None = None  # prefix
    name: str | None = None  # substring
    pending_update: bool | None = None
    national: str | None = None  # the standing national answer (national_sync): rejected / acknowledged
    q: str | None = None  # the name or short name containing it, or the item code (as printed, hyphens allowed)


async def list_items(conn: AsyncConnection, regions: tuple[str, ...], filters: ListFilter, *, after: str | None,
                     limit: int) -> list[dict[str, Any]]:
    """Rows of the items list within ``regions`` (prefixes), in item id order after the cursor ``after``."""
    t = items_table
    query = select(t).where(_any_prefix(t.c.region_code, regions)).order_by(t.c.item_id).limit(limit)
    exact = ((t.c.phase, filters.phase), (t.c.step, filters.step), (t.c.police_type, filters.police_type),
             (t.c.item_type, filters.item_type), (t.c.service_category, filters.service_category),
             (t.c.national_sync, filters.national))
    for column, value in exact:
        if value:
            query = query.where(column == value)
    if filters.region:
        query = query.where(t.c.region_code.startswith(filters.region, autoescape=True))
    if filters.code:
        query = query.where(t.c.code.startswith(filters.code, autoescape=True))
    if filters.name:
        query = query.where(t.c.name.contains(filters.name, autoescape=True))
    if filters.q and filters.q.strip():
        q = filters.q.strip()
        code = q.replace("-", "").replace(" ", "").upper()
        query = query.where(or_(t.c.name.icontains(q, autoescape=True), t.c.short_name.icontains(q, autoescape=True),
                                *([t.c.code.startswith(code, autoescape=True)] if code else [])))
    if filters.pending_update is not None:
        query = query.where(t.c.pending_revision.isnot(None) if filters.pending_update
                            else t.c.pending_revision.is_(None))
    if after:
        query = query.where(t.c.item_id > after)
    return [dict(r._mapping) for r in await conn.execute(query)]


async def item_counts(conn: AsyncConnection, regions: tuple[str, ...], *, region: str | None,
                      level: int) -> tuple[list[tuple[str, str, int]], list[tuple[str, int]]]:
    """Items within ``regions`` (and the prefix ``region``) counted per (first ``level`` digits of the region code,
    phase) and per police type: two GROUP BYs over the items list, each one scan of it (the region filter is a
    prefix test the btree on region_code cannot serve under a non-C collation, and a scan of the narrow rows is what
    a count of most of the table costs anyway, so no index is added for it)."""
    t = items_table
    scope = [_any_prefix(t.c.region_code, regions), t.c.phase.isnot(None)]
    if region:
        scope.append(t.c.region_code.startswith(region, autoescape=True))
    area = func.substr(t.c.region_code, 1, level)
    by_area = await conn.execute(select(area, t.c.phase, func.count()).where(*scope).group_by(area, t.c.phase))
    by_police_type = await conn.execute(select(t.c.police_type, func.count()).where(
        *scope, t.c.police_type.isnot(None)).group_by(t.c.police_type))
    return ([(a, p, int(n)) for a, p, n in by_area], [(p, int(n)) for p, n in by_police_type])


async def item_region(conn: AsyncConnection, item_id: str) -> str | None:
    """The item's region as the projection has it (None: no such item). Not by folding: a tampered log must still
    be verifiable."""
    region: str | None = await conn.scalar(
        select(items_table.c.region_code).where(items_table.c.item_id == item_id))
    return region


@dataclass(frozen=True)
class ChainReport:
    item_id: str
    verdict: ChainVerdict
    head_version: int
    projected_version: int | None
    snapshot_version: int | None

    @property
    def verified(self) -> bool:
        return self.verdict.ok and self.missing_tail is None

    @property
    def missing_tail(self) -> int | None:
        """The highest version the read models have seen but the log no longer holds (a deleted last event)."""
        seen = max(v for v in (self.projected_version, self.snapshot_version, 0) if v is not None)
        return seen if seen > self.head_version else None


async def chain_report(conn: AsyncConnection, item_id: str) -> ChainReport:
    """The item's hash chain recomputed from the stored events, beside the versions the read models have seen: a
    chain stays intact when its last event is deleted, the projection does not."""
    events = await load_stream(conn, item_id)
    projected = await conn.scalar(select(items_table.c.version).where(items_table.c.item_id == item_id))
    snapshot = await conn.scalar(select(snapshots_table.c.version).where(
        snapshots_table.c.item_id == item_id).order_by(snapshots_table.c.version.desc()).limit(1))
    head = events[-1].version if events else 0
    return ChainReport(item_id, verify_chain(events), head, projected, snapshot)


def _any_prefix(column: Any, prefixes: tuple[str, ...]) -> Any:
    if ALL_REGIONS in prefixes:
        return true()
    return or_(*(column.startswith(p, autoescape=True) for p in prefixes)) if prefixes else false()
