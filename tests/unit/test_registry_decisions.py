"""What a submitted element set does to an item (registry/domain/decisions.py), as specs over the pure decision that
a change over HTTP and every row of an import both go through.

Style: given the item as stored (or none) and what is known of the items around it, when an element set is
submitted, then a new item, a new revision, nothing, or a refusal. No database, no clock: every time is fixed."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared.dictionaries import load_dictionaries
from shared.errors import RegionDeniedError
from tests.integration.test_registry_helpers import FULL

from registry.domain.decisions import (
    CHANGE_PATH_LABELS,
    ChangePath,
    NewItem,
    NewRevision,
    Refused,
    Unchanged,
    change_path,
    decide_revision,
    maintenance_hint,
    read_source_ref,
    source_ref_change_problems,
)
from registry.domain.elements import validate_elements
from registry.domain.errors import ElementsInvalidError, ItemCancelledError
from registry.domain.problems import Problem
from registry.domain.structure import Dependents, ReferencedItem, RelatedItems
from registry.service_layer.imports.chunks import row_problems

DICTIONARIES = load_dictionaries()
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ITEM_ID = "item-0001"
ELEMENTS, _problems = validate_elements(FULL, DICTIONARIES, date(2026, 11, 22))
assert not _problems


@dataclass(frozen=True)
class Stored:
    """An item as the store holds it (what the decision reads of it)."""

    phase: str = "forming"
    elements: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(ELEMENTS))
    revision: int = 3
    item_id: str = ITEM_ID

    @property
    def name(self) -> str:
        return str(self.elements["name"])


def with_changes(**changes: Any) -> dict[str, Any]:
    elements = copy.deepcopy(ELEMENTS)
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            elements[outer][inner] = value
        else:
            elements[key] = value
    return elements


def nothing_around(item_id: str = ITEM_ID) -> RelatedItems:
    return RelatedItems(item_id)


class RegionCheck:
    """The service layer's region check of an editor of Guangzhou (4401), recording that it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, region_code: str) -> None:
        self.asked.append(region_code)
        if not region_code.startswith("4401"):
            raise RegionDeniedError(region_code=region_code, regions=["4401"])


# ---- new items ----------------------------------------------------------------------------------------------------
def test_an_element_set_for_no_stored_item_is_its_first_revision_at_the_given_time() -> None:
    assert decide_revision(None, ELEMENTS, nothing_around("new-item"), now=T0) == NewItem(at=T0)


def test_a_new_item_referring_to_an_item_that_does_not_exist_is_refused() -> None:
    elements = with_changes(tier="子项", parent_item_id="missing")
    decision = decide_revision(None, elements, nothing_around("new-item"), now=T0)
    assert isinstance(decision, Refused) and decision.error is None
    assert [(p.field, p.code) for p in decision.problems] == [("parent_item_id", "REFERENCE_NOT_FOUND")]


# ---- revisions and the phases -------------------------------------------------------------------------------------
def test_the_same_content_again_makes_no_revision() -> None:
    assert decide_revision(Stored(), copy.deepcopy(ELEMENTS), nothing_around(), now=T0) == Unchanged()


@pytest.mark.parametrize("phase", ["forming", "preparing"])
def test_a_change_before_publication_is_the_next_revision_and_not_pending(phase: str) -> None:
    elements = with_changes(name="户口迁移审批（新）", exercise_levels=["4"])
    decision = decide_revision(Stored(phase=phase), elements, nothing_around(), now=T0)
    assert decision == NewRevision(revision=4, changed_fields=["name", "exercise_levels"], pending=False,
                                   maintenance=False, at=T0)


@pytest.mark.parametrize("phase", ["online", "offline"])
def test_a_change_once_published_is_a_pending_revision_waiting_for_review(phase: str) -> None:
    decision = decide_revision(Stored(phase=phase), with_changes(name="户口迁移审批（新）"), nothing_around(),
                               now=T0)
    assert isinstance(decision, NewRevision) and decision.pending and decision.changed_fields == ["name"]


def test_a_cancelled_item_refuses_every_change_naming_the_item() -> None:
    decision = decide_revision(Stored(phase="cancelled"), with_changes(name="新名称"), nothing_around(), now=T0)
    assert isinstance(decision, Refused) and isinstance(decision.error, ItemCancelledError)
    assert decision.error.context == {"name": "户口迁移审批"}
    assert isinstance(decision.as_error(), ItemCancelledError)


def test_the_same_content_again_for_a_cancelled_item_is_no_change_and_no_refusal() -> None:
    """Given a cancelled item, when its own content comes back (an unedited export imported again), then nothing
    changes and nothing is refused: only a change to a cancelled item is one."""
    region = RegionCheck()
    same = decide_revision(Stored(phase="cancelled"), copy.deepcopy(ELEMENTS), nothing_around(), now=T0,
                           require_region=region)
    assert same == Unchanged()


