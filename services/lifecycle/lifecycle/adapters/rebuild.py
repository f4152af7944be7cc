"""Rebuild every lifecycle read model (items list, planned-dates schedule, snapshots) from the event log.

Used by ``shixiang rebuild --service lifecycle`` and at start-up when ``PROJECTION_SCHEMA_VERSION`` changed. An
adapter rather than a use case: it is one locked transaction of COPY and TRUNCATE around the fold, nothing a
service-layer step could separate without handing the driver connection about.

Consistency: one REPEATABLE READ transaction. It first locks the projection tables (schedule, items, snapshots: the
order every writer touches them in, so a writer half-way through waits instead of deadlocking) and the events table
in SHARE mode (appends wait, reads go on), and only then takes its snapshot: the log it reads is complete. The rows
are replaced with TRUNCATE + COPY and committed together; readers of the lists wait for the commit, commands for
the lock, after which they carry on against the new rows.

Speed (profiled; the bench rebuilds a million events): PostgreSQL streams the log with COPY in (stream, version)
order, so the database produces rows while Python folds them, without a round trip per batch or per-row driver
decoding. Each line is split on tabs, its data parsed by the C JSON scanner and folded with
``domain.evolve.apply`` into one mutable working copy per item. The published content events' ``elements`` are
left out by the query: the fold never reads them (it keeps revisions from the revision events) and they are a
third of the log's bytes. (Folding hash partitions in worker processes reading an exported snapshot was tried: on
the two-core machines this runs on, starting the processes and competing with PostgreSQL for the cores cost more
than it saved.)"""

from __future__ import annotations

import json
import json.scanner
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, cast

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import raw_driver

from lifecycle.adapters.snapshots import SNAPSHOT_SCHEMA_VERSION, state_to_json
from lifecycle.adapters.store import ItemRepository, item_row, schedule_row
from lifecycle.adapters.tables import PROJECTION_SCHEMA_VERSION, items_table, schedule_table, snapshots_table
from lifecycle.domain.events import PUBLIC_EVENTS
from lifecycle.domain.evolve import apply, freeze
from lifecycle.domain.model import ItemState

PROJECTION_NAME = "lifecycle"


class _EventLine(tuple[Any, ...]):
    """One streamed event, ``(version, type, data, actor, recorded_at)``, as ``domain.events.Happened``."""

    __slots__ = ()
    version = property(itemgetter(0))
    type = property(itemgetter(1))
    data = property(itemgetter(2))
    actor = property(itemgetter(3))

    @property
    def recorded_at(self) -> datetime:
        return datetime.fromisoformat(self[4])  # parsed only for the few events whose time the state keeps


# One line per stream: its id, a tab, and its events as one JSON array (one parse per item rather than per event).
# COPY's text format doubles backslashes; JSON text contains no raw tab or newline, so that is all there is to undo.
_PUBLIC_TYPES = ",".join(sorted(PUBLIC_EVENTS))
_STREAMS_QUERY = f"""
SELECT stream_id, json_agg(json_build_array(
         version, type, CASE WHEN type = ANY('{{{_PUBLIC_TYPES}}}'::text[]) THEN data - 'elements' ELSE data END, actor,
         recorded_at) ORDER BY version)
FROM events GROUP BY stream_id ORDER BY stream_id"""
# The C scanner itself: no per-call whitespace checks. (typeshed types its context as the scanner class itself.)
_parse_json = json.scanner.make_scanner(cast("Any", json.JSONDecoder()))


@dataclass(frozen=True)
class RebuildReport:
    events: int
    items: int
    planned: int
    snapshots: int
    seconds: float
    fold_seconds: float = 0.0  # reading the log and folding it
    write_seconds: float = 0.0  # writing the read models

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        return (f"lifecycle projections rebuilt from {self.events:,} events: {self.items:,} items, "
                f"{self.planned:,} planned actions, {self.snapshots:,} snapshots in {self.seconds:.2f}s "
                f"({self.events_per_second:,.0f} events/s)")


@dataclass
class _Folded:
    """The read models' rows, as tuples in ``_COLUMNS`` order (what COPY takes)."""

    events: int = 0
    items: list[tuple[Any, ...]] = field(default_factory=list)
    planned: list[tuple[Any, ...]] = field(default_factory=list)
    snapshots: list[tuple[Any, ...]] = field(default_factory=list)


