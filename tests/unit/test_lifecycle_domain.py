"""The item lifecycle (domain.md "Lifecycle — five states, ten works"), as specs over the pure decide/evolve core.

Style: given past events (folded with ``lifecycle.domain.fold``/``evolve``), when a command (or a fact from another
service) is decided, then these events (or this error). No I/O, no real clock: every time is a fixed UTC datetime.

Cast: alice writes the revisions, bob submits them, carol reviews. Four-eyes: neither the author of the revision
under review nor its submitter may approve or reject it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.contracts import is_public_event
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.domain import (
    ALLOWED,
    COMMAND_LABELS,
    PHASE_LABELS,
    PUBLIC_EVENTS,
    STEP_LABELS,
    Command,
    DomainEvent,
    EventType,
    FourEyesViolationError,
    IllegalTransitionError,
    InvalidTestResultError,
    ItemCommand,
    ItemState,
    LifecycleError,
    Phase,
    ReasonRequiredError,
    Step,
    UnpublishKind,
    decide,
    evolve,
    fold,
    on_code_assigned,
    on_revision,
)

ITEM_ID = "item-0001"
REGION = "440115"  # 广州市南沙区
CODE = "014401150201JZZHF0000000"  # 01 行政许可 · 440115 · 02 户政管理 · 01 证件办理 · 居住证核发
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

ELEMENTS_V1: dict[str, Any] = {
    "name": "居住证核发", "short_name": "居住证核发", "item_type": "01", "region_code": REGION,
    "police_type": "02", "service_category": "01", "competent_department": "广州市公安局南沙区分局",
}
ELEMENTS_V2: dict[str, Any] = {**ELEMENTS_V1, "name": "居住证签发", "short_name": "居住证签发", "service_category": "03"}
CODED_V1 = {"item_type": "01", "region_code": REGION, "police_type": "02", "service_category": "01",
            "short_name": "居住证核发"}


# ---- a stored event, as evolve needs it (satisfies lifecycle.domain.Happened) ------------------------------------
@dataclass(frozen=True)
class Happened:
    type: str
    data: dict[str, Any]
    actor: str | None
    recorded_at: datetime
    version: int


class Story:
    """An item's stream in memory: decided events are stored (numbered, stamped) and folded into the state."""

    def __init__(self, item_id: str = ITEM_ID) -> None:
        self.state = ItemState(item_id=item_id)
        self.events: list[Happened] = []
        self.clock = T0

    def tick(self) -> datetime:
        self.clock += timedelta(minutes=1)
        return self.clock

    def store(self, decided: list[DomainEvent], actor: str | None, at: datetime) -> list[DomainEvent]:
        for event in decided:
            stored = Happened(event.type, event.data, actor, at, self.state.version + 1)
            self.events.append(stored)
            self.state = evolve(self.state, stored)
        return decided

    # when …
    def when(self, command: Command, actor: str, **kwargs: Any) -> list[DomainEvent]:
        at = self.tick()
        return self.store(decide(self.state, ItemCommand(command, **kwargs), actor=actor, now=at), actor, at)

    def when_revision(self, revision: int, author: str = "alice",
                      elements: dict[str, Any] | None = None) -> list[DomainEvent]:
        decided = on_revision(self.state, revision=revision, author=author, region_code=REGION,
                              elements=ELEMENTS_V1 if elements is None else elements)
        return self.store(decided, author, self.tick())

    def when_code(self, code: str = CODE) -> list[DomainEvent]:
        return self.store(on_code_assigned(self.state, code=code), "coding", self.tick())


# ---- given … (each builder drives the story through the real decide, so the givens are legal histories) ------
def entered() -> Story:
    story = Story()
    story.when_revision(1, author="alice")
    return story


def in_review() -> Story:
    story = entered()
    story.when(Command.submit, "bob")
    return story


def in_testing() -> Story:
    story = in_review()
    story.when(Command.approve, "carol")
    return story


def failed_test() -> Story:
    story = in_testing()
    story.when(Command.record_test, "carol", test_result="fail", notes="材料清单缺少样表")
    return story


def passed_test() -> Story:
    story = in_testing()
    story.when(Command.record_test, "carol", test_result="pass")
    return story


def registering() -> Story:
    story = passed_test()
    story.when(Command.register, "carol")
    return story


def registered() -> Story:
    story = registering()
    story.when_code(CODE)
    return story


