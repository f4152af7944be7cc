"""The item lifecycle as pure functions (no I/O, no clock, no ids): ``decide(state, command, actor, now)`` returns
the events a command causes, ``evolve(state, event)`` folds one event into the state.

States and works (seed 000 事项状态 / 事项管理工作, decided in ../shared/docs/domain.md):
形成期 forming (录入 entry, 审核 review) → 上线准备期 preparing (测试 test, 注册 registration) → 在线期 online
(上线 publish, 更新 update, 维护 maintenance, 同步 sync) ⇄ 离线期 offline (下线) → 注销期 cancelled (terminal).

How content revisions from the registry meet the lifecycle (decided here; the registry only says what changed):

- 形成期, 录入: a revision is simply the newer draft; ``submit`` sends the latest one to review, provided the
  registry found it complete (``complete`` / ``missing`` on its events: every element review needs is there).
  The same holds for submitting an update.
- 形成期, 审核中, and 上线准备期: what was submitted or approved is outdated by a newer revision, so the item goes
  back to 录入 (``returned_to_entry``) and must be submitted and reviewed again. A reviewer never approves stale
  content, and nothing unreviewed can reach the national platform. Exception: a 维护 revision (below) in 上线准备期
  replaces the approved revision without a new review.
- 在线期 (更新 update, 先审后用): a newer revision becomes the *pending update* while the published revision stays
  online. It is submitted, reviewed (four-eyes against the update's own author and submitter) and then published
  again (``published`` with ``update: true``). If the approved update changes a coded element, registration is
  requested again and the update can be published only once the new code has arrived. A still newer revision
  supersedes a pending update at any stage: the update goes back to 更新待提交.
- 离线期: a newer revision becomes the pending update as well; its review continues once the item is back online
  (resume restores the update's stage).
- 维护 maintenance (seed 000: non-substantive fixes, still recorded): the registry flags a revision with
  ``maintenance: true``. The lifecycle accepts it *without review* when the item has reviewed content (上线准备期,
  在线期, 离线期), no update is pending, and compared with the reviewed content the revision changes only
  maintainable elements (``MAINTENANCE_ELEMENTS``, ``MAINTENANCE_GUIDE_FIELDS``: place, hours, contacts, online
  depth, national codes). It is recorded (``maintained``) and, when the item is online, published at once
  (``published`` with ``update: true, maintenance: true``); offline, the fix goes online with ``resume``.
  Otherwise the revision is handled as an ordinary one and the refusal is recorded on ``revision_received``
  (``maintenance_declined``). (The registry refuses such a maintenance revision already; this is the second
  check, because publishing without review rests on it.)
- 注销期: content is final; later revisions are ignored.

Facts recorded from other services: codes from coding (``code_recorded``; an answer to an outstanding
registration request completes it even when the code is unchanged), and the national platform's acknowledgements
and rejections from the sync gateway (``national_sync_recorded``, 同步, per fed version; whatever the phase,
including 注销期: a cancellation is itself fed and acknowledged, so this is the one thing a cancelled item still
records — its phase, content and code never change again). Split and merge (``adjustments.py``) and planned dates
(``planning.py``) cancel through ``retire``. Every event carries who (the stored event's actor), when (its
recorded time) and, where a person decided, why (``reason``).

``evolve`` is written for speed as well as clarity: a whole stream folds into one mutable working copy (a dict of
the state's fields) and is frozen once at the end, so rebuilding a million events does not allocate a million
frozen states. ``evolve(state, e)`` is ``fold_from(state, [e])``: one code path."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import SimpleNamespace
from typing import Any, Protocol

from shared import contracts
from shared.errors import DomainError


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

# The elements a code is made of (domain.md "The item code"): changing one after registration re-codes the item.
CODED_ELEMENTS = contracts.CODED_ELEMENTS
# What a 维护 revision may change (the registry's rule, checked again here because publishing without review rests
# on it): where and when to apply, whom to ask or complain to, the online depth and the national platform's codes.
# Any other change (names, types, basis, conditions, materials, limits, fees, dates, structure) changes what an
# applicant must do: an update, reviewed. Unknown elements count as substantive.
MAINTENANCE_ELEMENTS = frozenset({"online_service_depth", "national_basic_code", "national_implementation_code",
                                  "national_handling_code"})
MAINTENANCE_GUIDE_FIELDS = frozenset({"place", "hours", "consultation_contact", "complaint_contact"})


# The five phases and their Chinese names are every service's vocabulary (shared.contracts.vocabulary).
Phase = contracts.Phase
PHASE_LABELS = contracts.PHASE_LABELS


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
    update_entry = "update_entry"  # 已上线，更新待提交
    update_in_review = "update_in_review"  # 已上线，更新审核中
    update_recoding = "update_recoding"  # 已上线，更新已通过审核，重新赋码中
    update_approved = "update_approved"  # 已上线，更新已通过审核，待上线
    suspended = "suspended"  # 暂停
    maintenance = "maintenance"  # 维护
    cancelled = "cancelled"  # 已注销


STEP_LABELS = {
    Step.none: "未录入", Step.entry: "录入", Step.in_review: "审核中", Step.testing: "待测试",
    Step.test_failed: "测试未通过", Step.test_passed: "测试通过", Step.registering: "注册中",
    Step.registered: "已注册", Step.published: "已上线", Step.update_entry: "更新待提交",
    Step.update_in_review: "更新审核中", Step.update_recoding: "更新重新赋码中", Step.update_approved: "更新待上线",
    Step.suspended: "暂停", Step.maintenance: "维护", Step.cancelled: "已注销",
}


class UpdateStage(StrEnum):
    """Where a pending update (更新) stands; while online it is also the item's step."""

    received = "received"
    in_review = "in_review"
    recoding = "recoding"
    approved = "approved"