def test_a_cancelled_item_comes_before_the_contents_problems_even_with_otherwise_the_same_content() -> None:
    sent = [Problem("parent_item_id", "REFERENCE_NOT_FOUND", "找不到")]
    region = RegionCheck()
    decision = decide_revision(Stored(phase="cancelled"), ELEMENTS, nothing_around(), now=T0, problems=sent,
                               require_region=region)
    assert isinstance(decision, Refused) and isinstance(decision.error, ItemCancelledError)
    assert list(decision.problems) == sent and region.asked == []  # kept for a caller that reports them all


# ---- what refuses a change, in order ------------------------------------------------------------------------------
def test_the_contents_own_problems_refuse_it_before_the_region_and_the_rules_between_items() -> None:
    sent = [Problem("name", "REQUIRED", "必填项为空")]
    region = RegionCheck()
    decision = decide_revision(Stored(), with_changes(region_code="440305", parent_item_id="missing"),
                               nothing_around(), now=T0, problems=sent, require_region=region)
    assert decision == Refused(sent) and region.asked == []
    error = decision.as_error()
    assert isinstance(error, ElementsInvalidError)
    assert error.context == {"count": 1, "problems": [{"field": "name", "code": "REQUIRED", "message": "必填项为空"}]}


def test_an_editor_outside_the_new_region_is_refused_before_the_rules_between_items_are_told() -> None:
    region = RegionCheck()
    decision = decide_revision(Stored(), with_changes(region_code="440305", tier="子项", parent_item_id="missing"),
                               nothing_around(), now=T0, require_region=region)
    assert isinstance(decision, Refused) and isinstance(decision.error, RegionDeniedError)
    assert decision.problems == () and region.asked == ["440305"]


def test_an_editor_inside_the_region_gets_the_rules_between_items() -> None:
    region = RegionCheck()
    related = RelatedItems(ITEM_ID, dependents=Dependents(composites_listing_it=[], children=[]))
    decision = decide_revision(Stored(), with_changes(tier="子项", parent_item_id="missing"), related, now=T0,
                               require_region=region)
    assert isinstance(decision, Refused) and decision.error is None and region.asked == ["440115"]
    assert [p.code for p in decision.problems] == ["REFERENCE_NOT_FOUND"]


# ---- maintenance (维护) ---------------------------------------------------------------------------------------------
def test_a_maintenance_fix_of_non_substantive_fields_is_a_maintenance_revision() -> None:
    elements = with_changes(**{"service_guide.place": "南沙区政务服务中心二楼"})
    decision = decide_revision(Stored(phase="online"), elements, nothing_around(), now=T0, maintenance=True)
    assert decision == NewRevision(revision=4, changed_fields=["service_guide"], pending=True, maintenance=True,
                                   at=T0)


def test_a_maintenance_fix_may_not_touch_substance_and_is_reported_with_the_rules_between_items() -> None:
    elements = with_changes(**{"service_guide.promised_time_limit_days": 5}, tier="子项", parent_item_id="missing")
    related = RelatedItems(ITEM_ID, dependents=Dependents([], []))
    decision = decide_revision(Stored(), elements, related, now=T0, maintenance=True)
    assert isinstance(decision, Refused)
    assert {(p.field, p.code) for p in decision.problems} == {
        ("service_guide.promised_time_limit_days", "MAINTENANCE_NOT_ALLOWED"), ("tier", "MAINTENANCE_NOT_ALLOWED"),
        ("parent_item_id", "MAINTENANCE_NOT_ALLOWED"), ("parent_item_id", "REFERENCE_NOT_FOUND")}


# ---- which path a change took, and a 维护 that was not asked as one ------------------------------------------------
PLACE_MOVED = {"service_guide.place": "南沙区政务服务中心二楼"}


@pytest.mark.parametrize(("phase", "maintenance", "path"), [
    ("forming", False, ChangePath.draft), ("preparing", False, ChangePath.draft),
    ("online", False, ChangePath.update), ("offline", False, ChangePath.update),
    ("online", True, ChangePath.maintenance), ("preparing", True, ChangePath.maintenance),
    ("forming", True, ChangePath.draft),  # nothing reviewed yet: the lifecycle takes it as an ordinary revision
])
def test_a_change_says_which_path_it_took(phase: str, maintenance: bool, path: ChangePath) -> None:
    decision = decide_revision(Stored(phase=phase), with_changes(**PLACE_MOVED), nothing_around(), now=T0,
                               maintenance=maintenance)
    assert change_path(decision, phase) is path
    assert CHANGE_PATH_LABELS[path]