def online() -> Story:
    story = registered()
    story.when(Command.publish, "carol")
    return story


def suspended() -> Story:
    story = online()
    story.when(Command.unpublish, "carol", reason="系统升级暂停受理")
    return story


def in_maintenance() -> Story:
    story = online()
    story.when(Command.unpublish, "carol", reason="办事指南维护", unpublish_kind=UnpublishKind.maintenance)
    return story


def cancelled() -> Story:
    story = suspended()
    story.when(Command.cancel, "carol", reason="法律依据已废止")
    return story


def types(events: list[DomainEvent]) -> list[str]:
    return [e.type for e in events]


# ================================================================================================ entry (录入)
def test_a_first_revision_enters_the_item() -> None:
    story = Story()
    events = story.when_revision(1, author="alice")
    assert events == [DomainEvent(EventType.ENTERED, {
        "revision": 1, "author": "alice", "region_code": REGION, "elements": ELEMENTS_V1})]
    assert events[0].type == "lifecycle.item.entered.v1"


def test_an_entered_item_is_forming_in_entry_with_its_region_and_revision() -> None:
    state = entered().state
    assert (state.phase, state.step) == (Phase.forming, Step.entry)
    assert state.exists
    assert state.region_code == REGION
    assert state.latest_revision == 1
    assert state.revisions[1].number == 1
    assert state.revisions[1].author == "alice"
    assert state.revisions[1].elements == ELEMENTS_V1
    assert state.version == 1
    assert state.code is None and state.review_revision is None


def test_a_repeated_revision_changes_nothing() -> None:
    story = entered()
    assert story.when_revision(1, author="alice") == []
    assert story.state.version == 1


def test_an_older_revision_changes_nothing() -> None:
    story = entered()
    story.when_revision(3, author="bob")
    before = story.state
    assert story.when_revision(2, author="carol") == []
    assert story.when_revision(3, author="carol") == []
    assert story.state == before


def test_a_later_revision_is_received_without_leaving_entry() -> None:
    story = entered()
    events = story.when_revision(2, author="bob", elements=ELEMENTS_V2)
    assert types(events) == ["lifecycle.item.revision_received.v1"]
    assert events[0].data == {"revision": 2, "author": "bob", "region_code": REGION, "elements": ELEMENTS_V2}
    state = story.state
    assert (state.phase, state.step) == (Phase.forming, Step.entry)
    assert state.latest_revision == 2
    assert sorted(state.revisions) == [1, 2]
    assert state.revisions[2].author == "bob"


def test_an_item_that_was_never_entered_allows_nothing() -> None:
    state = ItemState(item_id=ITEM_ID)
    assert not state.exists
    assert state.allowed_commands() == []
    for command in Command:
        with pytest.raises(IllegalTransitionError) as caught:
            decide(state, ItemCommand(command, reason="理由", test_result="pass"), actor="carol", now=T0)
        assert caught.value.context["phase"] is None
        assert caught.value.context["phase_label"] == "未录入"
        assert caught.value.context["allowed"] == []
        assert caught.value.context["allowed_labels"] == "无"


# ================================================================================================ review (审核)
def test_submitting_puts_the_latest_revision_in_review() -> None:
    story = entered()
    story.when_revision(2, author="alice", elements=ELEMENTS_V2)
    events = story.when(Command.submit, "bob")
    assert events == [DomainEvent(EventType.SUBMITTED, {"revision": 2, "at": story.clock.isoformat()})]
    state = story.state
    assert (state.phase, state.step) == (Phase.forming, Step.in_review)
    assert state.review_revision == 2
    assert state.submitted_by == "bob"


def test_another_user_approves_a_revision_into_testing() -> None:
    story = in_review()
    events = story.when(Command.approve, "carol")
    assert events == [DomainEvent(EventType.APPROVED, {"revision": 1, "at": story.clock.isoformat()})]
    assert (story.state.phase, story.state.step) == (Phase.preparing, Step.testing)
    assert story.state.test_result is None


def test_a_reviewer_cannot_approve_a_revision_they_entered() -> None:
    story = in_review()  # revision 1 written by alice, submitted by bob
    with pytest.raises(FourEyesViolationError) as caught:
        decide(story.state, ItemCommand(Command.approve), actor="alice", now=T0)
    assert caught.value.context == {"actor": "alice", "revision": 1, "author": "alice"}


