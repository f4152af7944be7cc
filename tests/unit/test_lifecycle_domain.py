"""The item lifecycle (domain.md "Lifecycle — five states, ten works"), as specs over the pure decide/evolve core.

Style: given past events (folded with ``lifecycle.domain.evolve.fold``/``evolve``), when a command (or a fact from
another service) is decided, then these events (or this error). No I/O, no real clock: every time is a fixed UTC
datetime.

Cast: alice writes the revisions, bob submits them, carol reviews. Four-eyes: neither the author of the revision
under review nor its submitter may approve or reject it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contracts import is_public_event

from lifecycle.adapters.snapshots import state_from_json, state_to_json
from lifecycle.domain.decide import ItemCommand, decide, retire
from lifecycle.domain.errors import (
    ElementsIncompleteError,
    FourEyesViolationError,
    IllegalTransitionError,
    InvalidTestResultError,
    LifecycleError,
    ReasonRequiredError,
    UnknownItemVersionError,
)
from lifecycle.domain.events import PUBLIC_EVENTS, DomainEvent, EventType, Recorded
from lifecycle.domain.evolve import evolve, fold, fold_from
from lifecycle.domain.facts import on_code_assigned, on_national_feedback, on_revision
from lifecycle.domain.model import ItemState, PendingUpdate
from lifecycle.domain.planning import SCHEDULER_ACTOR, decide_planned
from lifecycle.domain.vocabulary import (
    COMMAND_LABELS,
    LEGAL_STATES,
    ONLINE_STEP,
    PHASE_LABELS,
    STEP_LABELS,
    Command,
    Phase,
    Step,
    SyncResult,
    UnpublishKind,
    UpdateStage,
)

ITEM_ID = "item-0001"
REGION = "440115"  # 广州市南沙区
CODE = "014401150201JZZHF0000000"  # 01 行政许可 · 440115 · 02 户政管理 · 01 证件办理 · 居住证核发
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

ELEMENTS_V1: dict[str, Any] = {
    "name": "居住证核发", "short_name": "居住证核发", "item_type": "01", "region_code": REGION,
    "police_type": "02", "service_category": "01", "competent_department": "广州市公安局南沙区分局",
}
ELEMENTS_V2: dict[str, Any] = {**ELEMENTS_V1, "name": "居住证签发", "short_name": "居住证签发",
                               "service_category": "03"}
CODED_V1 = {"item_type": "01", "region_code": REGION, "police_type": "02", "service_category": "01",
            "short_name": "居住证核发"}


class Story:
    """An item's stream in memory: decided events are stored (numbered, stamped) and folded into the state."""

    def __init__(self, item_id: str = ITEM_ID) -> None:
        self.state = ItemState(item_id=item_id)
        self.events: list[Recorded] = []
        self.clock = T0

    def tick(self) -> datetime:
        self.clock += timedelta(minutes=1)
        return self.clock

    def store(self, decided: list[DomainEvent], actor: str | None, at: datetime) -> list[DomainEvent]:
        for event in decided:
            stored = Recorded(event.type, event.data, actor, at, self.state.version + 1)
            self.events.append(stored)
            self.state = evolve(self.state, stored)
        return decided

    # when …
    def when(self, command: Command, actor: str, **kwargs: Any) -> list[DomainEvent]:
        at = self.tick()
        return self.store(decide(self.state, ItemCommand(command, **kwargs), actor=actor, now=at), actor, at)

    def when_revision(self, revision: int, author: str = "alice", elements: dict[str, Any] | None = None,
                      maintenance: bool = False, missing: list[str] | None = None) -> list[DomainEvent]:
        at = self.tick()
        decided = on_revision(self.state, revision=revision, author=author, region_code=REGION,
                              elements=ELEMENTS_V1 if elements is None else elements, maintenance=maintenance,
                              now=at, complete=None if missing is None else not missing, missing=missing)
        return self.store(decided, author, at)

    def when_code(self, code: str = CODE, replaces: str | None = None) -> list[DomainEvent]:
        return self.store(on_code_assigned(self.state, code=code, replaces=replaces), "coding", self.tick())

    def when_national(self, item_version: int, result: SyncResult = SyncResult.acknowledged,
                      reason: str | None = None) -> list[DomainEvent]:
        decided = on_national_feedback(self.state, item_version=item_version, result=result, reason=reason,
                                       feed_sequence=item_version * 10)
        return self.store(decided, "national", self.tick())


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
    assert sorted(state.revisions) == [2]  # the state keeps only revisions it refers to; the log keeps them all
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


def test_the_registrys_completeness_verdict_is_recorded_with_the_revision() -> None:
    story = Story()
    events = story.when_revision(1, missing=["legal_basis", "service_guide.place"])
    assert events[0].data == {"revision": 1, "author": "alice", "region_code": REGION, "elements": ELEMENTS_V1,
                              "complete": False, "missing": ["legal_basis", "service_guide.place"]}
    assert story.state.revisions[1].complete is False
    assert story.state.revisions[1].missing == ("legal_basis", "service_guide.place")


