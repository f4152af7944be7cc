"""事项服务编码: ``item code + 001–999`` for each named 事项服务 (item service) of a coded item.

A sequence is never reused: withdrawn services keep their row, and the next sequence is one past the highest ever
issued. Service codes are unique because item codes are (never reused) and sequences are unique per item; the
unique constraint on ``service_code`` guards it anyway. When the item is re-coded its active services move to the
new item code with the same sequence; when its code is retired for good (cancellation, split, merge) they are
withdrawn. Every change is an event on the item's stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.auth import Principal
from shared.eventstore import EventMetadata, NewEvent, append_events, current_version

from coding.adapters import queries, store
from coding.adapters.tables import ACTIVE, WITHDRAWN
from coding.domain.allocation import next_service_sequence
from coding.domain.codes import service_code
from coding.domain.errors import (
    ItemNotCodedError,
    ItemServiceNotFoundError,
    ItemServiceWithdrawnError,
    ServiceSequenceExhaustedError,
)
from coding.domain.events import SERVICE_ALLOCATED, SERVICE_RECODED, SERVICE_WITHDRAWN
from coding.service_layer.roles import READ_ROLES, SERVICE_WRITE_ROLES


@dataclass(frozen=True)
class ServiceOutcome:
    """``created`` is False when an active service of that name existed (the request is idempotent by name)."""

    created: bool
    service: dict[str, Any]


class ItemServices:
    """The API's use cases: allocate, withdraw and list an item's services, with the caller's role and region
    checked."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    async def allocate(self, item_id: str, name: str, principal: Principal, correlation_id: str) -> ServiceOutcome:
        principal.require_role(*SERVICE_WRITE_ROLES)
        await self._require_item_region(item_id, principal)
        # The events carry the rows' time (created_at, withdrawn_at), so that a rebuild from the log gives them back.
        now = self.clock()
        return await allocate_service(
            self.engine, item_id, name,
            EventMetadata(actor=principal.subject, correlation_id=correlation_id, recorded_at=now), now)

    async def withdraw(self, item_id: str, sequence: int, reason: str, principal: Principal,
                       correlation_id: str) -> dict[str, Any]:
        principal.require_role(*SERVICE_WRITE_ROLES)
        await self._require_item_region(item_id, principal)
        now = self.clock()
        return await withdraw_service(
            self.engine, item_id, sequence, reason,
            EventMetadata(actor=principal.subject, correlation_id=correlation_id, recorded_at=now), now)

    async def services_of(self, item_id: str, principal: Principal) -> dict[str, Any]:
        principal.require_role(*READ_ROLES)
        await self._require_item_region(item_id, principal)
        return {"item_id": item_id, "services": await queries.list_services(self.engine, item_id)}

    async def _require_item_region(self, item_id: str, principal: Principal) -> None:
        region = await queries.item_region(self.engine, item_id)
        if region is None:
            raise ItemNotCodedError(item_id=item_id)
        principal.require_region(region)


async def allocate_service(engine: AsyncEngine, item_id: str, name: str, metadata: EventMetadata,
                           now: datetime) -> ServiceOutcome:
    async with engine.begin() as conn:
        code = (await _locked_active_code(conn, item_id)).code
        rows = await store.services_of(conn, item_id)
        existing = next((r for r in rows if r.status == ACTIVE and r.name == name), None)
        if existing is not None:
            return ServiceOutcome(False, queries.service_view(existing))
        sequence = next_service_sequence(r.sequence for r in rows)
        if sequence is None:
            raise ServiceSequenceExhaustedError(item_id=item_id, item_code=code)
        full = service_code(code, sequence)
        row = await store.insert_service(conn, item_id, sequence, name, full, now)
        await append_events(conn, item_id, await current_version(conn, item_id), [NewEvent(SERVICE_ALLOCATED, {
            "item_id": item_id, "sequence": sequence, "name": name, "service_code": full, "item_code": code})],
            metadata)
    return ServiceOutcome(True, queries.service_view(row))


async def withdraw_service(engine: AsyncEngine, item_id: str, sequence: int, reason: str,
                           metadata: EventMetadata, now: datetime) -> dict[str, Any]:
    async with engine.begin() as conn:
        await _locked_active_code(conn, item_id)
        row = await store.service_of(conn, item_id, sequence)
        if row is None:
            raise ItemServiceNotFoundError(item_id=item_id, sequence=sequence)
        if row.status == WITHDRAWN:
            raise ItemServiceWithdrawnError(item_id=item_id, sequence=sequence, service_code=row.service_code)
        events = await withdraw_services(conn, item_id, reason, now, only_sequence=sequence)
        await append_events(conn, item_id, await current_version(conn, item_id), events, metadata)
        row = await store.service_of(conn, item_id, sequence)
    return queries.service_view(row)


async def _locked_active_code(conn: AsyncConnection, item_id: str) -> Row[Any, Any]:
    """The item's active code row, locked: allocation, re-coding and cancellation of one item take turns."""
    row = await store.locked_active_code(conn, item_id)
    if row is None:
        raise ItemNotCodedError(item_id=item_id)
    return row


# ---- effects of the item code's changes (called inside the allocation / retirement transaction) ------------------
async def withdraw_services(conn: AsyncConnection, item_id: str, reason: str, now: datetime, *,
                            only_sequence: int | None = None) -> list[NewEvent]:
    """Withdraw the item's active services (or one of them); returns the events to append."""
    rows = await store.withdraw_services(conn, item_id, reason, now, only_sequence=only_sequence)
    return [NewEvent(SERVICE_WITHDRAWN, {"item_id": item_id, "sequence": r.sequence, "name": r.name,
                                         "service_code": r.service_code, "reason": reason}) for r in rows]


async def move_services(conn: AsyncConnection, item_id: str, new_item_code: str) -> list[NewEvent]:
    """The item was re-coded: its active services take the new item code, keeping their sequences."""
    events = []
    for r in await store.services_of(conn, item_id, active_only=True):
        moved = service_code(new_item_code, r.sequence)
        await store.set_service_code(conn, item_id, r.sequence, moved)
        events.append(NewEvent(SERVICE_RECODED, {"item_id": item_id, "sequence": r.sequence, "name": r.name,
                                                 "service_code": moved, "previous_service_code": r.service_code}))
    return events
