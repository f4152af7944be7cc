"""One item's use cases: read it (state, history, hash chain, the list) and give it a command. A command is load
(snapshot + later events) → one pure decision (``domain.decide``) → save (the read models, then the events with
the expected version, in one transaction). Roles and regions are checked here, before anything is loaded or
decided; the batch, adjustment and fact use cases (batches.py, adjustments.py, facts.py) share the helpers below."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.auth import Principal
from shared.dictionaries import load_dictionaries, next_region_level
from shared.eventstore import EventMetadata, StoredEvent, load_stream
from shared.service import ServiceRuntime

from lifecycle.adapters import queries
from lifecycle.adapters.queries import ChainReport, ListFilter
from lifecycle.adapters.store import ItemRepository, change
from lifecycle.domain.decide import ItemCommand, decide
from lifecycle.domain.errors import ItemNotFoundError, StaleVersionError
from lifecycle.domain.model import ItemState
from lifecycle.domain.planning import Plan
from lifecycle.domain.statistics import item_statistics
from lifecycle.service_layer.clock import SYSTEM_CLOCK, Clock
from lifecycle.service_layer.roles import COMMAND_ROLES, READ_ROLES


class LifecycleService:
    def __init__(self, runtime: ServiceRuntime, *, repository: ItemRepository | None = None,
                 item_arrival_wait_s: float = 5.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self.runtime = runtime
        self._autocommit = runtime.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.repository = repository or ItemRepository()
        self.item_arrival_wait_s = item_arrival_wait_s
        self.clock = clock

    # ---- queries ------------------------------------------------------------------------------------------------
    async def get(self, item_id: str, principal: Principal, *, as_of: datetime | None = None) -> ItemState:
        principal.require_role(*READ_ROLES)
        async with self.runtime.engine.connect() as conn:
            state = await self.repository.load(conn, item_id, as_of=as_of)
        if not state.exists or not principal.may_access_region(state.region_code or ""):
            raise ItemNotFoundError(item_id=item_id)
        return state

    def plan(self, state: ItemState) -> Plan | None:
        """The planned action shown with a state (planned dates fall in the configured time zone)."""
        return self.repository.plan(state)

    async def events(self, item_id: str, principal: Principal, *, after_version: int = 0,
                     limit: int | None = None) -> list[StoredEvent]:
        await self._require_visible(item_id, principal)
        async with self.runtime.engine.connect() as conn:
            events = await load_stream(conn, item_id, after_version=after_version)
        return events[:limit] if limit else events

    async def list(self, principal: Principal, filters: ListFilter, *, after: str | None,
                   limit: int) -> list[dict[str, Any]]:
        principal.require_role(*READ_ROLES)
        async with self.runtime.engine.connect() as conn:
            return await queries.list_items(conn, principal.regions, filters, after=after, limit=limit)

    async def statistics(self, principal: Principal, *, region: str | None) -> dict[str, Any]:
        """Items per phase, per region one level below ``region`` and per police type, within the caller's regions
        (the same items its list shows)."""
        principal.require_role(*READ_ROLES)
        async with self.runtime.engine.connect() as conn:
            by_area, by_police_type = await queries.item_counts(conn, principal.regions, region=region,
                                                                level=next_region_level(region))
        return item_statistics(region, by_area, by_police_type, load_dictionaries())

    async def verify(self, item_id: str, principal: Principal) -> ChainReport:
        """Recompute the item's hash chain from the stored events, and compare the chain's head with what the read
        models have seen: a chain stays intact when its last event is deleted, the projection does not."""
        await self._require_visible(item_id, principal)
        async with self.runtime.engine.connect() as conn:
            return await queries.chain_report(conn, item_id)

    async def _require_visible(self, item_id: str, principal: Principal) -> None:
        """Existence and region from the projection (not by folding: a tampered log must still be verifiable)."""
        principal.require_role(*READ_ROLES)
        async with self.runtime.engine.connect() as conn:
            region = await queries.item_region(conn, item_id)
        if region is None or not principal.may_access_region(region):
            raise ItemNotFoundError(item_id=item_id)

    # ---- commands -----------------------------------------------------------------------------------------------
    async def execute(self, item_id: str, command: ItemCommand, principal: Principal, *,
                      expected_version: int | None, correlation_id: str) -> ItemState:
        principal.require_role(*COMMAND_ROLES[command.command])
        # The hot path in two round trips on one connection outside a transaction: the load, then the item row and
        # the events in one statement. Whatever changed the item in between fails the append's version check (409).
        async with self._autocommit.connect() as conn:
            state = await self.repository.load(conn, item_id)
            if not state.exists:
                # a draft the registry wrote whose event has not arrived yet
                await wait_for_items(self.runtime.engine, self.repository, [item_id], self.item_arrival_wait_s)
                state = await self.repository.load(conn, item_id)
            return await self._decide_and_save(conn, state, command, principal, expected_version, correlation_id)

    async def _decide_and_save(self, conn: AsyncConnection, state: ItemState, command: ItemCommand,
                               principal: Principal, expected_version: int | None, correlation_id: str) -> ItemState:
        require_access(state, principal)
        if expected_version is not None and expected_version != state.version:
            raise StaleVersionError(item_id=state.item_id, expected=expected_version, actual=state.version)
        now = self.clock.now()
        metadata = EventMetadata(actor=principal.subject, correlation_id=correlation_id, recorded_at=now)
        decided = change(state, decide(state, command, actor=principal.subject, now=now), metadata)
        await self.repository.save_alone(conn, decided)
        return decided.after


async def wait_for_items(engine: AsyncEngine, repository: ItemRepository, item_ids: Sequence[str],
                         wait_s: float) -> dict[str, ItemState]:
    """The items' states, waiting up to ``wait_s`` for drafts that the registry wrote but whose event has not
    arrived yet (the registry and the lifecycle are only eventually consistent)."""
    deadline = time.monotonic() + wait_s
    while True:
        async with engine.connect() as conn:
            if len(item_ids) == 1:
                states = {item_ids[0]: await repository.load(conn, item_ids[0])}
            else:
                states = await repository.load_many(conn, item_ids)
        if all(s.exists for s in states.values()) or time.monotonic() >= deadline:
            return states
        await asyncio.sleep(0.05)


def require_access(state: ItemState, principal: Principal) -> None:
    """An item the caller may act on: it exists, and lies within the caller's regions."""
    if not state.exists:
        raise ItemNotFoundError(item_id=state.item_id)
    if not principal.may_access_region(state.region_code or ""):
        principal.require_region(state.region_code or "")
