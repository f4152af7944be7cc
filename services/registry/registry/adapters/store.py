"""Reading and writing items (I/O): one code path for the single-item commands and the bulk import, and the
items' phases as the lifecycle reports them.

A write is a list of :class:`ItemWrite` — the event of one new revision and the read-model row it produces — and
:func:`write_items` stores them all in the caller's transaction: rows first, then one ``append_batch`` (last, because
it takes the events table lock), so the events and the read model never disagree and a conflict on any stream undoes
the whole batch."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared import jsoncodec
from shared.errors import ConcurrencyConflictError
from shared.eventstore import (
    GENESIS_HASH,
    EventMetadata,
    NewEvent,
    PreparedAppend,
    StoredEvent,
    StreamAppend,
    append_prepared,
    events_table,
    prepare_append,
    store_hash,
)

from registry.adapters.tables import (
    HAS_MEMBERS,
    idempotency_keys_table,
    registry_item_phases_table,
    registry_items_table,
)
from registry.domain.events import DRAFTED, REVISED, revision_data
from registry.domain.revisions import CANCELLED, FORMING
from registry.domain.search import search_text
from registry.domain.structure import Dependents, ReferencedItem, RelatedItems, referenced_ids, restructures

items, phases = registry_items_table, registry_item_phases_table


@dataclass(frozen=True)
class ItemWrite:
    item_id: str
    expected_version: int
    head_hash: str  # the hash of the item stream's event at expected_version (GENESIS_HASH for a new item)
    event: NewEvent
    row: dict[str, Any]


@dataclass(frozen=True)
class PreparedWrites:
    """Item writes serialised and hash-chained ahead of their transaction (see :func:`prepare_writes`)."""

    rows_json: str
    events: PreparedAppend


@dataclass(frozen=True)
class CurrentItem:
    """The latest revision of an item as the read model holds it, with its lifecycle phase."""

    item_id: str
    revision: int
    region_code: str
    source_ref: str | None
    elements: dict[str, Any]
    phase: str
    head_hash: str  # of the revision's event: what the next revision's event chains onto

    @property
    def name(self) -> str:
        return str(self.elements.get("name") or self.item_id)


def drafted(elements: dict[str, Any], *, author: str, source_ref: str | None, now: datetime,
            item_id: str | None = None, import_job_id: str | None = None, missing: list[str] | None = None,
            elements_json: bytes | None = None, event_id: uuid.UUID | None = None) -> ItemWrite:
    """``elements_json``: the element set's canonical JSON when the caller has it (an import's reader process
    serialised it): the event embeds it instead of serialising the elements again. ``event_id``: one the caller
    drew (an import draws a chunk's ids at once), else a fresh one."""
    item_id = item_id or str(uuid.uuid4())
    data = revision_data(item_id=item_id, revision=1, elements=elements, author=author, source_ref=source_ref,
                         import_job_id=import_job_id, missing=missing)
    return ItemWrite(item_id, 0, GENESIS_HASH, _event(DRAFTED, data, elements_json, event_id),
                     item_row(data, author=author, now=now, created=True))


def revised(current: CurrentItem, elements: dict[str, Any], *, author: str, changed: list[str], maintenance: bool,
            pending: bool, now: datetime, import_job_id: str | None = None,
            missing: list[str] | None = None, elements_json: bytes | None = None,
            event_id: uuid.UUID | None = None) -> ItemWrite:
    data = revision_data(item_id=current.item_id, revision=current.revision + 1, elements=elements, author=author,
                         source_ref=current.source_ref, changed_fields=changed, maintenance=maintenance,
                         pending=pending, import_job_id=import_job_id, missing=missing)
    return ItemWrite(current.item_id, current.revision, current.head_hash,
                     _event(REVISED, data, elements_json, event_id),
                     item_row(data, author=author, now=now, created=False))


def _event(type_: str, data: dict[str, Any], elements_json: bytes | None, event_id: uuid.UUID | None) -> NewEvent:
    data_json = None if elements_json is None else jsoncodec.canonical_with(data, "elements", elements_json)
    return NewEvent(type_, data, event_id or uuid.uuid4(), data_json=data_json)


def item_row(data: dict[str, Any], *, author: str, now: datetime, created: bool) -> dict[str, Any]:
    """The read-model row of a revision event's ``data`` written by ``author`` at ``now`` (``created``: the first
    revision, which also sets who created the item and when)."""
    e = data["elements"]
    row = {
        "item_id": data["item_id"], "revision": data["revision"], "region_code": e["region_code"],
        "source_ref": data["source_ref"], "name": e["name"], "short_name": e["short_name"],
        "item_type": e["item_type"], "police_type": e["police_type"], "service_category": e["service_category"],
        "national_basic_code": e["national_basic_code"], "composition": e["composition"], "tier": e["tier"],
        "parent_item_id": e["parent_item_id"], "member_item_ids": e["member_item_ids"],
        "serial_predecessor_ids": e["serial_predecessor_ids"], "search_text": search_text(e["name"]),
        "complete": data["complete"], "updated_by": author, "updated_at": now,
    }
    if created:
        row.update(author=author, created_at=now)
    return row


_KEEP_ON_UPDATE = ("item_id", "author", "created_at")
# All rows of a batch in one statement: a JSON array of row objects, expanded by PostgreSQL into registry_items
# rows (arrays and timestamps included; json_populate_recordset reads the text once, without a jsonb copy).
# Per-row INSERTs cost a round trip each and made imports four times slower; an item that exists keeps who created
# it and when.
_UPSERT_SQL = text(f"""
INSERT INTO registry_items SELECT * FROM json_populate_recordset(NULL::registry_items, CAST(:rows AS json))
ON CONFLICT (item_id) DO UPDATE SET {", ".join(f"{c.name} = EXCLUDED.{c.name}" for c in items.columns
                                               if c.name not in _KEEP_ON_UPDATE)}
""")


_LOCK_TIMEOUT_SQL = text("SET LOCAL lock_timeout = '5s'")
_LOCK_NOT_AVAILABLE, _DEADLOCK_DETECTED = "55P03", "40P01"


async def limit_lock_waits(conn: AsyncConnection) -> None:
    """In the caller's transaction, a lock waited for over 5 s fails the statement (:func:`met_concurrent_change`)
    instead of waiting on: a bulk writer may wait, in Python, for a transaction of its own that waits for this
    one's lock, which PostgreSQL cannot see as a deadlock."""
    await conn.execute(_LOCK_TIMEOUT_SQL)


def met_concurrent_change(exc: BaseException) -> bool:
    """What a write of items may meet when someone else changes the same items meanwhile (the writer then decides
    again on the store as it is): a moved stream, a 来源编号 taken, a lock waited for too long, a deadlock."""
    if isinstance(exc, ConcurrencyConflictError | IntegrityError):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in (_LOCK_NOT_AVAILABLE,
                                                                                 _DEADLOCK_DETECTED)


async def write_items(conn: AsyncConnection, writes: Sequence[ItemWrite], metadata: EventMetadata) -> list[StoredEvent]:
    """Store the rows and append the events, in the caller's transaction. Raises ConcurrencyConflictError if any
    stream moved, IntegrityError if a source_ref is taken (the caller's transaction is then unusable)."""
    return await write_prepared(conn, prepare_writes(writes, metadata, store_hash(conn)))


def prepare_writes(writes: Sequence[ItemWrite], metadata: EventMetadata, hash_alg: str) -> PreparedWrites:
    """The CPU part of a write, done before its transaction: the read-model rows as one JSON document, the events
    serialised and chained (with ``hash_alg``, the store's) onto the heads the items were read at (the import
    prepares chunk N+1 this way while chunk N is being written)."""
    rows = [{"author": w.row["updated_by"], "created_at": w.row["updated_at"], **w.row} for w in writes]
    events = prepare_append([StreamAppend(w.item_id, w.expected_version, [w.event]) for w in writes], metadata,
                            {w.item_id: (w.expected_version, w.head_hash) for w in writes}, hash_alg=hash_alg)
    return PreparedWrites(jsoncodec.dumps(rows), events)


async def write_prepared(conn: AsyncConnection, prepared: PreparedWrites) -> list[StoredEvent]:
    """Store prepared writes in the caller's transaction (rows first, the events last: they take the table lock).
    ConcurrencyConflictError if an item's stream moved since it was read."""
    await write_rows(conn, prepared)
    return await write_events(conn, prepared)


async def write_rows(conn: AsyncConnection, prepared: PreparedWrites) -> None:
    """The read-model half of :func:`write_prepared` (no table lock: a bulk writer may store one batch's rows while
    the batch before it still commits)."""
    if prepared.events.rows:
        await conn.execute(_UPSERT_SQL, {"rows": prepared.rows_json})


async def write_events(conn: AsyncConnection, prepared: PreparedWrites) -> list[StoredEvent]:
    """The events half of :func:`write_prepared`, after :func:`write_rows` in the same transaction."""
    return await append_prepared(conn, prepared.events)


def _current_query() -> Any:
    revision_event = (events_table.c.stream_id == items.c.item_id) & (events_table.c.version == items.c.revision)
    return (select(items.c.item_id, items.c.revision, items.c.region_code, items.c.source_ref,
                   events_table.c.data["elements"].label("elements"), events_table.c.hash,
                   func.coalesce(phases.c.phase, FORMING).label("phase"))
            .select_from(items.join(events_table, revision_event)
                         .outerjoin(phases, phases.c.item_id == items.c.item_id)))


def _current(row: Any) -> CurrentItem:
    return CurrentItem(row.item_id, row.revision, row.region_code, row.source_ref, row.elements, row.phase,
                       row.hash)


async def load_current(conn: AsyncConnection, item_id: str, *, for_update: bool = False) -> CurrentItem | None:
    query = _current_query().where(items.c.item_id == item_id)
    if for_update:
        query = query.with_for_update(of=items)
    row = (await conn.execute(query)).first()
    return _current(row) if row else None


async def load_many(conn: AsyncConnection, item_ids: Iterable[str]) -> dict[str, CurrentItem]:
    ids = list(item_ids)
    if not ids:
        return {}
    return {r.item_id: _current(r) for r in await conn.execute(_current_query().where(items.c.item_id.in_(ids)))}


async def load_by_source_refs(conn: AsyncConnection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str],
                                                                                             CurrentItem]:
    """Items by (region_code, source_ref)."""
    keys = list(keys)
    if not keys:
        return {}
    wanted = text("SELECT * FROM unnest(CAST(:regions AS text[]), CAST(:refs AS text[])) AS k(region_code, source_ref)"
                  ).columns(region_code=items.c.region_code.type, source_ref=items.c.source_ref.type).subquery("k")
    query = _current_query().join(wanted, (wanted.c.region_code == items.c.region_code)
                                  & (wanted.c.source_ref == items.c.source_ref))
    rows = await conn.execute(query, {"regions": [k[0] for k in keys], "refs": [k[1] for k in keys]})
    return {(r.region_code, r.source_ref): _current(r) for r in rows}


