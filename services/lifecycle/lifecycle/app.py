"""Lifecycle command and query handlers: load the item (snapshot + later events) → one pure decision → save (read
models, then the events with the expected version, in one transaction). Batches and adjustments are the same
steps over many items; consumers are the same steps for facts from other services."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from shared import contracts
from shared.auth import ALL_REGIONS, Principal
from shared.cloudevents import CloudEvent
from shared.errors import ConcurrencyConflictError, DomainError
from shared.eventstore import ChainVerdict, EventMetadata, StoredEvent, load_stream, verify_chain
from shared.service import ServiceRuntime

from lifecycle.domain.adjustments import Adjustment, check_shape, decide_adjustment
from lifecycle.domain.decide import ItemCommand, decide
from lifecycle.domain.errors import ItemNotFoundError, StaleVersionError, UnknownItemVersionError
from lifecycle.domain.facts import on_code_assigned, on_national_feedback, on_revision
from lifecycle.domain.model import ItemState
from lifecycle.domain.vocabulary import Command, SyncResult
from lifecycle.repository import Change, ItemRepository, change, items_table, snapshots_table

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
ADJUSTMENT_ROLES = ("publisher",)  # split / merge cancel items: whoever may cancel may adjust

READ_ROLES = ("entry", "reviewer", "tester", "publisher", "operator", "national")

# A batch retries an item whose version moved under it this often before reporting the conflict.
BATCH_CONFLICT_RETRIES = 3


@dataclass(frozen=True)
class Clock:
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass(frozen=True)
class ListFilter:
    phase: str | None = None
    step: str | None = None
    region: str | None = None  # prefix
    police_type: str | None = None
    item_type: str | None = None
    service_category: str | None = None
    code: str | None = None  # prefix
    name: str | None = None  # substring
    pending_update: bool | None = None


@dataclass(frozen=True)
class BatchOutcome:
    item_id: str
    state: ItemState | None = None
    error: DomainError | None = None


@dataclass
class BatchReport:
    command: str
    outcomes: list[BatchOutcome] = field(default_factory=list)

    @property
    def succeeded(self) -> int:
        return sum(1 for o in self.outcomes if o.error is None)


@dataclass(frozen=True)
class ChainReport:
    item_id: str
    verdict: ChainVerdict
    head_version: int
    projected_version: int | None
    snapshot_version: int | None

    @property
    def verified(self) -> bool:
        return self.verdict.ok and self.missing_tail is None

    @property
    def missing_tail(self) -> int | None:
        """The highest version the read models have seen but the log no longer holds (a deleted last event)."""
        seen = max(v for v in (self.projected_version, self.snapshot_version, 0) if v is not None)
        return seen if seen > self.head_version else None


class LifecycleService:
    def __init__(self, runtime: ServiceRuntime, *, repository: ItemRepository | None = None,
                 item_arrival_wait_s: float = 5.0, clock: Clock = Clock(), batch_chunk_size: int = 500) -> None:
        self.runtime = runtime
        self._autocommit = runtime.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.repository = repository or ItemRepository()
        self.item_arrival_wait_s = item_arrival_wait_s
        self.clock = clock
        self.batch_chunk_size = batch_chunk_size

    # ---- queries ------------------------------------------------------------------------------------------------
    async def get(self, item_id: str, principal: Principal, *, as_of: datetime | None = None) -> ItemState:
        principal.require_role(*READ_ROLES)
        async with self.runtime.engine.connect() as conn:
            state = await self.repository.load(conn, item_id, as_of=as_of)
        if not state.exists or not principal.may_access_region(state.region_code or ""):
            raise ItemNotFoundError(item_id=item_id)
        return state

    async def events(self, item_id: str, principal: Principal, *, after_version: int = 0,
                     limit: int | None = None) -> list[StoredEvent]:
        await self._require_visible(item_id, principal)
        async with self.runtime.engine.connect() as conn:
            events = await load_stream(conn, item_id, after_version=after_version)
        return events[:limit] if limit else events

    async def list(self, principal: Principal, filters: ListFilter, *, after: str | None,
                   limit: int) -> list[dict[str, Any]]:
        principal.require_role(*READ_ROLES)
        t = items_table
        query = select(t).where(_any_prefix(t.c.region_code, principal.regions)).order_by(t.c.item_id).limit(limit)
        exact = ((t.c.phase, filters.phase), (t.c.step, filters.step), (t.c.police_type, filters.police_type),
                 (t.c.item_type, filters.item_type), (t.c.service_category, filters.service_category))
        for column, value in exact:
            if value:
                query = query.where(column == value)
        if filters.region:
            query = query.where(t.c.region_code.startswith(filters.region, autoescape=True))
        if filters.code:
            query = query.where(t.c.code.startswith(filters.code, autoescape=True))
        if filters.name:
            query = query.where(t.c.name.contains(filters.name, autoescape=True))
        if filters.pending_update is not None:
            query = query.where(t.c.pending_revision.isnot(None) if filters.pending_update
                                else t.c.pending_revision.is_(None))
        if after:
            query = query.where(t.c.item_id > after)
        async with self.runtime.engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(query)]

    async def verify(self, item_id: str, principal: Principal) -> ChainReport:
        """Recompute the item's hash chain from the stored events, and compare the chain's head with what the read
        models have seen: a chain stays intact when its last event is deleted, the projection does not."""
        await self._require_visible(item_id, principal)
        async with self.runtime.engine.connect() as conn:
            events = await load_stream(conn, item_id)
            projected = await self.repository.projected_version(conn, item_id)
            snapshot = await conn.scalar(select(snapshots_table.c.version).where(
                snapshots_table.c.item_id == item_id).order_by(snapshots_table.c.version.desc()).limit(1))
        head = events[-1].version if events else 0
        return ChainReport(item_id, verify_chain(events), head, projected, snapshot)

    async def _require_visible(self, item_id: str, principal: Principal) -> None:
        """Existence and region from the projection (not by folding: a tampered log must still be verifiable)."""
        principal.require_role(*READ_ROLES)
        async with self.runtime.engine.connect() as conn:
            region = await conn.scalar(select(items_table.c.region_code).where(items_table.c.item_id == item_id))
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
                await self._wait_for_items([item_id])  # a draft the registry wrote whose event has not arrived yet
                state = await self.repository.load(conn, item_id)
            return await self._decide_and_save(conn, state, command, principal, expected_version, correlation_id)

    async def _decide_and_save(self, conn: AsyncConnection, state: ItemState, command: ItemCommand,
                               principal: Principal, expected_version: int | None, correlation_id: str) -> ItemState:
        _require_access(state, principal)
        if expected_version is not None and expected_version != state.version:
            raise StaleVersionError(item_id=state.item_id, expected=expected_version, actual=state.version)
        now = self.clock.now()
        metadata = EventMetadata(actor=principal.subject, correlation_id=correlation_id, recorded_at=now)
        decided = change(state, decide(state, command, actor=principal.subject, now=now), metadata)
        await self.repository.save_alone(conn, decided)
        return decided.after

    async def execute_batch(self, command: ItemCommand, item_ids: Sequence[str], principal: Principal, *,
                            correlation_id: str) -> BatchReport:
        """One command for many items (e.g. approve 5,000 imported items). Every item is loaded, checked and decided
        on its own; the decided ones are saved in chunks, each chunk one transaction. An item whose version moves
        meanwhile is reloaded and decided again; the report says per item what happened."""
        principal.require_role(*COMMAND_ROLES[command.command])
        report = BatchReport(command.command.value)
        ids = list(dict.fromkeys(item_ids))
        for start in range(0, len(ids), self.batch_chunk_size):
            report.outcomes += await self._batch_chunk(command, ids[start:start + self.batch_chunk_size], principal,
                                                       correlation_id)
        return report

    async def _batch_chunk(self, command: ItemCommand, ids: list[str], principal: Principal,
                           correlation_id: str) -> list[BatchOutcome]:
        outcomes: dict[str, BatchOutcome] = {}
        conflicts: dict[str, int] = {}
        while pending := [i for i in ids if i not in outcomes]:
            now = self.clock.now()
            metadata = EventMetadata(actor=principal.subject, correlation_id=correlation_id, recorded_at=now)
            refused: dict[str, BatchOutcome] = {}
            changes: list[Change] = []
            try:
                async with self.runtime.engine.begin() as conn:
                    states = await self.repository.load_many(conn, pending)
                    for item_id in pending:
                        try:
                            _require_access(states[item_id], principal)
                            decided = decide(states[item_id], command, actor=principal.subject, now=now)
                            changes.append(change(states[item_id], decided, metadata))
                        except DomainError as exc:
                            refused[item_id] = BatchOutcome(item_id, error=exc)
                    await self.repository.save(conn, changes)
            except ConcurrencyConflictError as exc:
                # Someone else wrote to an item of this chunk meanwhile and the chunk rolled back: decide the chunk
                # again on fresh states (the race's loser may now be illegal, or fine); report an item that keeps
                # losing as a conflict the caller can retry.
                loser = str(exc.context.get("stream_id"))
                conflicts[loser] = conflicts.get(loser, 0) + 1
                if loser not in pending:
                    outcomes.update({i: BatchOutcome(i, error=exc) for i in pending})
                elif conflicts[loser] >= BATCH_CONFLICT_RETRIES:
                    outcomes[loser] = BatchOutcome(loser, error=exc)
                continue
            outcomes.update(refused)
            outcomes.update({c.before.item_id: BatchOutcome(c.before.item_id, state=c.after) for c in changes})
        return [outcomes[i] for i in ids]

    async def adjust(self, adjustment: Adjustment, principal: Principal, *,
                     correlation_id: str) -> dict[str, ItemState]:
        """Split or merge (事项调整): every involved item is checked, and all their events are appended in one batch
        with the expected versions, so either the whole adjustment is recorded or nothing is."""
        principal.require_role(*ADJUSTMENT_ROLES)
        check_shape(adjustment)
        states = await self._wait_for_items(adjustment.item_ids)
        for state in states.values():
            _require_access(state, principal)
        now = self.clock.now()
        metadata = EventMetadata(actor=principal.subject, correlation_id=correlation_id, recorded_at=now)
        changes = [change(states[item_id], events, metadata)
                   for item_id, events in decide_adjustment(states, adjustment, now=now).items()]
        async with self.runtime.engine.begin() as conn:
            await self.repository.save(conn, changes)
        return {c.after.item_id: c.after for c in changes}

    async def _wait_for_items(self, item_ids: Sequence[str]) -> dict[str, ItemState]:
        """The items' states, waiting briefly for drafts that the registry wrote but whose event has not arrived
        yet (the registry and the lifecycle are only eventually consistent)."""
        deadline = time.monotonic() + self.item_arrival_wait_s
        while True:
            async with self.runtime.engine.connect() as conn:
                if len(item_ids) == 1:
                    states = {item_ids[0]: await self.repository.load(conn, item_ids[0])}
                else:
                    states = await self.repository.load_many(conn, item_ids)
            if all(s.exists for s in states.values()) or time.monotonic() >= deadline:
                return states
            await asyncio.sleep(0.05)

    # ---- consumers (a fetched batch at a time, inside the consumer's tracking transaction) -----------------------
    async def on_registry_events(self, conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
        """Drafts and revisions written in the registry (``on_revision``). A revision of an item the lifecycle
        never received a draft of is refused: the registry drafts every item before it revises it."""

        def decide_fact(state: ItemState, event: CloudEvent) -> list[Any]:
            data = event.data
            if event.type == contracts.REGISTRY_ITEM_REVISED and not state.exists:
                raise _Refused(f"生命周期中没有事项 {state.item_id}：收到修订，却从未收到草稿")
            return on_revision(state, revision=data["revision"], author=event.actor or data["author"],
                               region_code=data["region_code"], elements=data["elements"],
                               maintenance=bool(data.get("maintenance")), now=event.time,
                               complete=data.get("complete"), missing=data.get("missing"))

        return await self._record_facts(conn, events, decide_fact, actor=lambda e: e.actor or "registry")

    async def on_coding_events(self, conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
        """Codes assigned by coding (``on_code_assigned``); a code for an item the lifecycle does not have is
        refused."""

        def decide_fact(state: ItemState, event: CloudEvent) -> list[Any]:
            if not state.exists:
                raise _Refused(f"生命周期中没有事项 {state.item_id}，不能记录其编码")
            return on_code_assigned(state, code=event.data["code"], replaces=event.data.get("replaces"))

        return await self._record_facts(conn, events, decide_fact, actor=lambda _: "coding")

    async def on_sync_events(self, conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
        """The national platform's acknowledgements and rejections (``on_national_feedback``); an answer about an
        item or a version the lifecycle does not have is refused."""
        results = {contracts.SYNC_NATIONAL_ACKNOWLEDGED: SyncResult.acknowledged,
                   contracts.SYNC_NATIONAL_REJECTED: SyncResult.rejected}

        def decide_fact(state: ItemState, event: CloudEvent) -> list[Any]:
            if not state.exists:
                raise _Refused(f"生命周期中没有事项 {state.item_id}，不能记录国家平台的答复")
            try:
                return on_national_feedback(state, item_version=event.data["item_version"],
                                            result=results[event.type], reason=event.data.get("reason"),
                                            feed_sequence=event.data.get("feed_sequence"))
            except UnknownItemVersionError as exc:
                raise _Refused(f"国家平台答复的版本不存在：{exc.context}") from exc

        return await self._record_facts(conn, events, decide_fact, actor=lambda e: e.actor or "national")

    async def _record_facts(self, conn: AsyncConnection, events: list[CloudEvent],
                            decide_fact: Callable[[ItemState, CloudEvent], list[Any]],
                            actor: Callable[[CloudEvent], str]) -> dict[str, str]:
        """Load every item of the batch at once, fold each fact into its item in order (several facts about one item
        build on each other), save all changes in one go. Each event written records the fact that caused it."""
        item_ids = [str(e.data.get("item_id") or e.subject) for e in events]
        states = await self.repository.load_many(conn, item_ids)
        changes: dict[str, Change] = {}
        refused: dict[str, str] = {}
        now = self.clock.now()
        for event, item_id in zip(events, item_ids, strict=True):
            if item_id != event.subject:
                refused[event.id] = f"事件数据中的事项 {item_id} 与消息主题 {event.subject} 不符"
                continue
            pending = changes.get(item_id)
            state = pending.after if pending else states[item_id]
            try:
                decided = decide_fact(state, event)
            except _Refused as exc:
                refused[event.id] = str(exc)
                continue
            if decided:
                metadata = EventMetadata(actor=actor(event), correlation_id=event.correlation_id,
                                         causation_id=event.id, recorded_at=now)
                changes[item_id] = pending.then(decided, metadata) if pending else change(state, decided, metadata)
        await self.repository.save(conn, changes.values())
        return refused


class _Refused(Exception):
    """A fact from another service that this service cannot take, for good (the consumer dead-letters it)."""


def _require_access(state: ItemState, principal: Principal) -> None:
    if not state.exists:
        raise ItemNotFoundError(item_id=state.item_id)
    if not principal.may_access_region(state.region_code or ""):
        principal.require_region(state.region_code or "")


def _any_prefix(column: Any, prefixes: tuple[str, ...]) -> Any:
    if ALL_REGIONS in prefixes:
        return true()
    return or_(*(column.startswith(p, autoescape=True) for p in prefixes)) if prefixes else false()
