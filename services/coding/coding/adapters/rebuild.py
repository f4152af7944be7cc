"""Rebuild the coding service's read models from its event store (``shixiang rebuild coding``), in one locked
transaction (``shared.rebuild.locked_rebuild``), one INSERT … SELECT per table:

- ``item_codes``: one row per ``coding.code.assigned.v1`` that allocated a code (not a repeated answer), with the
  parts, letters, dictionary version and coded elements it carries, allocated at the event's time; retired by the
  code's ``coding.code.retired.v1`` (at most one: a retired code is never reused), with its reason and successor.
- ``item_services``: one row per ``coding.item_service.allocated.v1``; its service code is the last
  ``…recoded.v1`` of that sequence (the item was re-coded), and a ``…withdrawn.v1`` withdraws it.

The writers record each event at the time they give its row (``allocated_at``, ``retired_at``, ``created_at``,
``withdrawn_at``), so the rows are exactly those live processing wrote. The pinyin override dictionary has no table:
every process folds its stream (``service_layer.overrides``).

What it leaves as it is: ``coding_known_items`` and ``item_lineage`` are what the ``lifecycle-registrations``
consumer made of the lifecycle's ``item.entered`` and ``item.lineage_recorded`` events, which coding's log does not
hold (its events are caused by them, not copies of them). Nor can they be re-derived by replaying the lifecycle's
log through that consumer (clearing its tracking and republishing the topic, as the registry's phases can be): the
same consumer allocates and retires codes, so a replay would answer every registration again with new events. Both
tables are only ever inserted into, idempotently, so nothing but losing the database loses their rows.

Locks: ``item_codes`` and ``item_services`` (the order allocation takes them) and then ``events``."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.rebuild import RebuildReport, inserted_rows, locked_rebuild

from coding.adapters.tables import ACTIVE, RETIRED, WITHDRAWN, item_codes_table, item_services_table
from coding.domain.events import CODE_ASSIGNED, CODE_RETIRED, SERVICE_ALLOCATED, SERVICE_RECODED, SERVICE_WITHDRAWN

KEPT = {
    "coding_known_items": "from the lifecycle's item.entered events, not coding's log (docs/architecture.md)",
    "item_lineage": "from the lifecycle's lineage events, not coding's log (docs/architecture.md)",
}


class LogPredatesRebuildError(Exception):
    """Codes allocated before their events carried the coded elements: their rows cannot be rebuilt from the log."""


_MISSING_ELEMENTS = f"""
SELECT count(*) FROM events WHERE type = '{CODE_ASSIGNED}' AND data -> 'elements' IS NULL
  AND NOT coalesce((data ->> 'repeated')::boolean, false)"""

_CODES = f"""
INSERT INTO item_codes (code, item_id, status, base_code, collided_with, parts, elements, pinyin_letters,
                        overrides_version, replaces, allocated_at, retired_at, retire_reason, replaced_by)
SELECT a.data ->> 'code', a.data ->> 'item_id', CASE WHEN r.data IS NULL THEN '{ACTIVE}' ELSE '{RETIRED}' END,
       a.data ->> 'base_code', a.data ->> 'collided_with', a.data -> 'parts', a.data -> 'elements',
       a.data ->> 'pinyin_letters', a.data ->> 'overrides_version', a.data ->> 'replaces', a.recorded_at,
       r.recorded_at, r.data ->> 'reason', r.data ->> 'replaced_by'
FROM events a
LEFT JOIN events r ON r.type = '{CODE_RETIRED}' AND r.data ->> 'code' = a.data ->> 'code'
WHERE a.type = '{CODE_ASSIGNED}' AND NOT coalesce((a.data ->> 'repeated')::boolean, false)"""

_SERVICES = f"""
INSERT INTO item_services (item_id, sequence, name, service_code, status, created_at, withdrawn_at, withdraw_reason)
SELECT a.data ->> 'item_id', (a.data ->> 'sequence')::int, a.data ->> 'name',
       coalesce(moved.service_code, a.data ->> 'service_code'),
       CASE WHEN w.data IS NULL THEN '{ACTIVE}' ELSE '{WITHDRAWN}' END, a.recorded_at, w.recorded_at,
       w.data ->> 'reason'
FROM events a
LEFT JOIN LATERAL (
  SELECT m.data ->> 'service_code' AS service_code FROM events m
  WHERE m.stream_id = a.stream_id AND m.type = '{SERVICE_RECODED}' AND m.data ->> 'sequence' = a.data ->> 'sequence'
  ORDER BY m.version DESC LIMIT 1) moved ON true
LEFT JOIN events w ON w.stream_id = a.stream_id AND w.type = '{SERVICE_WITHDRAWN}'
                  AND w.data ->> 'sequence' = a.data ->> 'sequence'
WHERE a.type = '{SERVICE_ALLOCATED}'"""


async def rebuild_read_models(engine: AsyncEngine) -> RebuildReport:
    started = time.perf_counter()
    async with locked_rebuild(engine, [(item_codes_table.name, "ACCESS EXCLUSIVE"),
                                       (item_services_table.name, "ACCESS EXCLUSIVE"),
                                       ("events", "SHARE")]) as driver:
        events = int(await driver.fetchval("SELECT count(*) FROM events"))
        missing = int(await driver.fetchval(_MISSING_ELEMENTS))
        if missing:
            raise LogPredatesRebuildError(
                f"{missing} coding.code.assigned events predate the coded elements on the event: item_codes kept as "
                "it is (a development database from an older release: shixiang dev --fresh)")
        await driver.execute(f"TRUNCATE {item_codes_table.name}, {item_services_table.name}")
        codes = inserted_rows(await driver.execute(_CODES))
        services = inserted_rows(await driver.execute(_SERVICES))
    return RebuildReport("coding", events, {item_codes_table.name: codes, item_services_table.name: services},
                         time.perf_counter() - started, KEPT)