async def load_referenced(conn: AsyncConnection, ids: Iterable[str]) -> dict[str, ReferencedItem]:
    ids = list(set(ids))
    if not ids:
        return {}
    rows = await conn.execute(
        select(items.c.item_id, items.c.name, items.c.composition, items.c.tier, phases.c.phase)
        .select_from(items.outerjoin(phases, phases.c.item_id == items.c.item_id))
        .where(items.c.item_id.in_(ids)))
    return {r.item_id: ReferencedItem(r.item_id, r.name, r.composition, r.tier, r.phase == CANCELLED) for r in rows}


async def resolve_references(conn: AsyncConnection, region_code: str, refs: Iterable[str]) -> dict[str, str]:
    """What a sheet calls other items (their 来源编号 in the row's region, or a registry item id) → item id."""
    refs = list(set(refs))
    if not refs:
        return {}
    rows = await conn.execute(
        select(items.c.item_id, items.c.source_ref, items.c.region_code)
        .where(items.c.item_id.in_(refs) | ((items.c.region_code == region_code) & items.c.source_ref.in_(refs))))
    found: dict[str, str] = {}
    for r in rows:
        if r.region_code == region_code and r.source_ref in refs:
            found[r.source_ref] = r.item_id
        if r.item_id in refs:
            found.setdefault(r.item_id, r.item_id)
    return found


