"""Pure rules of the coding service: collision sequences, when a repeated registration is a change, lineage
retirement, service sequences, code parts on a date, and the dictionary views (region tree, pages, valid_on)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.dictionaries import UnknownCodeError, load_dictionaries

from coding.domain.allocation import (
    cancellation_retirement,
    code_parts,
    collision_candidates,
    lineage_retirement,
    lowest_free_code,
    next_service_sequence,
    same_code_parts,
)
from coding.domain.codes import PinyinOverrides, name_code, with_collision_sequence
from coding.domain.dictionary_views import (
    DictionaryQuery,
    catalogue,
    query_dictionary,
    region_code_of_prefix,
    region_detail,
)
from coding.domain.errors import DictionaryQueryInvalidError, EmptyNameCodeError
from coding.errors import ERRORS

BASE = "014401150203HKQYSP000000"
ELEMENTS = {"item_type": "01", "region_code": "440115", "police_type": "02", "service_category": "03",
            "short_name": "户口迁移审批"}
DICTIONARIES = load_dictionaries()
OVERRIDES = PinyinOverrides.load()


def seq(n: int, base: str = BASE) -> str:
    return with_collision_sequence(base, n)


# ---- collision sequences -------------------------------------------------------------------------------------------
def test_a_free_base_code_is_taken_as_it_is() -> None:
    assert lowest_free_code(BASE, set()) == BASE


def test_a_taken_base_code_gets_the_lowest_free_sequence() -> None:
    assert lowest_free_code(BASE, {BASE}) == seq(1)
    assert lowest_free_code(BASE, {BASE, seq(1)}) == seq(2)
    assert lowest_free_code(BASE, {BASE, seq(1), seq(3)}) == seq(2)  # a hole is filled first


def test_sequences_are_shared_by_base_codes_with_the_same_first_22_characters() -> None:
    other_base = "014401150203HKQYSP0000AB"  # same prefix, another name code tail
    assert lowest_free_code(BASE, {BASE, seq(1, other_base)}) == seq(2)


def test_a_full_code_space_gives_none() -> None:
    every = list(collision_candidates(BASE))
    assert len(every) == len(set(every)) == 100 and every[0] == BASE and every[-1] == seq(99)
    assert lowest_free_code(BASE, set(every)) is None


@settings(max_examples=200, deadline=None, database=None)
@given(st.sets(st.integers(min_value=0, max_value=99)))
def test_the_chosen_code_is_free_and_no_lower_one_is(taken_numbers: set[int]) -> None:
    taken = {BASE if n == 0 else seq(n) for n in taken_numbers}
    chosen = lowest_free_code(BASE, taken)
    if len(taken_numbers) == 100:
        assert chosen is None
        return
    assert chosen not in taken
    lowest = min(set(range(100)) - taken_numbers)
    assert chosen == (BASE if lowest == 0 else seq(lowest))


# ---- when is a repeated registration a change -----------------------------------------------------------------------
def test_the_same_elements_are_the_same_parts() -> None:
    assert same_code_parts(ELEMENTS, dict(ELEMENTS), OVERRIDES)


@pytest.mark.parametrize("key", ["item_type", "region_code", "police_type", "service_category"])
def test_a_changed_table_element_is_a_change(key: str) -> None:
    assert not same_code_parts(ELEMENTS, {**ELEMENTS, key: "99"}, OVERRIDES)


def test_a_short_name_edit_that_keeps_the_name_code_is_no_change() -> None:
    assert same_code_parts(ELEMENTS, {**ELEMENTS, "short_name": "户口迁移·审批"}, OVERRIDES)
    assert not same_code_parts(ELEMENTS, {**ELEMENTS, "short_name": "户口迁入审批"}, OVERRIDES)


def test_short_names_are_compared_under_one_dictionary_so_an_override_change_is_no_change() -> None:
    """An item coded SXHJZM before 单县 was changed to DX: the same 简称 asked again is still the same item."""
    held = {**ELEMENTS, "short_name": "单县户籍证明"}
    later = OVERRIDES.with_phrase("单县", "DX", version="later")
    assert same_code_parts(held, {**held, "short_name": "单县户籍证明（）"}, later)


def test_an_uncodable_short_name_is_a_change() -> None:
    assert not same_code_parts(ELEMENTS, {**ELEMENTS, "short_name": "（）"}, OVERRIDES)


# ---- code parts on a date ------------------------------------------------------------------------------------------
def test_code_parts_checks_every_element_on_the_day() -> None:
    parts, letters, problems = code_parts({**ELEMENTS, "region_code": "440102"}, DICTIONARIES, OVERRIDES,
                                          on=date(2004, 6, 1))
    assert problems == [] and parts is not None and parts.code() == "014401020203HKQYSP000000"
    assert letters == "HKQYSP"
    parts, _, problems = code_parts({**ELEMENTS, "region_code": "440102", "item_type": "", "short_name": "!"},
                                 DICTIONARIES, OVERRIDES, on=date(2026, 11, 1))
    assert parts is None
    assert [(p.field, p.code) for p in problems] == [
        ("item_type", "UnknownCodeError"), ("region_code", "ExpiredCodeError"), ("short_name", "EMPTY_NAME_CODE")]
    assert all(p.message for p in problems)



def test_an_uncodable_short_name_is_the_problem_the_error_table_names() -> None:
    """Preview and allocation list an uncodable 简称 among the elements' problems with the stable code and message
    the service's error table gives EmptyNameCodeError: one name for one rule."""
    *_, problems = code_parts({**ELEMENTS, "short_name": "（）"}, DICTIONARIES, OVERRIDES, on=date(2026, 11, 1))
    with pytest.raises(EmptyNameCodeError) as caught:
        name_code("（）", OVERRIDES)
    _, answer = ERRORS.render(caught.value)
    assert [(p.field, p.code, p.message) for p in problems] == [("short_name", answer["code"], answer["message"])]

