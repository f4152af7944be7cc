"""The registry's Kafka consumer handlers (declared in bootstrap.py with the events they act on). Each runs inside
the consumer runner's transaction, a fetched batch at a time, and returns the events it refuses for good."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.cloudevents import CloudEvent

from registry.adapters import store
from registry.domain.events import phase_after


class LifecyclePhases:
    """Follows each item's phase from the lifecycle's events (what may still change, and what becomes a pending
    revision), in order per item: an older lifecycle version never overwrites a newer one. Refuses, for good,
    events about an item the registry never had: the lifecycle only knows items the registry told it about."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now

    async def __call__(self, conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
        item_ids = sorted({e.subject for e in events})
        known = await store.known_items(conn, item_ids)
        current = await store.load_phases(conn, item_ids)
        changed: set[str] = set()
        refused: dict[str, str] = {}
        for event in events:
            if event.subject not in known:
                refused[event.id] = f"登记服务中没有事项 {event.subject}（生命周期事件所指的事项从未录入）"
                continue
            phase, version, published = current.get(event.subject, (None, 0, None))
            if version >= event.sequence:
                continue  # an older event replayed after a newer one
            after = phase_after(phase, event.type, event.data)
            if after is None:
                continue
            new_phase, new_published = after
            current[event.subject] = (new_phase, event.sequence,
                                      new_published if new_published is not None else published)
            changed.add(event.subject)
        if changed:
            now = self.now()
            await store.store_phases(conn, [
                {"item_id": i, "phase": current[i][0], "lifecycle_version": current[i][1],
                 "published_revision": current[i][2], "updated_at": now} for i in sorted(changed)])
        return refused