ONLINE_STEP = {None: Step.published, UpdateStage.received: Step.update_entry,
               UpdateStage.in_review: Step.update_in_review, UpdateStage.recoding: Step.update_recoding,
               UpdateStage.approved: Step.update_approved}


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
    Command.submit: "提交审核", Command.approve: "审核通过", Command.reject: "审核退回",
    Command.record_test: "记录测试结果",
    Command.register: "注册", Command.publish: "上线", Command.unpublish: "下线", Command.resume: "重新上线",
    Command.cancel: "注销",
}

# Which commands each (phase, step) allows. Anything else is an illegal transition. Online, submit / approve /
# reject / publish act on the pending update.
ALLOWED: dict[tuple[Phase, Step], frozenset[Command]] = {
    (Phase.forming, Step.entry): frozenset({Command.submit, Command.cancel}),
    (Phase.forming, Step.in_review): frozenset({Command.approve, Command.reject}),
    (Phase.preparing, Step.testing): frozenset({Command.record_test, Command.cancel}),
    (Phase.preparing, Step.test_failed): frozenset({Command.record_test, Command.cancel}),
    (Phase.preparing, Step.test_passed): frozenset({Command.register, Command.record_test, Command.cancel}),
    (Phase.preparing, Step.registering): frozenset({Command.cancel}),
    (Phase.preparing, Step.registered): frozenset({Command.publish, Command.cancel}),
    (Phase.online, Step.published): frozenset({Command.unpublish}),
    (Phase.online, Step.update_entry): frozenset({Command.submit, Command.unpublish}),
    (Phase.online, Step.update_in_review): frozenset({Command.approve, Command.reject, Command.unpublish}),
    (Phase.online, Step.update_recoding): frozenset({Command.unpublish}),
    (Phase.online, Step.update_approved): frozenset({Command.publish, Command.unpublish}),
    (Phase.offline, Step.suspended): frozenset({Command.resume, Command.cancel}),
    (Phase.offline, Step.maintenance): frozenset({Command.resume, Command.cancel}),
}
# Every (phase, step) an item can be in: the table's, the terminal one, and "not entered yet".
LEGAL_STATES = frozenset(ALLOWED) | {(Phase.cancelled, Step.cancelled), (None, Step.none)}


class UnpublishKind(StrEnum):
    suspension = "suspension"  # 暂停
    maintenance = "maintenance"  # 维护


class SyncResult(StrEnum):
    acknowledged = "acknowledged"  # 国家平台已接收
    rejected = "rejected"  # 国家平台退回


