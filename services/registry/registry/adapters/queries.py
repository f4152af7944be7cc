"""The read side: an item as clients read it and its revisions (from its stream), filtered lists with cursor
pagination, the same filter in batches for exports, the consistency report (from the read model), and an import
job's progress and row errors. Every list is limited to the caller's regions."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, and_, false, func, or_, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.auth import ALL_REGIONS, Principal
from shared.contracts import PHASE_LABELS, PUBLISHED_PHASES
from shared.dictionaries import Dictionaries, next_region_level
from shared.eventstore import StoredEvent, events_table, load_stream

from registry.adapters.tables import (
    CURRENT_ELEMENTS,
    import_errors_table,
    import_jobs_table,
    registry_item_phases_table,
    registry_items_table,
)
from registry.domain.consistency import SAME_BASIC_CODE, SAME_NAME_IN_REGION_TREE, ItemFacts, finding
from registry.domain.errors import InvalidCursorError
from registry.domain.events import revision_changed_fields
from registry.domain.quality import Group, Incomplete, Record, completeness, counties_under, coverage
from registry.domain.revisions import CANCELLED, FORMING, changed_fields
from registry.domain.search import escape_like, name_pattern, search_pattern

items, phases = registry_items_table, registry_item_phases_table
jobs_t, errors_t = import_jobs_table, import_errors_table
phase_of_item = func.coalesce(phases.c.phase, FORMING)


# ---- one item ------------------------------------------------------------------------------------------------------
async def item_events(conn: AsyncConnection, item_id: str) -> list[StoredEvent]:
    """The item's stream: one event per revision, in order (empty for an unknown item)."""
    return await load_stream(conn, item_id)


async def item_region(conn: AsyncConnection, item_id: str) -> str | None:
    """The item's region (its latest revision's), None for an unknown item."""
    region: str | None = await conn.scalar(select(items.c.region_code).where(items.c.item_id == item_id))
    return region


async def item_view(conn: AsyncConnection, item_id: str) -> dict[str, Any] | None:
    """The item as clients read it (see :func:`shape_item_view`), or None for an unknown item."""
    events = await load_stream(conn, item_id)
    if not events:
        return None
    phase_row = (await conn.execute(select(phases).where(phases.c.item_id == item_id))).first()
    return shape_item_view(events, phase_row.phase if phase_row else FORMING,
                           phase_row.published_revision if phase_row else None)


def shape_item_view(events: list[StoredEvent], phase: str, published_revision: int | None) -> dict[str, Any]:
    """The item as clients read it: the latest revision, its phase, and — once published — the published revision
    beside the pending one that waits for review (先审后用)."""
    first, last = events[0], events[-1]
    data = last.data
    view: dict[str, Any] = {
        "item_id": first.stream_id,
        "revision": data["revision"],
        "region_code": data["region_code"],
        "source_ref": data.get("source_ref"),
        "elements": data["elements"],
        "complete": data.get("complete"),
        "missing": data.get("missing"),
        "phase": phase,
        "phase_label": PHASE_LABELS.get(phase, phase),
        "author": first.actor,
        "created_at": first.recorded_at.isoformat(),
        "updated_by": last.actor,
        "updated_at": last.recorded_at.isoformat(),
        "published": None,
        "pending": None,
    }
    if published_revision is not None and published_revision <= len(events):
        published = events[published_revision - 1]
        view["published"] = {"revision": published_revision, "elements": published.data["elements"],
                             "at": published.recorded_at.isoformat()}
        if phase in PUBLISHED_PHASES and data["revision"] > published_revision:
            view["pending"] = {"revision": data["revision"], "elements": data["elements"],
                               "changed_fields": changed_fields(published.data["elements"], data["elements"]),
                               "maintenance": bool(data.get("maintenance"))}
    return view


def revision_summary(event: StoredEvent) -> dict[str, Any]:
    d = event.data
    return {"revision": d["revision"], "type": event.type, "author": event.actor,
            "at": event.recorded_at.isoformat(), "changed_fields": revision_changed_fields(event.type, d),
            "maintenance": bool(d.get("maintenance")), "pending": bool(d.get("pending")),
            "complete": d.get("complete"), "import_job_id": d.get("import_job_id")}