# ================================================================================================ review (审核)
def test_an_incomplete_revision_cannot_be_submitted_for_review() -> None:
    story = Story()
    story.when_revision(1, missing=["competent_department", "legal_basis"])
    with pytest.raises(ElementsIncompleteError) as caught:
        story.when(Command.submit, "bob")
    assert caught.value.context == {"revision": 1, "missing": ["competent_department", "legal_basis"], "count": 2,
                                    "missing_list": "主管部门、设定依据"}
    assert len(story.events) == 1
    story.when_revision(2, elements=ELEMENTS_V2, missing=[])  # completed in the registry
    assert types(story.when(Command.submit, "bob")) == [EventType.SUBMITTED]


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


def test_a_revision_arriving_during_review_withdraws_the_review_so_no_one_approves_stale_content() -> None:
    story = in_review()  # revision 1 by alice under review
    events = story.when_revision(2, author="carol", elements=ELEMENTS_V2)
    assert types(events) == [EventType.REVISION_RECEIVED, EventType.RETURNED_TO_ENTRY]
    assert events[1].data["from_step"] == "in_review" and "重新提交审核" in events[1].data["reason"]
    assert (story.state.phase, story.state.step) == (Phase.forming, Step.entry)
    assert story.state.review_revision is None and story.state.submitted_by is None
    with pytest.raises(IllegalTransitionError):
        decide(story.state, ItemCommand(Command.approve), actor="dave", now=T0)


def test_four_eyes_looks_at_the_author_of_the_revision_under_review() -> None:
    story = entered()
    story.when_revision(2, author="carol", elements=ELEMENTS_V2)  # carol wrote the latest revision
    story.when(Command.submit, "bob")
    with pytest.raises(FourEyesViolationError) as caught:
        decide(story.state, ItemCommand(Command.approve), actor="carol", now=T0)
    assert caught.value.context["revision"] == 2
    assert story.when(Command.approve, "alice")[0].data["revision"] == 2  # alice wrote only revision 1


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_rejection_must_say_why(reason: str | None) -> None:
    story = in_review()
    with pytest.raises(ReasonRequiredError) as caught:
        decide(story.state, ItemCommand(Command.reject, reason=reason), actor="carol", now=T0)
    assert caught.value.context == {"command": "reject", "command_label": "审核退回"}


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


@pytest.mark.parametrize("given_state", [in_testing, failed_test, passed_test, registering, registered])
def test_an_approved_item_whose_content_changes_before_going_online_must_be_reviewed_again(given_state: Any) -> None:
    story = given_state()
    events = story.when_revision(2, author="alice", elements=ELEMENTS_V2)
    assert types(events) == [EventType.REVISION_RECEIVED, EventType.RETURNED_TO_ENTRY]
    assert events[1].data["from_phase"] == "preparing"
    state = story.state
    assert (state.phase, state.step) == (Phase.forming, Step.entry)
    assert state.review_revision is None and state.test_result is None
    with pytest.raises(IllegalTransitionError):
        decide(state, ItemCommand(Command.publish), actor="carol", now=T0)
    # the new content goes the whole way again: review, test, registration (re-coded: 简称 changed)
    story.when(Command.submit, "bob")
    story.when(Command.approve, "carol")
    story.when(Command.record_test, "carol", test_result="pass")
    request = story.when(Command.register, "carol")
    assert request[0].data == {"revision": 2, "elements": {**CODED_V1, "service_category": "03",
                                                            "short_name": "居住证签发"},
                               "at": story.clock.isoformat()}
    assert story.state.step is Step.registering  # a code for revision 1's elements does not do for revision 2
    story.when_code("014401150203JZZQF0000000", replaces=CODE if story.state.code else None)
    assert story.when(Command.publish, "carol")[0].data["elements"] == ELEMENTS_V2


def test_re_registering_unchanged_coded_elements_reuses_the_code_at_once() -> None:
    story = registered()
    story.when_revision(2, author="alice", elements={**ELEMENTS_V1, "competent_department": "广州市公安局"})
    story.when(Command.submit, "bob")
    story.when(Command.approve, "carol")
    story.when(Command.record_test, "carol", test_result="pass")
    story.when(Command.register, "carol")
    assert (story.state.step, story.state.code) == (Step.registered, CODE)


def test_a_revision_written_while_online_leaves_the_published_one_online() -> None:
    story = online()
    story.when_revision(2, author="alice", elements=ELEMENTS_V2)
    assert (story.state.phase, story.state.step) == (Phase.online, Step.update_entry)
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


# ============================================================================================ update (更新, 先审后用)
ELEMENTS_FIXED = {**ELEMENTS_V1, "competent_department": "广州市公安局"}  # substantive, not coded
CODE_V2 = "014401150203JZZQF0000000"  # 服务类别 03, 简称 居住证签发


def update_entry(elements: dict[str, Any] | None = None) -> Story:
    story = online()
    story.when_revision(2, author="dave", elements=ELEMENTS_FIXED if elements is None else elements)
    return story


def update_in_review(elements: dict[str, Any] | None = None) -> Story:
    story = update_entry(elements)
    story.when(Command.submit, "bob")
    return story