# ---- lineage and services ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("item", "kind", "predecessors", "successors", "reason"),
    [
        ("a", "split", ["a"], ["b", "c"], "split"),
        ("b", "split", ["a"], ["b", "c"], None),  # a successor keeps (or later gets) its own code
        ("a", "split", ["a"], ["a", "b"], None),  # the main item lives on
        ("a", "merge", ["a", "b"], ["c"], "merged"),
        ("c", "merge", ["a", "b"], ["c"], None),
    ],
)
def test_which_item_a_split_or_merge_retires(item: str, kind: str, predecessors: list[str], successors: list[str],
                                             reason: str | None) -> None:
    assert lineage_retirement(item, kind, predecessors, successors) == reason


@pytest.mark.parametrize(("successors", "reason"), [([], "cancelled"), (["b"], "merged"), (["b", "c"], "split")])
def test_a_cancellation_listing_successors_ends_a_split_or_merge(successors: list[str], reason: str) -> None:
    assert cancellation_retirement(successors) == reason


def test_an_unknown_lineage_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown lineage kind 'fold'"):
        lineage_retirement("a", "fold", ["a"], [])


def test_service_sequences_continue_past_withdrawn_ones_and_stop_at_999() -> None:
    assert next_service_sequence([]) == 1
    assert next_service_sequence([1, 2, 5]) == 6
    assert next_service_sequence(range(1, 999)) == 999
    assert next_service_sequence([999]) is None


# ---- dictionary views ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("prefix", "code"), [("44", "440000"), ("4401", "440100"), ("440115", "440115")])
def test_a_region_prefix_stands_for_its_region(prefix: str, code: str) -> None:
    assert region_code_of_prefix(prefix) == code


@pytest.mark.parametrize("prefix", ["4", "441", "44011", "4401150", "4A", ""])
def test_a_malformed_region_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(DictionaryQueryInvalidError) as caught:
        region_code_of_prefix(prefix)
    assert caught.value.context["parameter"] == "parent"


def test_the_catalogue_lists_every_table_with_version_and_size() -> None:
    tables = {t["name"]: t for t in catalogue(DICTIONARIES)["dictionaries"]}
    assert tables["item_types"]["entries"] == 11 and tables["regions"]["hierarchical"] is True
    assert tables["regions"]["version"] == "2026.09.11"


def test_pages_follow_the_cursor_without_gaps_or_repeats() -> None:
    seen, cursor = [], None
    while True:
        page = query_dictionary(DICTIONARIES.regions, DictionaryQuery(parent="44", cursor=cursor, limit=7))
        seen += [e["code"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    every = sorted(e.code for e in DICTIONARIES.regions.children("440000"))
    assert seen == every and page["total"] == len(every)


def test_valid_on_level_and_q_filter_regions() -> None:
    query = DictionaryQuery(valid_on=date(2026, 11, 1), level=2, q="广州")
    page = query_dictionary(DICTIONARIES.regions, query)
    assert [(e["code"], e["label"], e["level"]) for e in page["entries"]] == [("440100", "广州市", 2)]
    by_code = query_dictionary(DICTIONARIES.regions, DictionaryQuery(q="4401", limit=1000))
    assert all(e["code"].startswith("4401") or "4401" in e["label"] for e in by_code["entries"])
    assert query_dictionary(DICTIONARIES.regions, DictionaryQuery(parent="4401", valid_on=date(2004, 1, 1)))[
        "entries"][0]["code"] == "440102"


def test_children_counts_respect_valid_on() -> None:
    then = region_detail(DICTIONARIES.regions, "4401", date(2004, 1, 1))
    now = region_detail(DICTIONARIES.regions, "4401", date(2026, 11, 1))
    assert "440102" in {c["code"] for c in then["children"]} and "440102" not in {c["code"] for c in now["children"]}
    assert then["child_count"] == len(then["children"]) and now["child_count"] == len(now["children"])


def test_region_parameters_do_not_apply_to_flat_tables() -> None:
    for query in (DictionaryQuery(parent="44"), DictionaryQuery(level=1)):
        with pytest.raises(DictionaryQueryInvalidError):
            query_dictionary(DICTIONARIES.item_types, query)


def test_an_unknown_parent_is_an_unknown_code() -> None:
    with pytest.raises(UnknownCodeError):
        query_dictionary(DICTIONARIES.regions, DictionaryQuery(parent="999999"))
