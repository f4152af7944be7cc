"""Rebuild the registry's read model ``registry_items`` from the item streams of its event store
(``shixiang rebuild registry``), in one locked transaction (``shared.rebuild.locked_rebuild``).

Each item's row is its latest revision event's data, written by that event's author at its time, with who created
the item and when from its first event: exactly what :func:`registry.adapters.store.item_row` made of the same
events when they were written (the writers record each event at the time they give its row). PostgreSQL picks the
first and last event of every stream in one pass over the primary key; Python computes the rows (``search_text``
is the domain's, ``str.lower`` included) and COPY writes them.

What it leaves as it is, and why:

- ``registry_item_phases`` is not derived from the registry's log: it is what the ``lifecycle-phases`` consumer made
  of the lifecycle's events, and the registry keeps nothing of those events but their ids (``processed_events``).
  So it can only be re-derived by replaying the lifecycle's log through that consumer, which no transaction of
  this database can do, and which is unsafe while the registry serves: until the replay has caught up, an item
  without its row reads as 形成期, and a change to a published item would not become a pending revision. This
  rebuild keeps the table. To re-derive it (docs/architecture.md, "Read models and how each is rebuilt"): stop the
  registry, delete the table's rows and the consumer's ``processed_events`` rows
  (``consumer = '<prefix>.registry.lifecycle-phases'``), run ``shixiang republish --service lifecycle`` (what the
  relays do after a broker loss: every other consumer drops the copies as duplicates) and start the registry; its
  consumer applies every lifecycle event again, in order per item, and the rows come back as they were but for
  ``updated_at`` (the consumer's clock).
- ``idempotency_keys`` and the import jobs and their errors are bookkeeping of requests, not read models of the log.

Locks: ``registry_items`` (every writer upserts its rows before it appends) and then ``events``."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared import jsoncodec
from shared.rebuild import RebuildReport, locked_rebuild

from registry.adapters.store import item_row
from registry.adapters.tables import registry_items_table

KEPT = {
    "registry_item_phases": "from the lifecycle's events (consumer lifecycle-phases), not the registry's log; "
                            "re-derived by replaying the lifecycle topic (docs/architecture.md)",
}

_COLUMNS = [c.name for c in registry_items_table.columns]
# Every item's latest revision event, and its first for who created it and when; one row per stream, by key order.
_ITEMS_QUERY = """
SELECT last.data::text, last.recorded_at, first.data ->> 'author', first.recorded_at
FROM (SELECT DISTINCT ON (stream_id) stream_id, data, recorded_at FROM events ORDER BY stream_id, version DESC) last
JOIN events first ON first.stream_id = last.stream_id AND first.version = 1"""
_BATCH = 2_000


async def rebuild_read_models(engine: AsyncEngine) -> RebuildReport:
    started = time.perf_counter()
    async with locked_rebuild(engine, [(registry_items_table.name, "ACCESS EXCLUSIVE"),
                                       ("events", "SHARE")]) as driver:
        events = int(await driver.fetchval("SELECT count(*) FROM events"))
        await driver.execute(f"TRUNCATE {registry_items_table.name}")
        items = 0
        batch: list[tuple[Any, ...]] = []
        async for last_data, updated_at, author, created_at in driver.cursor(_ITEMS_QUERY, prefetch=_BATCH):
            data = jsoncodec.loads(last_data)
            row = item_row(data, author=data["author"], now=updated_at, created=True)
            row.update(author=author, created_at=created_at)
            batch.append(tuple(row[c] for c in _COLUMNS))
            if len(batch) >= _BATCH:
                items += await _write(driver, batch)
        items += await _write(driver, batch)
    return RebuildReport("registry", events, {registry_items_table.name: items}, time.perf_counter() - started, KEPT)


async def _write(driver: Any, rows: list[tuple[Any, ...]]) -> int:
    if rows:
        await driver.copy_records_to_table(registry_items_table.name, records=rows, columns=_COLUMNS)
    count = len(rows)
    rows.clear()
    return count
