"""National feedback's rules (pure): the national platform acknowledges or rejects what it received from the feed,
per item version. A rejection must say why; the same answer again is no change (the platform may retry a request
whose response it lost); a different answer for the same version is a new event (a rejection fixed on the national
side may later be acknowledged). Each answer becomes ``sync.national.acknowledged.v1`` or
``sync.national.rejected.v1``, which the lifecycle consumes and records on the item."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from shared import contracts

from sync_gateway.domain.errors import RejectionReasonRequiredError


class FeedbackResult(StrEnum):
    acknowledged = "acknowledged"  # 已接收
    rejected = "rejected"  # 退回


EVENT_TYPES = {FeedbackResult.acknowledged: contracts.SYNC_NATIONAL_ACKNOWLEDGED,
               FeedbackResult.rejected: contracts.SYNC_NATIONAL_REJECTED}


@dataclass(frozen=True)
class Feedback:
    item_id: str
    item_version: int
    result: FeedbackResult
    reason: str | None = None
    note: str | None = None


def check_feedback(feedback: Feedback) -> None:
    """Raises :class:`~sync_gateway.domain.errors.RejectionReasonRequiredError` for a rejection without a reason."""
    if feedback.result is FeedbackResult.rejected and not (feedback.reason and feedback.reason.strip()):
        raise RejectionReasonRequiredError(item_id=feedback.item_id, item_version=feedback.item_version)


def as_recorded(feedback: Feedback) -> Feedback:
    """What is recorded of an answer: a reason only with a rejection. An acknowledgement's event carries none, so
    its row keeps none either (the ``national_feedback`` rows are rebuilt from the events)."""
    return feedback if feedback.result is FeedbackResult.rejected else replace(feedback, reason=None)


def is_repeat(feedback: Feedback, recorded_result: str, recorded_reason: str | None) -> bool:
    """Is this the answer already recorded for the version (then nothing is recorded again)?"""
    return (recorded_result, recorded_reason) == (feedback.result.value, feedback.reason)


def feedback_event(feedback: Feedback, record: Mapping[str, Any], feed_sequence: int) -> tuple[str, dict[str, Any]]:
    """The event type and data of a new answer about the fed ``record`` (the entry's published record) at
    ``feed_sequence``."""
    data: dict[str, Any] = {"item_id": feedback.item_id, "item_version": feedback.item_version,
                            "code": record.get("code"), "feed_sequence": feed_sequence, "note": feedback.note}
    if feedback.result is FeedbackResult.rejected:
        data["reason"] = feedback.reason
    return EVENT_TYPES[feedback.result], data
