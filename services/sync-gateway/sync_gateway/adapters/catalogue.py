"""The catalogue's read side (reads only): pages of published items by filter, and the online item of a code for
the public guide. Both read the ``catalog`` rows (each item's latest feed entry) and nothing the feed did not
publish."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared import jsoncodec
from shared.db import raw_driver

from sync_gateway.domain.catalogue import CatalogueQuery

Elements = dict[str, Any] | None

# An item's published elements: those of its latest entry, or — a cancellation carries none — of its last entry that
# had any (so that a cancelled item is still named, filtered and exported by what was published of it).
_ELEMENTS = """coalesce(nullif(c.entry -> 'data' -> 'elements', 'null'::jsonb),
    (SELECT f.entry -> 'data' -> 'elements' FROM feed_entries f
     WHERE f.item_id = c.item_id AND f.entry -> 'data' -> 'elements' <> 'null'::jsonb
     ORDER BY f.position DESC LIMIT 1))"""


async def catalogue_page(engine: AsyncEngine, query: CatalogueQuery,
                         regions: Sequence[str] | None) -> tuple[list[tuple[dict[str, Any], Elements]], str]:
    """The page ``query`` asks for (each item's latest entry and its published elements), limited to ``regions``
    prefixes (``None``: all), and the feed's epoch, read in one statement."""
    params: list[Any] = [list(query.states)]
    where = ["c.phase = ANY($1::text[])"]

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    if query.code:
        where.append(f"starts_with(c.code, {param(query.code)})")
    if regions is not None:
        where.append(f"EXISTS (SELECT FROM unnest({param(list(regions))}::text[]) AS p(prefix) "
                     "WHERE starts_with(c.region_code, p.prefix))")
    if query.police_type:
        where.append(f"e.elements ->> 'police_type' = {param(query.police_type)}")
    if query.item_type:
        where.append(f"e.elements ->> 'item_type' = {param(query.item_type)}")
    if query.name:
        where.append(f"strpos(e.elements ->> 'name', {param(query.name)}) > 0")
    if query.after:
        where.append(f"c.item_id > {param(query.after)}")
    sql = (f"SELECT (c.entry || jsonb_build_object('sequence', c.feed_position::text))::text AS entry, "
           f"e.elements::text AS elements, (SELECT epoch FROM feed_epoch) AS epoch "
           f"FROM catalog c CROSS JOIN LATERAL (SELECT {_ELEMENTS} AS elements) e "
           f"WHERE {' AND '.join(where)} ORDER BY c.item_id LIMIT {param(query.limit)}")
    async with engine.connect() as conn:
        driver = await raw_driver(conn)
        rows = await driver.fetch(sql, *params)
        # The epoch is read with the rows (one statement); an empty page reads it alone.
        epoch = rows[0]["epoch"] if rows else await driver.fetchval("SELECT epoch FROM feed_epoch")
    return [(jsoncodec.loads(r["entry"]), jsoncodec.loads(r["elements"]) if r["elements"] else None)
            for r in rows], epoch or ""


async def online_entry_of_code(engine: AsyncEngine, code: str) -> dict[str, Any] | None:
    """The latest feed entry of the online item with this code (``None``: no online item has it)."""
    async with engine.connect() as conn:
        text: str | None = await (await raw_driver(conn)).fetchval(
            "SELECT entry::text FROM catalog WHERE code = $1 AND phase = 'online' ORDER BY feed_position DESC "
            "LIMIT 1", code)
    return jsoncodec.loads(text) if text else None
