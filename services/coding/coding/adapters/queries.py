"""The coding service's read side: every query behind a read of the API (who holds a code, an item's codes and
lineage, its services), and the shapes those rows are shown in. Reads only; no locks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coding.adapters.tables import item_codes_table, item_lineage_table, item_services_table, known_items_table

# The code each item holds now, or else the last it held: how lineage shows the codes of related items.
_LATEST_CODES_SQL = text("""
SELECT DISTINCT ON (item_id) item_id, code, status FROM item_codes WHERE item_id = ANY(CAST(:ids AS text[]))
ORDER BY item_id, status = 'active' DESC, allocated_at DESC
""")


# ---- item codes ------------------------------------------------------------------------------------------------
async def code_row(conn: AsyncConnection, code: str) -> Row[Any] | None:
    """The allocated code ``code`` (active or retired), or ``None``."""
    return (await conn.execute(select(item_codes_table).where(item_codes_table.c.code == code))).first()


async def codes_of_item(conn: AsyncConnection, item_id: str) -> Sequence[Row[Any]]:
    """Every code the item has held, oldest first."""
    return (await conn.execute(select(item_codes_table).where(item_codes_table.c.item_id == item_id)
                               .order_by(item_codes_table.c.allocated_at))).all()


async def lineage(conn: AsyncConnection, item_id: str) -> dict[str, list[dict[str, Any]]]:
    """Predecessors and successors of a split or merge, with their codes resolved now (a successor may have
    been coded after the lineage was recorded, or not yet)."""
    links = (await conn.execute(select(item_lineage_table).where(or_(
        item_lineage_table.c.predecessor == item_id, item_lineage_table.c.successor == item_id))
        .order_by(item_lineage_table.c.recorded_at, item_lineage_table.c.predecessor,
                  item_lineage_table.c.successor))).all()
    related = sorted(({link.predecessor for link in links} | {link.successor for link in links}) - {item_id})
    codes = {r.item_id: r for r in (await conn.execute(_LATEST_CODES_SQL, {"ids": related})).all()} \
        if related else {}

    def side(other: str, link: Any) -> dict[str, Any]:
        held = codes.get(other)
        return {"item_id": other, "kind": link.kind, "reason": link.reason,
                "recorded_at": link.recorded_at.isoformat(),
                "code": held.code if held else None, "code_status": held.status if held else "uncoded"}

    return {"predecessors": [side(link.predecessor, link) for link in links
                             if link.successor == item_id and link.predecessor != item_id],
            "successors": [side(link.successor, link) for link in links
                           if link.predecessor == item_id and link.successor != item_id]}


def code_view(row: Any) -> dict[str, Any]:
    """What is known about one allocated code (its parts are shown labelled by the caller, or not at all)."""
    return {"code": row.code, "status": row.status, "base_code": row.base_code, "collided_with": row.collided_with,
            "pinyin_letters": row.pinyin_letters, "overrides_version": row.overrides_version,
            "allocated_at": row.allocated_at.isoformat(), "replaces": row.replaces,
            "retired_at": row.retired_at.isoformat() if row.retired_at else None,
            "retire_reason": row.retire_reason, "replaced_by": row.replaced_by}


async def item_region(engine: AsyncEngine, item_id: str) -> str | None:
    """The region of the item's latest code (for the caller's region check), or None if it never had one."""
    async with engine.connect() as conn:
        parts = await conn.scalar(select(item_codes_table.c.parts).where(item_codes_table.c.item_id == item_id)
                                  .order_by(item_codes_table.c.allocated_at.desc()).limit(1))
    return parts["region_code"] if parts else None


async def known_region(conn: AsyncConnection, item_id: str) -> str | None:
    """The item's region as coding knows it: the region of its latest code, else the one it was entered with; None
    if coding never heard of it."""
    rows = await codes_of_item(conn, item_id)
    region: str | None = rows[-1].parts["region_code"] if rows else await entered_region(conn, item_id)
    return region


async def entered_region(conn: AsyncConnection, item_id: str) -> str | None:
    """The region the item was entered with (lifecycle.item.entered), or None if coding never heard of it."""
    region: str | None = await conn.scalar(
        select(known_items_table.c.region_code).where(known_items_table.c.item_id == item_id))
    return region


# ---- 事项服务 ------------------------------------------------------------------------------------------------------
async def service_by_code(conn: AsyncConnection, code: str) -> Row[Any] | None:
    return (await conn.execute(select(item_services_table).where(item_services_table.c.service_code == code))).first()


async def list_services(engine: AsyncEngine, item_id: str) -> list[dict[str, Any]]:
    """The item's services (withdrawn ones too), in sequence order."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(item_services_table).where(item_services_table.c.item_id == item_id)
                                   .order_by(item_services_table.c.sequence))).all()
    return [service_view(r) for r in rows]


def service_view(row: Any) -> dict[str, Any]:
    return {"item_id": row.item_id, "sequence": row.sequence, "sequence_code": f"{row.sequence:03d}",
            "name": row.name, "service_code": row.service_code, "status": row.status,
            "created_at": row.created_at.isoformat(),
            "withdrawn_at": row.withdrawn_at.isoformat() if row.withdrawn_at else None,
            "withdraw_reason": row.withdraw_reason}