def test_a_reviewer_cannot_approve_a_revision_they_submitted() -> None:
    story = in_review()
    with pytest.raises(FourEyesViolationError):
        decide(story.state, ItemCommand(Command.approve), actor="bob", now=T0)


def test_an_author_who_submits_their_own_revision_cannot_approve_it() -> None:
    story = entered()
    story.when(Command.submit, "alice")
    with pytest.raises(FourEyesViolationError):
        decide(story.state, ItemCommand(Command.approve), actor="alice", now=T0)
    assert types(story.when(Command.approve, "bob")) == [EventType.APPROVED]


@pytest.mark.parametrize("actor", ["alice", "bob"])
def test_a_reviewer_cannot_reject_a_revision_they_entered_or_submitted(actor: str) -> None:
    story = in_review()
    with pytest.raises(FourEyesViolationError):
        decide(story.state, ItemCommand(Command.reject, reason="要素不全"), actor=actor, now=T0)


def test_a_four_eyes_violation_decides_no_events_and_leaves_the_state_alone() -> None:
    story = in_review()
    before = story.state
    with pytest.raises(FourEyesViolationError):
        story.when(Command.approve, "alice")
    assert story.state == before
    assert len(story.events) == 2


def test_four_eyes_looks_at_the_revision_under_review_not_a_later_one() -> None:
    story = in_review()  # revision 1 by alice under review
    story.when_revision(2, author="carol", elements=ELEMENTS_V2)  # carol revises meanwhile
    assert story.state.step is Step.in_review and story.state.review_revision == 1
    with pytest.raises(FourEyesViolationError):
        decide(story.state, ItemCommand(Command.approve), actor="alice", now=T0)
    assert story.when(Command.approve, "carol")[0].data["revision"] == 1


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_rejection_must_say_why(reason: str | None) -> None:
    story = in_review()
    with pytest.raises(ReasonRequiredError) as caught:
        decide(story.state, ItemCommand(Command.reject, reason=reason), actor="carol", now=T0)
    assert caught.value.context == {"command": "reject"}


def test_a_rejection_returns_the_item_to_entry_with_the_reason_recorded() -> None:
    story = in_review()
    events = story.when(Command.reject, "carol", reason="设定依据缺少条款")
    assert events == [DomainEvent(EventType.REJECTED, {
        "revision": 1, "reason": "设定依据缺少条款", "at": story.clock.isoformat()})]
    state = story.state
    assert (state.phase, state.step) == (Phase.forming, Step.entry)
    assert state.review_revision is None and state.submitted_by is None
    assert state.last_transition is not None
    assert state.last_transition.reason == "设定依据缺少条款"
    assert state.last_transition.actor == "carol"
    assert state.last_transition.command == "reject"


def test_after_a_rejection_the_former_submitter_may_review_a_resubmission_by_someone_else() -> None:
    story = in_review()
    story.when(Command.reject, "carol", reason="设定依据缺少条款")
    story.when_revision(2, author="alice", elements=ELEMENTS_V2)
    story.when(Command.submit, "carol")
    assert story.state.review_revision == 2
    assert types(story.when(Command.approve, "bob")) == [EventType.APPROVED]


# ================================================================================================ test (测试)
def test_a_passed_test_allows_registration() -> None:
    story = in_testing()
    events = story.when(Command.record_test, "carol", test_result="pass", notes="全流程通过")
    assert events == [DomainEvent(EventType.TEST_RECORDED, {
        "result": "pass", "notes": "全流程通过", "at": story.clock.isoformat()})]
    assert story.state.step is Step.test_passed
    assert story.state.test_result == "pass"
    assert "register" in story.state.allowed_commands()


def test_a_failed_test_can_be_recorded_again_until_it_passes() -> None:
    story = failed_test()
    assert (story.state.phase, story.state.step) == (Phase.preparing, Step.test_failed)
    assert story.state.test_result == "fail"
    with pytest.raises(IllegalTransitionError):
        decide(story.state, ItemCommand(Command.register), actor="carol", now=T0)
    story.when(Command.record_test, "carol", test_result="fail")
    assert story.state.step is Step.test_failed
    story.when(Command.record_test, "carol", test_result="pass")
    assert story.state.step is Step.test_passed


def test_a_passed_test_can_still_be_overturned_by_a_later_failure() -> None:
    story = passed_test()
    story.when(Command.record_test, "carol", test_result="fail")
    assert story.state.step is Step.test_failed


