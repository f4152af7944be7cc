"""The registry's pure rules: the element model, rules between items, revisions, the tabular form and search."""

from __future__ import annotations

import copy
import re
from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.dictionaries import load_dictionaries
from tests.integration.test_registry_helpers import FULL, MINIMAL

from registry.domain.elements import ELEMENT_KEYS, missing_for_submission, validate_elements
from registry.domain.events import phase_after
from registry.domain.revisions import changed_fields, diff, maintenance_problems
from registry.domain.search import search_pattern, search_text
from registry.domain.structure import ReferencedItem, check_dependents, check_references, find_serial_cycle
from registry.domain.tabular import HEADERS, column_for, format_row, parse_row

DICTIONARIES = load_dictionaries()
TODAY = date(2026, 11, 22)


def validate(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    elements, problems = validate_elements(raw, DICTIONARIES, TODAY)
    return elements, {p.field: p.code for p in problems}


def with_guide(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(FULL)
    raw["service_guide"].update(changes)
    return raw


# ---- the element model ----------------------------------------------------------------------------------------------
def test_six_minimal_elements_make_a_valid_but_incomplete_draft() -> None:
    elements, problems = validate(MINIMAL)
    assert problems == {}
    assert list(elements) == list(ELEMENT_KEYS)  # canonical: every key, in documented order
    assert elements["composition"] == "元事项" and elements["tier"] == "主项"
    assert "legal_basis" in missing_for_submission(elements)
    assert "service_guide.materials" in missing_for_submission(elements)


def test_a_fully_described_item_is_complete_and_keeps_its_values() -> None:
    elements, problems = validate(FULL)
    assert problems == {}
    assert missing_for_submission(elements) == []
    assert elements == FULL


def test_an_empty_materials_list_means_no_materials_needed_and_counts_as_filled() -> None:
    elements, _ = validate(with_guide(materials=[]))
    assert "service_guide.materials" not in missing_for_submission(elements)
    elements, _ = validate(with_guide(materials=None))
    assert "service_guide.materials" in missing_for_submission(elements)


def test_legal_basis_entries_without_article_or_text_are_incomplete() -> None:
    raw = copy.deepcopy(FULL)
    raw["legal_basis"][1]["article"] = None
    elements, problems = validate(raw)
    assert problems == {}
    assert missing_for_submission(elements) == ["legal_basis[1].article"]


def test_every_required_draft_element_missing_is_reported_once() -> None:
    _, problems = validate({"name": " ", "item_type": "01"})
    assert problems == {"name": "REQUIRED", "short_name": "REQUIRED", "police_type": "REQUIRED",
                        "service_category": "REQUIRED", "region_code": "REQUIRED"}


def test_legal_basis_out_of_rank_order_is_rejected_with_the_reason() -> None:
    raw = copy.deepcopy(FULL)
    raw["legal_basis"] = [raw["legal_basis"][2], raw["legal_basis"][0]]  # 规范性文件 before 法律
    _elements, problems = validate_elements(raw, DICTIONARIES, TODAY)
    assert [(p.field, p.code) for p in problems] == [("legal_basis[1].rank", "LEGAL_BASIS_OUT_OF_ORDER")]
    assert "第2条“法律”不能排在第1条“规范性文件”之后" in problems[0].message


def test_equal_ranks_may_follow_each_other() -> None:
    raw = copy.deepcopy(FULL)
    raw["legal_basis"].insert(1, {**raw["legal_basis"][0], "title": "中华人民共和国治安管理处罚法"})
    assert validate(raw)[1] == {}


def test_an_unknown_rank_is_not_an_allowed_value() -> None:
    raw = copy.deepcopy(FULL)
    raw["legal_basis"][0]["rank"] = "宪法"
    assert validate(raw)[1] == {"legal_basis[0].rank": "NOT_ALLOWED_VALUE"}


def test_promised_time_limit_may_not_exceed_the_statutory_one() -> None:
    assert validate(with_guide(promised_time_limit_days=21))[1] == {
        "service_guide.promised_time_limit_days": "PROMISED_EXCEEDS_STATUTORY"}
    assert validate(with_guide(promised_time_limit_days=20))[1] == {}


def test_fees_are_either_free_or_listed() -> None:
    conflict = with_guide(fees={"free": True, "items": [{"item": "工本费", "standard": "20元", "basis": None}]})
    assert validate(conflict)[1] == {"service_guide.fees.items": "FEES_CONFLICT"}
    assert validate(with_guide(fees={"free": False, "items": []}))[1] == {"service_guide.fees.items": "REQUIRED"}
    charged, problems = validate(with_guide(fees={"items": [{"item": "工本费", "standard": "20元"}]}))
    assert problems == {} and charged["service_guide"]["fees"]["free"] is False


def test_material_fields_are_checked_each_with_its_path() -> None:
    raw = with_guide(materials=[{"name": "", "copies": 0}, {"name": "照片", "copies": "两份", "colour": "白底"}])
    assert validate(raw)[1] == {
        "service_guide.materials[0].name": "REQUIRED", "service_guide.materials[0].copies": "OUT_OF_RANGE",
        "service_guide.materials[1].copies": "NOT_INTEGER", "service_guide.materials[1].colour": "UNKNOWN_FIELD"}


def test_dictionary_values_must_exist_and_be_valid_today() -> None:
    raw = {**FULL, "item_type": "77", "exercise_levels": ["3", "9"], "region_code": "110103"}  # 崇文区, retired 2010
    assert validate(raw)[1] == {"item_type": "UNKNOWN_CODE", "exercise_levels[1]": "UNKNOWN_CODE",
                                "region_code": "EXPIRED_CODE"}


def test_national_codes_are_checked_by_length_and_charset() -> None:
    raw = {**FULL, "national_basic_code": "00014401150", "national_implementation_code": "11440115mb2c",
           "national_handling_code": "A" * 51}
    assert validate(raw)[1] == {"national_basic_code": "MALFORMED", "national_implementation_code": "MALFORMED",
                                "national_handling_code": "MALFORMED"}
    assert validate({**FULL, "national_implementation_code": "1" * 36, "national_handling_code": "Z" * 50})[1] == {}


def test_planned_dates_are_iso_dates_and_cancel_comes_after_effect() -> None:
    assert validate({**FULL, "planned_effective_date": "2027-02-30"})[1] == {"planned_effective_date": "NOT_DATE"}
    assert validate({**FULL, "planned_cancel_date": "2026-12-31"})[1] == {
        "planned_cancel_date": "CANCEL_NOT_AFTER_EFFECTIVE"}


def test_closed_sets_and_unknown_fields() -> None:
    raw = {**FULL, "case_type": "急办件", "service_objects": ["自然人", "外星人", "自然人"], "colour": "红"}
    assert validate(raw)[1] == {"case_type": "NOT_ALLOWED_VALUE", "service_objects[1]": "NOT_ALLOWED_VALUE",
                                "service_objects": "DUPLICATE", "colour": "UNKNOWN_FIELD"}


def test_item_structure_rules_of_one_item() -> None:
    assert validate({**FULL, "composition": "组合事项", "member_item_ids": ["a"]})[1] == {
        "member_item_ids": "MEMBERS_REQUIRED"}
    assert validate({**FULL, "member_item_ids": ["a", "b"]})[1] == {"member_item_ids": "MEMBERS_NOT_ALLOWED"}
    assert validate({**FULL, "tier": "子项"})[1] == {"parent_item_id": "PARENT_REQUIRED"}
    assert validate({**FULL, "tier": "业务办理项", "parent_item_id": "p"})[1] == {
        "handling_kind": "HANDLING_KIND_REQUIRED"}
    assert validate({**FULL, "handling_kind": "新设"})[1] == {"handling_kind": "HANDLING_KIND_NOT_ALLOWED"}
    assert validate({**FULL, "serial_predecessor_ids": ["x"], "parallel_item_ids": ["x"]})[1] == {
        "parallel_item_ids": "RELATION_CONFLICT"}


def test_text_is_trimmed_and_control_characters_dropped() -> None:
    elements, problems = validate({**MINIMAL, "name": " 户口迁移\x07审批 "})
    assert problems == {} and elements["name"] == "户口迁移审批"


def test_a_problem_inside_an_entry_names_the_field_of_that_entry() -> None:
    raw = with_guide()
    raw["service_guide"]["materials"][1]["name"] = " "
    _, problems = validate_elements(raw, DICTIONARIES, TODAY)
    assert [(p.field, p.code, p.message) for p in problems] == [
        ("service_guide.materials[1].name", "REQUIRED", "办事指南·申请材料第2条·名称为必填项")]  # a material's 名称


# ---- rules between items --------------------------------------------------------------------------------------------
def test_references_must_exist_be_alive_and_fit() -> None:
    found = {
        "meta": ReferencedItem("meta", "居民身份证申领", "元事项", "主项"),
        "combo": ReferencedItem("combo", "新生儿出生一件事", "组合事项", "主项"),
        "gone": ReferencedItem("gone", "已注销事项", "元事项", "主项", cancelled=True),
        "handling": ReferencedItem("handling", "机动车注册登记", "元事项", "业务办理项"),
    }
    elements = {"composition": "组合事项", "member_item_ids": ["meta", "combo", "nope", "gone", "me"], "tier": "子项",
                "parent_item_id": "handling", "serial_predecessor_ids": [], "parallel_item_ids": []}
    problems = {p.field: p.code for p in check_references("me", elements, found)}
    assert problems == {"member_item_ids[1]": "MEMBER_NOT_META", "member_item_ids[2]": "REFERENCE_NOT_FOUND",
                        "member_item_ids[3]": "REFERENCE_CANCELLED", "member_item_ids[4]": "SELF_REFERENCE",
                        "parent_item_id": "PARENT_TIER_MISMATCH"}


def test_a_serial_relation_closing_a_loop_is_found_with_its_path() -> None:
    edges = {"b": ["c"], "c": ["a"], "d": []}
    assert find_serial_cycle("a", ["d", "b"], edges) == ["a", "b", "c", "a"]
    assert find_serial_cycle("a", ["d"], edges) is None
    assert find_serial_cycle("a", ["a"], {}) == ["a", "a"]


def test_a_member_cannot_become_composite_and_a_parent_keeps_a_tier_its_children_accept() -> None:
    combo = ReferencedItem("c", "一件事", "组合事项", "主项")
    sub = ReferencedItem("s", "子项甲", "元事项", "子项")
    problems = check_dependents({"composition": "组合事项", "tier": "子项"}, composites_listing_it=[combo],
                                children=[sub])
    assert [p.code for p in problems] == ["STILL_A_MEMBER", "HAS_CHILDREN"]
    assert check_dependents({"composition": "元事项", "tier": "主项"}, composites_listing_it=[],
                            children=[sub]) == []


# ---- revisions and phases -------------------------------------------------------------------------------------------
def test_diff_lists_each_changed_leaf_with_a_chinese_label() -> None:
    after = copy.deepcopy(FULL)
    after["legal_basis"][1]["article"] = "第十一条"
    after["service_guide"]["materials"].pop()
    after["exercise_levels"] = ["4"]
    changes = {c["field"]: c for c in diff(FULL, after)}
    assert set(changes) == {"exercise_levels", "legal_basis[1].article", "service_guide.materials[1]"}
    assert changes["legal_basis[1].article"]["label"] == "设定依据第2条·条款"
    assert changes["service_guide.materials[1]"]["change"] == "removed"
    assert changed_fields(FULL, after) == ["exercise_levels", "legal_basis", "service_guide"]


def test_maintenance_may_touch_only_non_substantive_fields() -> None:
    fixed = copy.deepcopy(FULL)
    fixed["service_guide"]["place"] = "南沙区政务服务中心二楼"
    assert maintenance_problems(FULL, fixed) == []
    fixed["service_guide"]["promised_time_limit_days"] = 5
    assert [p.field for p in maintenance_problems(FULL, fixed)] == ["service_guide.promised_time_limit_days"]


def test_lifecycle_events_move_the_phase() -> None:
    published = {"phase": "online", "revision": 3}
    assert phase_after("preparing", "lifecycle.item.published.v1", published) == ("online", 3)
    assert phase_after("online", "lifecycle.item.unpublished.v1", {"phase": "offline", "revision": 3}) == (
        "offline", 3)
    assert phase_after("offline", "lifecycle.item.cancelled.v1", {"phase": "cancelled"}) == ("cancelled", None)
    assert phase_after(None, "lifecycle.item.approved.v1", {}) == ("preparing", None)
    assert phase_after("online", "lifecycle.item.approved.v1", {}) is None  # an update's approval
    assert phase_after("forming", "lifecycle.item.submitted.v1", {}) is None


# ---- the tabular form -----------------------------------------------------------------------------------------------
def test_a_row_written_and_read_back_gives_the_same_elements() -> None:
    elements, _ = validate(FULL)
    cells = dict(zip(HEADERS, format_row("NS-0001", elements, DICTIONARIES, {}), strict=True))
    assert cells["事项类型"] == "01 行政许可" and cells["区划代码"] == "440115 南沙区"
    assert cells["设定依据"].count("\n") == 2 and "\\n" in cells["设定依据"]  # the line break inside one text
    parsed = parse_row(cells, DICTIONARIES)
    assert parsed.source_ref == "NS-0001" and parsed.problems == []
    assert validate(parsed.elements) == (elements, {})


def test_cells_as_people_type_them_are_understood() -> None:
    cells = {"来源编号": 17, "事项名称": "居民身份证申领", "简称": "居民身份证申领", "事项类型": 7.0,
             "业务警种": "户政管理", "服务类别": "01", "区划代码": 440115, "行使层级": "省级，地市级",
             "申请材料": "无", "收费": "免费", "网办深度": "四级", "计划生效日期": "2027年1月1日",
             "服务对象": "自然人、法人"}
    parsed = parse_row(cells, DICTIONARIES)
    elements, problems = validate(parsed.elements)
    assert problems == {} and parsed.source_ref == "17"
    assert (elements["item_type"], elements["police_type"], elements["region_code"]) == ("07", "02", "440115")
    assert elements["exercise_levels"] == ["2", "3"] and elements["service_guide"]["materials"] == []
    assert elements["service_guide"]["fees"] == {"free": True, "items": []}
    assert elements["online_service_depth"] == 4 and elements["planned_effective_date"] == "2027-01-01"


def test_unreadable_cells_are_problems_of_their_column() -> None:
    parsed = parse_row({"来源编号": "x", "法定办结时限（工作日）": "二十天", "申请材料": "照片｜｜｜两份"},
                       DICTIONARIES)
    assert {(p.field, p.code) for p in parsed.problems} == {
        ("service_guide.statutory_time_limit_days", "NOT_INTEGER"),
        ("service_guide.materials[0].copies", "NOT_INTEGER")}
    materials, legal_basis = column_for("service_guide.materials[0].copies"), column_for("legal_basis[2].rank")
    assert materials is not None and materials.header == "申请材料"
    assert legal_basis is not None and legal_basis.header == "设定依据"


# ---- search ---------------------------------------------------------------------------------------------------------
def like(value: str, pattern: str) -> bool:
    """PostgreSQL LIKE with backslash escapes, for checking the patterns without a database."""
    regex = "".join(".*" if t == "%" else "." if t == "_" else re.escape(t[-1])
                    for t in re.findall(r"\\.|%|_|.", pattern, flags=re.DOTALL))
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


NAME_CHARS = st.sampled_from(list("户口迁移审批普通护照签发居民身份证机动车驾驶登记%_\\ AbC1"))


@settings(max_examples=400, deadline=None)
@given(name=st.text(NAME_CHARS, min_size=1, max_size=12), start=st.integers(0, 11), length=st.integers(1, 6))
def test_every_substring_of_a_name_is_found_through_the_indexed_text(name: str, start: int, length: int) -> None:
    query = name[start:start + length] or name[:1]
    assert like(search_text(name), search_pattern(query)), (name, query)


def test_search_patterns_are_mostly_selective() -> None:
    assert not like(search_text("普通护照签发"), search_pattern("户口"))
    assert search_pattern("护照") == "% 护照 %" and search_pattern("户口迁移") == "% 户口 口迁 迁移 %"


def test_ids_drawn_at_once_are_distinct_random_version_4_uuids() -> None:
    import uuid

    from registry.service_layer.imports.chunks import random_uuids

    ids = list(random_uuids(2000))
    assert len(set(ids)) == 2000 and len({str(i) for i in ids}) == 2000
    assert all(isinstance(i, uuid.UUID) and i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    assert all(uuid.UUID(str(i)) == i for i in ids)
