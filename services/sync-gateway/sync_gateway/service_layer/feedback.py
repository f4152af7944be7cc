"""National feedback (同步): the national platform's answers about what it was fed, per item version (the rules:
``sync_gateway.domain.feedback``). Each answer is appended to the sync gateway's own event store (stream = the item
id, so the relay publishes it keyed by item like every other event); the ``national_feedback`` table, the read model
of the latest answer per version, is written in the same transaction. Only fed versions can be answered (the feed
entry gives the code and feed sequence)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.auth import Principal
from shared.errors import ConcurrencyConflictError
from shared.eventstore import EventMetadata, NewEvent, append_events, current_version

from sync_gateway.adapters import queries, store
from sync_gateway.domain.errors import FeedEntryNotFoundError
from sync_gateway.domain.feedback import Feedback, as_recorded, check_feedback, feedback_event, is_repeat
from sync_gateway.service_layer.feed import region_filter
from sync_gateway.service_layer.roles import FEEDBACK_READ_ROLES, FEEDBACK_ROLES

APPEND_ATTEMPTS = 3  # the item's sync stream is only contended by feedback on that item: retry, don't bother the caller


class NationalFeedback:
    def __init__(self, engine: AsyncEngine, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.now = now

    async def record(self, feedback: Feedback, principal: Principal, *, correlation_id: str,
                     then: Callable[[AsyncConnection], Awaitable[None]] | None = None) -> tuple[dict[str, Any], bool]:
        """(the recorded answer, whether it is new). ``then`` runs in the same transaction after the answer is
        recorded (the exchange database's reader moves its position with it, so each of its rows counts once)."""
        principal.require_role(*FEEDBACK_ROLES)
        check_feedback(feedback)
        feedback = as_recorded(feedback)
        for attempt in range(1, APPEND_ATTEMPTS + 1):
            try:
                async with self.engine.begin() as conn:
                    recorded = await self._record(conn, feedback, principal, correlation_id)
                    if then is not None:
                        await then(conn)
                    return recorded
            except ConcurrencyConflictError:
                if attempt == APPEND_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _record(self, conn: AsyncConnection, feedback: Feedback, principal: Principal,
                      correlation_id: str) -> tuple[dict[str, Any], bool]:
        entry = await store.feed_entry_of(conn, feedback.item_id, feedback.item_version)
        if entry is None:
            raise FeedEntryNotFoundError(item_id=feedback.item_id, item_version=feedback.item_version)
        record = entry.entry.get("data") or {}
        principal.require_region(str(record.get("region_code") or ""))
        known = await store.locked_feedback(conn, feedback.item_id, feedback.item_version)
        if known is not None and is_repeat(feedback, known.result, known.reason):
            return queries.feedback_view(known._mapping), False
        event_type, event_data = feedback_event(feedback, record, entry.position)
        now = self.now()
        stored = await append_events(
            conn, feedback.item_id, await current_version(conn, feedback.item_id), [NewEvent(event_type, event_data)],
            EventMetadata(actor=principal.subject, correlation_id=correlation_id, recorded_at=now))
        row = {"item_id": feedback.item_id, "item_version": feedback.item_version, "result": feedback.result.value,
               "reason": feedback.reason, "note": feedback.note, "code": record.get("code"),
               "feed_sequence": entry.position, "event_id": str(stored[0].event_id), "actor": principal.subject,
               "recorded_at": now}
        await store.save_feedback(conn, row)
        return queries.feedback_view(row), True

    async def list_for_item(self, item_id: str, principal: Principal) -> list[dict[str, Any]]:
        """The item's answers; none for an item outside the caller's regions, as for an item never answered."""
        principal.require_role(*FEEDBACK_READ_ROLES)
        return await queries.feedback_for_item(self.engine, item_id, regions=region_filter(principal))
