"""Recording facts from other services, one consumed batch at a time inside the consumer's tracking transaction:
load every item of the batch at once, fold each fact into its item in order (several facts about one item build on
each other), save all changes in one go. Each event written records the fact that caused it (``causation_id``).

Which decision a fact calls is the consumers' business (adapters/consumers.py translates each contract event into
one of ``domain.facts``); this is the machinery they share, the same load → decide → save as a command's, kept
apart from the contract types so it reads like the other use cases."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.cloudevents import CloudEvent
from shared.eventstore import EventMetadata

from lifecycle.adapters.store import Change, ItemRepository, change
from lifecycle.domain.events import DomainEvent
from lifecycle.domain.model import ItemState
from lifecycle.service_layer.clock import SYSTEM_CLOCK, Clock

DecideFact = Callable[[ItemState, CloudEvent], list[DomainEvent]]


class FactRefused(Exception):
    """A fact from another service that this service cannot take, for good (the consumer dead-letters it with the
    message, in Chinese). Not a DomainError: it never reaches a client."""


class FactRecorder:
    def __init__(self, repository: ItemRepository, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.repository = repository
        self.clock = clock

    async def record(self, conn: AsyncConnection, events: list[CloudEvent], decide_fact: DecideFact,
                     actor: Callable[[CloudEvent], str]) -> dict[str, str]:
        """Apply the batch; returns the refused events' ids with the reason (``FactRefused``'s message)."""
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
            except FactRefused as exc:
                refused[event.id] = str(exc)
                continue
            if decided:
                metadata = EventMetadata(actor=actor(event), correlation_id=event.correlation_id,
                                         causation_id=event.id, recorded_at=now)
                changes[item_id] = pending.then(decided, metadata) if pending else change(state, decided, metadata)
        await self.repository.save(conn, changes.values())
        return refused
