"""Commands as pure decisions: ``decide(state, command, actor=, now=)`` returns the events a user's command causes
in ``state`` or raises a LifecycleError; ``retire`` is the cancellation that split / merge and planned dates
decide. No I/O, no clock, no ids: the caller passes ``now``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.contracts.elements import label_of

from lifecycle.domain.errors import (
    ElementsIncompleteError,
    FourEyesViolationError,
    IllegalTransitionError,
    InvalidTestResultError,
    ReasonRequiredError,
)
from lifecycle.domain.events import (
    DomainEvent,
    EventType,
    cancelled_payload,
    public_payload,
    published_payload,
)
from lifecycle.domain.model import ItemState
from lifecycle.domain.vocabulary import (
    COMMAND_LABELS,
    PHASE_LABELS,
    STEP_LABELS,
    Command,
    Phase,
    UnpublishKind,
)


@dataclass(frozen=True)
class ItemCommand:
    command: Command
    reason: str | None = None
    test_result: str | None = None  # pass / fail
    notes: str | None = None
    unpublish_kind: UnpublishKind = UnpublishKind.suspension


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
                # ``missing`` stays the paths (machine-readable); the message names the elements in Chinese.
                raise ElementsIncompleteError(revision=number, missing=list(revision.missing),
                                              count=len(revision.missing),
                                              missing_list="、".join(label_of(p) for p in revision.missing))
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
                payload = public_payload(state, state.revisions[update.revision], state.code, at, Phase.online)
                return [DomainEvent(EventType.PUBLISHED, {
                    **payload, "update": True, "previous_revision": state.published_revision,
                    "previous_code": state.published_code})]
            revision = state.revisions[state.review_revision or state.latest_revision]
            return [DomainEvent(EventType.PUBLISHED, public_payload(state, revision, state.code, at, Phase.online))]
        case Command.unpublish:
            _require_reason(cmd)
            return [DomainEvent(EventType.UNPUBLISHED, {
                **published_payload(state, at, Phase.offline), "kind": cmd.unpublish_kind.value,
                "reason": cmd.reason})]
        case Command.resume:
            return [DomainEvent(EventType.RESUMED, published_payload(state, at, Phase.online))]
        case Command.cancel:
            _require_reason(cmd)
            return [DomainEvent(EventType.CANCELLED, cancelled_payload(state, cmd.reason or "", at))]
    raise AssertionError(cmd.command)  # pragma: no cover - ALLOWED covers every command


def retire(state: ItemState, *, reason: str, now: datetime, label: str,
           **extra: Any) -> list[DomainEvent]:
    """Cancel an item from any live state: the decision of a split / merge (事项调整) or of a planned cancel date
    (计划取消日期). Unlike the ``cancel`` command, an online item need not go offline first: the cancellation
    itself tells the national platform that the published item is gone. ``extra`` lands in the event data."""
    if not state.exists or state.phase is Phase.cancelled:
        raise illegal(state, "cancel", label)
    if not reason.strip():
        raise ReasonRequiredError(command=Command.cancel.value, command_label=label)
    return [DomainEvent(EventType.CANCELLED, {**cancelled_payload(state, reason, now.isoformat()), **extra})]


def _require_reason(cmd: ItemCommand) -> None:
    if not (cmd.reason and cmd.reason.strip()):
        raise ReasonRequiredError(command=cmd.command.value, command_label=COMMAND_LABELS[cmd.command])
