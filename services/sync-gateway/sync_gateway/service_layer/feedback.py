"""National feedback (同步): the national platform acknowledges or rejects what it received from the feed, per
item version. Each answer is appended to the sync gateway's own event store (stream = the item id, so the relay
publishes it keyed by item like every other event) as ``sync.national.acknowledged.v1`` or
``sync.national.rejected.v1``; the lifecycle consumes them and records them on the item.

Only fed versions can be answered (the feed entry gives the code and feed sequence). The same answer again is a
no-op (the platform may retry a request whose response it lost); a different answer for the same version is
recorded as a new event (a rejection fixed on the national side may later be acknowledged). The
``national_feedback`` table is the read model of the latest answer per version, written in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, PrimaryKeyConstraint, Table, Text, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import contracts
from shared.auth import Principal
from shared.errors import ConcurrencyConflictError, DomainError
from shared.eventstore import EventMetadata, NewEvent, append_events, current_version

from sync_gateway.feed import feed_entries_table

FEEDBACK_ROLES = ("national",)
READ_ROLES = ("national", "operator")
APPEND_ATTEMPTS = 3  # the item's sync stream is only contended by feedback on that item: retry, don't bother the caller

feedback_metadata = MetaData()
national_feedback_table = Table(
    "national_feedback",
    feedback_metadata,
    Column("item_id", Text, nullable=False),
    Column("item_version", Integer, nullable=False),
    Column("result", Text, nullable=False),
    Column("reason", Text),
    Column("note", Text),
    Column("code", Text),
    Column("feed_sequence", BigInteger, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("item_id", "item_version", name="national_feedback_pk"),
)


class FeedbackResult(StrEnum):
    acknowledged = "acknowledged"  # 已接收
    rejected = "rejected"  # 退回


EVENT_TYPES = {FeedbackResult.acknowledged: contracts.SYNC_NATIONAL_ACKNOWLEDGED,
               FeedbackResult.rejected: contracts.SYNC_NATIONAL_REJECTED}


class FeedEntryNotFoundError(DomainError):
    """No feed entry for this item version: the national platform can only answer what it was fed."""


class RejectionReasonRequiredError(DomainError):
    """A rejection must say why."""


@dataclass(frozen=True)
class Feedback:
    item_id: str
    item_version: int
    result: FeedbackResult
    reason: str | None = None
    note: str | None = None


class NationalFeedback:
    def __init__(self, engine: AsyncEngine, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.now = now

    async def record(self, feedback: Feedback, principal: Principal, *,
                     correlation_id: str) -> tuple[dict[str, Any], bool]:
        """(the recorded answer, whether it is new)."""
        principal.require_role(*FEEDBACK_ROLES)
        if feedback.result is FeedbackResult.rejected and not (feedback.reason and feedback.reason.strip()):
            raise RejectionReasonRequiredError(item_id=feedback.item_id, item_version=feedback.item_version)
        for attempt in range(1, APPEND_ATTEMPTS + 1):
            try:
                async with self.engine.begin() as conn:
                    return await self._record(conn, feedback, principal, correlation_id)
            except ConcurrencyConflictError:
                if attempt == APPEND_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _record(self, conn: AsyncConnection, feedback: Feedback, principal: Principal,
                      correlation_id: str) -> tuple[dict[str, Any], bool]:
        entry = (await conn.execute(select(feed_entries_table.c.position, feed_entries_table.c.entry).where(
            feed_entries_table.c.item_id == feedback.item_id,
            feed_entries_table.c.item_version == feedback.item_version))).first()
        if entry is None:
            raise FeedEntryNotFoundError(item_id=feedback.item_id, item_version=feedback.item_version)
        data = entry.entry.get("data") or {}
        principal.require_region(str(data.get("region_code") or ""))
        t = national_feedback_table
        known = (await conn.execute(select(t).where(t.c.item_id == feedback.item_id,
                                                    t.c.item_version == feedback.item_version)
                                    .with_for_update())).first()
        if known is not None and (known.result, known.reason) == (feedback.result.value, feedback.reason):
            return _view(known._mapping), False
        event_data = {"item_id": feedback.item_id, "item_version": feedback.item_version, "code": data.get("code"),
                      "feed_sequence": entry.position, "note": feedback.note}
        if feedback.result is FeedbackResult.rejected:
            event_data["reason"] = feedback.reason
        now = self.now()
        stored = await append_events(
            conn, feedback.item_id, await current_version(conn, feedback.item_id),
            [NewEvent(EVENT_TYPES[feedback.result], event_data)],
            EventMetadata(actor=principal.subject, correlation_id=correlation_id, recorded_at=now))
        row = {"item_id": feedback.item_id, "item_version": feedback.item_version, "result": feedback.result.value,
               "reason": feedback.reason, "note": feedback.note, "code": data.get("code"),
               "feed_sequence": entry.position, "event_id": str(stored[0].event_id), "actor": principal.subject,
               "recorded_at": now}
        stmt = pg_insert(t).values(**row)
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=["item_id", "item_version"],
            set_={k: stmt.excluded[k] for k in row if k not in ("item_id", "item_version")}))
        return _view(row), True

    async def list_for_item(self, item_id: str, principal: Principal) -> list[dict[str, Any]]:
        principal.require_role(*READ_ROLES)
        t = national_feedback_table
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(t).where(t.c.item_id == item_id).order_by(t.c.item_version))
            return [_view(r._mapping) for r in rows]


def _view(row: Any) -> dict[str, Any]:
    return {"item_id": row["item_id"], "item_version": row["item_version"], "result": row["result"],
            "result_label": "已接收" if row["result"] == FeedbackResult.acknowledged else "退回",
            "reason": row["reason"], "note": row["note"], "code": row["code"], "feed_sequence": row["feed_sequence"],
            "event_id": row["event_id"], "actor": row["actor"], "recorded_at": row["recorded_at"].isoformat()}