@pytest.mark.parametrize("result", [None, "", "PASS", "passed", "ok", "失败"])
def test_a_test_result_is_pass_or_fail(result: str | None) -> None:
    story = in_testing()
    with pytest.raises(InvalidTestResultError) as caught:
        decide(story.state, ItemCommand(Command.record_test, test_result=result), actor="carol", now=T0)
    assert caught.value.context == {"result": result}


# ================================================================================================ registration (注册)
@pytest.mark.parametrize("given_state", [in_testing, failed_test], ids=["untested", "failed"])
def test_registration_needs_a_passed_test(given_state: Any) -> None:
    with pytest.raises(IllegalTransitionError):
        decide(given_state().state, ItemCommand(Command.register), actor="carol", now=T0)


def test_registration_requests_a_code_for_the_coded_elements_of_the_reviewed_revision() -> None:
    story = passed_test()
    story.when_revision(2, author="alice", elements=ELEMENTS_V2)  # not reviewed: must not be coded
    events = story.when(Command.register, "carol")
    assert events == [DomainEvent(EventType.REGISTRATION_REQUESTED, {
        "revision": 1, "elements": CODED_V1, "at": story.clock.isoformat()})]
    assert events[0].type == "lifecycle.item.registration_requested.v1"
    assert (story.state.phase, story.state.step) == (Phase.preparing, Step.registering)


def test_an_assigned_code_completes_the_registration() -> None:
    story = registering()
    events = story.when_code(CODE)
    assert events == [DomainEvent(EventType.CODE_RECORDED, {"code": CODE})]
    assert (story.state.phase, story.state.step) == (Phase.preparing, Step.registered)
    assert story.state.code == CODE


def test_the_same_code_again_changes_nothing() -> None:
    story = registered()
    before = story.state
    assert story.when_code(CODE) == []
    assert story.state == before


def test_a_code_that_arrived_before_registration_does_not_leave_the_item_stuck_in_registering() -> None:
    story = in_testing()
    story.when_code(CODE)  # early / stray code.assigned
    story.when(Command.record_test, "carol", test_result="pass")
    story.when(Command.register, "carol")
    story.when_code(CODE)  # coding answers the request: same code (allocation is idempotent)
    assert (story.state.phase, story.state.step) == (Phase.preparing, Step.registered)
    assert story.state.code == CODE
    assert "publish" in story.state.allowed_commands()


def test_a_cancelled_item_ignores_an_assigned_code() -> None:
    story = cancelled()
    before = story.state
    assert story.when_code("014401150201XXXX00000000") == []
    assert story.state == before


# ================================================================================================ publish (上线)
def test_publishing_before_registration_is_illegal_and_says_so_in_chinese() -> None:
    story = passed_test()
    with pytest.raises(IllegalTransitionError) as caught:
        decide(story.state, ItemCommand(Command.publish), actor="carol", now=T0)
    assert caught.value.context == {
        "command": "publish", "command_label": "上线",
        "phase": "preparing", "phase_label": "上线准备期",
        "step": "test_passed", "step_label": "测试通过",
        "allowed": ["cancel", "record-test", "register"],
        "allowed_labels": "注销、记录测试结果、注册",
    }


def test_publishing_while_the_code_is_still_being_allocated_is_illegal() -> None:
    story = registering()
    with pytest.raises(IllegalTransitionError) as caught:
        decide(story.state, ItemCommand(Command.publish), actor="carol", now=T0)
    assert caught.value.context["step"] == "registering"
    assert caught.value.context["step_label"] == "注册中"
    assert caught.value.context["allowed"] == ["cancel"]
    assert caught.value.context["allowed_labels"] == "注销"


def test_publishing_puts_the_reviewed_revision_online_with_its_code() -> None:
    story = registered()
    events = story.when(Command.publish, "carol")
    assert events == [DomainEvent(EventType.PUBLISHED, {
        "item_id": ITEM_ID, "code": CODE, "revision": 1, "phase": "online", "phase_label": "在线期",
        "elements": ELEMENTS_V1, "at": story.clock.isoformat()})]
    assert events[0].type == "lifecycle.item.published.v1"
    state = story.state
    assert (state.phase, state.step) == (Phase.online, Step.published)
    assert state.published_revision == 1


def test_a_revision_written_after_review_is_not_what_gets_published() -> None:
    story = registered()
    story.when_revision(2, author="alice", elements=ELEMENTS_V2)
    events = story.when(Command.publish, "carol")
    assert events[0].data["revision"] == 1
    assert events[0].data["elements"] == ELEMENTS_V1


