"""Lifecycle command and query handlers: load the item's stream → one pure decision → append with the expected
version. The item_states projection is updated in the same transaction as the events it reflects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, false, or_, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shared import contracts
from shared.auth import ALL_REGIONS, Principal
from shared.cloudevents import CloudEvent
from shared.errors import DomainError
from shared.eventstore import EventMetadata, NewEvent, append_events, load_stream
from shared.service import ServiceRuntime

from lifecycle.domain import (
    PHASE_LABELS,
    Command,
    DomainEvent,
    ItemCommand,
    ItemState,
    decide,
    evolve,
    fold,
    on_code_assigned,
    on_revision,
)

# Who may give which command (admin may give all). Region limits apply on top.
COMMAND_ROLES: dict[Command, tuple[str, ...]] = {
    Command.submit: ("entry",),
    Command.approve: ("reviewer",),
    Command.reject: ("reviewer",),
    Command.record_test: ("tester",),
    Command.register: ("publisher",),
    Command.publish: ("publisher",),
    Command.unpublish: ("publisher",),
    Command.resume: ("publisher",),
    Command.cancel: ("publisher",),
}

READ_ROLES = ("entry", "reviewer", "tester", "publisher", "operator", "national")

lifecycle_metadata = MetaData()
item_states_table = Table(
    "item_states",
    lifecycle_metadata,
    Column("item_id", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("region_code", Text, index=True),
    Column("phase", Text, index=True),
    Column("step", Text),
    Column("code", Text),
    Column("name", Text),
    Column("item_type", Text),
    Column("police_type", Text),
    Column("service_category", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class ItemNotFoundError(DomainError):
    """No lifecycle stream for this item (or it lies outside the caller's regions)."""


class StaleVersionError(DomainError):
    """The client's expected version is not the item's current version."""


@dataclass(frozen=True)
class Clock:
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


class LifecycleService:
    def __init__(self, runtime: ServiceRuntime, *, item_arrival_wait_s: float = 5.0, clock: Clock = Clock()) -> None:
        self.runtime = runtime
        self.item_arrival_wait_s = item_arrival_wait_s
        self.clock = clock

    # ---- queries ------------------------------------------------------------------------------------------------
    async def get(self, item_id: str, principal: Principal, *, as_of: datetime | None = None) -> ItemState:
        principal.require_role(*READ_ROLES)
        async with self.runtime.engine.connect() as conn:
            state = fold(item_id, await load_stream(conn, item_id, recorded_until=as_of))
        if not state.exists or not principal.may_access_region(state.region_code or ""):
            raise ItemNotFoundError(item_id=item_id)
        return state

    async def events(self, item_id: str, principal: Principal) -> list[Any]:
        await self.get(item_id, principal)  # existence + region check
        async with self.runtime.engine.connect() as conn:
            return await load_stream(conn, item_id)

    async def list(self, principal: Principal, *, phase: str | None, region: str | None, police_type: str | None,
                   item_type: str | None, after: str | None, limit: int) -> list[dict[str, Any]]:
        principal.require_role(*READ_ROLES)
        t = item_states_table
        query = select(t).order_by(t.c.item_id).limit(limit)
        query = query.where(_any_prefix(t.c.region_code, principal.regions))
        if region:
            query = query.where(t.c.region_code.startswith(region))
        for column, value in ((t.c.phase, phase), (t.c.police_type, police_type), (t.c.item_type, item_type)):
            if value:
                query = query.where(column == value)
        if after:
            query = query.where(t.c.item_id > after)
        async with self.runtime.engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(query)]

    # ---- commands -----------------------------------------------------------------------------------------------
    async def execute(self, item_id: str, command: ItemCommand, principal: Principal, *,
                      expected_version: int | None, correlation_id: str) -> ItemState:
        principal.require_role(*COMMAND_ROLES[command.command])
        state = await self._wait_for_item(item_id)
        if not state.exists or not principal.may_access_region(state.region_code or ""):
            if state.exists:
                principal.require_region(state.region_code or "")
            raise ItemNotFoundError(item_id=item_id)
        if expected_version is not None and expected_version != state.version:
            raise StaleVersionError(item_id=item_id, expected=expected_version, actual=state.version)
        now = self.clock.now()
        decided = decide(state, command, actor=principal.subject, now=now)
        async with self.runtime.engine.begin() as conn:
            return await self._append(conn, state, decided, EventMetadata(
                actor=principal.subject, correlation_id=correlation_id, recorded_at=now))

    async def _wait_for_item(self, item_id: str) -> ItemState:
        deadline = time.monotonic() + self.item_arrival_wait_s
        while True:
            async with self.runtime.engine.connect() as conn:
                state = fold(item_id, await load_stream(conn, item_id))
            if state.exists or time.monotonic() >= deadline:
                return state
            await asyncio.sleep(0.05)

    async def _append(self, conn: AsyncConnection, state: ItemState, decided: list[DomainEvent],
                      metadata: EventMetadata) -> ItemState:
        if not decided:
            return state
        stored = await append_events(conn, state.item_id, state.version,
                                     [NewEvent(e.type, e.data) for e in decided], metadata)
        new_state = state  # evolve from the known state, not from scratch
        for event in stored:
            new_state = evolve(new_state, event)
        await _project(conn, new_state, metadata.recorded_at or self.clock.now())
        return new_state

    # ---- consumers (run inside the consumer's tracking transaction) --------------------------------------------
    async def on_registry_event(self, conn: AsyncConnection, event: CloudEvent) -> None:
        if event.type not in (contracts.REGISTRY_ITEM_DRAFTED, contracts.REGISTRY_ITEM_REVISED):
            return
        data = event.data
        state = fold(event.subject, await load_stream(conn, event.subject))
        decided = on_revision(state, revision=data["revision"], author=event.actor or data.get("author", ""),
                              region_code=data["region_code"], elements=data["elements"])
        await self._append(conn, state, decided, EventMetadata(
            actor=event.actor or "registry", correlation_id=event.correlation_id, causation_id=event.id))

    async def on_coding_event(self, conn: AsyncConnection, event: CloudEvent) -> None:
        if event.type != contracts.CODING_CODE_ASSIGNED:
            return
        item_id = event.data["item_id"]
        state = fold(item_id, await load_stream(conn, item_id))
        await self._append(conn, state, on_code_assigned(state, code=event.data["code"]), EventMetadata(
            actor="coding", correlation_id=event.correlation_id, causation_id=event.id))


