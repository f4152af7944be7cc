"""The national platform's progress through the feed, for the console: the feed's head, how far the platform has
answered, what it has not answered yet, and the items whose latest answer is a rejection (reads only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Scoped to the caller's regions (NULL: nationwide). An entry counts as answered when the platform acknowledged or
# rejected its item version; a rejection superseded by a later answer for the item is no longer listed.
_PROGRESS = text("""
WITH fed AS (
  SELECT position, item_id, item_version FROM feed_entries
  WHERE CAST(:regions AS text[]) IS NULL OR region_code LIKE ANY (
    SELECT r || '%' FROM unnest(CAST(:regions AS text[])) r)
), answered AS (
  SELECT n.* FROM national_feedback n
  WHERE EXISTS (SELECT 1 FROM fed f WHERE f.item_id = n.item_id AND f.item_version = n.item_version)
)
SELECT (SELECT coalesce(max(position), 0) FROM fed) AS feed_head,
       (SELECT coalesce(max(feed_sequence), 0) FROM answered) AS acknowledged_through,
       (SELECT max(recorded_at) FROM answered) AS last_acknowledged_at,
       (SELECT count(*) FROM fed f WHERE NOT EXISTS (
          SELECT 1 FROM national_feedback n WHERE n.item_id = f.item_id AND n.item_version = f.item_version))
         AS unacknowledged""")
_REJECTED = text("""
WITH latest AS (
  SELECT DISTINCT ON (n.item_id) n.item_id, n.item_version, n.result, n.reason, n.code, n.recorded_at
  FROM national_feedback n
  ORDER BY n.item_id, n.item_version DESC, n.recorded_at DESC
)
SELECT l.item_id, l.item_version, l.code, l.reason, l.recorded_at, f.entry -> 'data' ->> 'name' AS name
FROM latest l JOIN LATERAL (
  SELECT entry, region_code FROM feed_entries e WHERE e.item_id = l.item_id AND e.item_version = l.item_version
  ORDER BY e.position DESC LIMIT 1) f ON true
WHERE l.result = 'rejected' AND (CAST(:regions AS text[]) IS NULL OR f.region_code LIKE ANY (
  SELECT r || '%' FROM unnest(CAST(:regions AS text[])) r))
ORDER BY l.recorded_at DESC
LIMIT :limit""")


async def national_progress(engine: AsyncEngine, *, regions: Sequence[str] | None,
                            limit: int = 200) -> dict[str, Any]:
    scope = list(regions) if regions is not None else None
    async with engine.connect() as conn:
        row = (await conn.execute(_PROGRESS, {"regions": scope})).one()
        rejected = await conn.execute(_REJECTED, {"regions": scope, "limit": limit})
        return {
            "feed_head": int(row.feed_head), "acknowledged_through": int(row.acknowledged_through),
            "last_acknowledged_at": row.last_acknowledged_at.isoformat() if row.last_acknowledged_at else None,
            "unacknowledged": int(row.unacknowledged),
            "rejected": [{"item_id": r.item_id, "item_version": r.item_version, "code": r.code, "name": r.name,
                          "reason": r.reason, "recorded_at": r.recorded_at.isoformat()} for r in rejected]}