def test_a_revision_written_while_online_leaves_the_published_one_online() -> None:
    story = online()
    story.when_revision(2, author="alice", elements=ELEMENTS_V2)
    assert (story.state.phase, story.state.step) == (Phase.online, Step.published)
    assert story.state.published_revision == 1
    events = story.when(Command.unpublish, "carol", reason="系统升级")
    assert events[0].data["revision"] == 1 and events[0].data["elements"] == ELEMENTS_V1


# ================================================================================================ offline (下线)
@pytest.mark.parametrize("reason", [None, "", "  "])
def test_taking_an_item_offline_must_say_why(reason: str | None) -> None:
    with pytest.raises(ReasonRequiredError):
        decide(online().state, ItemCommand(Command.unpublish, reason=reason), actor="carol", now=T0)


def test_taking_an_item_offline_suspends_it_by_default() -> None:
    story = online()
    events = story.when(Command.unpublish, "carol", reason="系统升级暂停受理")
    assert events == [DomainEvent(EventType.UNPUBLISHED, {
        "item_id": ITEM_ID, "code": CODE, "revision": 1, "phase": "offline", "phase_label": "离线期",
        "elements": ELEMENTS_V1, "at": story.clock.isoformat(), "kind": "suspension", "reason": "系统升级暂停受理"})]
    assert (story.state.phase, story.state.step) == (Phase.offline, Step.suspended)
    assert story.state.last_transition is not None
    assert story.state.last_transition.reason == "系统升级暂停受理"


def test_taking_an_item_offline_for_maintenance() -> None:
    story = in_maintenance()
    assert story.events[-1].data["kind"] == "maintenance"
    assert (story.state.phase, story.state.step) == (Phase.offline, Step.maintenance)


@pytest.mark.parametrize("given_state", [suspended, in_maintenance], ids=["suspended", "maintenance"])
def test_resuming_puts_the_published_revision_back_online(given_state: Any) -> None:
    story = given_state()
    events = story.when(Command.resume, "carol")
    assert events == [DomainEvent(EventType.RESUMED, {
        "item_id": ITEM_ID, "code": CODE, "revision": 1, "phase": "online", "phase_label": "在线期",
        "elements": ELEMENTS_V1, "at": story.clock.isoformat()})]
    assert (story.state.phase, story.state.step) == (Phase.online, Step.published)


def test_an_online_item_must_go_offline_before_it_is_cancelled() -> None:
    with pytest.raises(IllegalTransitionError):
        decide(online().state, ItemCommand(Command.cancel, reason="事项取消"), actor="carol", now=T0)


# ================================================================================================ cancel (注销)
def test_cancelling_an_offline_item_is_terminal() -> None:
    story = suspended()
    events = story.when(Command.cancel, "carol", reason="法律依据已废止")
    assert events == [DomainEvent(EventType.CANCELLED, {
        "reason": "法律依据已废止", "at": story.clock.isoformat(), "code": CODE, "item_id": ITEM_ID,
        "phase": "cancelled", "phase_label": "注销期", "was_published": True})]
    assert (story.state.phase, story.state.step) == (Phase.cancelled, Step.cancelled)
    assert story.state.allowed_commands() == []


@pytest.mark.parametrize("reason", [None, "", "\t"])
def test_cancelling_must_say_why(reason: str | None) -> None:
    for given_state in (entered, suspended):
        with pytest.raises(ReasonRequiredError):
            decide(given_state().state, ItemCommand(Command.cancel, reason=reason), actor="carol", now=T0)


def test_an_item_still_in_entry_can_be_cancelled_with_a_reason() -> None:
    story = entered()
    events = story.when(Command.cancel, "alice", reason="重复录入")
    assert types(events) == [EventType.CANCELLED]
    assert events[0].data["code"] is None and events[0].data["was_published"] is False
    assert (story.state.phase, story.state.step) == (Phase.cancelled, Step.cancelled)
    assert story.state.last_transition is not None and story.state.last_transition.reason == "重复录入"