_COLUMNS = {
    "items": [c.name for c in items_table.columns],
    "planned": ["item_id", "action", "due_at", "planned_date", "revision", "attempts", "last_error", "updated_at"],
    "snapshots": ["item_id", "version", "schema_version", "state", "created_at"],
}


async def rebuild_projections(engine: AsyncEngine, repository: ItemRepository, *,
                              only_if_stale: bool = False) -> RebuildReport | None:
    """Rebuild, or with ``only_if_stale`` only when the stored projection schema is not the current one (then None
    when nothing had to be done)."""
    started = time.perf_counter()
    async with engine.connect() as conn:
        driver: asyncpg.Connection = await raw_driver(conn)
        async with driver.transaction(isolation="repeatable_read"):
            # Locks first (LOCK takes no snapshot), so that the snapshot below sees every append before them.
            await driver.execute(f"LOCK TABLE {schedule_table.name}, {items_table.name}, {snapshots_table.name} "
                                 "IN ACCESS EXCLUSIVE MODE")
            await driver.execute("LOCK TABLE events IN SHARE MODE")
            if only_if_stale and await driver.fetchval(
                    "SELECT schema_version FROM lifecycle_projection_meta WHERE name = $1",
                    PROJECTION_NAME) == PROJECTION_SCHEMA_VERSION:
                return None
            await driver.execute(f"TRUNCATE {schedule_table.name}, {items_table.name}, {snapshots_table.name}")
            fold_started = time.perf_counter()
            folded = await _fold_all(driver, repository)
            write_started = time.perf_counter()
            for name, table in (("items", items_table), ("planned", schedule_table), ("snapshots", snapshots_table)):
                rows = getattr(folded, name)
                if rows:
                    await driver.copy_records_to_table(table.name, records=rows, columns=_COLUMNS[name])
            write_seconds = time.perf_counter() - write_started
            await driver.execute(
                """INSERT INTO lifecycle_projection_meta (name, schema_version, rebuilt_at, events, seconds)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (name) DO UPDATE SET schema_version = EXCLUDED.schema_version,
                     rebuilt_at = EXCLUDED.rebuilt_at, events = EXCLUDED.events, seconds = EXCLUDED.seconds""",
                PROJECTION_NAME, PROJECTION_SCHEMA_VERSION, datetime.now(UTC), folded.events,
                time.perf_counter() - started)
    return RebuildReport(folded.events, len(folded.items), len(folded.planned), len(folded.snapshots),
                         time.perf_counter() - started, write_started - fold_started, write_seconds)


async def _fold_all(driver: asyncpg.Connection, repository: ItemRepository) -> _Folded:
    folded = _Folded()
    empty = ItemState(item_id="").__dict__
    rest = b""

    def fold_stream(line: str) -> None:
        stream_id, events = line.split("\t")
        if "\\" in line:
            stream_id, events = stream_id.replace("\\\\", "\\"), events.replace("\\\\", "\\")
        draft = dict(empty)
        draft["item_id"] = stream_id
        event = None
        for event in map(_EventLine, _parse_json(events, 0)[0]):
            apply(draft, event)
            folded.events += 1
        if event is not None:
            finish(freeze(draft), event.recorded_at)

    def finish(state: ItemState, at: datetime) -> None:
        row = item_row(state, at)
        folded.items.append(tuple(row[c] for c in _COLUMNS["items"]))
        planned = repository.plan(state)
        if planned is not None:
            row = schedule_row(state.item_id, planned)
            folded.planned.append((row["item_id"], row["action"], row["due_at"], row["planned_date"],
                                   row["revision"], 0, None, at))
        if state.version >= repository.snapshot_every:
            folded.snapshots.append((state.item_id, state.version, SNAPSHOT_SCHEMA_VERSION,
                                     json.dumps(state_to_json(state), ensure_ascii=False), at))

    async def fold_chunk(chunk: bytes) -> None:
        nonlocal rest
        data = rest + chunk
        cut = data.rfind(b"\n") + 1  # decode whole lines only: a chunk may end inside a character
        rest = data[cut:]
        for line in data[:cut].decode().split("\n")[:-1]:
            fold_stream(line)

    await driver.execute("SET LOCAL TimeZone = 'UTC'")  # times as the snapshots and rows keep them
    await driver.copy_from_query(_STREAMS_QUERY, output=fold_chunk)
    return folded