def update_approved() -> Story:
    story = update_in_review()
    story.when(Command.approve, "carol")
    return story


def update_recoding() -> Story:
    story = update_in_review(ELEMENTS_V2)
    story.when(Command.approve, "carol")
    return story


def test_a_revision_of_an_online_item_becomes_a_pending_update_while_the_published_one_stays_online() -> None:
    story = update_entry()
    state = story.state
    assert (state.phase, state.step) == (Phase.online, Step.update_entry)
    assert state.published_revision == 1 and state.revisions[1].elements == ELEMENTS_V1
    assert state.update == PendingUpdate(2)
    assert state.allowed_commands() == ["submit", "unpublish"]


def test_submitting_an_update_puts_the_pending_revision_in_review() -> None:
    story = update_in_review()
    assert story.events[-1].data == {"revision": 2, "update": True, "at": story.clock.isoformat()}
    assert story.state.step is Step.update_in_review
    assert story.state.update == PendingUpdate(2, UpdateStage.in_review, "bob")
    assert story.state.published_revision == 1


@pytest.mark.parametrize("reviewer", ["dave", "bob"])
def test_four_eyes_applies_to_the_update_against_its_own_author_and_submitter(reviewer: str) -> None:
    story = update_in_review()  # revision 2 written by dave, submitted by bob
    with pytest.raises(FourEyesViolationError) as caught:
        decide(story.state, ItemCommand(Command.approve), actor=reviewer, now=T0)
    assert caught.value.context == {"actor": reviewer, "revision": 2, "author": "dave"}


def test_the_author_of_the_published_revision_may_review_an_update_written_by_someone_else() -> None:
    story = update_in_review()
    assert types(story.when(Command.approve, "alice")) == [EventType.APPROVED]


def test_an_approved_update_that_keeps_the_coded_elements_is_ready_to_publish() -> None:
    story = update_approved()
    assert story.events[-1].data == {"revision": 2, "at": story.clock.isoformat(), "update": True}
    assert (story.state.phase, story.state.step) == (Phase.online, Step.update_approved)
    assert story.state.allowed_commands() == ["publish", "unpublish"]


def test_publishing_an_approved_update_replaces_the_published_revision() -> None:
    story = update_approved()
    events = story.when(Command.publish, "carol")
    assert events == [DomainEvent(EventType.PUBLISHED, {
        "item_id": ITEM_ID, "code": CODE, "revision": 2, "phase": "online", "phase_label": "在线期",
        "elements": ELEMENTS_FIXED, "at": story.clock.isoformat(), "update": True, "previous_revision": 1,
        "previous_code": CODE})]
    state = story.state
    assert (state.phase, state.step) == (Phase.online, Step.published)
    assert state.published_revision == 2 and state.update is None


def test_a_rejected_update_waits_for_a_new_submission_and_the_published_revision_stays() -> None:
    story = update_in_review()
    events = story.when(Command.reject, "carol", reason="设定依据条款有误")
    assert events[0].data == {"revision": 2, "reason": "设定依据条款有误", "at": story.clock.isoformat(),
                              "update": True}
    assert story.state.step is Step.update_entry and story.state.update == PendingUpdate(2)
    assert story.state.published_revision == 1
    assert story.state.last_transition is not None and story.state.last_transition.reason == "设定依据条款有误"


def test_an_approved_update_that_changes_a_coded_element_asks_for_a_new_code_and_waits_for_it() -> None:
    story = update_in_review(ELEMENTS_V2)
    events = story.when(Command.approve, "carol")
    assert events == [
        DomainEvent(EventType.APPROVED, {"revision": 2, "at": story.clock.isoformat(), "update": True}),
        DomainEvent(EventType.REGISTRATION_REQUESTED, {
            "revision": 2, "elements": {**CODED_V1, "service_category": "03", "short_name": "居住证签发"},
            "update": True, "at": story.clock.isoformat()}),
    ]
    assert events[1].type == "lifecycle.item.registration_requested.v1"
    assert story.state.step is Step.update_recoding
    with pytest.raises(IllegalTransitionError) as caught:
        decide(story.state, ItemCommand(Command.publish), actor="carol", now=T0)
    assert caught.value.context["step_label"] == "更新重新赋码中"


def test_the_new_code_releases_the_update_which_is_published_with_it() -> None:
    story = update_recoding()
    assert story.when_code(CODE_V2, replaces=CODE) == [
        DomainEvent(EventType.CODE_RECORDED, {"code": CODE_V2, "replaces": CODE})]
    state = story.state
    assert state.step is Step.update_approved and state.code == CODE_V2 and state.retired_codes == (CODE,)
    assert state.published_code == CODE  # what is online still carries the code it went online with
    events = story.when(Command.publish, "carol")
    assert events[0].data["code"] == CODE_V2 and events[0].data["previous_code"] == CODE
    assert events[0].data["elements"] == ELEMENTS_V2
    assert story.state.published_code == CODE_V2