@pytest.mark.parametrize("command", list(Command))
def test_a_cancelled_item_refuses_every_command(command: Command) -> None:
    story = cancelled()
    before = story.state
    with pytest.raises(IllegalTransitionError) as caught:
        story.when(command, "carol", reason="再试一次", test_result="pass")
    assert caught.value.context["phase"] == "cancelled"
    assert caught.value.context["phase_label"] == "注销期"
    assert caught.value.context["step_label"] == "已注销"
    assert caught.value.context["allowed"] == []
    assert caught.value.context["allowed_labels"] == "无"
    assert caught.value.context["command_label"] == COMMAND_LABELS[command]
    assert story.state == before


@pytest.mark.parametrize("given_state", [entered, in_testing], ids=["entry", "testing"])
def test_cancelling_a_draft_that_never_had_a_code_tells_the_national_platform_nothing(given_state: Any) -> None:
    story = given_state()
    events = story.when(Command.cancel, "carol", reason="重复录入")
    assert story.state.phase is Phase.cancelled
    assert not [e for e in events if is_public_event(e.type, e.data)]


# ================================================================================================ allowed commands
REACHABLE: list[tuple[Any, Phase, Step, list[str]]] = [
    (entered, Phase.forming, Step.entry, ["cancel", "submit"]),
    (in_review, Phase.forming, Step.in_review, ["approve", "reject"]),
    (in_testing, Phase.preparing, Step.testing, ["cancel", "record-test"]),
    (failed_test, Phase.preparing, Step.test_failed, ["cancel", "record-test"]),
    (passed_test, Phase.preparing, Step.test_passed, ["cancel", "record-test", "register"]),
    (registering, Phase.preparing, Step.registering, ["cancel"]),
    (registered, Phase.preparing, Step.registered, ["cancel", "publish"]),
    (online, Phase.online, Step.published, ["unpublish"]),
    (suspended, Phase.offline, Step.suspended, ["cancel", "resume"]),
    (in_maintenance, Phase.offline, Step.maintenance, ["cancel", "resume"]),
    (cancelled, Phase.cancelled, Step.cancelled, []),
]


@pytest.mark.parametrize(("given_state", "phase", "step", "allowed"), REACHABLE,
                         ids=[f"{p.value}/{s.value}" for _, p, s, _ in REACHABLE])
def test_each_state_allows_exactly_the_commands_of_the_table(
        given_state: Any, phase: Phase, step: Step, allowed: list[str]) -> None:
    state = given_state().state
    assert (state.phase, state.step) == (phase, step)
    assert state.allowed_commands() == allowed
    for command in Command:
        if command.value in allowed:
            continue
        with pytest.raises(IllegalTransitionError):
            decide(state, ItemCommand(command, reason="理由", test_result="pass"), actor="dave", now=T0)


def test_every_state_of_the_table_is_reachable_and_labelled() -> None:
    reached = {(p, s) for _, p, s, _ in REACHABLE}
    assert reached == set(ALLOWED) | {(Phase.cancelled, Step.cancelled)}
    assert set(PHASE_LABELS) == set(Phase)
    assert set(STEP_LABELS) == set(Step)
    assert set(COMMAND_LABELS) == set(Command)


# ================================================================================================ transitions record
def test_every_transition_records_actor_time_and_reason_from_its_event() -> None:
    state = ItemState(item_id=ITEM_ID)
    at = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
    state = evolve(state, Happened(EventType.ENTERED, {"revision": 1, "author": "alice", "region_code": REGION,
                                                       "elements": ELEMENTS_V1}, "alice", at, 1))
    assert state.last_transition is not None
    assert (state.last_transition.command, state.last_transition.event) == ("entry", EventType.ENTERED)
    assert (state.last_transition.actor, state.last_transition.at, state.last_transition.reason) == ("alice", at, None)

    later = at + timedelta(hours=2)
    state = evolve(state, Happened(EventType.SUBMITTED, {"revision": 1}, "bob", later, 2))
    state = evolve(state, Happened(EventType.REJECTED, {"revision": 1, "reason": "缺少收费依据"}, "carol",
                                   later + timedelta(minutes=5), 3))
    transition = state.last_transition
    assert transition is not None
    assert transition.command == "reject" and transition.event == EventType.REJECTED
    assert transition.actor == "carol"
    assert transition.at == later + timedelta(minutes=5)
    assert transition.reason == "缺少收费依据"
    assert state.version == 3


def test_the_time_of_a_transition_is_the_time_it_was_recorded_not_decided() -> None:
    story = entered()
    decided = decide(story.state, ItemCommand(Command.submit), actor="bob", now=T0)
    recorded = T0 + timedelta(seconds=3)
    state = evolve(story.state, Happened(decided[0].type, decided[0].data, "bob", recorded, 2))
    assert decided[0].data["at"] == T0.isoformat()
    assert state.last_transition is not None and state.last_transition.at == recorded