def _any_prefix(column: Any, prefixes: tuple[str, ...]) -> Any:
    if ALL_REGIONS in prefixes:
        return true()
    return or_(*(column.startswith(p) for p in prefixes)) if prefixes else false()


async def _project(conn: AsyncConnection, state: ItemState, at: datetime) -> None:
    revision = state.revisions.get(state.latest_revision)
    elements = revision.elements if revision else {}
    row = {
        "item_id": state.item_id, "version": state.version, "region_code": state.region_code,
        "phase": state.phase.value if state.phase else None, "step": state.step.value, "code": state.code,
        "name": elements.get("name"), "item_type": elements.get("item_type"),
        "police_type": elements.get("police_type"), "service_category": elements.get("service_category"),
        "updated_at": at,
    }
    stmt = pg_insert(item_states_table).values(**row)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["item_id"], set_={k: stmt.excluded[k] for k in row if k != "item_id"},
        where=item_states_table.c.version < stmt.excluded.version))


def state_view(state: ItemState) -> dict[str, Any]:
    """The JSON clients read: phase in English and Chinese, code, revisions, last transition."""
    t = state.last_transition
    published = state.revisions.get(state.published_revision) if state.published_revision else None
    return {
        "item_id": state.item_id,
        "version": state.version,
        "phase": state.phase.value if state.phase else None,
        "phase_label": PHASE_LABELS[state.phase] if state.phase else None,
        "step": state.step.value,
        "region_code": state.region_code,
        "code": state.code,
        "latest_revision": state.latest_revision,
        "review_revision": state.review_revision,
        "published_revision": state.published_revision,
        "published_elements": published.elements if published else None,
        "test_result": state.test_result,
        "allowed_commands": state.allowed_commands(),
        "last_transition": None if t is None else {
            "command": t.command, "event": t.event, "actor": t.actor, "at": t.at.isoformat(), "reason": t.reason},
    }
