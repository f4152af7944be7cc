"""Split and merge (事项调整) as one use case: every involved item is loaded (waiting briefly for successors the
registry drafted moments ago) and checked, ``domain.adjustments.decide_adjustment`` decides all their events, and
they are appended in one batch with the expected versions, so either the whole adjustment is recorded or nothing
is."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Principal
from shared.eventstore import EventMetadata

from lifecycle.adapters.store import ItemRepository, change
from lifecycle.domain.adjustments import Adjustment, check_shape, decide_adjustment
from lifecycle.domain.model import ItemState
from lifecycle.service_layer.clock import SYSTEM_CLOCK, Clock
from lifecycle.service_layer.items import require_access, wait_for_items
from lifecycle.service_layer.roles import ADJUSTMENT_ROLES


class Adjustments:
    def __init__(self, engine: AsyncEngine, repository: ItemRepository, *, clock: Clock = SYSTEM_CLOCK,
                 item_arrival_wait_s: float = 5.0) -> None:
        self.engine = engine
        self.repository = repository
        self.clock = clock
        self.item_arrival_wait_s = item_arrival_wait_s

    async def adjust(self, adjustment: Adjustment, principal: Principal, *,
                     correlation_id: str) -> dict[str, ItemState]:
        principal.require_role(*ADJUSTMENT_ROLES)
        check_shape(adjustment)
        states = await wait_for_items(self.engine, self.repository, adjustment.item_ids, self.item_arrival_wait_s)
        for state in states.values():
            require_access(state, principal)
        now = self.clock.now()
        metadata = EventMetadata(actor=principal.subject, correlation_id=correlation_id, recorded_at=now)
        changes = [change(states[item_id], events, metadata)
                   for item_id, events in decide_adjustment(states, adjustment, now=now).items()]
        async with self.engine.begin() as conn:
            await self.repository.save(conn, changes)
        return {c.after.item_id: c.after for c in changes}