SYNC_RESULT_LABELS = {SyncResult.acknowledged: "国家平台已接收", SyncResult.rejected: "国家平台退回"}

SCHEDULER_ACTOR = "scheduler"  # the planned-dates worker, as recorded on the events it writes


@dataclass(frozen=True)
class Revision:
    number: int
    author: str
    elements: dict[str, Any]
    # The registry's word on whether every element review needs is there (domain.md: submission requires complete
    # elements); revisions from before it said so count as complete.
    complete: bool = True
    missing: tuple[str, ...] = ()

    def coded(self) -> dict[str, Any]:
        return {k: self.elements.get(k) for k in CODED_ELEMENTS}


@dataclass(frozen=True)
class PendingUpdate:
    """A revision on its way to replace the published one (更新, 先审后用)."""

    revision: int
    stage: UpdateStage = UpdateStage.received
    submitted_by: str | None = None


@dataclass(frozen=True)
class NationalSync:
    """The national platform's answer to one fed lifecycle version (同步)."""

    item_version: int
    result: SyncResult
    reason: str | None
    feed_sequence: int | None
    at: datetime


@dataclass(frozen=True)
class Lineage:
    """One split or merge this item took part in (事项调整: 主子项拆分 / 合并)."""

    adjustment_id: str | None
    kind: str  # split | merge
    role: str  # predecessor | successor
    predecessors: tuple[str, ...]
    successors: tuple[str, ...]
    reason: str | None
    actor: str | None
    at: datetime


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
    # Only the revisions the state still refers to (latest, under review / approved, published, pending update);
    # the full history is in the log.
    revisions: Mapping[int, Revision] = field(default_factory=dict)
    latest_revision: int = 0
    review_revision: int | None = None  # revision last submitted for the first review (kept after approval)
    submitted_by: str | None = None
    published_revision: int | None = None
    published_code: str | None = None  # the code the published revision went online with
    update: PendingUpdate | None = None
    test_result: str | None = None
    code: str | None = None  # the item's current code, as coding assigned it
    code_elements: Mapping[str, Any] | None = None  # the coded elements that code stands for
    requested_code_elements: Mapping[str, Any] | None = None  # of the last registration request
    retired_codes: tuple[str, ...] = ()  # earlier codes of this item (re-coding after an update)
    national_sync: Mapping[int, NationalSync] = field(default_factory=dict)
    lineage: tuple[Lineage, ...] = ()
    last_transition: Transition | None = None

    @property
    def exists(self) -> bool:
        return self.phase is not None

    def allowed(self) -> frozenset[Command]:
        if self.phase is None:
            return frozenset()
        return ALLOWED.get((self.phase, self.step), frozenset())

    def allowed_commands(self) -> list[str]:
        return sorted(c.value for c in self.allowed())

    def under_review(self) -> tuple[Revision, str | None]:
        """The revision a reviewer decides on now, and who submitted it."""
        if self.update is not None:
            return self.revisions[self.update.revision], self.update.submitted_by
        return self.revisions[self.review_revision or self.latest_revision], self.submitted_by

    def reviewed_revision(self) -> Revision | None:
        """The content that passed review and is (or is about to be) online: published, else approved."""
        if self.published_revision is not None:
            return self.revisions.get(self.published_revision)
        if self.phase is Phase.preparing and self.review_revision is not None:
            return self.revisions.get(self.review_revision)
        return None

    def coded_elements(self) -> dict[str, Any]:
        revision = self.revisions.get(self.review_revision or self.latest_revision)
        return revision.coded() if revision else {k: None for k in CODED_ELEMENTS}

    def current_code_elements(self) -> Mapping[str, Any] | None:
        """What the current code stands for (the published content's coded elements when coding did not say)."""
        if self.code_elements is not None:
            return self.code_elements
        published = self.revisions.get(self.published_revision or 0)
        return published.coded() if published else None


class Happened(Protocol):
    """What evolve needs of a stored event (shixiang's StoredEvent satisfies it)."""

    type: str
    data: dict[str, Any]
    actor: str | None
    recorded_at: datetime
    version: int


