"""The item lifecycle as pure functions (no I/O, no clock, no ids): ``decide(state, command, actor, now)`` returns
the events a command causes, ``evolve(state, event)`` folds one event into the state.

States and works (seed 000 事项状态 / 事项管理工作, decided in ../shared/docs/domain.md):
形成期 forming (录入 entry, 审核 review) → 上线准备期 preparing (测试 test, 注册 registration) → 在线期 online
(上线 publish) ⇄ 离线期 offline (下线) → 注销期 cancelled (terminal)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from shared import contracts
from shared.errors import DomainError

class EventType:
    """Stable event type strings of the lifecycle stream (never Python class paths)."""

    ENTERED = "lifecycle.item.entered.v1"
    REVISION_RECEIVED = "lifecycle.item.revision_received.v1"
    SUBMITTED = "lifecycle.item.submitted.v1"
    APPROVED = "lifecycle.item.approved.v1"
    REJECTED = "lifecycle.item.rejected.v1"
    TEST_RECORDED = "lifecycle.item.test_recorded.v1"
    REGISTRATION_REQUESTED = contracts.LIFECYCLE_REGISTRATION_REQUESTED
    CODE_RECORDED = "lifecycle.item.code_recorded.v1"
    PUBLISHED = contracts.LIFECYCLE_PUBLISHED
    UNPUBLISHED = contracts.LIFECYCLE_UNPUBLISHED
    RESUMED = contracts.LIFECYCLE_RESUMED
    CANCELLED = contracts.LIFECYCLE_CANCELLED


# Events the national platform may see (the sync feed carries only these; never a draft).
PUBLIC_EVENTS = contracts.PUBLIC_LIFECYCLE_EVENTS


class Phase(StrEnum):
    forming = "forming"
    preparing = "preparing"
    online = "online"
    offline = "offline"
    cancelled = "cancelled"


PHASE_LABELS = {
    Phase.forming: "形成期",
    Phase.preparing: "上线准备期",
    Phase.online: "在线期",
    Phase.offline: "离线期",
    Phase.cancelled: "注销期",
}


class Step(StrEnum):
    """Sub-state inside a phase: which work is going on."""

    none = "none"  # not yet entered
    entry = "entry"  # 录入中
    in_review = "in_review"  # 审核中
    testing = "testing"  # 待测试
    test_failed = "test_failed"  # 测试未通过
    test_passed = "test_passed"  # 测试通过，待注册
    registering = "registering"  # 注册中（编码分配中）
    registered = "registered"  # 已注册（已赋码）
    published = "published"  # 已上线
    suspended = "suspended"  # 暂停
    maintenance = "maintenance"  # 维护
    cancelled = "cancelled"  # 已注销


STEP_LABELS = {
    Step.none: "未录入", Step.entry: "录入", Step.in_review: "审核中", Step.testing: "待测试",
    Step.test_failed: "测试未通过", Step.test_passed: "测试通过", Step.registering: "注册中",
    Step.registered: "已注册", Step.published: "已上线", Step.suspended: "暂停", Step.maintenance: "维护",
    Step.cancelled: "已注销",
}


class Command(StrEnum):
    submit = "submit"
    approve = "approve"
    reject = "reject"
    record_test = "record-test"
    register = "register"
    publish = "publish"
    unpublish = "unpublish"
    resume = "resume"
    cancel = "cancel"


COMMAND_LABELS = {
    Command.submit: "提交审核", Command.approve: "审核通过", Command.reject: "审核退回", Command.record_test: "记录测试结果",
    Command.register: "注册", Command.publish: "上线", Command.unpublish: "下线", Command.resume: "重新上线",
    Command.cancel: "注销",
}

# Which commands each (phase, step) allows. Anything else is an illegal transition.
ALLOWED: dict[tuple[Phase, Step], frozenset[Command]] = {
    (Phase.forming, Step.entry): frozenset({Command.submit, Command.cancel}),
    (Phase.forming, Step.in_review): frozenset({Command.approve, Command.reject}),
    (Phase.preparing, Step.testing): frozenset({Command.record_test, Command.cancel}),
    (Phase.preparing, Step.test_failed): frozenset({Command.record_test, Command.cancel}),
    (Phase.preparing, Step.test_passed): frozenset({Command.register, Command.record_test, Command.cancel}),
    (Phase.preparing, Step.registering): frozenset({Command.cancel}),
    (Phase.preparing, Step.registered): frozenset({Command.publish, Command.cancel}),
    (Phase.online, Step.published): frozenset({Command.unpublish}),
    (Phase.offline, Step.suspended): frozenset({Command.resume, Command.cancel}),
    (Phase.offline, Step.maintenance): frozenset({Command.resume, Command.cancel}),
}


class UnpublishKind(StrEnum):
    suspension = "suspension"  # 暂停
    maintenance = "maintenance"  # 维护


@dataclass(frozen=True)
class Revision:
    number: int
    author: str
    elements: dict[str, Any]


@dataclass(frozen=True)
class Transition:
    command: str
    event: str
    actor: str | None
    at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class ItemState:
    item_id: str
    version: int = 0
    phase: Phase | None = None
    step: Step = Step.none
    region_code: str | None = None
    revisions: dict[int, Revision] = field(default_factory=dict)
    latest_revision: int = 0
    review_revision: int | None = None  # revision last submitted for review (kept after approval)
    submitted_by: str | None = None
    published_revision: int | None = None
    test_result: str | None = None
    code: str | None = None
    last_transition: Transition | None = None

    @property
    def exists(self) -> bool:
        return self.phase is not None

    def allowed_commands(self) -> list[str]:
        if self.phase is None:
            return []
        return sorted(c.value for c in ALLOWED.get((self.phase, self.step), frozenset()))

    def coded_elements(self) -> dict[str, Any]:
        revision = self.revisions.get(self.review_revision or self.latest_revision)
        elements = revision.elements if revision else {}
        return {k: elements.get(k) for k in ("item_type", "region_code", "police_type", "service_category", "short_name")}


class Happened(Protocol):
    """What evolve needs of a stored event (shixiang's StoredEvent satisfies it)."""

    type: str
    data: dict[str, Any]
    actor: str | None
    recorded_at: datetime
    version: int


# ---- commands -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ItemCommand:
    command: Command
    reason: str | None = None
    test_result: str | None = None  # pass / fail
    notes: str | None = None
    unpublish_kind: UnpublishKind = UnpublishKind.suspension


@dataclass(frozen=True)
class DomainEvent:
    type: str
    data: dict[str, Any]


# ---- errors ---------------------------------------------------------------------------------------------------------
class LifecycleError(DomainError):
    """Base of the lifecycle's rule violations (mapped to HTTP in errors.py)."""


class IllegalTransitionError(LifecycleError):
    """The command is not allowed in the item's current state."""


class FourEyesViolationError(LifecycleError):
    """A reviewer tried to approve or reject a revision they wrote or submitted."""


class ReasonRequiredError(LifecycleError):
    """Reject, unpublish and cancel must say why."""


class InvalidTestResultError(LifecycleError):
    """record-test needs result pass or fail."""


# ---- decide ---------------------------------------------------------------------------------------------------------
def decide(state: ItemState, cmd: ItemCommand, *, actor: str, now: datetime) -> list[DomainEvent]:
    """The events ``cmd`` by ``actor`` causes in ``state``; raises a LifecycleError when it may not happen."""
    if cmd.command not in _allowed(state):
        raise IllegalTransitionError(
            command=cmd.command.value,
            phase=state.phase.value if state.phase else None,
            phase_label=PHASE_LABELS[state.phase] if state.phase else "未录入",
            step=state.step.value,
            step_label=STEP_LABELS[state.step],
            allowed=state.allowed_commands(),
            command_label=COMMAND_LABELS[cmd.command],
            allowed_labels="、".join(COMMAND_LABELS[Command(c)] for c in state.allowed_commands()) or "无",
        )
    at = now.isoformat()
    match cmd.command:
        case Command.submit:
            return [DomainEvent(EventType.SUBMITTED, {"revision": state.latest_revision, "at": at})]
        case Command.approve | Command.reject:
            revision = state.revisions[state.review_revision or state.latest_revision]
            if actor in (revision.author, state.submitted_by):
                raise FourEyesViolationError(actor=actor, revision=revision.number, author=revision.author)
            if cmd.command is Command.approve:
                return [DomainEvent(EventType.APPROVED, {"revision": revision.number, "at": at})]
            _require_reason(cmd)
            return [DomainEvent(EventType.REJECTED, {"revision": revision.number, "reason": cmd.reason, "at": at})]
        case Command.record_test:
            if cmd.test_result not in ("pass", "fail"):
                raise InvalidTestResultError(result=cmd.test_result)
            return [DomainEvent(EventType.TEST_RECORDED, {"result": cmd.test_result, "notes": cmd.notes, "at": at})]
        case Command.register:
            return [DomainEvent(EventType.REGISTRATION_REQUESTED, {
                "revision": state.review_revision, "elements": state.coded_elements(), "at": at})]
        case Command.publish:
            revision = state.revisions[state.review_revision or state.latest_revision]
            return [DomainEvent(EventType.PUBLISHED, _public_payload(state, revision, at, Phase.online))]
        case Command.unpublish:
            _require_reason(cmd)
            return [DomainEvent(EventType.UNPUBLISHED, {
                **_public_payload(state, state.revisions[state.published_revision or 0], at, Phase.offline),
                "kind": cmd.unpublish_kind.value, "reason": cmd.reason})]
        case Command.resume:
            return [DomainEvent(EventType.RESUMED, _public_payload(
                state, state.revisions[state.published_revision or 0], at, Phase.online))]
        case Command.cancel:
            _require_reason(cmd)
            data: dict[str, Any] = {"reason": cmd.reason, "at": at, "code": state.code, "item_id": state.item_id,
                                    "phase": Phase.cancelled.value, "phase_label": PHASE_LABELS[Phase.cancelled],
                                    "was_published": state.published_revision is not None}
            return [DomainEvent(EventType.CANCELLED, data)]
    raise AssertionError(cmd.command)  # pragma: no cover - ALLOWED covers every command


def _allowed(state: ItemState) -> frozenset[Command]:
    if state.phase is None:
        return frozenset()
    return ALLOWED.get((state.phase, state.step), frozenset())


def _require_reason(cmd: ItemCommand) -> None:
    if not (cmd.reason and cmd.reason.strip()):
        raise ReasonRequiredError(command=cmd.command.value)


def _public_payload(state: ItemState, revision: Revision, at: str, phase: Phase) -> dict[str, Any]:
    """What the national platform receives: the published revision's elements, the code and the state."""
    return {
        "item_id": state.item_id,
        "code": state.code,
        "revision": revision.number,
        "phase": phase.value,
        "phase_label": PHASE_LABELS[phase],
        "elements": revision.elements,
        "at": at,
    }


# ---- facts from other services (consumers), also decided purely --------------------------------------------------
def on_revision(state: ItemState, *, revision: int, author: str, region_code: str,
                elements: dict[str, Any]) -> list[DomainEvent]:
    """A draft or a new revision written in the registry. Old or repeated revisions change nothing."""
    if revision <= state.latest_revision or state.phase is Phase.cancelled:
        return []  # repeated, older, or too late: a cancelled item's content is final
    data = {"revision": revision, "author": author, "region_code": region_code, "elements": elements}
    if not state.exists:
        return [DomainEvent(EventType.ENTERED, data)]
    return [DomainEvent(EventType.REVISION_RECEIVED, data)]


def on_code_assigned(state: ItemState, *, code: str) -> list[DomainEvent]:
    if not code or not state.exists or state.code == code or state.phase is Phase.cancelled:
        return []
    return [DomainEvent(EventType.CODE_RECORDED, {"code": code})]


# ---- evolve ---------------------------------------------------------------------------------------------------------
def evolve(state: ItemState, event: Happened) -> ItemState:
    data = event.data
    s = replace(state, version=event.version)
    match event.type:
        case EventType.ENTERED | EventType.REVISION_RECEIVED:
            revision = Revision(number=data["revision"], author=data["author"], elements=data["elements"])
            s = replace(s, revisions={**s.revisions, revision.number: revision}, latest_revision=revision.number,
                        region_code=data.get("region_code") or s.region_code)
            if event.type == EventType.ENTERED:
                s = replace(s, phase=Phase.forming, step=Step.entry)
            return _moved(s, event, "entry")
        case EventType.SUBMITTED:
            return _moved(replace(s, step=Step.in_review, review_revision=data["revision"], submitted_by=event.actor),
                          event, Command.submit)
        case EventType.APPROVED:
            return _moved(replace(s, phase=Phase.preparing, step=Step.testing, test_result=None), event, Command.approve)
        case EventType.REJECTED:
            return _moved(replace(s, step=Step.entry, review_revision=None, submitted_by=None), event, Command.reject,
                          data.get("reason"))
        case EventType.TEST_RECORDED:
            step = Step.test_passed if data["result"] == "pass" else Step.test_failed
            return _moved(replace(s, step=step, test_result=data["result"]), event, Command.record_test, data.get("notes"))
        case EventType.REGISTRATION_REQUESTED:
            # Allocation is idempotent: an item that already holds its code is registered at once.
            step = Step.registered if s.code else Step.registering
            return _moved(replace(s, step=step), event, Command.register)
        case EventType.CODE_RECORDED:
            step = Step.registered if s.step is Step.registering else s.step
            return _moved(replace(s, code=data["code"], step=step), event, "code")
        case EventType.PUBLISHED:
            return _moved(replace(s, phase=Phase.online, step=Step.published, published_revision=data["revision"]),
                          event, Command.publish)
        case EventType.UNPUBLISHED:
            step = Step.maintenance if data.get("kind") == UnpublishKind.maintenance else Step.suspended
            return _moved(replace(s, phase=Phase.offline, step=step), event, Command.unpublish, data.get("reason"))
        case EventType.RESUMED:
            return _moved(replace(s, phase=Phase.online, step=Step.published), event, Command.resume)
        case EventType.CANCELLED:
            return _moved(replace(s, phase=Phase.cancelled, step=Step.cancelled), event, Command.cancel,
                          data.get("reason"))
    return s  # unknown (newer) event types leave the state as it is


def _moved(state: ItemState, event: Happened, command: str, reason: str | None = None) -> ItemState:
    return replace(state, last_transition=Transition(command=str(command), event=event.type, actor=event.actor,
                                                     at=event.recorded_at, reason=reason))


def fold(item_id: str, events: list[Any]) -> ItemState:
    state = ItemState(item_id=item_id)
    for event in events:
        state = evolve(state, event)
    return state
