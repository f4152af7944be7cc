"""Registry handlers: validate → append the revision event (with the idempotency key and the read-model row in
the same transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.auth import Principal
from shared.dictionaries import Dictionaries
from shared.errors import DomainError
from shared.eventstore import EventMetadata, NewEvent, append_events, load_stream
from shared.service import ServiceRuntime

from registry.domain import EVENT_DRAFTED, ElementsInvalidError, check_elements, normalise

READ_ROLES = ("entry", "reviewer", "tester", "publisher", "operator")

registry_metadata = MetaData()
registry_items_table = Table(
    "registry_items",
    registry_metadata,
    Column("item_id", Text, primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("region_code", Text, nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("elements", JSONB, nullable=False),
    Column("author", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
idempotency_keys_table = Table(
    "idempotency_keys",
    registry_metadata,
    Column("subject", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("item_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class ItemNotFoundError(DomainError):
    """No such item in the registry (or outside the caller's regions)."""


class RegistryService:
    def __init__(self, runtime: ServiceRuntime, dictionaries: Dictionaries,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.runtime = runtime
        self.dictionaries = dictionaries
        self.now = now

    async def create(self, principal: Principal, elements: dict[str, Any], *, idempotency_key: str | None,
                     correlation_id: str) -> tuple[dict[str, Any], bool]:
        """Create a draft; returns (item view, created?). A repeated Idempotency-Key returns the first item."""
        principal.require_role("entry")
        elements = normalise(elements)
        now = self.now()
        problems = check_elements(elements, self.dictionaries, now.date())
        if problems:
            raise ElementsInvalidError(count=len(problems), problems=[p.as_dict() for p in problems])
        principal.require_region(elements["region_code"])
        item_id = str(uuid.uuid4())
        async with self.runtime.engine.begin() as conn:
            if idempotency_key:
                claimed = await conn.execute(
                    pg_insert(idempotency_keys_table)
                    .values(subject=principal.subject, key=idempotency_key, item_id=item_id, created_at=now)
                    .on_conflict_do_nothing()
                    .returning(idempotency_keys_table.c.item_id)
                )
                if claimed.first() is None:
                    existing = await conn.scalar(select(idempotency_keys_table.c.item_id).where(
                        idempotency_keys_table.c.subject == principal.subject,
                        idempotency_keys_table.c.key == idempotency_key))
                    return await self._view(conn, existing), False
            data = {"item_id": item_id, "revision": 1, "region_code": elements["region_code"], "elements": elements}
            await conn.execute(pg_insert(registry_items_table).values(
                item_id=item_id, revision=1, region_code=elements["region_code"], name=elements["name"],
                elements=elements, author=principal.subject, updated_at=now))
            await append_events(conn, item_id, 0, [NewEvent(EVENT_DRAFTED, data)],
                                EventMetadata(actor=principal.subject, correlation_id=correlation_id, recorded_at=now))
            return await self._view(conn, item_id), True

    async def get(self, item_id: str, principal: Principal) -> dict[str, Any]:
        principal.require_role(*READ_ROLES)
        async with self.runtime.engine.connect() as conn:
            view = await self._view(conn, item_id)
        if not principal.may_access_region(view["region_code"]):
            raise ItemNotFoundError(item_id=item_id)
        return view

    async def _view(self, conn: AsyncConnection, item_id: str) -> dict[str, Any]:
        events = await load_stream(conn, item_id)
        if not events:
            raise ItemNotFoundError(item_id=item_id)
        last = events[-1]
        return {
            "item_id": item_id,
            "revision": last.data["revision"],
            "region_code": last.data["region_code"],
            "elements": last.data["elements"],
            "author": events[0].actor,
            "created_at": events[0].recorded_at.isoformat(),
            "updated_at": last.recorded_at.isoformat(),
        }