def test_a_newer_revision_supersedes_a_pending_update_at_any_stage() -> None:
    for given_state in (update_entry, update_in_review, update_approved, update_recoding):
        story = given_state()
        story.when_revision(3, author="erin", elements={**ELEMENTS_FIXED, "name": "居住证核发（新）"})
        assert story.state.update == PendingUpdate(3), given_state.__name__
        assert story.state.step is Step.update_entry
        assert story.state.published_revision == 1


def test_an_update_waits_while_the_item_is_offline_and_continues_after_resume() -> None:
    story = update_in_review()
    story.when(Command.unpublish, "carol", reason="系统升级")
    assert story.state.step is Step.suspended and story.state.update == PendingUpdate(2, UpdateStage.in_review, "bob")
    with pytest.raises(IllegalTransitionError):
        decide(story.state, ItemCommand(Command.approve), actor="carol", now=T0)
    story.when(Command.resume, "carol")
    assert story.state.step is Step.update_in_review
    assert story.events[-1].data["revision"] == 1  # resume brings back what was published, not the update


def test_a_revision_arriving_while_offline_becomes_the_pending_update() -> None:
    story = suspended()
    story.when_revision(2, author="dave", elements=ELEMENTS_FIXED)
    assert (story.state.phase, story.state.step) == (Phase.offline, Step.suspended)
    assert story.state.update == PendingUpdate(2)
    story.when(Command.resume, "carol")
    assert story.state.step is Step.update_entry


def test_an_incomplete_update_cannot_be_submitted() -> None:
    story = online()
    story.when_revision(2, author="dave", elements=ELEMENTS_FIXED, missing=["service_guide.steps"])
    with pytest.raises(ElementsIncompleteError):
        story.when(Command.submit, "bob")
    assert story.state.step is Step.update_entry and story.state.published_revision == 1


def test_cancelling_drops_a_pending_update() -> None:
    story = update_entry()
    story.when(Command.unpublish, "carol", reason="停办")
    story.when(Command.cancel, "carol", reason="停办")
    assert story.state.update is None and story.state.step is Step.cancelled


# ================================================================================================ maintenance (维护)
GUIDE = {"conditions": ["持有效居住登记"], "place": "南沙区政务服务中心", "consultation_contact": "020-12345"}
ELEMENTS_V1_GUIDED = {**ELEMENTS_V1, "service_guide": GUIDE}
# a maintenance fix: where to apply and whom to ask (the service guide's place and contact)
ELEMENTS_TYPO = {**ELEMENTS_V1, "service_guide": {**GUIDE, "place": "南沙区政务服务中心二楼",
                                                  "consultation_contact": "020-84688000"}}

# a maintenance fix of an item without a service guide: the national platform's basic code (基本编码)
ELEMENTS_CODED_NATIONALLY = {**ELEMENTS_V1, "national_basic_code": "11100000MB0A"}


def online_guided() -> Story:
    story = online()
    story.when_revision(2, author="dave", elements=ELEMENTS_V1_GUIDED)
    story.when(Command.submit, "bob")
    story.when(Command.approve, "carol")
    story.when(Command.publish, "carol")
    return story


def test_a_maintenance_revision_of_an_online_item_is_recorded_and_published_without_review() -> None:
    story = online_guided()
    events = story.when_revision(3, author="dave", elements=ELEMENTS_TYPO, maintenance=True)
    at = story.clock.isoformat()
    assert events == [
        DomainEvent(EventType.MAINTAINED, {"revision": 3, "author": "dave", "region_code": REGION,
                                           "elements": ELEMENTS_TYPO, "base_revision": 2,
                                           "changed_fields": ["service_guide.consultation_contact",
                                                              "service_guide.place"]}),
        DomainEvent(EventType.PUBLISHED, {"item_id": ITEM_ID, "code": CODE, "revision": 3, "phase": "online",
                                          "phase_label": "在线期", "elements": ELEMENTS_TYPO, "at": at,
                                          "update": True, "maintenance": True, "previous_revision": 2,
                                          "previous_code": CODE}),
    ]
    state = story.state
    assert (state.phase, state.step, state.published_revision, state.update) == (
        Phase.online, Step.published, 3, None)
    assert state.last_transition is not None and state.last_transition.command == "maintain"


@pytest.mark.parametrize(("elements", "substantive"), [
    ({**ELEMENTS_V1_GUIDED, "name": "居住证办理"}, ["name"]),
    ({**ELEMENTS_V1_GUIDED, "short_name": "居住证"}, ["short_name"]),
    ({**ELEMENTS_V1_GUIDED, "legal_basis": [{"rank": "法律", "title": "居住证暂行条例"}]}, ["legal_basis"]),
    ({**ELEMENTS_V1_GUIDED, "planned_cancel_date": "2027-01-01"}, ["planned_cancel_date"]),
    ({**ELEMENTS_V1_GUIDED, "service_guide": {**GUIDE, "conditions": []}}, ["service_guide.conditions"]),
    ({**ELEMENTS_V1_GUIDED, "some_new_element": "?"}, ["some_new_element"]),
], ids=["name", "short_name", "legal_basis", "planned_date", "conditions", "unknown"])
def test_a_maintenance_revision_that_touches_a_substantive_element_needs_review_after_all(
        elements: dict[str, Any], substantive: list[str]) -> None:
    story = online_guided()
    events = story.when_revision(3, author="dave", elements=elements, maintenance=True)
    assert types(events) == [EventType.REVISION_RECEIVED]
    assert events[0].data["maintenance_declined"] == "substantive_change"
    assert events[0].data["substantive_fields"] == substantive
    assert story.state.step is Step.update_entry and story.state.published_revision == 2