def test_an_unknown_newer_event_type_only_advances_the_version() -> None:
    state = entered().state
    after = evolve(state, Happened("lifecycle.item.synced.v2", {"ack": True}, "national", T0, 2))
    assert after == replace(state, version=2)


def test_replaying_a_story_from_scratch_gives_the_same_state() -> None:
    story = cancelled()
    assert fold(ITEM_ID, story.events) == story.state
    assert [e.version for e in story.events] == list(range(1, len(story.events) + 1))


# ================================================================================================ properties
ACTORS = st.sampled_from(["alice", "bob", "carol"])
REASONS = st.sampled_from(["要素不全", "系统维护", "法律依据已废止", None, "", "  "])
RESULTS = st.sampled_from(["pass", "fail", "pass", None, "maybe"])
CODES = st.sampled_from([CODE, "014401150201JZZHF0000001", "074401150204HJZM00000000"])

# A command op names a command, or (None) picks one the state allows at that moment (cancel only now and then):
# fully random commands are nearly always illegal, the picked ones let sequences reach online, offline, cancelled.
COMMAND_OPS = st.tuples(st.just("command"), st.sampled_from([None] * 9 + list(Command)),
                        st.integers(min_value=0, max_value=7), ACTORS, REASONS, RESULTS,
                        st.sampled_from(list(UnpublishKind)))
# A code op is the coding service answering a registration request (flag False: applied only while registering)
# or, now and then, a stray/duplicate code.assigned delivered at any moment (flag True).
CODE_OPS = st.tuples(st.just("code"), CODES, st.sampled_from([False, False, False, True]))
REVISION_OPS = st.tuples(st.just("revision"), st.integers(min_value=1, max_value=6), ACTORS)


def weighted(commands: int, codes: int, revisions: int) -> st.SearchStrategy[tuple[Any, ...]]:
    """(st.one_of would weigh the three kinds alike; commands must dominate for the sequences to get anywhere.)"""
    def kind(n: int) -> st.SearchStrategy[tuple[Any, ...]]:
        return COMMAND_OPS if n < commands else CODE_OPS if n < commands + codes else REVISION_OPS
    return st.integers(min_value=0, max_value=commands + codes + revisions - 1).flatmap(kind)


OPS = st.lists(weighted(commands=7, codes=2, revisions=1), min_size=8, max_size=60)
OPS_WITHOUT_REVISIONS = st.lists(weighted(commands=3, codes=1, revisions=0), min_size=4, max_size=30)

LEGAL = set(ALLOWED) | {(Phase.cancelled, Step.cancelled)}


@dataclass
class Move:
    before: ItemState
    decided: list[DomainEvent]
    after: ItemState
    op: tuple[Any, ...]
    error: LifecycleError | None


ONWARD = [Command.approve, Command.register, Command.publish, Command.submit, Command.record_test, Command.resume,
          Command.unpublish, Command.reject, Command.cancel]


def pick(state: ItemState, op: tuple[Any, ...]) -> tuple[Command, str, str | None, str | None, UnpublishKind]:
    _, command, index, actor, reason, result, kind = op
    if command is None:
        allowed = state.allowed_commands()
        onward = sorted((Command(c) for c in allowed if c != Command.cancel.value), key=ONWARD.index) or list(Command)
        if index == 7 and Command.cancel.value in allowed:
            command = Command.cancel
        else:
            command = onward[0] if index < 4 else onward[index % len(onward)]
    return command, actor, reason, result, kind


def play(first_author: str, ops: list[tuple[Any, ...]]) -> tuple[Story, list[Move]]:
    story = Story()
    story.when_revision(1, author=first_author)
    steps: list[Move] = []
    for op in ops:
        before = story.state
        error: LifecycleError | None = None
        decided: list[DomainEvent] = []
        if op[0] == "command":
            command, actor, reason, result, kind = pick(story.state, op)
            try:
                decided = story.when(command, actor, reason=reason, test_result=result, unpublish_kind=kind)
            except LifecycleError as exc:
                error = exc
        elif op[0] == "code":
            if op[2] or story.state.step is Step.registering:
                decided = story.when_code(op[1])
        else:
            decided = story.when_revision(op[1], author=op[2],
                                          elements={**ELEMENTS_V1, "name": f"居住证核发（第{op[1]}版）"})
        steps.append(Move(before, decided, story.state, op, error))
    return story, steps