_SERIAL_REACH = text("""
WITH RECURSIVE reach(item_id, preds, name) AS (
    SELECT item_id, serial_predecessor_ids, name FROM registry_items WHERE item_id = ANY(CAST(:start AS text[]))
    UNION
    SELECT r.item_id, r.serial_predecessor_ids, r.name
    FROM registry_items r JOIN reach ON r.item_id = ANY(reach.preds)
)
SELECT item_id, preds, name FROM reach
""")


async def serial_reach(conn: AsyncConnection, start: Iterable[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Every item reachable from ``start`` along serial relations: its predecessors (for the cycle check) and its
    name (for the message naming a cycle)."""
    start = list(start)
    if not start:
        return {}, {}
    edges: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for r in await conn.execute(_SERIAL_REACH, {"start": start}):
        edges[r.item_id], names[r.item_id] = list(r.preds), r.name
    return edges, names


async def load_dependents(conn: AsyncConnection,
                          item_id: str) -> tuple[list[ReferencedItem], list[ReferencedItem]]:
    """(composites listing the item as a member, its sub-items and handling items)."""
    columns = (items.c.item_id, items.c.name, items.c.composition, items.c.tier, phases.c.phase)
    joined = items.outerjoin(phases, phases.c.item_id == items.c.item_id)
    composites = await conn.execute(select(*columns).select_from(joined)
                                    .where(HAS_MEMBERS, items.c.member_item_ids.contains([item_id])))
    children = await conn.execute(select(*columns).select_from(joined).where(items.c.parent_item_id == item_id))

    def ref(r: Any) -> ReferencedItem:
        return ReferencedItem(r.item_id, r.name, r.composition, r.tier, r.phase == CANCELLED)

    return [ref(r) for r in composites], [ref(r) for r in children]


async def load_related(conn: AsyncConnection, item_id: str, elements: dict[str, Any], *,
                       before: dict[str, Any] | None = None, unwritten: Mapping[str, ReferencedItem] | None = None,
                       unwritten_edges: Mapping[str, list[str]] | None = None) -> RelatedItems:
    """What the rules between items need of the others for ``item_id`` with these ``elements`` (see
    registry/domain/structure.py), and only that: nothing is read for an item that refers to nothing and is not
    restructured (``before``: its current elements, for a revision). ``unwritten``/``unwritten_edges``: items of
    the same import that are decided but not written yet (they may refer to each other); they take the place of
    what the store says of them."""
    unwritten = unwritten or {}
    refs = referenced_ids(elements)
    referenced: dict[str, ReferencedItem] = {}
    if refs:
        referenced = await load_referenced(conn, refs - unwritten.keys())
        referenced.update({i: unwritten[i] for i in refs if i in unwritten})
    edges: dict[str, list[str]] = {}
    names: Mapping[str, str] = {}
    predecessors = elements.get("serial_predecessor_ids") or []
    if predecessors:
        edges, stored_names = await serial_reach(conn, predecessors)
        edges.update(unwritten_edges or {})
        names = _NamesOf(unwritten, stored_names) if unwritten else stored_names
    dependents = None
    if before is not None and restructures(before, elements):
        dependents = Dependents(*await load_dependents(conn, item_id))
    return RelatedItems(item_id, referenced, edges, names, dependents)


class _NamesOf(Mapping[str, str]):
    """Names of items, the unwritten ones' first (looked up only for a cycle's message, so the import's whole
    ``unwritten`` map is not copied for every row)."""

    def __init__(self, unwritten: Mapping[str, ReferencedItem], stored: Mapping[str, str]) -> None:
        self._unwritten, self._stored = unwritten, stored

    def __getitem__(self, item_id: str) -> str:
        found = self._unwritten.get(item_id)
        return found.name if found is not None else self._stored[item_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._unwritten.keys() | self._stored.keys())

    def __len__(self) -> int:
        return len(self._unwritten.keys() | self._stored.keys())


# ---- idempotency keys ---------------------------------------------------------------------------------------------
async def claim_idempotency_key(conn: AsyncConnection, subject: str, key: str, item_id: str, now: datetime) -> bool:
    """Records that ``subject``'s ``key`` creates ``item_id``; False if the key was used before."""
    claimed = await conn.execute(
        pg_insert(idempotency_keys_table).values(subject=subject, key=key, item_id=item_id, created_at=now)
        .on_conflict_do_nothing().returning(idempotency_keys_table.c.item_id))
    return claimed.first() is not None


async def item_of_idempotency_key(conn: AsyncConnection, subject: str, key: str) -> str:
    """The item a claimed key created."""
    item_id: str = (await conn.execute(select(idempotency_keys_table.c.item_id).where(
        idempotency_keys_table.c.subject == subject, idempotency_keys_table.c.key == key))).scalar_one()
    return item_id


# ---- phases (from the lifecycle's events) -------------------------------------------------------------------------
async def known_items(conn: AsyncConnection, item_ids: Sequence[str]) -> set[str]:
    """Those of ``item_ids`` the registry has."""
    return set((await conn.execute(select(items.c.item_id).where(items.c.item_id.in_(item_ids)))).scalars())


async def load_phases(conn: AsyncConnection, item_ids: Sequence[str]) -> dict[str, tuple[str | None, int, int | None]]:
    """Item id → (phase, lifecycle version, published revision), for the items whose phase is known."""
    return {r.item_id: (r.phase, r.lifecycle_version, r.published_revision)
            for r in await conn.execute(select(phases).where(phases.c.item_id.in_(item_ids)))}


_phases_insert = pg_insert(registry_item_phases_table)
# Newer lifecycle versions only: a redelivered older batch never moves an item's phase back.
_UPSERT_PHASES = _phases_insert.on_conflict_do_update(
    index_elements=["item_id"],
    set_={k: _phases_insert.excluded[k] for k in ("phase", "lifecycle_version", "published_revision", "updated_at")},
    where=registry_item_phases_table.c.lifecycle_version < _phases_insert.excluded.lifecycle_version)


async def store_phases(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Upserts phase rows (item_id, phase, lifecycle_version, published_revision, updated_at)."""
    await conn.execute(_UPSERT_PHASES, rows)