@dataclass(frozen=True)
class Recorded:
    """An event as evolve needs it, outside the store: about to be appended, or in a test's story."""

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
    """Reject, unpublish, cancel and adjustments must say why."""


class InvalidTestResultError(LifecycleError):
    """record-test needs result pass or fail."""


class UnknownItemVersionError(LifecycleError):
    """National feedback about a lifecycle version the item does not have."""


class ElementsIncompleteError(LifecycleError):
    """submit of a revision that lacks elements review needs (the registry lists them)."""


def illegal(state: ItemState, command: str, label: str) -> IllegalTransitionError:
    """The 409 of every refused command: the current state and what is allowed from it, in Chinese."""
    allowed = state.allowed_commands()
    return IllegalTransitionError(
        command=command,
        phase=state.phase.value if state.phase else None,
        phase_label=PHASE_LABELS[state.phase] if state.phase else "未录入",
        step=state.step.value,
        step_label=STEP_LABELS[state.step],
        allowed=allowed,
        command_label=label,
        allowed_labels="、".join(COMMAND_LABELS[Command(c)] for c in allowed) or "无",
    )


# ---- decide ---------------------------------------------------------------------------------------------------------
def decide(state: ItemState, cmd: ItemCommand, *, actor: str, now: datetime) -> list[DomainEvent]:
    """The events ``cmd`` by ``actor`` causes in ``state``; raises a LifecycleError when it may not happen."""
    if cmd.command not in state.allowed():
        raise illegal(state, cmd.command.value, COMMAND_LABELS[cmd.command])
    at = now.isoformat()
    update = state.update
    match cmd.command:
        case Command.submit:
            number = update.revision if update is not None else state.latest_revision
            revision = state.revisions[number]
            if not revision.complete:
                raise ElementsIncompleteError(revision=number, missing=list(revision.missing),
                                              count=len(revision.missing), missing_list="、".join(revision.missing))
            if update is not None:
                return [DomainEvent(EventType.SUBMITTED, {"revision": number, "update": True, "at": at})]
            return [DomainEvent(EventType.SUBMITTED, {"revision": number, "at": at})]
        case Command.approve | Command.reject:
            revision, submitted_by = state.under_review()
            if actor in (revision.author, submitted_by):
                raise FourEyesViolationError(actor=actor, revision=revision.number, author=revision.author)
            marker = {"update": True} if update is not None else {}
            if cmd.command is Command.reject:
                _require_reason(cmd)
                return [DomainEvent(EventType.REJECTED, {
                    "revision": revision.number, "reason": cmd.reason, "at": at, **marker})]
            approved = [DomainEvent(EventType.APPROVED, {"revision": revision.number, "at": at, **marker})]
            if update is not None and revision.coded() != state.current_code_elements():
                # The update changes what the code is made of: coding retires the old code and assigns a new one;
                # the update waits for it (update_recoding) before it may be published.
                approved.append(DomainEvent(EventType.REGISTRATION_REQUESTED, {
                    "revision": revision.number, "elements": revision.coded(), "update": True, "at": at}))
            return approved
        case Command.record_test:
            if cmd.test_result not in ("pass", "fail"):
                raise InvalidTestResultError(result=cmd.test_result)
            return [DomainEvent(EventType.TEST_RECORDED, {"result": cmd.test_result, "notes": cmd.notes, "at": at})]
        case Command.register:
            return [DomainEvent(EventType.REGISTRATION_REQUESTED, {
                "revision": state.review_revision, "elements": state.coded_elements(), "at": at})]
        case Command.publish:
            if update is not None:
                payload = _public_payload(state, state.revisions[update.revision], state.code, at, Phase.online)
                return [DomainEvent(EventType.PUBLISHED, {
                    **payload, "update": True, "previous_revision": state.published_revision,
                    "previous_code": state.published_code})]
            revision = state.revisions[state.review_revision or state.latest_revision]
            return [DomainEvent(EventType.PUBLISHED, _public_payload(state, revision, state.code, at, Phase.online))]
        case Command.unpublish:
            _require_reason(cmd)
            return [DomainEvent(EventType.UNPUBLISHED, {
                **_published_payload(state, at, Phase.offline), "kind": cmd.unpublish_kind.value,
                "reason": cmd.reason})]
        case Command.resume:
            return [DomainEvent(EventType.RESUMED, _published_payload(state, at, Phase.online))]
        case Command.cancel:
            _require_reason(cmd)
            return [DomainEvent(EventType.CANCELLED, _cancelled_payload(state, cmd.reason or "", at))]
    raise AssertionError(cmd.command)  # pragma: no cover - ALLOWED covers every command


