"""Rebuild the sync gateway's read models (``shixiang rebuild sync``) in one locked transaction
(``shared.rebuild.locked_rebuild``), one INSERT … SELECT per table:

- ``catalog``, from ``feed_entries``: each item's entry of its highest item version, with its position as the
  entry's ``sequence``, as the consumer keeps it (a newer item version only ever replaces an older one).
- ``national_feedback``, from the gateway's event store: per item version, its latest ``sync.national.*`` answer.

The feed itself is never rebuilt, renumbered or rewritten: ``feed_entries`` is the gateway's record of what it
published, and its positions are the national platform's cursor (``GET /sync/v1/feed?after=``). Renumbering them
would make the platform skip or re-read entries. It is the log the catalogue is rebuilt from; the lifecycle events
it was made of are on the lifecycle's topic, and a republish of that topic only adds what was never fed (each entry
keeps its source event id, which is unique).

Locks: the read models first, then ``feed_entries`` in SHARE mode (the consumer's EXCLUSIVE insert lock waits; feed
readers and long polls go on), then ``events``. The consumer reads the catalogue before it locks the feed, and
feedback reads the feed and locks its row before it appends, so taking the read models first is the order that
never makes either of them and the rebuild wait for each other."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncEngine

from shared import contracts
from shared.rebuild import RebuildReport, inserted_rows, locked_rebuild

from sync_gateway.adapters.tables import catalog_table, feed_entries_table, national_feedback_table
from sync_gateway.domain.feedback import EVENT_TYPES

KEPT = {
    "feed_entries": "the record of what was published: its positions are the national cursor, never renumbered",
    "operations_log": "a projection of every service's topic, not of this database (re-derived by a republish)",
    "operations_items": "filled with the operations log, from the same topics",
    "exchange_feedback_cursor": "the position read in the exchange database's dn_audit_abnormal, not in this one",
}

_CATALOG = """
INSERT INTO catalog (item_id, item_version, code, phase, region_code, entry, feed_position)
SELECT DISTINCT ON (item_id) item_id, item_version, entry -> 'data' ->> 'code', entry -> 'data' ->> 'state',
       entry -> 'data' ->> 'region_code', entry || jsonb_build_object('sequence', position::text), position
FROM feed_entries ORDER BY item_id, item_version DESC, position DESC"""

_RESULTS = " ".join(f"WHEN '{event_type}' THEN '{result.value}'" for result, event_type in EVENT_TYPES.items())
_FEEDBACK = f"""
INSERT INTO national_feedback (item_id, item_version, result, reason, note, code, feed_sequence, event_id, actor,
                               recorded_at)
SELECT DISTINCT ON (stream_id, (data ->> 'item_version')::int)
       data ->> 'item_id', (data ->> 'item_version')::int, CASE type {_RESULTS} END, data ->> 'reason',
       data ->> 'note', data ->> 'code', (data ->> 'feed_sequence')::bigint, event_id::text, actor, recorded_at
FROM events WHERE type IN ('{contracts.SYNC_NATIONAL_ACKNOWLEDGED}', '{contracts.SYNC_NATIONAL_REJECTED}')
ORDER BY stream_id, (data ->> 'item_version')::int, version DESC"""


async def rebuild_read_models(engine: AsyncEngine) -> RebuildReport:
    started = time.perf_counter()
    async with locked_rebuild(engine, [(catalog_table.name, "ACCESS EXCLUSIVE"),
                                       (national_feedback_table.name, "ACCESS EXCLUSIVE"),
                                       (feed_entries_table.name, "SHARE"),
                                       ("events", "SHARE")]) as driver:
        entries = int(await driver.fetchval(f"SELECT count(*) FROM {feed_entries_table.name}"))
        events = int(await driver.fetchval("SELECT count(*) FROM events"))
        await driver.execute(f"TRUNCATE {catalog_table.name}, {national_feedback_table.name}")
        catalog = inserted_rows(await driver.execute(_CATALOG))
        feedback = inserted_rows(await driver.execute(_FEEDBACK))
    rows = {catalog_table.name: catalog, national_feedback_table.name: feedback}
    return RebuildReport("sync", entries + events, rows, time.perf_counter() - started, KEPT,
                         source="feed entries and events")

