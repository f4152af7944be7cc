"""The pure parts behind the operators' console's overview and catalogue-quality pages: which level a region
breakdown groups by, the lifecycle's statistics as shaped from its counts, completeness shares and labels, and
which of its province's standard items a county implements (the consistency report's same-item rule)."""

from __future__ import annotations

from datetime import date

from shared.dictionaries import load_dictionaries, next_region_level

from lifecycle.domain.statistics import item_statistics
from registry.domain.consistency import same_item_keys
from registry.domain.quality import Group, Incomplete, Record, completeness, counties_under, coverage, share

DICTIONARIES = load_dictionaries()
REGIONS = DICTIONARIES.regions


def test_a_region_breakdown_groups_by_the_level_below_the_prefix() -> None:
    assert [next_region_level(p) for p in (None, "44", "4401", "440115")] == [2, 4, 6, 6]
    assert (REGIONS.name_of("44"), REGIONS.name_of("4401"), REGIONS.name_of("440115")) == (
        "广东省", "广州市", "南沙区")
    assert REGIONS.name_of("99") is None


def test_statistics_list_every_phase_in_lifecycle_order_and_count_regions_and_police_types() -> None:
    stats = item_statistics("44", [("4401", "online", 2), ("4401", "forming", 1), ("4403", "cancelled", 1)],
                            [("02", 3), ("01", 1)], DICTIONARIES)
    assert stats["region"] == {"code": "44", "name": "广东省"} and stats["total"] == 4
    assert [(p["phase"], p["label"], p["count"]) for p in stats["phases"]] == [
        ("forming", "形成期", 1), ("preparing", "上线准备期", 0), ("online", "在线期", 2), ("offline", "离线期", 0),
        ("cancelled", "注销期", 1)]
    assert stats["regions"] == [
        {"code": "4401", "name": "广州市", "count": 3,
         "phases": {"forming": 1, "preparing": 0, "online": 2, "offline": 0, "cancelled": 0}},
        {"code": "4403", "name": "深圳市", "count": 1,
         "phases": {"forming": 0, "preparing": 0, "online": 0, "offline": 0, "cancelled": 1}}]
    assert [(p["code"], p["count"]) for p in stats["police_types"]] == [("01", 1), ("02", 3)]
    assert all(p["name"] for p in stats["police_types"])
    empty = item_statistics(None, [], [], DICTIONARIES)
    assert (empty["region"], empty["total"], empty["regions"], [p["count"] for p in empty["phases"]]) == (
        None, 0, [], [0] * 5)


def test_completeness_gives_shares_and_names_what_an_incomplete_item_lacks_in_chinese() -> None:
    lacking = Incomplete("i2", "临时身份证明", ("implementing_agency", "service_guide.materials[0].name"))
    report = completeness([Group("4401", 2, 1, (lacking,)), Group("4403", 0, 0, ())],
                          [Group(None, 2, 1, (lacking,))], REGIONS)
    guangzhou, empty = report["by_region"]
    assert (guangzhou["name"], guangzhou["share"], guangzhou["incomplete_total"]) == ("广州市", 0.5, 1)
    assert guangzhou["incomplete"] == [{"item_id": "i2", "name": "临时身份证明",
                                        "missing": ["实施机关", "办事指南·申请材料第1条·名称"]}]
    assert empty["share"] is None  # no items: no share, not 0 %
    assert report["by_department"][0]["department"] is None
    assert share(1, 3) == 0.3333


def test_a_county_implements_a_standard_item_by_the_same_basic_code_or_the_same_name_in_the_province() -> None:
    standard = [Record("a", "440000", "户口迁移审批", "000144011502"), Record("b", "440000", "居民身份证申领", None)]
    county_items = [Record("", "440115", "户口迁移（审批）", "000144011502"),  # A by its 基本编码
                    Record("", "440106", "居民身份证申领", None),  # B by its name
                    Record("", "110105", "户口迁移审批", None)]  # another province: not Guangdong's
    counties = [("440115", "南沙区"), ("440106", "天河区"), ("440104", "越秀区"), ("110105", "朝阳区")]
    report = {c["county_code"]: c for c in coverage(counties, standard, county_items, cap=1)}
    assert set(report) == {"440115", "440106", "440104"}  # Beijing has no standard items
    assert (report["440115"]["implemented"], report["440115"]["missing"]) == (1, [{"item_id": "b",
                                                                                   "name": "居民身份证申领"}])
    assert (report["440106"]["implemented"], report["440106"]["missing"][0]["item_id"]) == (1, "a")
    assert (report["440104"]["implemented"], report["440104"]["share"], report["440104"]["missing_total"],
            len(report["440104"]["missing"])) == (0, 0.0, 2, 1)  # capped, with the total


def test_the_same_item_rule_is_the_consistency_reports() -> None:
    assert set(same_item_keys("440115", "户口迁移审批", None)) & set(same_item_keys("440000", "户口迁移审批", "X"))
    assert not set(same_item_keys("440115", "户口迁移审批", None)) & set(
        same_item_keys("110000", "户口迁移审批", None))  # names compare within one province only


def test_counties_are_the_current_ones_under_the_prefix() -> None:
    counties = dict(counties_under(REGIONS, "4401", on=date(2026, 1, 1)))
    assert counties["440115"] == "南沙区" and "440102" not in counties  # 东山区 was merged away in 2005
    assert all(code.startswith("4401") and not code.endswith("00") for code in counties)
