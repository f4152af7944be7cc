"""Allocation (赋码), re-coding and retirement of item codes, inside the caller's transaction.

One registration request per item: the first gets a code; a repeat with the same code parts gets the same code
(idempotent); a repeat whose parts differ re-codes the item (the old code is retired with ``replaced_by``, the new
one assigned with ``replaces``). Requests are handled a batch at a time (one request when a consumer handles one
message; many in one transaction when several are queued), with a fixed number of statements per batch.

Uniqueness under concurrency. The primary key of ``item_codes`` covers every code ever allocated, active or retired.
A batch first tries the base codes as they are; for what did not go in, it reads the codes taken under the
22-character prefixes concerned and picks the lowest free collision sequence (earlier requests of the batch count as
takers). Rows go in with one statement per pass, sorted by code, with ``ON CONFLICT (code) DO NOTHING``. A row
another transaction inserted first but has not committed makes the insert wait for it; if that transaction commits,
the row is skipped and the request picks again among what is now taken (the winner is visible to the next statement
under READ COMMITTED). So racing requests for one base code get the base code, 01, 02, … with no gaps, and sorting
keeps two batches from waiting on each other in opposite orders (no deadlock). The events go last, so the
transaction is short once it writes (the relay waits for every transaction older than the ones it reads).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.dictionaries import Dictionaries
from shared.eventstore import EventMetadata, NewEvent

from coding.adapters import store
from coding.adapters.tables import ACTIVE, RETIRED
from coding.domain.allocation import (
    COLLISION_PREFIX_LENGTH,
    RETIRED_CANCELLED,
    RETIRED_MERGED,
    RETIRED_RECODED,
    RETIRED_SPLIT,
    code_parts,
    coded_elements,
    lowest_free_code,
    parts_json,
    same_code_parts,
)
from coding.domain.codes import ItemCodeParts, PinyinOverrides, compose_code
from coding.domain.errors import CodeElementsInvalidError, CodeSpaceExhaustedError, CodingError, ItemCodeEndedError
from coding.domain.events import CODE_ASSIGNED, CODE_RETIRED, OVERRIDES_STREAM
from coding.service_layer.item_services import move_services, withdraw_services
from coding.service_layer.overrides import OverrideCatalog

# A code retired for one of these reasons ends the item's coding: it never gets a new code.
TERMINAL_RETIREMENTS = (RETIRED_CANCELLED, RETIRED_SPLIT, RETIRED_MERGED)


@dataclass(frozen=True)
class RegistrationRequest:
    """A request to code an item with these coded elements (``lifecycle.item.registration_requested.v1``)."""

    item_id: str
    elements: Mapping[str, Any]
    metadata: EventMetadata


@dataclass(frozen=True)
class Allocation:
    """The item's code after a request: ``outcome`` says whether it was newly assigned, kept or re-coded."""

    item_id: str
    code: str
    outcome: Literal["assigned", "unchanged", "recoded"]
    collided_with: str | None = None
    replaces: str | None = None


AllocationResult = Allocation | CodingError


@dataclass
class _Plan:
    index: int
    request: RegistrationRequest
    parts: ItemCodeParts
    pinyin_letters: str
    base: str
    held: Any  # the active row being replaced, or None
    code: str | None = None
    collided_with: str | None = None
    events: list[NewEvent] = field(default_factory=list)