def retire(state: ItemState, *, reason: str, now: datetime, label: str,
           **extra: Any) -> list[DomainEvent]:
    """Cancel an item from any live state: the decision of a split / merge (事项调整) or of a planned cancel date
    (计划取消日期). Unlike the ``cancel`` command, an online item need not go offline first: the cancellation
    itself tells the national platform that the published item is gone. ``extra`` lands in the event data."""
    if not state.exists or state.phase is Phase.cancelled:
        raise illegal(state, "cancel", label)
    if not reason.strip():
        raise ReasonRequiredError(command=label)
    return [DomainEvent(EventType.CANCELLED, {**_cancelled_payload(state, reason, now.isoformat()), **extra})]


def _require_reason(cmd: ItemCommand) -> None:
    if not (cmd.reason and cmd.reason.strip()):
        raise ReasonRequiredError(command=cmd.command.value)


def _public_payload(state: ItemState, revision: Revision, code: str | None, at: str,
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


def _published_payload(state: ItemState, at: str, phase: Phase) -> dict[str, Any]:
    return _public_payload(state, state.revisions[state.published_revision or 0], state.published_code, at, phase)


def _cancelled_payload(state: ItemState, reason: str, at: str) -> dict[str, Any]:
    return {"reason": reason, "at": at, "code": state.code, "item_id": state.item_id,
            "phase": Phase.cancelled.value, "phase_label": PHASE_LABELS[Phase.cancelled],
            "was_published": state.published_revision is not None}


# ---- facts from other services (consumers), also decided purely --------------------------------------------------
def on_revision(state: ItemState, *, revision: int, author: str, region_code: str, elements: dict[str, Any],
                now: datetime, maintenance: bool = False, complete: bool | None = None,
                missing: list[str] | None = None) -> list[DomainEvent]:
    """A draft or a new revision written in the registry (see the module docstring for what each phase makes of
    it). Old or repeated revisions, and anything after cancellation, change nothing. ``now`` (the registry event's
    time) stamps a maintenance publication; ``complete`` / ``missing`` are the registry's completeness verdict."""
    if revision <= state.latest_revision or state.phase is Phase.cancelled:
        return []
    data: dict[str, Any] = {"revision": revision, "author": author, "region_code": region_code, "elements": elements}
    if complete is not None:
        data |= {"complete": complete, "missing": list(missing or [])}
    if not state.exists:
        return [DomainEvent(EventType.ENTERED, data)]
    if maintenance:
        declined, fields = _maintenance_verdict(state, elements)
        if declined is None and complete is False:
            # a fix that leaves a required element empty is no fix to publish unreviewed (``missing`` says which)
            declined, fields = "incomplete", []
        if declined is None:
            return _maintain(state, Revision(revision, author, elements), data, fields, now)
        data = {**data, "maintenance": True, "maintenance_declined": declined, "substantive_fields": fields}
    received = [DomainEvent(EventType.REVISION_RECEIVED, data)]
    if state.phase is Phase.preparing or state.step is Step.in_review:
        reason = (f"审核期间收到新版本（第 {revision} 版），需重新提交审核" if state.step is Step.in_review
                  else f"已通过审核的事项要素发生变更（第 {revision} 版），需重新提交审核")
        received.append(DomainEvent(EventType.RETURNED_TO_ENTRY, {
            "revision": revision, "from_phase": state.phase.value if state.phase else None,
            "from_step": state.step.value, "reason": reason}))
    return received


def _maintenance_verdict(state: ItemState, elements: dict[str, Any]) -> tuple[str | None, list[str]]:
    """(None, changed fields) when a 维护 revision may go in without review, else (why not, substantive fields)."""
    base = state.reviewed_revision()
    if base is None:
        return "not_reviewed", []
    if state.update is not None or state.latest_revision != base.number:
        return "pending_update", []
    changed = changed_paths(base.elements, elements)
    substantive = [path for path in changed if not _maintainable(path)]
    if substantive:
        return "substantive_change", substantive
    return None, changed


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Changed elements; inside the service guide (办事指南) its changed fields, as ``service_guide.place``."""
    paths = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key == "service_guide" and isinstance(old, dict) and isinstance(new, dict):
            paths += [f"{key}.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        else:
            paths.append(key)
    return paths


def _maintainable(path: str) -> bool:
    head, _, field = path.partition(".")
    return path in MAINTENANCE_ELEMENTS or (head == "service_guide" and field in MAINTENANCE_GUIDE_FIELDS)


def _maintain(state: ItemState, revision: Revision, data: dict[str, Any], changed: list[str],
              now: datetime) -> list[DomainEvent]:
    base = state.reviewed_revision()
    events = [DomainEvent(EventType.MAINTAINED, {
        **data, "base_revision": base.number if base else None, "changed_fields": changed})]
    if state.phase is Phase.online:
        events.append(DomainEvent(EventType.PUBLISHED, {
            **_public_payload(state, revision, state.published_code, now.isoformat(), Phase.online), "update": True,
            "maintenance": True, "previous_revision": state.published_revision,
            "previous_code": state.published_code}))
    return events


def on_code_assigned(state: ItemState, *, code: str, replaces: str | None = None) -> list[DomainEvent]:
    """coding assigned (or re-assigned) the item's code. While a registration is outstanding an answer completes it
    even with the same code (allocation is idempotent); otherwise only a different code is news."""
    if not code or not state.exists or state.phase is Phase.cancelled:
        return []
    awaiting = state.step is Step.registering or (
        state.update is not None and state.update.stage is UpdateStage.recoding)
    if state.code == code and not awaiting:
        return []
    return [DomainEvent(EventType.CODE_RECORDED, {"code": code, **({"replaces": replaces} if replaces else {})})]


def on_national_feedback(state: ItemState, *, item_version: int, result: SyncResult, reason: str | None,
                         feed_sequence: int | None) -> list[DomainEvent]:
    """The national platform acknowledged or rejected one fed version (同步). A repeat changes nothing."""
    if not state.exists:
        return []
    if not 1 <= item_version <= state.version:
        raise UnknownItemVersionError(item_id=state.item_id, item_version=item_version, version=state.version)
    known = state.national_sync.get(item_version)
    if known is not None and (known.result, known.reason) == (result, reason):
        return []
    return [DomainEvent(EventType.NATIONAL_SYNC_RECORDED, {
        "item_version": item_version, "result": result.value, "reason": reason, "feed_sequence": feed_sequence})]


# ---- evolve ---------------------------------------------------------------------------------------------------------
# Enum members looked up once: in CPython 3.11 each ``Phase.online`` costs about 0.3 µs (and ``SyncResult(value)``
# over 1 µs), and a rebuild folds millions of events.
_P, _S = SimpleNamespace(**Phase.__members__), SimpleNamespace(**Step.__members__)
_U, _C = SimpleNamespace(**UpdateStage.__members__), SimpleNamespace(**Command.__members__)
_UNPUBLISH_MAINTENANCE = UnpublishKind.maintenance.value
_SYNC_RESULTS = {r.value: r for r in SyncResult}

# The working copy is a plain dict of ItemState's fields: mutating a dict is several times cheaper than building a
# frozen dataclass per event, which is what makes rebuilding a million events fast. Nested values (revisions,
# national_sync, lineage) are still replaced, never mutated, because frozen states share them.
Draft = dict[str, Any]


def evolve(state: ItemState, event: Happened) -> ItemState:
    return fold_from(state, (event,))


def fold(item_id: str, events: Iterable[Happened]) -> ItemState:
    draft = {**_NEW_ITEM, "item_id": item_id}
    for event in events:
        apply(draft, event)
    return freeze(draft)


def fold_from(state: ItemState, events: Iterable[Happened]) -> ItemState:
    draft = dict(state.__dict__)
    for event in events:
        apply(draft, event)
    return freeze(draft)


def freeze(d: Draft) -> ItemState:
    """The frozen state of a working copy (the last transition is built here, once, not per event)."""
    moved = d["last_transition"]
    if type(moved) is tuple:
        command, event, reason = moved
        d["last_transition"] = Transition(str(command), event.type, event.actor, event.recorded_at, reason)
    # The dataclass's own __init__ sets each of its twenty fields through object.__setattr__ (it is frozen), several
    # microseconds an item, three times per decided item; the working copy has exactly the fields, so they go in
    # at once. The state is as frozen as ever: nothing assigns to it afterwards.
    state = object.__new__(ItemState)
    state.__dict__.update(d)
    return state


def apply(d: Draft, event: Happened) -> None:
    """Fold one event into a working copy (unknown, newer event types only advance the version)."""
    d["version"] = event.version
    handler = _APPLY.get(event.type)
    if handler is not None:
        handler(d, event)


def _moved(d: Draft, event: Happened, command: str, reason: str | None = None) -> None:
    d["last_transition"] = (command, event, reason)  # a Transition once frozen (see freeze)


def _online_step(d: Draft) -> Step:
    update = d["update"]
    return ONLINE_STEP[update.stage if update is not None else None]


def _add_revision(d: Draft, data: dict[str, Any]) -> None:
    number = data["revision"]
    revision = Revision(number, data["author"], data["elements"], data.get("complete") is not False,
                        tuple(data.get("missing") or ()))
    keep = {d["review_revision"], d["published_revision"], d["update"].revision if d["update"] else None}
    revisions = {n: r for n, r in d["revisions"].items() if n in keep}
    revisions[number] = revision
    d["revisions"] = revisions
    d["latest_revision"] = number
    d["region_code"] = data.get("region_code") or d["region_code"]


def _entered(d: Draft, e: Happened) -> None:
    _add_revision(d, e.data)
    d["phase"], d["step"] = _P.forming, _S.entry
    _moved(d, e, "entry")


def _revision_received(d: Draft, e: Happened) -> None:
    _add_revision(d, e.data)
    if d["phase"] in (_P.online, _P.offline):
        # A newer revision always becomes (or supersedes) the pending update, back at its first stage.
        d["update"] = PendingUpdate(e.data["revision"])
        if d["phase"] is _P.online:
            d["step"] = _S.update_entry
    _moved(d, e, "entry")


def _returned_to_entry(d: Draft, e: Happened) -> None:
    d["phase"], d["step"] = _P.forming, _S.entry
    d["review_revision"] = d["submitted_by"] = d["test_result"] = None
    _moved(d, e, "return", e.data.get("reason"))


def _maintained(d: Draft, e: Happened) -> None:
    _add_revision(d, e.data)
    if d["phase"] is _P.preparing:
        d["review_revision"] = e.data["revision"]
    else:
        d["published_revision"] = e.data["revision"]
    _moved(d, e, "maintain")


def _submitted(d: Draft, e: Happened) -> None:
    if e.data.get("update"):
        d["update"] = PendingUpdate(e.data["revision"], _U.in_review, e.actor)
        d["step"] = _S.update_in_review
    else:
        d["step"], d["review_revision"], d["submitted_by"] = _S.in_review, e.data["revision"], e.actor
    _moved(d, e, _C.submit)


def _approved(d: Draft, e: Happened) -> None:
    if e.data.get("update"):
        d["update"] = PendingUpdate(e.data["revision"], _U.approved, d["update"].submitted_by)
        d["step"] = _S.update_approved
    else:
        d["phase"], d["step"], d["test_result"] = _P.preparing, _S.testing, None
    _moved(d, e, _C.approve)


def _rejected(d: Draft, e: Happened) -> None:
    if e.data.get("update"):
        d["update"] = PendingUpdate(e.data["revision"])
        d["step"] = _S.update_entry
    else:
        d["step"], d["review_revision"], d["submitted_by"] = _S.entry, None, None
    _moved(d, e, _C.reject, e.data.get("reason"))


def _test_recorded(d: Draft, e: Happened) -> None:
    result = e.data["result"]
    d["step"] = _S.test_passed if result == "pass" else _S.test_failed
    d["test_result"] = result
    _moved(d, e, _C.record_test, e.data.get("notes"))


def _registration_requested(d: Draft, e: Happened) -> None:
    requested = e.data["elements"]
    d["requested_code_elements"] = requested
    if e.data.get("update"):
        d["update"] = PendingUpdate(e.data["revision"], _U.recoding, d["update"].submitted_by)
        d["step"] = _S.update_recoding
    else:
        # Allocation is idempotent: an item already holding the code for these elements is registered at once.
        holds = d["code"] is not None and d["code_elements"] in (None, requested)
        d["step"] = _S.registered if holds else _S.registering
    _moved(d, e, _C.register)


def _code_recorded(d: Draft, e: Happened) -> None:
    code, previous = e.data["code"], d["code"]
    if previous is not None and previous != code:
        d["retired_codes"] = (*d["retired_codes"], previous)
    d["code"] = code
    d["code_elements"] = d["requested_code_elements"]
    if d["step"] is _S.registering:
        d["step"] = _S.registered
    update = d["update"]
    if update is not None and update.stage is _U.recoding:
        d["update"] = PendingUpdate(update.revision, _U.approved, update.submitted_by)
        if d["phase"] is _P.online:
            d["step"] = _S.update_approved
    _moved(d, e, "code")


def _published(d: Draft, e: Happened) -> None:
    d["phase"] = _P.online
    d["published_revision"], d["published_code"] = e.data["revision"], e.data.get("code")
    update = d["update"]
    if update is not None and update.revision == e.data["revision"]:
        d["update"] = None
    d["step"] = _online_step(d)
    _moved(d, e, "maintain" if e.data.get("maintenance") else _C.publish)


def _unpublished(d: Draft, e: Happened) -> None:
    d["phase"] = _P.offline
    d["step"] = _S.maintenance if e.data.get("kind") == _UNPUBLISH_MAINTENANCE else _S.suspended
    _moved(d, e, _C.unpublish, e.data.get("reason"))


def _resumed(d: Draft, e: Happened) -> None:
    d["phase"] = _P.online
    d["step"] = _online_step(d)
    _moved(d, e, _C.resume)


def _cancelled(d: Draft, e: Happened) -> None:
    d["phase"], d["step"], d["update"] = _P.cancelled, _S.cancelled, None
    _moved(d, e, _C.cancel, e.data.get("reason"))


def _lineage_recorded(d: Draft, e: Happened) -> None:
    data = e.data
    link = Lineage(data.get("adjustment_id"), data["kind"], data.get("role", ""), tuple(data["predecessors"]),
                   tuple(data["successors"]), data.get("reason"), e.actor, e.recorded_at)
    d["lineage"] = (*d["lineage"], link)
    _moved(d, e, data["kind"], data.get("reason"))


def _national_sync_recorded(d: Draft, e: Happened) -> None:
    data = e.data
    record = NationalSync(data["item_version"], _SYNC_RESULTS[data["result"]], data.get("reason"),
                          data.get("feed_sequence"), e.recorded_at)
    d["national_sync"] = {**d["national_sync"], record.item_version: record}


# The fields of an item nothing has happened to (a fresh working copy; the mutable defaults are never mutated).
_NEW_ITEM: Draft = dict(ItemState(item_id="").__dict__)

_APPLY: dict[str, Callable[[Draft, Happened], None]] = {
    EventType.ENTERED: _entered,
    EventType.REVISION_RECEIVED: _revision_received,
    EventType.RETURNED_TO_ENTRY: _returned_to_entry,
    EventType.MAINTAINED: _maintained,
    EventType.SUBMITTED: _submitted,
    EventType.APPROVED: _approved,
    EventType.REJECTED: _rejected,
    EventType.TEST_RECORDED: _test_recorded,
    EventType.REGISTRATION_REQUESTED: _registration_requested,
    EventType.CODE_RECORDED: _code_recorded,
    EventType.PUBLISHED: _published,
    EventType.UNPUBLISHED: _unpublished,
    EventType.RESUMED: _resumed,
    EventType.CANCELLED: _cancelled,
    EventType.LINEAGE_RECORDED: _lineage_recorded,
    EventType.NATIONAL_SYNC_RECORDED: _national_sync_recorded,
}
