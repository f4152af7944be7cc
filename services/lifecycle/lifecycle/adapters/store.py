"""Loading and saving item states (the write side of the lifecycle's database; lists and reports are in queries.py,
the tables in tables.py), and the planned-dates schedule rows the scheduler claims.

Loading = the latest snapshot (if any, of the current schema) + the events after it. Saving = one transaction
that writes the read models of the new states and then appends the events with the expected versions, last:
a stream that moved meanwhile fails the append and rolls the read models back with it.

Lock order, to keep concurrent writers free of deadlocks: schedule rows, then item rows, then snapshots, then the
events' primary keys, always in item id order. The scheduler claims a schedule row first too, so a command racing the
scheduler on one item waits or loses its version check; it never deadlocks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import driver_connection, raw_driver
from shared.eventstore import (
    EventMetadata,
    NewEvent,
    StoredEvent,
    StreamAppend,
    append_alone,
    append_batch,
    load_stream,
    store_hash,
)

from lifecycle.adapters.snapshots import SNAPSHOT_SCHEMA_VERSION, state_from_json, state_to_json
from lifecycle.adapters.tables import items_table, schedule_table, snapshots_table
from lifecycle.domain.events import DomainEvent, Recorded
from lifecycle.domain.evolve import fold, fold_from
from lifecycle.domain.model import ItemState
from lifecycle.domain.planning import CHINA_STANDARD_TIME, Plan, plan

# One item's latest snapshot and the events after it, in one round trip (every command starts with this). Run on
# the driver (asyncpg) itself: SQLAlchemy's asyncio execution path costs about three times the driver's CPU for a
# statement, and this one is on every command's path (and needs nothing from SQLAlchemy: no types to process).
_LOAD_ONE = """
WITH snapshot AS (
  SELECT version, state FROM lifecycle_snapshots
  WHERE item_id = $1 AND schema_version = $2 ORDER BY version DESC LIMIT 1)
