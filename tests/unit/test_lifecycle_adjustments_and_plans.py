"""事项调整 (split / merge), planned dates (计划生效/取消日期) and snapshots, over the pure lifecycle core.

Same style and cast as test_lifecycle_domain.py, whose story builders these tests reuse."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.test_lifecycle_domain import (
    CODE,
    ELEMENTS_V1,
    REACHABLE,
    Story,
    cancelled,
    entered,
    in_review,
    online,
    passed_test,
    registered,
    suspended,
    types,
    update_in_review,
)

from lifecycle.adapters.snapshots import state_from_json, state_to_json
from lifecycle.domain.adjustments import Adjustment, AdjustmentKind, decide_adjustment
from lifecycle.domain.errors import (
    AdjustmentItemCancelledError,
    AdjustmentShapeError,
    IllegalTransitionError,
    ReasonRequiredError,
)
from lifecycle.domain.events import EventType
from lifecycle.domain.evolve import fold
from lifecycle.domain.model import ItemState
from lifecycle.domain.planning import CHINA_STANDARD_TIME, SCHEDULER_ACTOR, Plan, PlannedAction, decide_planned, plan
from lifecycle.domain.vocabulary import Command, Phase, Step, SyncResult

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# ================================================================================================ split / merge
def story_of(item_id: str, builder: Any = entered) -> Story:
    story = builder()
    story.state = fold(item_id, story.events)
    return story


def split(predecessors: list[str], successors: list[str], reason: str = "主项拆分为两个子项") -> Adjustment:
    return Adjustment("adj-1", AdjustmentKind.split, tuple(predecessors), tuple(successors), reason)


def merge(predecessors: list[str], successors: list[str], reason: str = "两个事项合并办理") -> Adjustment:
    return Adjustment("adj-2", AdjustmentKind.merge, tuple(predecessors), tuple(successors), reason)


def test_a_split_cancels_the_predecessor_and_records_lineage_on_every_item() -> None:
    states = {"old": story_of("old", online).state, "new-a": story_of("new-a").state,
              "new-b": story_of("new-b").state}
    decided = decide_adjustment(states, split(["old"], ["new-a", "new-b"]), now=T0)
    lineage = {"adjustment_id": "adj-1", "kind": "split", "predecessors": ["old"], "successors": ["new-a", "new-b"],
               "reason": "主项拆分为两个子项", "at": T0.isoformat()}
    assert types(decided["old"]) == [EventType.LINEAGE_RECORDED, EventType.CANCELLED]
    assert decided["old"][0].data == {**lineage, "role": "predecessor"}
    assert decided["old"][1].data == {
        "reason": "主项拆分为两个子项", "at": T0.isoformat(), "code": CODE, "item_id": "old", "phase": "cancelled",
        "phase_label": "注销期", "was_published": True, "successors": ["new-a", "new-b"], "adjustment": "split",
        "adjustment_id": "adj-1"}
    for successor in ("new-a", "new-b"):
        assert [(e.type, e.data) for e in decided[successor]] == [
            (EventType.LINEAGE_RECORDED, {**lineage, "role": "successor"})]


def test_lineage_is_visible_in_the_state_of_both_sides() -> None:
    old, new = story_of("old", online), story_of("new-a")
    decided = decide_adjustment({"old": old.state, "new-a": new.state, "new-b": story_of("new-b").state},
                                split(["old"], ["new-a", "new-b"]), now=T0)
    old.store(decided["old"], "dave", T0)
    new.store(decided["new-a"], "dave", T0)
    assert old.state.phase is Phase.cancelled
    assert [(link.role, link.successors, link.actor) for link in old.state.lineage] == [
        ("predecessor", ("new-a", "new-b"), "dave")]
    assert (new.state.phase, new.state.step) == (Phase.forming, Step.entry)  # successors go on with their lifecycle
    assert [(link.kind, link.role, link.predecessors, link.reason) for link in new.state.lineage] == [
        ("split", "successor", ("old",), "主项拆分为两个子项")]
    assert new.state.last_transition is not None and new.state.last_transition.command == "split"


def test_a_merge_cancels_every_predecessor_from_whatever_state_it_is_in() -> None:
    states = {"a": story_of("a", in_review).state, "b": story_of("b", suspended).state,
              "c": story_of("c", registered).state, "merged": story_of("merged").state}
    decided = decide_adjustment(states, merge(["a", "b", "c"], ["merged"]), now=T0)
    for item_id in ("a", "b", "c"):
        assert types(decided[item_id]) == [EventType.LINEAGE_RECORDED, EventType.CANCELLED]
        assert decided[item_id][1].data["successors"] == ["merged"]
    assert decided["b"][1].data["was_published"] is True and decided["c"][1].data["was_published"] is False


@pytest.mark.parametrize(("adjustment", "predecessors", "successors"), [
    (split(["old"], ["new-a"]), 1, 1),
    (split(["old", "older"], ["new-a", "new-b"]), 2, 2),
    (merge(["a"], ["merged"]), 1, 1),
    (merge(["a", "b"], ["merged", "other"]), 2, 2),
    (split(["old"], ["new-a", "new-a"]), 1, 2),
    (merge(["a", "merged"], ["merged"]), 2, 1),
])
def test_the_shape_of_a_split_or_merge_is_checked(adjustment: Adjustment, predecessors: int,
                                                  successors: int) -> None:
    with pytest.raises(AdjustmentShapeError) as caught:
        decide_adjustment({}, adjustment, now=T0)
    assert caught.value.context["predecessors"] == predecessors
    assert caught.value.context["successors"] == successors


def test_an_adjustment_must_say_why() -> None:
    with pytest.raises(ReasonRequiredError):
        decide_adjustment({}, split(["old"], ["new-a", "new-b"], reason="  "), now=T0)


@pytest.mark.parametrize("cancelled_one", ["old", "new-b"])
def test_no_cancelled_item_takes_part_in_a_split(cancelled_one: str) -> None:
    states = {item_id: story_of(item_id, cancelled if item_id == cancelled_one else entered).state
              for item_id in ("old", "new-a", "new-b")}
    with pytest.raises(AdjustmentItemCancelledError) as caught:
        decide_adjustment(states, split(["old"], ["new-a", "new-b"]), now=T0)
    assert caught.value.context == {"item_id": cancelled_one, "kind_label": "拆分"}


# ================================================================================================ planned dates
DATED = {**ELEMENTS_V1, "planned_effective_date": "2026-03-10", "planned_cancel_date": "2026-12-31"}
EFFECTIVE_AT = datetime(2026, 3, 10, tzinfo=CHINA_STANDARD_TIME)  # 2026-03-09 16:00 UTC
CANCEL_AT = datetime(2026, 12, 31, tzinfo=CHINA_STANDARD_TIME)


def dated(builder: Any = registered, elements: dict[str, Any] = DATED) -> Story:
    """The builder's history, with dated elements in revision 1 (the later events only refer to revision 1)."""
    story = Story()
    story.when_revision(1, author="alice", elements=elements)
    story.events += builder().events[1:]
    story.state = fold(story.state.item_id, story.events)
    return story