def test_the_national_codes_and_the_online_depth_are_maintained_without_review() -> None:
    story = online()
    events = story.when_revision(2, author="dave", maintenance=True, elements={
        **ELEMENTS_V1, "national_basic_code": "11100000MB0A", "online_service_depth": 4})
    assert types(events) == [EventType.MAINTAINED, EventType.PUBLISHED]
    assert events[0].data["changed_fields"] == ["national_basic_code", "online_service_depth"]


def test_a_maintenance_revision_on_top_of_an_unreviewed_update_joins_the_update() -> None:
    story = update_in_review()
    events = story.when_revision(3, author="dave", elements={**ELEMENTS_FIXED, "online_service_depth": 3},
                                 maintenance=True)
    assert events[0].data["maintenance_declined"] == "pending_update"
    assert story.state.update == PendingUpdate(3) and story.state.published_revision == 1


def test_a_maintenance_revision_while_offline_goes_online_with_resume() -> None:
    story = in_maintenance()
    events = story.when_revision(2, author="dave", elements=ELEMENTS_CODED_NATIONALLY, maintenance=True)
    assert types(events) == [EventType.MAINTAINED]  # nothing is published while offline
    assert story.state.published_revision == 2 and story.state.step is Step.maintenance
    assert story.when(Command.resume, "carol")[0].data["elements"] == ELEMENTS_CODED_NATIONALLY


def test_a_maintenance_revision_of_an_approved_item_replaces_the_approved_revision_without_review() -> None:
    story = passed_test()
    assert types(story.when_revision(2, elements=ELEMENTS_CODED_NATIONALLY, maintenance=True)) == [EventType.MAINTAINED]
    assert (story.state.phase, story.state.step, story.state.review_revision) == (
        Phase.preparing, Step.test_passed, 2)
    story.when(Command.register, "carol")
    story.when_code(CODE)
    assert story.when(Command.publish, "carol")[0].data["elements"] == ELEMENTS_CODED_NATIONALLY


def test_a_maintenance_fix_that_leaves_a_required_element_empty_needs_review() -> None:
    story = online_guided()
    emptied = {**ELEMENTS_V1_GUIDED, "service_guide": {**GUIDE, "place": ""}}
    events = story.when_revision(3, author="dave", elements=emptied, maintenance=True,
                                 missing=["service_guide.place"])
    assert types(events) == [EventType.REVISION_RECEIVED]
    assert events[0].data["maintenance_declined"] == "incomplete"
    assert story.state.published_revision == 2


def test_a_maintenance_flag_on_a_draft_is_just_a_newer_draft() -> None:
    story = in_review()
    events = story.when_revision(2, elements=ELEMENTS_CODED_NATIONALLY, maintenance=True)
    assert types(events) == [EventType.REVISION_RECEIVED, EventType.RETURNED_TO_ENTRY]
    assert events[0].data["maintenance_declined"] == "not_reviewed"


# ================================================================================================ sync (同步)
def test_a_national_acknowledgement_is_recorded_per_fed_version() -> None:
    story = online()
    published_version = story.state.version
    events = story.when_national(published_version)
    assert events == [DomainEvent(EventType.NATIONAL_SYNC_RECORDED, {
        "item_version": published_version, "result": "acknowledged", "reason": None,
        "feed_sequence": published_version * 10})]
    record = story.state.national_sync[published_version]
    assert (record.result, record.reason, record.feed_sequence) == (
        SyncResult.acknowledged, None, published_version * 10)
    assert (story.state.phase, story.state.step) == (Phase.online, Step.published)


def test_a_national_rejection_keeps_its_reason_and_a_later_answer_for_the_same_version_replaces_it() -> None:
    story = online()
    version = story.state.version
    story.when_national(version, SyncResult.rejected, "实施机关名称与国家库不一致")
    assert story.state.national_sync[version].reason == "实施机关名称与国家库不一致"
    story.when_national(version, SyncResult.acknowledged)
    assert story.state.national_sync[version].result is SyncResult.acknowledged


def test_repeated_national_feedback_changes_nothing() -> None:
    story = online()
    version = story.state.version
    story.when_national(version)
    before = story.state
    assert story.when_national(version) == []
    assert story.state == before


def test_national_feedback_about_a_version_the_item_never_had_is_refused() -> None:
    state = online().state
    with pytest.raises(UnknownItemVersionError):
        on_national_feedback(state, item_version=state.version + 1, result=SyncResult.acknowledged, reason=None,
                             feed_sequence=None)


def rejected_online_guided() -> Story:
    story = online_guided()
    story.when_national(story.state.version, SyncResult.rejected, "办理地点与国家库不一致")
    return story


