"""Place names in short names (地名读音表): every division name of the region table is read as its source reads it,
with and without its level suffix, inside short names; an administrator's override still wins; everyday polyphones
outside place names keep pypinyin's phrase readings; and the preview can say which rule gave each letter."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from pypinyin import Style, lazy_pinyin

from coding.domain.codes import PinyinOverrides, explain_letters, name_code, name_letters
from coding.domain.place_names import DEFAULT_PLACE_NAMES_PATH, Place, PlaceNames

ROOT = Path(__file__).resolve().parents[2]
REGIONS = ROOT / "shared" / "data" / "dictionaries" / "regions.csv"
HAND = ROOT / "scripts" / "place_names_by_hand.json"
PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


def table_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(line for line in path.read_text(encoding="utf-8").splitlines()
                               if not line.startswith("#")))


@pytest.fixture(scope="module")
def overrides() -> PinyinOverrides:
    return PinyinOverrides.load()


@pytest.fixture(scope="module")
def places() -> list[dict[str, str]]:
    return table_rows(DEFAULT_PLACE_NAMES_PATH)


@pytest.fixture(scope="module")
def current(places: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in places if r["current"] == "1"]


def test_the_table_reads_every_name_of_the_region_table_current_and_retired(places: list[dict[str, str]]) -> None:
    regions = {(r["code"], r["name"]) for r in table_rows(REGIONS) if r["name"] not in PLACEHOLDERS}
    assert {(r["code"], r["name"]) for r in places} == regions
    header = DEFAULT_PLACE_NAMES_PATH.read_text(encoding="utf-8").splitlines()
    region_version = next(line for line in REGIONS.read_text(encoding="utf-8").splitlines()
                          if line.startswith("# version:")).split(":", 1)[1].strip()
    assert f"# regions: regions.csv {region_version}" in header  # versioned with the region data
    for row in places:
        assert len(row["letters"]) == len(row["name"]) and row["letters"].isupper(), row
        assert row["source"] in ("cedict", "pypinyin", "hand"), row
        assert len(row["reading"].split()) == len(row["name"]), row


def test_every_current_region_name_goes_through_the_name_code_path_as_the_source_reads_it(
        current: list[dict[str, str]], overrides: PinyinOverrides) -> None:
    """≈ 3,200 current names, each alone, with a short name after it, and without its level suffix."""
    assert len(current) > 3200
    wrong = []
    for row in current:
        name, place, letters = row["name"], row["place"], row["letters"]
        if name_letters(name, overrides) != letters:
            wrong.append(f"{name}: {name_letters(name, overrides)} ≠ {letters}")
        if not name_letters(f"{name}户籍证明", overrides).startswith(letters):
            wrong.append(f"{name}户籍证明: {name_letters(f'{name}户籍证明', overrides)}")
        if len(place) >= 2 and not name_letters(f"{place}居住证签注", overrides).startswith(letters[:len(place)]):
            wrong.append(f"{place}居住证签注: {name_letters(f'{place}居住证签注', overrides)}")
    assert not wrong, f"{len(wrong)} names read otherwise than the table: {wrong[:20]}"


@pytest.mark.parametrize(("short_name", "expected"), [
    ("单县户籍证明", "SXHJZM"),  # Shàn Xiàn; pypinyin alone: DX
    ("长治市居民身份证", "CZSJMSFZ"),  # Chángzhì; pypinyin: ZZ
    ("长治居民身份证", "CZJMSFZ"),  # the same place without its suffix
    ("洪洞县居住证", "HTXJZZ"),  # Hóngtóng
    ("涡阳县户口迁移", "GYXHKQY"),  # Guōyáng
    ("浚县户籍证明", "XXHJZM"),  # Xùn Xiàn
    ("漯河市居住证签注", "LHSJZZQZ"),  # Luòhé
    ("召陵区户籍证明", "SLQHJZM"),  # Shàolíng
    ("泊头市户籍证明", "BTSHJZM"),  # Bótóu
    ("闵行区居住证", "MHQJZZ"),  # Mǐnháng; pypinyin: MX
    ("马尾区户籍证明", "MWQHJZM"),  # Mǎwěi
    ("曾都区户籍证明", "ZDQHJZM"),  # Zēngdū; pypinyin: CD
    ("长白朝鲜族自治县户籍证明", "CBCXZZZXHJZM"),  # the full autonomous county
    ("长白户籍证明", "CBHJZM"),  # and its place name alone
    ("宕昌县户籍证明", "TCXHJZM"),  # Tànchāng (hand: CC-CEDICT says Dàng)
    ("筠连县户籍证明", "JLXHJZM"),  # Jūnlián (hand: CC-CEDICT says Yún)
    ("子长市居住证", "ZCSJZZ"),  # Zǐcháng (hand: CC-CEDICT lacks it, pypinyin says zhǎng)
    ("长子县户籍证明", "ZZXHJZM"),  # Zhǎngzǐ: 长 really is zhǎng here
    ("蚌埠市户口迁移", "BBSHKQY"),  # Bèngbù
    ("六安市户籍证明", "LASHJZM"),  # Lù'ān
])
def test_short_names_beginning_with_a_place_read_the_place_right(short_name: str, expected: str,
                                                                  overrides: PinyinOverrides) -> None:
    assert name_letters(short_name, overrides) == expected


@pytest.mark.parametrize(("short_name", "expected"), [
    ("银行卡挂失", "YHKGS"), ("重新申领居民身份证", "CXSLJMSFZ"), ("治安调解", "ZATJ"),
    ("会计师事务所备案", "KJSSWSBA"), ("长期居住证明", "CQJZZM"), ("行驶证补领", "XSZBL"),
    ("单位户口迁移", "DWHKQY"), ("朝阳产业备案", "ZYCYBA"),  # 朝阳产业: the morning sun, no place named 朝阳产
])
def test_everyday_polyphones_outside_place_names_keep_their_readings(short_name: str, expected: str,
                                                                      overrides: PinyinOverrides) -> None:
    """(朝阳产业 shows the limit of matching: 朝阳 is a place name, so a short name that begins with the everyday
    word reads CY unless an administrator adds the phrase — which then wins.)"""
    with_phrase = overrides.with_phrase("朝阳产业", "ZYCY")
    assert name_letters(short_name, with_phrase) == expected
    if short_name != "朝阳产业备案":
        assert name_letters(short_name, overrides) == expected


def test_an_administrators_override_still_wins_over_a_place_name(overrides: PinyinOverrides) -> None:
    assert name_letters("长治市户籍证明", overrides) == "CZSHJZM"
    changed = overrides.with_phrase("长治", "XX")
    assert name_letters("长治市户籍证明", changed) == "XXSHJZM"
    assert [(p.text, p.rule) for p in explain_letters("长治市户籍证明", changed)][:2] == [
        ("长治", "override"), ("市", "character")]


def test_the_longest_place_name_wins(overrides: PinyinOverrides) -> None:
    pieces = explain_letters("长白朝鲜族自治县户籍证明", overrides)
    assert (pieces[0].text, pieces[0].rule, pieces[0].place.code) == ("长白朝鲜族自治县", "place", "220623")
    pieces = explain_letters("南沙区户籍证明", overrides)
    assert (pieces[0].text, pieces[0].letters, pieces[0].place.name) == ("南沙区", "NSQ", "南沙区")


def test_each_letter_says_which_rule_gave_it(overrides: PinyinOverrides) -> None:
    pieces = explain_letters("单县·ETC卡 重新申领（补）", overrides)
    assert [(p.text, p.letters, p.rule) for p in pieces] == [
        ("单县", "SX", "place"), ("·", "", "dropped"), ("ETC", "ETC", "latin"), ("卡", "K", "character"),
        (" ", "", "dropped"), ("重新", "CX", "phrase"), ("申", "S", "character"), ("领", "L", "character"),
        ("(", "", "dropped"), ("补", "B", "character"), (")", "", "dropped")]
    assert pieces[0].place is not None and pieces[0].place.reading == "Shan4 xian4"


def test_the_explanation_is_exactly_the_reading(current: list[dict[str, str]], overrides: PinyinOverrides) -> None:
    items = ["户籍证明", "居住证签注", "机动车驾驶证申领", "重新申领", "ETC卡办理", "（补）"]
    for row in current[::7]:
        for item in items:
            short_name = f"{row['name']}{item}"
            assert "".join(p.letters for p in explain_letters(short_name, overrides)) == \
                name_letters(short_name, overrides), short_name


def test_a_place_name_part_two_places_read_differently_is_left_out() -> None:
    places = PlaceNames.of("t", [Place("1", "甲乙县", "甲乙", "JYX", "jia3 yi3 xian4", "hand"),
                                 Place("2", "甲乙市", "甲乙", "ZYS", "zhi1 yi3 shi4", "hand")])
    assert places.get("甲乙") is None and places.get("甲乙县").letters == "JYX"
    overrides = PinyinOverrides(phrases={}, version="t", places=places)
    assert name_letters("甲乙户籍", overrides) == "".join(lazy_pinyin("甲乙户籍", style=Style.FIRST_LETTER)).upper()


def test_every_hand_decision_says_why_and_names_a_place_of_the_table(places: list[dict[str, str]]) -> None:
    readings = json.loads(HAND.read_text(encoding="utf-8"))["readings"]
    names, codes = {r["name"] for r in places}, {r["code"] for r in places}
    for key, entry in readings.items():
        assert key in names or key in codes, key
        assert entry["reason"].strip() and len(entry["letters"]) == len(entry["reading"].split()), key
    assert sum(r["source"] == "hand" for r in places) >= len(readings)


def test_name_codes_stay_twelve_characters_with_long_place_names(overrides: PinyinOverrides) -> None:
    assert name_code("新疆维吾尔自治区公安厅出入境证件签发", overrides) == "XJWWEZZQGATC"