def test_a_draft_plans_nothing_even_with_dates() -> None:
    story = Story()
    story.when_revision(1, author="alice", elements=DATED)
    assert plan(story.state) is None


def test_a_registered_item_plans_to_go_online_at_the_start_of_its_effective_date_in_china() -> None:
    state = dated().state
    assert plan(state) == Plan(PlannedAction.publish, EFFECTIVE_AT, "2026-03-10", 1)
    assert EFFECTIVE_AT.astimezone(UTC) == datetime(2026, 3, 9, 16, 0, tzinfo=UTC)


def test_an_item_approved_but_not_yet_registered_plans_only_its_cancellation() -> None:
    assert plan(dated(passed_test).state) == Plan(PlannedAction.cancel, CANCEL_AT, "2026-12-31", 1)


def test_nothing_happens_before_the_planned_time() -> None:
    assert decide_planned(dated().state, now=EFFECTIVE_AT - timedelta(seconds=1)) == []


def test_at_the_effective_date_the_scheduler_publishes_the_reviewed_revision() -> None:
    story = dated()
    events = decide_planned(story.state, now=EFFECTIVE_AT)
    assert types(events) == [EventType.PUBLISHED]
    assert events[0].data["planned_date"] == "2026-03-10" and events[0].data["code"] == CODE
    story.store(events, SCHEDULER_ACTOR, EFFECTIVE_AT)
    assert (story.state.phase, story.state.step) == (Phase.online, Step.published)
    assert story.state.last_transition is not None and story.state.last_transition.actor == "scheduler"
    assert plan(story.state) == Plan(PlannedAction.cancel, CANCEL_AT, "2026-12-31", 1)  # the next action


