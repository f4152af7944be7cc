"""The lifecycle's events: their stable type strings and Chinese labels, what a decision returns
(``DomainEvent``), what ``evolve`` reads (``Happened``, ``Recorded``), and the payloads the national platform
receives (built here once, for commands, facts and retirements alike)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared import contracts

from lifecycle.domain.model import ItemState, Revision
from lifecycle.domain.vocabulary import PHASE_LABELS, Phase


class EventType:
    """Stable event type strings of the lifecycle stream (never Python class paths)."""

    ENTERED = contracts.LIFECYCLE_ENTERED
    REVISION_RECEIVED = "lifecycle.item.revision_received.v1"
    RETURNED_TO_ENTRY = "lifecycle.item.returned_to_entry.v1"
    MAINTAINED = "lifecycle.item.maintained.v1"
    SUBMITTED = "lifecycle.item.submitted.v1"
    APPROVED = contracts.LIFECYCLE_APPROVED
    REJECTED = "lifecycle.item.rejected.v1"
    TEST_RECORDED = "lifecycle.item.test_recorded.v1"
    REGISTRATION_REQUESTED = contracts.LIFECYCLE_REGISTRATION_REQUESTED
    CODE_RECORDED = "lifecycle.item.code_recorded.v1"
    PUBLISHED = contracts.LIFECYCLE_PUBLISHED
    UNPUBLISHED = contracts.LIFECYCLE_UNPUBLISHED
    RESUMED = contracts.LIFECYCLE_RESUMED
    CANCELLED = contracts.LIFECYCLE_CANCELLED
    LINEAGE_RECORDED = contracts.LIFECYCLE_LINEAGE_RECORDED
    NATIONAL_SYNC_RECORDED = "lifecycle.item.national_sync_recorded.v1"


EVENT_LABELS = {
    EventType.ENTERED: "录入", EventType.REVISION_RECEIVED: "收到新版本", EventType.RETURNED_TO_ENTRY: "退回录入",
    EventType.MAINTAINED: "维护", EventType.SUBMITTED: "提交审核", EventType.APPROVED: "审核通过",
    EventType.REJECTED: "审核退回", EventType.TEST_RECORDED: "记录测试结果",
    EventType.REGISTRATION_REQUESTED: "申请注册赋码",
    EventType.CODE_RECORDED: "记录事项编码", EventType.PUBLISHED: "上线", EventType.UNPUBLISHED: "下线",
    EventType.RESUMED: "重新上线", EventType.CANCELLED: "注销", EventType.LINEAGE_RECORDED: "记录拆分/合并关系",
    EventType.NATIONAL_SYNC_RECORDED: "记录国家平台同步结果",
}

# Events the national platform may see (the sync feed carries only these; never a draft).
PUBLIC_EVENTS = contracts.PUBLIC_LIFECYCLE_EVENTS


class Happened(Protocol):
    """What evolve needs of a stored event (``shared.eventstore.StoredEvent``, ``Recorded`` and the rebuild's
    streamed rows satisfy it). Read-only members, so that frozen records satisfy it too."""

    @property
    def type(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def actor(self) -> str | None: ...
    @property
    def recorded_at(self) -> datetime: ...
    @property
    def version(self) -> int: ...


@dataclass(frozen=True)
class Recorded:
    """An event as evolve needs it, outside the store: about to be appended, or in a test's story."""

    type: str
    data: dict[str, Any]
    actor: str | None
    recorded_at: datetime
    version: int


@dataclass(frozen=True)
class DomainEvent:
    type: str
    data: dict[str, Any]


def public_payload(state: ItemState, revision: Revision, code: str | None, at: str,
                   phase: Phase) -> dict[str, Any]:
    """What the national platform receives: a reviewed revision's elements, the code and the state."""
    return {
        "item_id": state.item_id,
        "code": code,
        "revision": revision.number,
        "phase": phase.value,
        "phase_label": PHASE_LABELS[phase],
        "elements": revision.elements,
        "at": at,
    }


def published_payload(state: ItemState, at: str, phase: Phase) -> dict[str, Any]:
    return public_payload(state, state.revisions[state.published_revision or 0], state.published_code, at, phase)


def cancelled_payload(state: ItemState, reason: str, at: str) -> dict[str, Any]:
    return {"reason": reason, "at": at, "code": state.code, "item_id": state.item_id,
            "phase": Phase.cancelled.value, "phase_label": PHASE_LABELS[Phase.cancelled],
            "was_published": state.published_revision is not None}