@settings(max_examples=200, deadline=None)
@given(first_author=ACTORS, ops=OPS)
def test_no_sequence_of_commands_reaches_a_state_outside_the_table(first_author: str, ops: list[Any]) -> None:
    _, steps = play(first_author, ops)
    for step in steps:
        assert (step.after.phase, step.after.step) in LEGAL, step.op
        if step.error is not None:
            assert step.decided == [] and step.after == step.before


@settings(max_examples=200, deadline=None)
@given(first_author=ACTORS, ops=OPS)
def test_replaying_the_events_from_scratch_gives_the_same_state_as_evolving_them_one_by_one(
        first_author: str, ops: list[Any]) -> None:
    story, steps = play(first_author, ops)
    assert fold(ITEM_ID, story.events) == story.state
    assert story.state.version == len(story.events)
    # … and every prefix of the log rebuilds the state the item had then (audits: "what was published on date X").
    for step in steps:
        assert fold(ITEM_ID, story.events[:step.after.version]) == step.after


@settings(max_examples=200, deadline=None)
@given(first_author=ACTORS, ops=OPS_WITHOUT_REVISIONS, after=OPS_WITHOUT_REVISIONS)
def test_once_cancelled_every_command_is_refused_and_the_state_never_changes(
        first_author: str, ops: list[Any], after: list[Any]) -> None:
    story, _ = play(first_author, ops)
    if story.state.phase is not Phase.cancelled:
        # Drive to cancelled from wherever the sequence stopped, by the shortest legal route.
        if story.state.step is Step.in_review:
            story.when(Command.reject, "dave", reason="退回后注销")
        if story.state.phase is Phase.online:
            story.when(Command.unpublish, "dave", reason="下线后注销")
        story.when(Command.cancel, "dave", reason="注销")
    final = story.state
    assert (final.phase, final.step) == (Phase.cancelled, Step.cancelled)
    events_before = len(story.events)
    for op in after:
        if op[0] == "command":
            command, actor, reason, result, kind = pick(story.state, op)
            with pytest.raises(IllegalTransitionError):
                story.when(command, actor, reason=reason, test_result=result, unpublish_kind=kind)
        else:
            assert story.when_code(op[1]) == []
        assert story.state == final
    assert len(story.events) == events_before


@settings(max_examples=200, deadline=None)
@given(first_author=ACTORS, ops=OPS)
def test_nothing_goes_online_offline_or_back_online_without_a_code(first_author: str, ops: list[Any]) -> None:
    _, steps = play(first_author, ops)
    content_events = {EventType.PUBLISHED, EventType.UNPUBLISHED, EventType.RESUMED}
    assert content_events <= PUBLIC_EVENTS
    for step in steps:
        for event in step.decided:
            if event.type in content_events:
                assert step.before.code is not None
                assert event.data["code"] == step.before.code
                # only reviewed content: the revision that passed review, never a later draft
                revision = event.data["revision"]
                assert revision in (step.before.review_revision, step.before.published_revision)
            if event.type == EventType.CANCELLED:
                assert event.data["code"] == step.before.code
                assert event.data["was_published"] is (step.before.published_revision is not None)
            assert event.type in PUBLIC_EVENTS or "elements" not in event.data or event.type in {
                EventType.ENTERED, EventType.REVISION_RECEIVED, EventType.REGISTRATION_REQUESTED}


@settings(max_examples=200, deadline=None)
@given(first_author=ACTORS, ops=OPS)
def test_no_one_ever_approves_or_rejects_a_revision_they_wrote_or_submitted(first_author: str,
                                                                            ops: list[Any]) -> None:
    _, steps = play(first_author, ops)
    for step in steps:
        if step.op[0] != "command":
            continue
        command, actor, *_ = pick(step.before, step.op)
        if command not in (Command.approve, Command.reject):
            continue
        if step.before.step is not Step.in_review:
            assert isinstance(step.error, IllegalTransitionError)
            continue
        revision = step.before.revisions[step.before.review_revision or 0]
        if actor in (revision.author, step.before.submitted_by):
            assert isinstance(step.error, FourEyesViolationError)
        else:
            assert step.error is None or isinstance(step.error, ReasonRequiredError)