SELECT version, NULL AS type, state AS data, NULL AS actor, NULL::timestamptz AS recorded_at FROM snapshot
UNION ALL
SELECT version, type, data, actor, recorded_at FROM events
WHERE stream_id = $1 AND version > COALESCE((SELECT version FROM snapshot), 0)
ORDER BY version"""


# Insert or update item rows, never going back to an older version: plain SQL with $n parameters (items_table's
# columns in order), run on the driver (_write_items), or alongside a command's events in one statement
# (ItemRepository.save_alone).
_ITEM_COLUMNS = [c.name for c in items_table.columns]
_NEWER_ONLY = (" ON CONFLICT (item_id) DO UPDATE SET "
               + ", ".join(f"{c} = EXCLUDED.{c}" for c in _ITEM_COLUMNS if c != "item_id")
               + " WHERE lifecycle_items.version < EXCLUDED.version")
_UPSERT_ITEM_SQL = (f"INSERT INTO lifecycle_items ({', '.join(_ITEM_COLUMNS)}) "
                    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_ITEM_COLUMNS) + 1))})" + _NEWER_ONLY)
# Many rows in one statement: a column of values per parameter (ORDER BY keeps the lock order of the rows given).
_UPSERT_ITEMS_SQL = (
    f"INSERT INTO lifecycle_items ({', '.join(_ITEM_COLUMNS)}) SELECT {', '.join(_ITEM_COLUMNS)} FROM unnest("
    + ", ".join(f"${n}::{c.type.compile(dialect=postgresql.dialect())}[]"
                for n, c in enumerate(items_table.columns, start=1))
    + f") WITH ORDINALITY AS r({', '.join(_ITEM_COLUMNS)}, ord) ORDER BY ord" + _NEWER_ONLY)


@dataclass(frozen=True)
class Change:
    """One item's decisions, ready to save: the state before, the events (each with who, when and why), and the
    state they lead to."""

    before: ItemState
    events: Sequence[DomainEvent]
    after: ItemState
    metadata: Sequence[EventMetadata] = ()  # one per event

    def then(self, events: Sequence[DomainEvent], metadata: EventMetadata) -> Change:
        """This change followed by more events (a consumer applying several facts to one item in one batch, each
        with its own causation)."""
        more = change(self.after, events, metadata)
        return Change(self.before, [*self.events, *events], more.after, (*self.metadata, *more.metadata))


def change(state: ItemState, events: Sequence[DomainEvent], metadata: EventMetadata) -> Change:
    """The state ``events`` lead to, computed before appending (so read models can be written first)."""
    assert metadata.recorded_at is not None, "saving needs the caller's clock"
    # numbered and stamped as the store will number and stamp them
    pending = [Recorded(e.type, e.data, metadata.actor, metadata.recorded_at, state.version + i)
               for i, e in enumerate(events, start=1)]
    return Change(state, events, fold_from(state, pending), (metadata,) * len(events))


def _recorded_at(c: Change) -> datetime:
    recorded_at = c.metadata[-1].recorded_at
    assert recorded_at is not None, "saving needs the caller's clock"
    return recorded_at


def item_row(state: ItemState, updated_at: datetime) -> dict[str, Any]:
    revision = state.revisions.get(state.latest_revision)
    elements = revision.elements if revision else {}
    standing = state.standing_national_answer()
    return {
        "item_id": state.item_id, "version": state.version, "region_code": state.region_code,
        "phase": state.phase.value if state.phase else None, "step": state.step.value, "code": state.code,
        "name": elements.get("name"), "short_name": elements.get("short_name"), "item_type": elements.get("item_type"),
        "police_type": elements.get("police_type"), "service_category": elements.get("service_category"),
        "latest_revision": state.latest_revision, "published_revision": state.published_revision,
        "pending_revision": state.update.revision if state.update else None,
        "national_sync": standing.value if standing else None, "updated_at": updated_at,
    }


def schedule_row(item_id: str, planned: Plan) -> dict[str, Any]:
    return {"item_id": item_id, "action": planned.action.value, "due_at": planned.due_at,
            "planned_date": planned.planned_date, "revision": planned.revision}


class ItemRepository:
    def __init__(self, *, tz: tzinfo = CHINA_STANDARD_TIME, snapshot_every: int = 100) -> None:
        self.tz = tz
        self.snapshot_every = snapshot_every

    # ---- loading ----------------------------------------------------------------------------------------------
    async def load(self, conn: AsyncConnection, item_id: str, *, as_of: datetime | None = None) -> ItemState:
        if as_of is not None:
            # An audit's question is answered from the log alone (snapshots are caches of the present).
            return fold(item_id, await load_stream(conn, item_id, recorded_until=as_of))
        # On the driver, the read runs before SQLAlchemy's lazily sent BEGIN when it is a transaction's first
        # statement: the same committed data either way (READ COMMITTED; a read takes no locks to keep).
        driver = await raw_driver(conn)
        rows = [Recorded(type_, data, actor, recorded_at, version) for version, type_, data, actor, recorded_at
                in await driver.fetch(_LOAD_ONE, item_id, SNAPSHOT_SCHEMA_VERSION)]
        if rows and rows[0].type is None:  # the snapshot comes first: its version is below every event's
            return fold_from(state_from_json(rows[0].data), rows[1:])
        return fold(item_id, rows)

    async def load_many(self, conn: AsyncConnection, item_ids: Sequence[str]) -> dict[str, ItemState]:
        """Many items in two queries (batches of thousands): their snapshots, then every later event."""
        ids = list(dict.fromkeys(item_ids))
        snapshots = await conn.execute(text("""
            SELECT DISTINCT ON (item_id) item_id, state FROM lifecycle_snapshots
            WHERE item_id = ANY(CAST(:ids AS text[])) AND schema_version = :schema
            ORDER BY item_id, version DESC"""), {"ids": ids, "schema": SNAPSHOT_SCHEMA_VERSION})
        states = {r.item_id: state_from_json(r.state) for r in snapshots}
        rows = await conn.execute(text("""
            SELECT e.stream_id, e.version, e.type, e.data, e.actor, e.recorded_at
            FROM events e JOIN unnest(CAST(:ids AS text[]), CAST(:after AS int[])) AS t(stream_id, after_version)
              ON e.stream_id = t.stream_id AND e.version > t.after_version
            ORDER BY e.stream_id, e.version"""), {"ids": ids, "after": [
                states[i].version if i in states else 0 for i in ids]})
        by_item: dict[str, list[Any]] = {}
        for r in rows:
            by_item.setdefault(r.stream_id, []).append(r)
        return {item_id: fold_from(states[item_id], by_item.get(item_id, ())) if item_id in states
                else fold(item_id, by_item.get(item_id, ())) for item_id in ids}

    # ---- saving -----------------------------------------------------------------------------------------------
    async def save(self, conn: AsyncConnection, changes: Iterable[Change]) -> list[StoredEvent]:
        """Read models, then the events (all or nothing; a stale expected version raises ConcurrencyConflictError
        and rolls the read models back with it)."""
        ordered = sorted((c for c in changes if c.events), key=lambda c: c.before.item_id)
        if not ordered:
            return []
        await self._write_schedule(conn, ordered)
        await self._write_items(conn, [item_row(c.after, _recorded_at(c)) for c in ordered])
        await self._write_snapshots(conn, [c.after for c in ordered if self._snapshot_due(c)])
        return await append_batch(conn, [
            StreamAppend(c.before.item_id, c.before.version,
                         [NewEvent(e.type, e.data, metadata=m) for e, m in zip(c.events, c.metadata, strict=True)])
            for c in ordered])

    async def save_alone(self, conn: AsyncConnection, c: Change) -> list[StoredEvent]:
        """One item's change on a connection outside any transaction (a command): the item row and the events in
        one statement, one round trip, one commit. A change that also moves its schedule or is due a snapshot takes
        a transaction of its own (``save``)."""
        if self.plan(c.before) != self.plan(c.after) or self._snapshot_due(c):
            async with conn.begin():
                return await self.save(conn, [c])
        if not c.events:
            return []
        row = item_row(c.after, _recorded_at(c))
        driver = await raw_driver(conn)
        return await append_alone(driver, [StreamAppend(
            c.before.item_id, c.before.version,
            [NewEvent(e.type, e.data, metadata=m) for e, m in zip(c.events, c.metadata, strict=True)])],
            alongside=_UPSERT_ITEM_SQL, args=[row[k] for k in _ITEM_COLUMNS], hash_alg=store_hash(conn))

    def plan(self, state: ItemState) -> Plan | None:
        return plan(state, tz=self.tz)

    def _snapshot_due(self, c: Change) -> bool:
        return c.after.version // self.snapshot_every > c.before.version // self.snapshot_every

    async def _write_schedule(self, conn: AsyncConnection, ordered: list[Change]) -> None:
        for c in ordered:
            before, after = self.plan(c.before), self.plan(c.after)
            if before == after:
                continue  # most commands plan nothing new: leave the row (and its lock) alone
            item_id = c.after.item_id
            if after is None:
                await conn.execute(delete(schedule_table).where(schedule_table.c.item_id == item_id))
                continue
            row = schedule_row(item_id, after)
            stmt = pg_insert(schedule_table).values(**row)
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=["item_id"],
                set_={**{k: stmt.excluded[k] for k in row if k != "item_id"}, "attempts": 0, "last_error": None,
                      "updated_at": func.now()}))

    async def _write_items(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        # one statement on the driver, in the order given: SQLAlchemy's parameter processing cost about ten
        # microseconds a row
        driver = await driver_connection(conn)
        await driver.execute(_UPSERT_ITEMS_SQL, *([row[k] for row in rows] for k in _ITEM_COLUMNS))

    async def _write_snapshots(self, conn: AsyncConnection, states: list[ItemState]) -> None:
        for state in states:
            # One snapshot per item is enough (as_of reads the log): replace the older one.
            await conn.execute(delete(snapshots_table).where(snapshots_table.c.item_id == state.item_id,
                                                             snapshots_table.c.version < state.version))
            await conn.execute(pg_insert(snapshots_table).values(
                item_id=state.item_id, version=state.version, schema_version=SNAPSHOT_SCHEMA_VERSION,
                state=state_to_json(state)).on_conflict_do_nothing())

    # ---- the planned-dates schedule (service_layer/planned_dates.py) ------------------------------------------
    async def claim_due(self, conn: AsyncConnection, now: datetime) -> str | None:
        """The item of the earliest due schedule row, locked for this transaction; rows other workers hold are
        skipped (so replicas never act on one item twice)."""
        row = (await conn.execute(
            select(schedule_table.c.item_id).where(schedule_table.c.due_at <= now)
            .order_by(schedule_table.c.due_at, schedule_table.c.item_id).limit(1)
            .with_for_update(skip_locked=True))).first()
        return None if row is None else str(row.item_id)

    async def replan(self, conn: AsyncConnection, state: ItemState) -> None:
        """Rewrite a stale schedule row from the state's current plan (or delete it when nothing is planned)."""
        planned = self.plan(state)
        if planned is None:
            await conn.execute(delete(schedule_table).where(schedule_table.c.item_id == state.item_id))
            return
        row = schedule_row(state.item_id, planned)
        await conn.execute(update(schedule_table).where(schedule_table.c.item_id == state.item_id).values(**row))

    async def schedule_attempts(self, conn: AsyncConnection, item_id: str) -> int | None:
        """How often the item's planned action failed so far (None: it has no schedule row)."""
        return await conn.scalar(select(schedule_table.c.attempts).where(schedule_table.c.item_id == item_id))

    async def postpone(self, conn: AsyncConnection, item_id: str, *, attempts: int, error: str,
                       due_at: datetime) -> None:
        """Record a failed planned action and when to try it again."""
        await conn.execute(update(schedule_table).where(schedule_table.c.item_id == item_id).values(
            attempts=attempts, last_error=error, due_at=due_at))
