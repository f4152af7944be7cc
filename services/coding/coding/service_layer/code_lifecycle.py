"""What the lifecycle's events do to items' codes, each inside the consumer's transaction (``conn``): an item
entering (coding notes that it exists), registrations (allocation or re-coding, see
:mod:`coding.service_layer.allocation`), a cancellation (its code retired, its services withdrawn) and a split or
merge (the lineage links, and the predecessor's code retired unless it lives on)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.eventstore import EventMetadata

from coding.adapters import store
from coding.domain.allocation import cancellation_retirement, lineage_retirement
from coding.service_layer.allocation import AllocationResult, CodeAllocator, RegistrationRequest


@dataclass(frozen=True)
class EnteredItem:
    """An item the lifecycle said exists (``lifecycle.item.entered.v1``)."""

    item_id: str
    region_code: str
    entered_at: datetime


@dataclass(frozen=True)
class Lineage:
    """A split or merge (``lifecycle.item.lineage_recorded.v1``): ``kind`` is ``split`` or ``merge``."""

    kind: str
    predecessors: Sequence[str]
    successors: Sequence[str]
    reason: str | None
    recorded_at: datetime | None


class CodeLifecycle:
    def __init__(self, allocator: CodeAllocator, clock: Callable[[], datetime]) -> None:
        self.allocator = allocator
        self.clock = clock

    async def enter(self, conn: AsyncConnection, items: Sequence[EnteredItem]) -> None:
        await store.record_known_items(conn, [
            {"item_id": i.item_id, "region_code": i.region_code, "entered_at": i.entered_at} for i in items])

    async def known(self, conn: AsyncConnection, item_ids: Iterable[str]) -> set[str]:
        """Which of these items coding knows: entered, or holding a code already."""
        return await store.known_items(conn, item_ids)

    async def register(self, conn: AsyncConnection,
                       requests: Sequence[RegistrationRequest]) -> list[AllocationResult]:
        return await self.allocator.register(conn, requests)

    async def cancel(self, conn: AsyncConnection, item_id: str, successors: Sequence[str],
                     metadata: EventMetadata) -> None:
        await self.allocator.retire(conn, item_id, cancellation_retirement(successors), metadata,
                                    replaced_by=await _sole_successor_code(conn, successors))

    async def record_lineage(self, conn: AsyncConnection, item_id: str, lineage: Lineage,
                             metadata: EventMetadata) -> None:
        links = [{"predecessor": p, "successor": s, "kind": lineage.kind, "reason": lineage.reason,
                  "recorded_at": lineage.recorded_at or self.clock()}
                 for p in lineage.predecessors for s in lineage.successors if p != s]
        if links:  # the event is on every involved item's stream: the first to arrive records the links
            await store.record_lineage_links(conn, links)
        reason = lineage_retirement(item_id, lineage.kind, lineage.predecessors, lineage.successors)
        if reason is None:
            return
        await self.allocator.retire(conn, item_id, reason, metadata,
                                    replaced_by=await _sole_successor_code(conn, lineage.successors))


async def _sole_successor_code(conn: AsyncConnection, successors: Sequence[str]) -> str | None:
    """A merge's (or a 1:1 split's) successor code, if it is coded already; else the link is made when read."""
    if len(successors) != 1:
        return None
    return await store.active_code(conn, successors[0])