# ---- lists ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ItemFilter:
    region: str | None = None  # GB/T 2260 prefix: 44, 4401, 440115
    police_type: str | None = None
    item_type: str | None = None
    service_category: str | None = None
    phase: str | None = None
    q: str | None = None  # substring of the name
    national_code: str | None = None  # the national platform's 基本编码 or 实施编码, exactly


def visible(principal: Principal) -> Any:
    """Only items inside the caller's regions."""
    if ALL_REGIONS in principal.regions:
        return true()
    prefixes = [items.c.region_code.like(f"{escape_like(p)}%") for p in principal.regions]
    return or_(*prefixes) if prefixes else false()


def filtered(principal: Principal, f: ItemFilter, *columns: Any) -> Select[Any]:
    query = (select(*columns, phase_of_item.label("phase"))
             .select_from(items.outerjoin(phases, phases.c.item_id == items.c.item_id))
             .where(visible(principal)))
    if f.region:
        query = query.where(items.c.region_code.like(f"{escape_like(f.region)}%"))
    for column, value in ((items.c.police_type, f.police_type), (items.c.item_type, f.item_type),
                          (items.c.service_category, f.service_category)):
        if value:
            query = query.where(column == value)
    if f.phase:
        query = query.where(phase_of_item == f.phase)
    if f.national_code:
        # The 基本编码 has its column (and index); the 实施编码 is read from the revision's event by primary key, on
        # the rows the other filters leave.
        implementation = (select(events_table.c.data["elements"]["national_implementation_code"].astext)
                          .where(events_table.c.stream_id == items.c.item_id,
                                 events_table.c.version == items.c.revision).scalar_subquery())
        query = query.where(or_(items.c.national_basic_code == f.national_code, implementation == f.national_code))
    if f.q and f.q.strip():
        q = f.q.strip()
        # The trigram index narrows by search_text; the name test decides (see registry/domain/search.py).
        query = query.where(items.c.search_text.like(search_pattern(q)), items.c.name.ilike(name_pattern(q)))
    return query


SUMMARY_COLUMNS = (items.c.item_id, items.c.revision, items.c.region_code, items.c.source_ref, items.c.name,
                   items.c.short_name, items.c.item_type, items.c.police_type, items.c.service_category,
                   items.c.complete, items.c.updated_at)
ORDER = (items.c.region_code, items.c.name, items.c.item_id)


async def list_items(engine: AsyncEngine, principal: Principal, f: ItemFilter, *, cursor: str | None,
                     limit: int) -> dict[str, Any]:
    query = filtered(principal, f, *SUMMARY_COLUMNS).order_by(*ORDER).limit(limit + 1)
    if cursor:
        query = query.where(tuple_(*ORDER) > tuple_(*decode_cursor(cursor)))
    async with engine.connect() as conn:
        rows = list(await conn.execute(query))
    page = rows[:limit]
    return {"items": [summary(r) for r in page],
            "next_cursor": encode_cursor(page[-1]) if len(rows) > limit else None}


def summary(row: Any) -> dict[str, Any]:
    return {"item_id": row.item_id, "revision": row.revision, "region_code": row.region_code,
            "source_ref": row.source_ref, "name": row.name, "short_name": row.short_name,
            "item_type": row.item_type, "police_type": row.police_type, "service_category": row.service_category,
            "phase": row.phase, "phase_label": PHASE_LABELS.get(row.phase, row.phase), "complete": row.complete,
            "updated_at": row.updated_at.isoformat()}


def encode_cursor(row: Any) -> str:
    return _encode_keys([row.region_code, row.name, row.item_id])


def decode_cursor(cursor: str) -> tuple[str, str, str]:
    values = _decode_keys(cursor, 3)
    return values[0], values[1], values[2]


