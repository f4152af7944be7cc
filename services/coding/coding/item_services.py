"""事项服务编码: ``item code + 001–999`` for each named 事项服务 (item service) of a coded item.

A sequence is never reused: withdrawn services keep their row, and the next sequence is one past the highest ever
issued. Service codes are unique because item codes are (never reused) and sequences are unique per item; the
unique constraint on ``service_code`` guards it anyway. When the item is re-coded its active services move to the
new item code with the same sequence; when its code is retired for good (cancellation, split, merge) they are
withdrawn. Every change is an event on the item's stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.errors import DomainError
from shared.eventstore import EventMetadata, NewEvent, append_events, current_version

from coding.domain.allocation import next_service_sequence
from coding.domain.codes import service_code
from coding.events import SERVICE_ALLOCATED, SERVICE_RECODED, SERVICE_WITHDRAWN
from coding.tables import ACTIVE, WITHDRAWN, item_codes_table, item_services_table


class ItemNotCodedError(DomainError):
    """The item holds no active code (never registered, or cancelled): it cannot have service codes."""


class ServiceSequenceExhaustedError(DomainError):
    """All 999 service sequences of the item have been issued."""


class ItemServiceNotFoundError(DomainError):
    """No service with this sequence for the item."""


class ItemServiceWithdrawnError(DomainError):
    """The service was withdrawn already."""


@dataclass(frozen=True)
class ServiceOutcome:
    """``created`` is False when an active service of that name existed (the request is idempotent by name)."""

    created: bool
    service: dict[str, Any]


def service_view(row: Any) -> dict[str, Any]:
    return {"item_id": row.item_id, "sequence": row.sequence, "sequence_code": f"{row.sequence:03d}",
            "name": row.name, "service_code": row.service_code, "status": row.status,
            "created_at": row.created_at.isoformat(),
            "withdrawn_at": row.withdrawn_at.isoformat() if row.withdrawn_at else None,
            "withdraw_reason": row.withdraw_reason}


async def _locked_active_code(conn: AsyncConnection, item_id: str) -> Any:
    """The item's active code row, locked: allocation, re-coding and cancellation of one item take turns."""
    row = (await conn.execute(select(item_codes_table.c.code, item_codes_table.c.parts).where(
        item_codes_table.c.item_id == item_id, item_codes_table.c.status == ACTIVE).with_for_update())).first()
    if row is None:
        raise ItemNotCodedError(item_id=item_id)
    return row


async def item_region(engine: AsyncEngine, item_id: str) -> str | None:
    """The region of the item's latest code (for the caller's region check), or None if it never had one."""
    async with engine.connect() as conn:
        parts = await conn.scalar(select(item_codes_table.c.parts).where(item_codes_table.c.item_id == item_id)
                                  .order_by(item_codes_table.c.allocated_at.desc()).limit(1))
    return parts["region_code"] if parts else None


async def allocate_service(engine: AsyncEngine, item_id: str, name: str, metadata: EventMetadata,
                           now: datetime) -> ServiceOutcome:
    async with engine.begin() as conn:
        code = (await _locked_active_code(conn, item_id)).code
        rows = (await conn.execute(select(item_services_table).where(item_services_table.c.item_id == item_id))).all()
        existing = next((r for r in rows if r.status == ACTIVE and r.name == name), None)
        if existing is not None:
            return ServiceOutcome(False, service_view(existing))
        sequence = next_service_sequence(r.sequence for r in rows)
        if sequence is None:
            raise ServiceSequenceExhaustedError(item_id=item_id, item_code=code)
        full = service_code(code, sequence)
        row = (await conn.execute(item_services_table.insert().values(
            item_id=item_id, sequence=sequence, name=name, service_code=full, status=ACTIVE,
            created_at=now).returning(*item_services_table.c))).one()
        await append_events(conn, item_id, await current_version(conn, item_id), [NewEvent(SERVICE_ALLOCATED, {
            "item_id": item_id, "sequence": sequence, "name": name, "service_code": full, "item_code": code})],
            metadata)
    return ServiceOutcome(True, service_view(row))


async def withdraw_service(engine: AsyncEngine, item_id: str, sequence: int, reason: str,
                           metadata: EventMetadata, now: datetime) -> dict[str, Any]:
    async with engine.begin() as conn:
        await _locked_active_code(conn, item_id)
        row = (await conn.execute(select(item_services_table).where(
            item_services_table.c.item_id == item_id, item_services_table.c.sequence == sequence))).first()
        if row is None:
            raise ItemServiceNotFoundError(item_id=item_id, sequence=sequence)
        if row.status == WITHDRAWN:
            raise ItemServiceWithdrawnError(item_id=item_id, sequence=sequence, service_code=row.service_code)
        events = await withdraw_services(conn, item_id, reason, now, only_sequence=sequence)
        await append_events(conn, item_id, await current_version(conn, item_id), events, metadata)
        row = (await conn.execute(select(item_services_table).where(
            item_services_table.c.item_id == item_id, item_services_table.c.sequence == sequence))).one()
    return service_view(row)


async def list_services(engine: AsyncEngine, item_id: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(item_services_table).where(item_services_table.c.item_id == item_id)
                                   .order_by(item_services_table.c.sequence))).all()
    return [service_view(r) for r in rows]


async def service_by_code(conn: AsyncConnection, code: str) -> Any:
    return (await conn.execute(select(item_services_table).where(item_services_table.c.service_code == code))).first()


# ---- effects of the item code's changes (called inside the allocation / retirement transaction) ------------------
async def withdraw_services(conn: AsyncConnection, item_id: str, reason: str, now: datetime, *,
                            only_sequence: int | None = None) -> list[NewEvent]:
    """Withdraw the item's active services (or one of them); returns the events to append."""
    condition = [item_services_table.c.item_id == item_id, item_services_table.c.status == ACTIVE]
    if only_sequence is not None:
        condition.append(item_services_table.c.sequence == only_sequence)
    rows = (await conn.execute(update(item_services_table).where(*condition).values(
        status=WITHDRAWN, withdrawn_at=now, withdraw_reason=reason).returning(
        item_services_table.c.sequence, item_services_table.c.name, item_services_table.c.service_code))).all()
    return [NewEvent(SERVICE_WITHDRAWN, {"item_id": item_id, "sequence": r.sequence, "name": r.name,
                                         "service_code": r.service_code, "reason": reason})
            for r in sorted(rows, key=lambda r: r.sequence)]


async def move_services(conn: AsyncConnection, item_id: str, new_item_code: str) -> list[NewEvent]:
    """The item was re-coded: its active services take the new item code, keeping their sequences."""
    rows = (await conn.execute(select(item_services_table).where(
        item_services_table.c.item_id == item_id, item_services_table.c.status == ACTIVE)
        .order_by(item_services_table.c.sequence))).all()
    events = []
    for r in rows:
        moved = service_code(new_item_code, r.sequence)
        await conn.execute(update(item_services_table).where(
            item_services_table.c.item_id == item_id, item_services_table.c.sequence == r.sequence).values(
            service_code=moved))
        events.append(NewEvent(SERVICE_RECODED, {"item_id": item_id, "sequence": r.sequence, "name": r.name,
                                                 "service_code": moved, "previous_service_code": r.service_code}))
    return events