class CodeAllocator:
    def __init__(self, dictionaries: Dictionaries, catalog: OverrideCatalog, clock: Callable[[], datetime]) -> None:
        self.dictionaries = dictionaries
        self.catalog = catalog
        self.clock = clock

    async def register(self, conn: AsyncConnection, requests: Sequence[RegistrationRequest]) -> list[AllocationResult]:
        """Handle ``requests`` in ``conn``'s transaction; one result per request, in order. A request that cannot
        be coded gets its error as result and writes nothing; the others go ahead."""
        results: dict[int, AllocationResult] = {}
        pending = list(enumerate(requests))
        while pending:  # a second request for an item already in this round waits for the next round
            round_: list[tuple[int, RegistrationRequest]] = []
            later: list[tuple[int, RegistrationRequest]] = []
            seen: set[str] = set()
            for index, request in pending:
                (later if request.item_id in seen else round_).append((index, request))
                seen.add(request.item_id)
            results.update(await self._register_round(conn, round_))
            pending = later
        return [results[i] for i in range(len(requests))]

    async def _register_round(self, conn: AsyncConnection,
                              requests: list[tuple[int, RegistrationRequest]]) -> dict[int, AllocationResult]:
        now = self.clock()
        ids = [r.item_id for _, r in requests]
        rows = await store.lock_code_rows(conn, ids, TERMINAL_RETIREMENTS)
        # One statement for the items' stream versions (to append at) and the override stream's (to compute with).
        versions = await store.stream_versions(conn, [*ids, OVERRIDES_STREAM])
        overrides = (await self.catalog.refresh(conn, stream_version=versions.get(OVERRIDES_STREAM, 0))).overrides
        results, plans = self._plan(requests, rows, overrides, now)
        # Every registration request gets an answer, also when the code stays the same (e.g. a 简称 change with the
        # same initials): the lifecycle waits for coding.code.assigned.v1 before the item may go (back) online.
        held = {r.item_id: r for r in rows if r.status == ACTIVE}
        repeated = [(requests_by_index[i].item_id, [_repeated_answer(held[requests_by_index[i].item_id])],
                     _at(requests_by_index[i].metadata, now))
                    for i, r in results.items()
                    if isinstance(r, Allocation) and r.outcome == "unchanged"
                    for requests_by_index in [dict(requests)]]
        if not plans:
            await store.append_item_events(conn, repeated, versions)
            return results

        recoded = [p.held.code for p in plans if p.held is not None]
        if recoded:  # the old code stops being active first: an item holds at most one active code
            await store.retire_codes(conn, recoded, RETIRED_RECODED, now)
        exhausted = await self._claim(conn, plans, overrides, now)
        for plan in exhausted:
            results[plan.index] = CodeSpaceExhaustedError(item_id=plan.request.item_id, base_code=plan.base)
        kept = [p.held.code for p in exhausted if p.held is not None]
        if kept:  # no new code, so the old one stays active
            await store.reactivate_codes(conn, kept)
        claimed = [p for p in plans if p not in exhausted]
        replaced = [p for p in claimed if p.held is not None]
        if replaced:
            await store.set_replaced_by(conn, [p.held.code for p in replaced], [str(p.code) for p in replaced])
        for plan in claimed:
            results[plan.index] = await self._record(conn, plan, overrides)
        await store.append_item_events(conn, [(p.request.item_id, p.events, _at(p.request.metadata, now))
                                              for p in claimed] + repeated, versions)
        return results

    def _plan(self, requests: list[tuple[int, RegistrationRequest]], rows: Sequence[Any], overrides: PinyinOverrides,
              now: datetime) -> tuple[dict[int, AllocationResult], list[_Plan]]:
        """Decide per request: the same code again, an error, or a plan for a new code (first or re-code)."""
        held = {r.item_id: r for r in rows if r.status == ACTIVE}
        ended = {r.item_id: r for r in rows if r.status == RETIRED}
        results: dict[int, AllocationResult] = {}
        plans: list[_Plan] = []
        for index, request in requests:
            current = held.get(request.item_id)
            if current is not None and same_code_parts(current.elements, request.elements, overrides):
                results[index] = Allocation(request.item_id, current.code, "unchanged", current.collided_with,
                                            current.replaces)
                continue
            if current is None and request.item_id in ended:
                gone = ended[request.item_id]
                results[index] = ItemCodeEndedError(item_id=request.item_id, code=gone.code,
                                                    reason=gone.retire_reason)
                continue
            parts, letters, problems = code_parts(request.elements, self.dictionaries, overrides,
                                                  on=(request.metadata.recorded_at or now).date())
            if parts is None:
                results[index] = CodeElementsInvalidError(item_id=request.item_id,
                                                          problems=[asdict(p) for p in problems])
                continue
            plans.append(_Plan(index, request, parts, letters, compose_code(parts), current))
        return results, plans

    @staticmethod
    async def _record(conn: AsyncConnection, plan: _Plan, overrides: PinyinOverrides) -> Allocation:
        """The events of a claimed plan (a re-code: the old code's retirement first, both linked)."""
        item_id, code = plan.request.item_id, str(plan.code)
        old = plan.held.code if plan.held is not None else None
        if old is not None:
            plan.events.append(NewEvent(CODE_RETIRED, {
                "item_id": item_id, "code": old, "reason": RETIRED_RECODED, "replaced_by": code}))
        plan.events.append(NewEvent(CODE_ASSIGNED, {
            "item_id": item_id, "code": code, "base_code": plan.base, "collided_with": plan.collided_with,
            "parts": parts_json(plan.parts), "pinyin_letters": plan.pinyin_letters,
            "overrides_version": overrides.dictionary_version, "replaces": old,
            "elements": coded_elements(plan.request.elements)}))
        if old is not None:
            plan.events += await move_services(conn, item_id, code)
        return Allocation(item_id, code, "recoded" if old else "assigned", plan.collided_with, old)

    async def _claim(self, conn: AsyncConnection, plans: list[_Plan], overrides: PinyinOverrides,
                     now: datetime) -> list[_Plan]:
        """Give every plan its code (see the module docstring); returns the plans whose code space is full.

        Most base codes are free, so the first pass just tries them (the first plan of each base code only)
        without looking at what is taken: no collision, no extra statement. Whatever fails, and the other plans
        of a shared base code, then pick among what the database says is taken."""
        exhausted: list[_Plan] = []
        first_of_base: dict[str, _Plan] = {}
        for plan in plans:
            first_of_base.setdefault(plan.base, plan)
        for plan in first_of_base.values():
            plan.code = plan.base
        inserted = await self._insert(conn, list(first_of_base.values()), overrides, now)
        unresolved = [p for p in plans if p.code is None or p.code not in inserted]
        while unresolved:
            for plan in unresolved:
                plan.code = plan.collided_with = None
            taken = await store.codes_taken(conn, {p.base[:COLLISION_PREFIX_LENGTH] for p in unresolved})
            choices: list[_Plan] = []
            for plan in unresolved:
                code = lowest_free_code(plan.base, taken)
                if code is None:
                    exhausted.append(plan)
                    continue
                plan.code, plan.collided_with = code, (None if code == plan.base else taken[plan.base])
                taken[code] = plan.request.item_id  # later plans of this batch see it as taken
                choices.append(plan)
            inserted = await self._insert(conn, choices, overrides, now)
            unresolved = [p for p in choices if p.code not in inserted]  # lost a race: pick again
        return exhausted

    @staticmethod
    async def _insert(conn: AsyncConnection, plans: list[_Plan], overrides: PinyinOverrides,
                      now: datetime) -> set[str]:
        """Insert the plans' chosen codes; returns those inserted (the others are held by someone else)."""
        if not plans:
            return set()
        return await store.insert_codes(
            conn, codes=[p.code for p in plans], item_ids=[p.request.item_id for p in plans],
            bases=[p.base for p in plans], collided=[p.collided_with for p in plans],
            parts=[json.dumps(parts_json(p.parts)) for p in plans],
            elements=[json.dumps(coded_elements(p.request.elements), ensure_ascii=False) for p in plans],
            letters=[p.pinyin_letters for p in plans],
            replaces=[p.held.code if p.held is not None else None for p in plans],
            overrides_version=overrides.dictionary_version, now=now)

    # ---- retirement (cancellation, split, merge) -----------------------------------------------------------------
    async def retire(self, conn: AsyncConnection, item_id: str, reason: str, metadata: EventMetadata, *,
                     replaced_by: str | None = None) -> str | None:
        """Retire the item's active code (if it has one) and withdraw its services; returns the retired code."""
        now = self.clock()
        code = await store.retire_active_code(conn, item_id, reason, replaced_by, now)
        if code is None:
            return None  # never coded, or retired already: nothing to do (a repeat is harmless)
        events = [NewEvent(CODE_RETIRED, {"item_id": item_id, "code": code, "reason": reason,
                                          "replaced_by": replaced_by})]
        events += await withdraw_services(conn, item_id, reason, now)
        await store.append_item_events(conn, [(item_id, events, _at(metadata, now))])
        return code


def _at(metadata: EventMetadata, now: datetime) -> EventMetadata:
    """The events' time is the time their rows were written with (``allocated_at``, ``retired_at``): a rebuild
    from the log (``coding.adapters.rebuild``) then gives back exactly the rows."""
    return replace(metadata, recorded_at=now)


def _repeated_answer(row: Any) -> NewEvent:
    """coding.code.assigned.v1 for a code the item already holds (nothing new is allocated)."""
    return NewEvent(CODE_ASSIGNED, {
        "item_id": row.item_id, "code": row.code, "base_code": row.base_code, "collided_with": row.collided_with,
        "parts": row.parts, "pinyin_letters": row.pinyin_letters, "overrides_version": row.overrides_version,
        "replaces": None, "repeated": True})