def test_unchanged_content_takes_no_path() -> None:
    decision = decide_revision(Stored(phase="online"), copy.deepcopy(ELEMENTS), nothing_around(), now=T0)
    assert change_path(decision, "online") is ChangePath.unchanged


@pytest.mark.parametrize("phase", ["preparing", "online", "offline"])
def test_a_maintenance_only_change_sent_as_an_update_hints_that_it_could_have_been_a_maintenance(phase: str) -> None:
    path = ChangePath.update if phase != "preparing" else ChangePath.draft
    hint = maintenance_hint(ELEMENTS, with_changes(**PLACE_MOVED), phase=phase, path=path)
    assert hint is not None and "maintenance=true" in hint and "办事指南·办理地点" in hint


@pytest.mark.parametrize(("phase", "changes", "path"), [
    ("online", {"name": "户口迁入审批"}, ChangePath.update),  # substance: an update indeed
    ("online", PLACE_MOVED, ChangePath.maintenance),  # asked as a 维护 already
    ("forming", PLACE_MOVED, ChangePath.draft),  # never reviewed: nothing to keep in force
    ("online", {}, ChangePath.unchanged),
])
def test_no_hint_where_a_maintenance_would_not_do_or_was_asked(phase: str, changes: dict[str, Any],
                                                              path: ChangePath) -> None:
    assert maintenance_hint(ELEMENTS, with_changes(**changes), phase=phase, path=path) is None


# ---- the rules between items, on what was loaded ------------------------------------------------------------------
def test_a_serial_relation_closing_a_loop_is_refused_naming_the_items_on_it() -> None:
    related = RelatedItems(ITEM_ID, referenced={"b": ReferencedItem("b", "乙事项", "元事项", "主项")},
                           serial_edges={"b": ["c"], "c": [ITEM_ID]}, names={"b": "乙事项", "c": "丙事项"})
    decision = decide_revision(Stored(), with_changes(serial_predecessor_ids=["b"]), related, now=T0)
    assert isinstance(decision, Refused)
    [problem] = decision.problems
    assert (problem.code, problem.message) == (
        "SERIAL_CYCLE", "串联关系会形成循环：“户口迁移审批” → “乙事项” → “丙事项” → “户口迁移审批”")


def test_restructuring_an_item_may_not_strand_its_sub_items() -> None:
    child = ReferencedItem("child", "子项甲", "元事项", "子项")
    related = RelatedItems(ITEM_ID, referenced={"top": ReferencedItem("top", "上级", "元事项", "主项")},
                           dependents=Dependents(composites_listing_it=[], children=[child]))
    decision = decide_revision(Stored(), with_changes(tier="子项", parent_item_id="top"), related, now=T0)
    assert isinstance(decision, Refused)
    assert [(p.field, p.code) for p in decision.problems] == [("tier", "HAS_CHILDREN")]


def test_restructuring_without_its_dependents_loaded_is_a_programming_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="dependents"):
        decide_revision(Stored(), with_changes(composition="组合事项", member_item_ids=["m"]),
                        RelatedItems(ITEM_ID, referenced={"m": ReferencedItem("m", "成员", "元事项", "主项")}),
                        now=T0)


# ---- the 来源编号 (source_ref) ------------------------------------------------------------------------------------
def test_a_submitted_source_ref_is_trimmed_and_blank_means_none() -> None:
    assert read_source_ref("  GZ-001 ") == ("GZ-001", [])
    assert read_source_ref("   ") == (None, []) and read_source_ref(None) == (None, [])
    assert [p.code for p in read_source_ref(7)[1]] == ["NOT_TEXT"]
    assert [p.code for p in read_source_ref("x" * 101)[1]] == ["TOO_LONG"]


def test_a_revision_may_repeat_the_source_ref_but_not_change_it() -> None:
    assert source_ref_change_problems("GZ-001", "GZ-001") == []
    assert [(p.field, p.code) for p in source_ref_change_problems("GZ-001", "GZ-002")] == [
        ("source_ref", "NOT_ALLOWED_VALUE")]


# ---- the same decision, as an import row reports it ---------------------------------------------------------------
def test_an_import_row_about_a_cancelled_item_reports_it_on_its_source_ref_after_the_rows_own_problems() -> None:
    sent = [Problem("parent_item_id", "REFERENCE_NOT_FOUND", "找不到")]
    decision = decide_revision(Stored(phase="cancelled"), ELEMENTS, nothing_around(), now=T0, problems=sent)
    assert isinstance(decision, Refused)
    assert row_problems(decision, "GZ-001") == [*sent, Problem(
        "source_ref", "ITEM_CANCELLED", "来源编号“GZ-001”对应的事项“户口迁移审批”已注销，内容不能再修改")]