def test_an_item_registered_after_its_effective_date_goes_online_at_once() -> None:
    state = dated().state
    assert types(decide_planned(state, now=EFFECTIVE_AT + timedelta(days=30))) == [EventType.PUBLISHED]


def test_at_the_cancel_date_an_online_item_is_cancelled_without_going_offline_first() -> None:
    story = dated(online)
    events = decide_planned(story.state, now=CANCEL_AT)
    assert types(events) == [EventType.CANCELLED]
    assert events[0].data["reason"] == "计划取消日期（2026-12-31）已到"
    assert events[0].data["was_published"] is True and events[0].data["planned_date"] == "2026-12-31"
    story.store(events, SCHEDULER_ACTOR, CANCEL_AT)
    assert story.state.phase is Phase.cancelled and plan(story.state) is None


def test_a_cancel_date_on_or_before_the_effective_date_wins() -> None:
    state = dated(elements={**DATED, "planned_cancel_date": "2026-03-10"}).state
    assert plan(state) == Plan(PlannedAction.cancel, EFFECTIVE_AT, "2026-03-10", 1)
    assert types(decide_planned(state, now=EFFECTIVE_AT)) == [EventType.CANCELLED]


def test_an_unreadable_date_plans_nothing() -> None:
    assert plan(dated(elements={**ELEMENTS_V1, "planned_effective_date": "下月初"}).state) is None


def test_an_update_that_changes_the_effective_date_goes_online_at_its_new_date() -> None:
    story = dated(online, elements={**DATED, "planned_cancel_date": None})
    story.when_revision(2, author="dave", elements={**DATED, "planned_cancel_date": None,
                                                    "planned_effective_date": "2026-07-01", "name": "新名称"})
    story.when(Command.submit, "bob")
    assert plan(story.state) is None  # not approved yet
    story.when(Command.approve, "carol")
    due = datetime(2026, 7, 1, tzinfo=CHINA_STANDARD_TIME)
    assert plan(story.state) == Plan(PlannedAction.publish, due, "2026-07-01", 2)
    events = decide_planned(story.state, now=due)
    assert events[0].data["update"] is True and events[0].data["revision"] == 2


def test_an_approved_update_that_keeps_the_items_effective_date_waits_for_the_publisher() -> None:
    story = dated(online, elements={**DATED, "planned_cancel_date": None})
    story.when_revision(2, author="dave", elements={**DATED, "planned_cancel_date": None, "name": "新名称"})
    story.when(Command.submit, "bob")
    story.when(Command.approve, "carol")
    assert story.state.step is Step.update_approved and plan(story.state) is None


def test_a_cancelled_item_plans_nothing_and_cannot_be_cancelled_again_by_plan() -> None:
    story = dated(cancelled)
    assert plan(story.state) is None
    assert decide_planned(story.state, now=CANCEL_AT) == []


# ================================================================================================ snapshots
@pytest.mark.parametrize("given_state", [r[0] for r in REACHABLE] + [update_in_review],
                         ids=[f"{r[1].value}/{r[2].value}" for r in REACHABLE] + ["update_in_review"])
def test_a_snapshot_restores_exactly_the_state_it_was_taken_of(given_state: Any) -> None:
    story = given_state()
    if story.state.published_revision is not None:
        story.when_national(story.state.version, SyncResult.rejected, "名称不一致")
    restored = state_from_json(json.loads(json.dumps(state_to_json(story.state), ensure_ascii=False)))
    assert restored == story.state


def test_a_snapshot_keeps_lineage() -> None:
    old = story_of("old", online)
    old.store(decide_adjustment({"old": old.state, "a": story_of("a").state, "b": story_of("b").state},
                                split(["old"], ["a", "b"]), now=T0)["old"], "dave", T0)
    assert state_from_json(json.loads(json.dumps(state_to_json(old.state)))) == old.state


def test_an_empty_state_round_trips() -> None:
    assert state_from_json(state_to_json(ItemState(item_id="x"))) == ItemState(item_id="x")


def test_an_illegal_transition_reports_the_state_it_was_refused_in() -> None:
    story = update_in_review()
    story.when(Command.approve, "carol")
    with pytest.raises(IllegalTransitionError) as caught:
        story.when(Command.submit, "bob")
    assert caught.value.context["step"] == "update_approved"
    assert caught.value.context["allowed"] == ["publish", "unpublish"]