def _encode_keys(values: list[str]) -> str:
    """A page's last keyset values as an opaque cursor."""
    raw = json.dumps(values, ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_keys(cursor: str, count: int) -> list[str]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursorError(cursor=cursor) from exc
    if not (isinstance(values, list) and len(values) == count and all(isinstance(v, str) for v in values)):
        raise InvalidCursorError(cursor=cursor)
    return values


async def iter_items(engine: AsyncEngine, principal: Principal, f: ItemFilter,
                     batch: int = 1000) -> AsyncIterator[tuple[list[Any], dict[str, str]]]:
    """Every item the filter selects, in list order, ``batch`` at a time (keyset pages: no transaction stays open
    for the whole export), each batch with the 来源编号 of the items it refers to."""
    after: tuple[str, str, str] | None = None
    while True:
        query = filtered(principal, f, items.c.item_id, items.c.region_code, items.c.name, items.c.source_ref,
                         CURRENT_ELEMENTS).order_by(*ORDER).limit(batch)
        if after:
            query = query.where(tuple_(*ORDER) > tuple_(*after))
        async with engine.connect() as conn:
            rows = list(await conn.execute(query))
            names = await reference_names(conn, _references(rows))
        if not rows:
            return
        yield rows, names
        last = rows[-1]
        after = (last.region_code, last.name, last.item_id)


def _references(rows: Iterable[Any]) -> set[str]:
    refs: set[str] = set()
    for r in rows:
        e = r.elements
        refs.update(e.get("member_item_ids") or [], e.get("serial_predecessor_ids") or [],
                    e.get("parallel_item_ids") or [])
        if e.get("parent_item_id"):
            refs.add(e["parent_item_id"])
    return refs


async def reference_names(conn: AsyncConnection, ids: set[str]) -> dict[str, str]:
    """How a sheet names the items: their 来源编号 where they have one, else their item id."""
    if not ids:
        return {}
    rows = await conn.execute(select(items.c.item_id, items.c.source_ref).where(items.c.item_id.in_(ids)))
    return {r.item_id: r.source_ref or r.item_id for r in rows}


# ---- consistency report --------------------------------------------------------------------------------------------
async def consistency_report(engine: AsyncEngine, principal: Principal, dictionaries: Dictionaries, *,
                             region: str | None, limit: int) -> dict[str, Any]:
    """Records of the same item (same 基本编码, or same name within one province) whose names or types differ.
    Cancelled items are history and left out."""
    scope = filtered(principal, ItemFilter(region=region), items.c.item_id).where(phase_of_item != CANCELLED)
    live = items.c.item_id.in_(scope.with_only_columns(items.c.item_id))
    province = func.substr(items.c.region_code, 1, 2)
    by_code = (select(items.c.national_basic_code.label("key")).where(live, items.c.national_basic_code.isnot(None))
               .group_by(items.c.national_basic_code)
               .having(or_(func.count(items.c.name.distinct()) > 1, func.count(items.c.item_type.distinct()) > 1))
               .order_by(items.c.national_basic_code).limit(limit))
    by_name = (select(province.label("province"), items.c.name).where(live).group_by(province, items.c.name)
               .having(func.count(items.c.item_type.distinct()) > 1).order_by(province, items.c.name).limit(limit))
    findings: list[dict[str, Any] | None] = []
    async with engine.connect() as conn:
        for (code,) in await conn.execute(by_code):
            rows = await conn.execute(select(*_FACTS).where(live, items.c.national_basic_code == code))
            findings.append(finding(SAME_BASIC_CODE, code, _facts(rows, dictionaries)))
        for province_code, name in await conn.execute(by_name):
            rows = await conn.execute(select(*_FACTS).where(live, province == province_code, items.c.name == name))
            findings.append(finding(SAME_NAME_IN_REGION_TREE, f"{province_code}:{name}", _facts(rows, dictionaries)))
    kept = [f for f in findings if f is not None][:limit]
    return {"findings": kept, "count": len(kept)}


_FACTS = (items.c.item_id, items.c.region_code, items.c.name, items.c.item_type)


def _facts(rows: Iterable[Any], dictionaries: Dictionaries) -> list[ItemFacts]:
    out = []
    for r in rows:
        region = dictionaries.regions.get(r.region_code)
        out.append(ItemFacts(r.item_id, r.region_code, region.label if region else None,
                             region.level if region else None, r.name, r.item_type))
    return out


# ---- quality report (完备度, 覆盖度; see registry/domain/quality.py) -------------------------------------------------
async def quality_report(engine: AsyncEngine, principal: Principal, dictionaries: Dictionaries, *,
                         region: str | None, cap: int, today: date) -> dict[str, Any]:
    """Completeness per region one level below ``region`` and per 主管部门, and each county's coverage of its
    province's standard items, within the caller's regions; cancelled items left out. Completeness is two GROUP BYs
    and one read of the incomplete items (the first ``cap`` of each group, by a window); coverage reads the
    province-level items and the distinct (county, name, 基本编码) of the county items."""
    level = next_region_level(region)
    area = func.substr(items.c.region_code, 1, level)
    department = events_table.c.data["elements"]["competent_department"].astext
    on_revision = and_(events_table.c.stream_id == items.c.item_id, events_table.c.version == items.c.revision)

    def scope(*columns: Any, within: str | None = region) -> Select[Any]:
        return (filtered(principal, ItemFilter(region=within)).with_only_columns(*columns)
                .join(events_table, on_revision).where(phase_of_item != CANCELLED))

    counted = (func.count(), func.count().filter(items.c.complete))
    order = (items.c.region_code, items.c.name, items.c.item_id)
    incomplete = scope(items.c.item_id, items.c.name, area.label("area"), department.label("department"),
                       events_table.c.data["missing"].label("missing"),
                       func.row_number().over(partition_by=area, order_by=order).label("in_area"),
                       func.row_number().over(partition_by=department, order_by=order).label("in_department"),
                       ).where(~items.c.complete).subquery()
    province = region[:2] if region else None
    async with engine.connect() as conn:
        by_area = list(await conn.execute(scope(area.label("key"), *counted).group_by(area)))
        by_department = list(await conn.execute(scope(department.label("key"), *counted).group_by(department)))
        firsts = list(await conn.execute(select(incomplete).where(
            or_(incomplete.c.in_area <= cap, incomplete.c.in_department <= cap))))
        standard = [Record(r.item_id, r.region_code, r.name, r.national_basic_code) for r in await conn.execute(
            scope(items.c.item_id, items.c.region_code, items.c.name, items.c.national_basic_code, within=province)
            .where(items.c.region_code.like("__0000")))]
        county_items = [Record("", r.region_code, r.name, r.national_basic_code) for r in await conn.execute(
            scope(items.c.region_code, items.c.name, items.c.national_basic_code)
            .where(~items.c.region_code.like("%00")).distinct())] if standard else []

    def groups(rows: list[Any], key: str, rank: str) -> list[Group]:
        lists: dict[str | None, list[Incomplete]] = {}
        for r in firsts:
            if getattr(r, rank) <= cap:
                lists.setdefault(getattr(r, key), []).append(Incomplete(r.item_id, r.name, tuple(r.missing or ())))
        return [Group(r.key, int(r[1]), int(r[2]), tuple(lists.get(r.key, ()))) for r in rows]

    counties = [(code, name) for code, name in counties_under(dictionaries.regions, region, on=today)
                if principal.may_access_region(code)]
    return {"completeness": completeness(groups(by_area, "area", "in_area"),
                                         groups(by_department, "department", "in_department"), dictionaries.regions),
            "coverage": coverage(counties, standard, county_items, cap=cap)}


# ---- import jobs ---------------------------------------------------------------------------------------------------
STATUS_LABELS = {"queued": "排队中", "running": "导入中", "completed": "已完成", "failed": "失败",
                 "interrupted": "已中断（服务重启），请重新导入同一文件：已导入的行不会重复"}
# A queued or running job whose heartbeat is older reads as interrupted: its process stopped (a running job beats
# with every chunk, a queued one every 30 s: registry/service_layer/imports/jobs.py QUEUED_HEARTBEAT).
HEARTBEAT_STALE = timedelta(minutes=2)


async def import_job_row(conn: AsyncConnection, job_id: str) -> Row[Any] | None:
    return (await conn.execute(select(jobs_t).where(jobs_t.c.job_id == job_id))).first()


def jobs_visible_to(principal: Principal, readers: tuple[str, ...]) -> Any:
    """The jobs ``principal`` may read: those it started, and — if it holds one of ``readers`` — those whose
    starter's regions all lie within its own (``*`` only within ``*``; a job started without regions within
    nobody's)."""
    own = jobs_t.c.subject == principal.subject
    if not principal.roles.intersection(readers):
        return own
    if ALL_REGIONS in principal.regions:
        return true()
    region = func.unnest(jobs_t.c.regions).table_valued("code").render_derived()
    covered = or_(*(region.c.code.like(f"{escape_like(p)}%") for p in principal.regions)) if principal.regions \
        else false()
    outside = select(region.c.code).where(~covered).exists()
    return or_(own, and_(func.cardinality(jobs_t.c.regions) > 0, ~outside))


def jobs_in_status(status: str, now: datetime) -> Any:
    """The jobs :func:`job_view` shows in ``status``: a queued or running job whose heartbeat is stale reads as
    interrupted, not as what its row says."""
    fresh = or_(jobs_t.c.heartbeat_at.is_(None), jobs_t.c.heartbeat_at >= now - HEARTBEAT_STALE)
    if status == "interrupted":
        return and_(jobs_t.c.status.in_(("queued", "running")), ~fresh)
    if status in ("queued", "running"):
        return and_(jobs_t.c.status == status, fresh)
    return jobs_t.c.status == status


async def recent_import_jobs(conn: AsyncConnection, principal: Principal, *, readers: tuple[str, ...],
                             cursor: str | None, limit: int, now: datetime, errors_limit: int,
                             status: str | None = None) -> dict[str, Any]:
    """A page of the jobs ``principal`` may read (:func:`jobs_visible_to`), newest first, each as one job's view
    with its first ``errors_limit`` row errors; only those in ``status`` when given."""
    order = (jobs_t.c.created_at, jobs_t.c.job_id)
    query = select(jobs_t).where(jobs_visible_to(principal, readers)).order_by(*(c.desc() for c in order))
    if status:
        query = query.where(jobs_in_status(status, now))
    if cursor:
        created_at, job_id = _decode_keys(cursor, 2)
        try:
            after = datetime.fromisoformat(created_at)
        except ValueError as exc:
            raise InvalidCursorError(cursor=cursor) from exc
        query = query.where(tuple_(*order) < tuple_(after, job_id))
    rows = list(await conn.execute(query.limit(limit + 1)))
    page = rows[:limit]
    jobs = [await import_job_view(conn, job, now=now, errors_after=0, errors_limit=errors_limit) for job in page]
    last = page[-1] if page else None
    return {"jobs": jobs, "next_cursor": _encode_keys([last.created_at.isoformat(), last.job_id])
            if last is not None and len(rows) > limit else None}


async def import_job_view(conn: AsyncConnection, job: Row[Any], *, now: datetime, errors_after: int,
                          errors_limit: int) -> dict[str, Any]:
    """The job's progress and a page of its row errors (those after ``errors_after``, in file order)."""
    errors = list(await conn.execute(
        select(errors_t).where(errors_t.c.job_id == job.job_id, errors_t.c.seq > errors_after)
        .order_by(errors_t.c.seq).limit(errors_limit)))
    total = await conn.scalar(select(func.count()).select_from(errors_t).where(errors_t.c.job_id == job.job_id))
    return job_view(job, errors, int(total or 0), now=now, errors_limit=errors_limit)


def job_view(job: Any, errors: list[Any], errors_total: int, *, now: datetime, errors_limit: int) -> dict[str, Any]:
    status = job.status
    if status in ("queued", "running") and job.heartbeat_at and now - job.heartbeat_at > HEARTBEAT_STALE:
        status = "interrupted"
    return {
        "job_id": job.job_id, "started_by": job.subject, "status": status, "status_label": STATUS_LABELS[status],
        "filename": job.filename,
        "format": job.format, "rows_total": job.rows_total, "rows_processed": job.rows_processed,
        "progress": round(job.progress, 4), "created": job.created, "revised": job.revised,
        "unchanged": job.unchanged, "failed": job.failed, "error": job.error, "error_code": job.error_code,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "errors_total": errors_total,
        "errors": [{"row": e.row, "column": e.column, "field": e.field, "code": e.code, "message": e.message}
                   for e in errors],
        "next_errors_after": errors[-1].seq if len(errors) == errors_limit else None,
    }