def test_a_national_rejection_of_the_published_version_stands_until_newer_content_is_published() -> None:
    story = rejected_online_guided()
    rejected_version = story.state.published_version
    assert story.state.national_rejection() == story.state.national_sync[rejected_version]
    assert story.state.standing_national_answer() is SyncResult.rejected
    story.when_revision(3, author="dave", elements=ELEMENTS_TYPO)  # a corrected revision, still under way
    story.when(Command.submit, "bob")
    story.when(Command.approve, "carol")
    assert story.state.national_rejection() is not None
    story.when(Command.publish, "carol")
    assert (story.state.national_rejection(), story.state.standing_national_answer()) == (None, None)


def test_a_national_acknowledgement_after_a_rejection_clears_it() -> None:
    story = rejected_online_guided()
    story.when_national(story.state.version - 1, SyncResult.acknowledged)
    assert (story.state.national_rejection(), story.state.standing_national_answer()) == (
        None, SyncResult.acknowledged)


def test_a_rejected_items_maintenance_fix_is_not_published_unreviewed_but_becomes_an_update_to_review() -> None:
    story = rejected_online_guided()
    events = story.when_revision(3, author="dave", elements=ELEMENTS_TYPO, maintenance=True)
    assert types(events) == [EventType.REVISION_RECEIVED]
    assert events[0].data["maintenance_declined"] == "national_rejected"
    assert (story.state.step, story.state.published_revision) == (Step.update_entry, 2)


def test_a_rejection_of_an_older_version_does_not_hold_back_a_newer_publication() -> None:
    story = online()
    first = story.state.version
    story.when_revision(2, author="dave", elements=ELEMENTS_V1_GUIDED)
    story.when(Command.submit, "bob")
    story.when(Command.approve, "carol")
    story.when(Command.publish, "carol")
    story.when_national(first, SyncResult.rejected, "名称不规范")  # the answer to the first version comes late
    assert story.state.national_rejection() is None
    assert types(story.when_revision(3, author="dave", elements=ELEMENTS_TYPO, maintenance=True)) == [
        EventType.MAINTAINED, EventType.PUBLISHED]


def test_the_acknowledgement_of_a_cancellation_is_still_recorded() -> None:
    story = cancelled()
    before = story.state
    story.when_national(before.version)
    assert story.state.national_sync[before.version].result is SyncResult.acknowledged
    assert (story.state.phase, story.state.step, story.state.last_transition) == (
        before.phase, before.step, before.last_transition)


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
    (update_entry, Phase.online, Step.update_entry, ["submit", "unpublish"]),
    (update_in_review, Phase.online, Step.update_in_review, ["approve", "reject", "unpublish"]),
    (update_recoding, Phase.online, Step.update_recoding, ["unpublish"]),
    (update_approved, Phase.online, Step.update_approved, ["publish", "unpublish"]),
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
    assert reached | {(None, Step.none)} == LEGAL_STATES
    assert set(PHASE_LABELS) == set(Phase)
    assert set(STEP_LABELS) == set(Step)
    assert set(COMMAND_LABELS) == set(Command)


# ================================================================================================ transitions record
def test_every_transition_records_actor_time_and_reason_from_its_event() -> None:
    state = ItemState(item_id=ITEM_ID)
    at = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
    state = evolve(state, Recorded(EventType.ENTERED, {"revision": 1, "author": "alice", "region_code": REGION,
                                                       "elements": ELEMENTS_V1}, "alice", at, 1))
    assert state.last_transition is not None
    assert (state.last_transition.command, state.last_transition.event) == ("entry", EventType.ENTERED)
    assert (state.last_transition.actor, state.last_transition.at, state.last_transition.reason) == ("alice", at, None)

    later = at + timedelta(hours=2)
    state = evolve(state, Recorded(EventType.SUBMITTED, {"revision": 1}, "bob", later, 2))
    state = evolve(state, Recorded(EventType.REJECTED, {"revision": 1, "reason": "缺少收费依据"}, "carol",
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
    state = evolve(story.state, Recorded(decided[0].type, decided[0].data, "bob", recorded, 2))
    assert decided[0].data["at"] == T0.isoformat()
    assert state.last_transition is not None and state.last_transition.at == recorded


def test_an_unknown_newer_event_type_only_advances_the_version() -> None:
    state = entered().state
    after = evolve(state, Recorded("lifecycle.item.synced.v2", {"ack": True}, "national", T0, 2))
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
COMMAND_OPS = st.tuples(st.just("command"), st.sampled_from([None] * 18 + list(Command)),
                        st.integers(min_value=0, max_value=15), ACTORS, REASONS, RESULTS,
                        st.sampled_from(list(UnpublishKind)))
# A code op is the coding service answering a registration request (flag False: applied only while one is
# outstanding) or, now and then, a stray/duplicate code.assigned delivered at any moment (flag True).
CODE_OPS = st.tuples(st.just("code"), CODES, st.sampled_from([False, False, False, True]))


def _content(n: int, kind: int) -> dict[str, Any]:
    """Revision n's elements: a substantive change, a typo fix, a re-coding change, or planned dates."""
    return [
        {**ELEMENTS_V1, "name": f"居住证核发（第{n}版）"},
        {**ELEMENTS_V1, "national_implementation_code": f"IMPL{n}"},
        {**ELEMENTS_V2, "name": f"居住证签发（第{n}版）"},
        {**ELEMENTS_V1, "planned_effective_date": "2026-03-04", "planned_cancel_date": f"2026-03-{10 + n}"},
    ][kind]


REVISION_OPS = st.tuples(st.just("revision"), st.integers(min_value=1, max_value=6), ACTORS,
                         st.integers(min_value=0, max_value=3), st.booleans())
# The national platform answering a (possibly nonexistent) version; the clock moving on so planned dates fall due
# (the scheduler's decision); a split / merge cancelling the item.
NATIONAL_OPS = st.tuples(st.just("national"), st.integers(min_value=1, max_value=40),
                         st.sampled_from(list(SyncResult)), st.sampled_from([None, "名称不一致"]))
PLAN_OPS = st.tuples(st.just("plan"), st.integers(min_value=0, max_value=6))
RETIRE_OPS = st.tuples(st.just("retire"), st.sampled_from(["拆分为两个子项", "", "", ""]))


def weighted(*kinds: tuple[st.SearchStrategy[tuple[Any, ...]], int]) -> st.SearchStrategy[tuple[Any, ...]]:
    """(st.one_of would weigh the kinds alike; commands must dominate for the sequences to get anywhere.)"""
    table = [strategy for strategy, weight in kinds for _ in range(weight)]
    return st.integers(min_value=0, max_value=len(table) - 1).flatmap(lambda n: table[n])


OPS = st.lists(weighted((COMMAND_OPS, 24), (CODE_OPS, 4), (REVISION_OPS, 3), (NATIONAL_OPS, 1), (PLAN_OPS, 2),
                        (RETIRE_OPS, 1)), min_size=8, max_size=90)
OPS_WITHOUT_RETIREMENT = st.lists(weighted((COMMAND_OPS, 6), (CODE_OPS, 2), (REVISION_OPS, 2), (NATIONAL_OPS, 1),
                                           (PLAN_OPS, 1)), min_size=4, max_size=30)


# Where a sequence starts: the first revision's author and kind of content (see _content; 3 carries planned
# dates), or (flag) an item already online.
FIRST = st.tuples(ACTORS, st.integers(min_value=0, max_value=3), st.booleans())


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
        if index == 15 and Command.cancel.value in allowed:
            command = Command.cancel
        else:
            command = onward[0] if index < 10 else onward[index % len(onward)]
        if command in (Command.approve, Command.reject) and index < 8:
            # mostly a reviewer who may review, so that sequences get past review; the rest tries anyone
            revision, submitted_by = state.under_review()
            actor = next(a for a in ("alice", "bob", "carol", "dave") if a not in (revision.author, submitted_by))
        if index < 8 and not (reason and reason.strip()):
            reason = "理由"
    return command, actor, reason, result, kind


def awaiting_code(state: ItemState) -> bool:
    return state.step in (Step.registering, Step.update_recoding)


def apply_op(story: Story, op: tuple[Any, ...]) -> list[DomainEvent]:
    """One op against the story; raises the LifecycleError of a refused command or decision."""
    match op[0]:
        case "command":
            command, actor, reason, result, kind = pick(story.state, op)
            return story.when(command, actor, reason=reason, test_result=result, unpublish_kind=kind)
        case "code":
            return story.when_code(op[1]) if op[2] or awaiting_code(story.state) else []
        case "revision":
            _, n, author, kind, maintenance = op
            return story.when_revision(n, author=author, elements=_content(n, kind), maintenance=maintenance)
        case "national":
            return story.when_national(op[1], op[2], op[3])
        case "plan":
            story.clock += timedelta(days=op[1])
            at = story.tick()
            return story.store(decide_planned(story.state, now=at), SCHEDULER_ACTOR, at)
        case "retire":
            at = story.tick()
            return story.store(retire(story.state, reason=op[1], now=at, label="拆分"), "dave", at)
    raise AssertionError(op)


def play(first: tuple[str, int, bool], ops: list[tuple[Any, ...]]) -> tuple[Story, list[Move]]:
    author, kind, from_online = first
    if from_online:
        story = online()  # half the sequences start online, where updates, maintenance and sync happen
    else:
        story = Story()
        story.when_revision(1, author=author, elements=_content(1, kind))
    steps: list[Move] = []
    for op in ops:
        before = story.state
        error: LifecycleError | None = None
        decided: list[DomainEvent] = []
        try:
            decided = apply_op(story, op)
        except LifecycleError as exc:
            error = exc
        steps.append(Move(before, decided, story.state, op, error))
    return story, steps


@settings(max_examples=300, deadline=None)
@given(first=FIRST, ops=OPS)
def test_no_sequence_of_commands_and_facts_reaches_a_state_outside_the_table(first: tuple[str, int, bool],
                                                                             ops: list[Any]) -> None:
    _, steps = play(first, ops)
    for step in steps:
        assert (step.after.phase, step.after.step) in LEGAL_STATES, step.op
        # the step and the pending update agree: online, the step *is* the update's stage
        if step.after.phase is Phase.online:
            assert step.after.step is ONLINE_STEP[step.after.update.stage if step.after.update else None]
        if step.after.phase in (Phase.forming, Phase.preparing, Phase.cancelled):
            assert step.after.update is None
        if step.error is not None:
            assert step.decided == [] and step.after == step.before


@settings(max_examples=300, deadline=None)
@given(first=FIRST, ops=OPS)
def test_replaying_the_events_from_scratch_gives_the_same_state_as_evolving_them_one_by_one(
        first: tuple[str, int, bool], ops: list[Any]) -> None:
    story, steps = play(first, ops)
    assert fold(ITEM_ID, story.events) == story.state
    assert story.state.version == len(story.events)
    # … every prefix of the log rebuilds the state the item had then (audits: "what was published on date X") …
    for step in steps:
        assert fold(ITEM_ID, story.events[:step.after.version]) == step.after
    # … and a snapshot taken anywhere plus the events after it gives the same state as the whole log.
    for cut in range(0, len(story.events) + 1, 3):
        snapshot = state_from_json(json.loads(json.dumps(state_to_json(fold(ITEM_ID, story.events[:cut])))))
        assert fold_from(snapshot, story.events[cut:]) == story.state


@settings(max_examples=300, deadline=None)
@given(first=FIRST, ops=OPS_WITHOUT_RETIREMENT, after=OPS_WITHOUT_RETIREMENT)
def test_once_cancelled_every_command_is_refused_and_the_state_never_changes(
        first: tuple[str, int, bool], ops: list[Any], after: list[Any]) -> None:
    story, _ = play(first, ops)
    if story.state.phase is not Phase.cancelled:
        at = story.tick()
        story.store(retire(story.state, reason="注销", now=at, label="注销"), "dave", at)
    final = story.state
    assert (final.phase, final.step) == (Phase.cancelled, Step.cancelled)
    for op in after:
        try:
            decided = apply_op(story, op)
        except (IllegalTransitionError, UnknownItemVersionError):  # any other LifecycleError fails the test
            assert op[0] in ("command", "national", "plan"), op
            decided = []
        if op[0] == "command":
            assert decided == [], op
        # Only the national platform's answers are still recorded (同步); nothing else about the item moves.
        assert replace(story.state, version=final.version, national_sync=final.national_sync) == final, op
        assert all(e.type == EventType.NATIONAL_SYNC_RECORDED for e in decided), op


@settings(max_examples=300, deadline=None)
@given(first=FIRST, ops=OPS)
def test_only_reviewed_content_with_a_code_goes_online_offline_or_back_online(first: tuple[str, int, bool],
                                                                              ops: list[Any]) -> None:
    _, steps = play(first, ops)
    content_events = {EventType.PUBLISHED, EventType.UNPUBLISHED, EventType.RESUMED}
    assert content_events <= PUBLIC_EVENTS
    for step in steps:
        before, kinds = step.before, types(step.decided)
        for event in step.decided:
            if event.type in content_events:
                assert event.data["code"] is not None
                revision = event.data["revision"]
                if event.type != EventType.PUBLISHED:
                    assert (revision, event.data["code"]) == (before.published_revision, before.published_code)
                elif event.data.get("maintenance"):
                    assert EventType.MAINTAINED in kinds and before.phase is Phase.online  # a checked fix
                elif event.data.get("update"):
                    assert before.update == PendingUpdate(revision, UpdateStage.approved, before.update.submitted_by)
                    assert event.data["code"] == before.code
                else:
                    assert (before.phase, before.step) == (Phase.preparing, Step.registered)
                    assert revision == before.review_revision and event.data["code"] == before.code
            if event.type == EventType.CANCELLED:
                assert event.data["code"] == before.code
                assert event.data["was_published"] is (before.published_revision is not None)
            assert event.type in PUBLIC_EVENTS or "elements" not in event.data or event.type in {
                EventType.ENTERED, EventType.REVISION_RECEIVED, EventType.MAINTAINED,
                EventType.REGISTRATION_REQUESTED}


@settings(max_examples=300, deadline=None)
@given(first=FIRST, ops=OPS)
def test_no_one_ever_approves_or_rejects_a_revision_they_wrote_or_submitted(first: tuple[str, int, bool],
                                                                            ops: list[Any]) -> None:
    _, steps = play(first, ops)
    for step in steps:
        if step.op[0] != "command":
            continue
        command, actor, *_ = pick(step.before, step.op)
        if command not in (Command.approve, Command.reject):
            continue
        if step.before.step not in (Step.in_review, Step.update_in_review):
            assert isinstance(step.error, IllegalTransitionError)
            continue
        revision, submitted_by = step.before.under_review()
        if actor in (revision.author, submitted_by):
            assert isinstance(step.error, FourEyesViolationError)
        else:
            assert step.error is None or isinstance(step.error, ReasonRequiredError)
