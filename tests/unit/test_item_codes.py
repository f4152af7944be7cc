"""Item codes (事项编码): name codes from real public-security short names, overrides, structure, sequences.

Every expected code below is a literal written by hand from the standard readings of the names (行驶证 xíng,
行业 háng, 重新 chóng, 重点 zhòng, 长期 cháng, 单位 dān, 单县 Shàn, 朝阳 Cháo, 乐 lè/yuè, 曾 céng, 校 xiào, 场 chǎng,
调解 tiáo, 落户 luò …), never computed by the code under test.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin import Style, lazy_pinyin

# The suite normally runs from an editable install (make test); fall back to the source tree.
if importlib.util.find_spec("coding") is None:  # pragma: no cover - depends on how the venv was built
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "coding"))

from shared.errors import DomainError

from coding.domain.codes import (
    DEFAULT_OVERRIDES_PATH,
    ITEM_CODE_LENGTH,
    NAME_CODE_LENGTH,
    SERVICE_SEQUENCE_MAX,
    ItemCodeParts,
    PinyinOverrides,
    compose_code,
    decode_code,
    decode_service_code,
    display_code,
    explain_letters,
    name_code,
    name_letters,
    service_code,
    with_collision_sequence,
)
from coding.domain.errors import (
    CodingError,
    EmptyNameCodeError,
    MalformedCodeError,
    PinyinOverrideInvalidError,
    PinyinOverrideNotFoundError,
    SequenceOutOfRangeError,
)
from coding.errors import ERRORS

# Fixed parts for the table: 01 行政许可 · 440115 广州市南沙区 · 02 户政管理 · 01 证件办理.
PREFIX = "014401150201"
CHINESE = re.compile("[\u4e00-\u9fff]")
NAME_CODE_SHAPE = re.compile("[0-9A-Z]{12}")
NO_OVERRIDES = PinyinOverrides(phrases={}, version="test-empty")


def rendered(error: DomainError) -> dict[str, Any]:
    """The error as the API would answer it (the service's one error table): stable code, message, details."""
    return ERRORS.render(error)[1]


@pytest.fixture(scope="module")
def overrides() -> PinyinOverrides:
    return PinyinOverrides.load()


def parts_for(short_name: str, overrides: PinyinOverrides) -> ItemCodeParts:
    return ItemCodeParts("01", "440115", "02", "01", name_code(short_name, overrides))


# ------------------------------------------------------------------------------------- real item short names
# (short name, expected full 24-character code for PREFIX). Names from the seeds, domain.md and the national
# public-security item catalogue (户政 · 出入境 · 交管 · 治安 · 网安 · 禁毒 · 消防 · 监管).
REAL_ITEMS: list[tuple[str, str]] = [
    # 户政
    ("户口迁移审批", "014401150201HKQYSP000000"),
    ("居民身份证办理（包括临时）", "014401150201JMSFZBLBKLS0"),
    ("户籍证明", "014401150201HJZM00000000"),
    ("暂住证/居住证签注", "014401150201ZZZJZZQZ0000"),
    ("出生登记", "014401150201CSDJ00000000"),
    ("死亡注销", "014401150201SWZX00000000"),
    ("户口登记项目变更更正", "014401150201HKDJXMBGGZ00"),  # 更 gēng
    ("居住证核发", "014401150201JZZHF0000000"),
    ("居民身份证异地受理", "014401150201JMSFZYDSL000"),
    ("港澳台居民居住证申领", "014401150201GATJMJZZSL00"),
    ("居民身份证换领", "014401150201JMSFZHL00000"),
    ("临时居民身份证申领", "014401150201LSJMSFZSL000"),
    ("曾用名登记", "014401150201CYMDJ0000000"),  # 曾 céng
    ("夫妻投靠落户", "014401150201FQTKLH000000"),  # 落 luò
    ("出国（境）定居注销户口", "014401150201CGJDJZXHK000"),
    ("户口簿补领", "014401150201HKBBL0000000"),
    ("分户登记", "014401150201FHDJ00000000"),
    ("收养入户", "014401150201SYRH00000000"),
    ("公民身份号码变更", "014401150201GMSFHMBG0000"),
    ("民族成分变更", "014401150201MZCFBG000000"),
    ("出具无犯罪记录证明", "014401150201CJWFZJLZM000"),
    # 出入境
    ("普通护照签发", "014401150201PTHZQF000000"),
    ("往来港澳通行证签发", "014401150201WLGATXZQF000"),  # 通行 xíng
    ("出入境通行证签发", "014401150201CRJTXZQF0000"),
    ("往来台湾通行证签发", "014401150201WLTWTXZQF000"),
    ("往来港澳通行证及签注签发", "014401150201WLGATXZJQZQF"),  # exactly 12
    ("台湾居民来往大陆通行证签发", "014401150201TWJMLWDLTXZQ"),  # 13 → 12
    ("大陆居民往来台湾通行证签发", "014401150201DLJMWLTWTXZQ"),
    ("港澳居民来往内地通行证签发", "014401150201GAJMLWNDTXZQ"),
    ("外国人签证延期、换发、补发", "014401150201WGRQZYQHFBF0"),
    ("外国人永久居留身份证申请", "014401150201WGRYJJLSFZSQ"),
    ("边境管理区通行证签发", "014401150201BJGLQTXZQF00"),
    ("出入境记录查询", "014401150201CRJJLCX00000"),  # 查 chá
    ("出入境证件相片质量检测", "014401150201CRJZJXPZLJC0"),  # 相片 xiàng
    ("外国人住宿登记", "014401150201WGRZSDJ00000"),  # 宿 sù
    ("境外人员临时住宿登记", "014401150201JWRYLSZSDJ00"),
    # 交管
    ("机动车注册登记", "014401150201JDCZCDJ00000"),
    ("机动车驾驶证申领", "014401150201JDCJSZSL0000"),
    ("机动车行驶证补领", "014401150201JDCXSZBL0000"),  # 行驶 xíng
    ("机动车驾驶证换证", "014401150201JDCJSZHZ0000"),
    ("机动车转移登记", "014401150201JDCZYDJ00000"),
    ("机动车变更登记", "014401150201JDCBGDJ00000"),
    ("机动车抵押登记", "014401150201JDCDYDJ00000"),
    ("机动车解除抵押登记", "014401150201JDCJCDYDJ000"),
    ("机动车注销登记", "014401150201JDCZXDJ00000"),
    ("机动车号牌补领", "014401150201JDCHPBL00000"),
    ("机动车临时通行牌证核发", "014401150201JDCLSTXPZHF0"),
    ("机动车检验合格标志核发", "014401150201JDCJYHGBZHF0"),
    ("机动车驾驶证重新申领", "014401150201JDCJSZCXSL00"),  # 重新 chóng
    ("临时入境机动车号牌和行驶证核发", "014401150201LSRJJDCHPHXS"),
    ("校车驾驶资格许可", "014401150201XCJSZGXK0000"),  # 校 xiào
    ("机动车驾驶人考试", "014401150201JDCJSRKS0000"),
    ("道路交通事故处理", "014401150201DLJTSGCL0000"),
    ("交通违法行为处理", "014401150201JTWFXWCL0000"),  # 行为 xíng
    ("交通事故损害赔偿调解", "014401150201JTSGSHPCTJ00"),  # 调解 tiáo
    ("累积记分满分教育", "014401150201LJJFMFJY0000"),  # 累 lěi
    ("电动自行车登记", "014401150201DDZXCDJ00000"),
    ("驾驶人培训学校备案", "014401150201JSRPXXXBA000"),
    ("剧毒化学品道路运输通行证核发", "014401150201JDHXPDLYSTXZ"),
    ("放射性物品道路运输许可", "014401150201FSXWPDLYSXK0"),
    # 治安
    ("枪支持有许可", "014401150201QZCYXK000000"),
    ("持枪证件核发", "014401150201CQZJHF000000"),
    ("枪支（弹药）运输许可", "014401150201QZDYYSXK0000"),  # 弹 dàn
    ("民用爆炸物品购买许可", "014401150201MYBZWPGMXK00"),
    ("民用爆炸物品运输许可", "014401150201MYBZWPYSXK00"),
    ("爆破作业单位许可证核发", "014401150201BPZYDWXKZHF0"),  # 单位 dān
    ("旅馆业特种行业许可证核发", "014401150201LGYTZHYXKZHF"),  # 种 zhǒng, 行业 háng
    ("典当业特种行业许可证核发", "014401150201DDYTZHYXKZHF"),  # 当 dàng
    ("公章刻制备案", "014401150201GZKZBA000000"),
    ("犯罪记录证明开具", "014401150201FZJLZMKJ0000"),
    ("大型群众性活动安全许可", "014401150201DXQZXHDAQXK0"),
    ("烟花爆竹道路运输许可", "014401150201YHBZDLYSXK00"),
    ("焰火晚会烟花爆竹燃放许可", "014401150201YHWHYHBZRFXK"),
    ("保安服务公司设立许可", "014401150201BAFWGSSLXK00"),
    ("保安员证核发", "014401150201BAYZHF000000"),
    ("保安培训许可", "014401150201BAPXXK000000"),
    ("剧毒化学品购买许可证核发", "014401150201JDHXPGMXKZHF"),
    ("金融机构营业场所、金库安全防范设施建设方案审批", "014401150201JRJGYYCSJKAQ"),  # 场所 chǎng
    ("娱乐场所备案", "014401150201YLCSBA000000"),  # 乐 lè
    ("营业性射击场设立许可", "014401150201YYXSJCSLXK00"),
    ("管制刀具购买许可", "014401150201GZDJGMXK0000"),
    ("警用标志制式服装销售许可", "014401150201JYBZZSFZXSXK"),
    ("弩的购买许可", "014401150201NDGMXK000000"),
    ("旧货业备案", "014401150201JHYBA0000000"),
    ("机动车修理业备案", "014401150201JDCXLYBA0000"),
    ("重点行业治安管理", "014401150201ZDHYZAGL0000"),  # 重点 zhòng, 行业 háng
    ("养犬登记", "014401150201YQDJ00000000"),
    # 网安 · 禁毒 · 消防 · 监管
    ("互联网单位备案", "014401150201HLWDWBA00000"),
    ("互联网上网服务营业场所信息网络安全审核", "014401150201HLWSWFWYYCSX"),
    ("计算机信息系统安全专用产品销售许可", "014401150201JSJXXXTAQZYC"),
    ("信息系统安全等级保护备案", "014401150201XXXTAQDJBHBA"),
    ("易制毒化学品购买备案证明", "014401150201YZDHXPGMBAZM"),
    ("第一类易制毒化学品购买许可", "014401150201DYLYZDHXPGMX"),
    ("易制爆危险化学品从业单位备案", "014401150201YZBWXHXPCYDW"),
    ("公众聚集场所投入使用、营业前消防安全检查", "014401150201GZJJCSTRSYYY"),
    ("建设工程消防验收备案", "014401150201JSGCXFYSBA00"),
    ("消防验收", "014401150201XFYS00000000"),
    ("看守所会见", "014401150201KSSHJ0000000"),
]


def test_the_table_holds_at_least_sixty_distinct_real_names() -> None:
    names = [name for name, _ in REAL_ITEMS]
    assert len(names) >= 60
    assert len(set(names)) == len(names)
    assert all(len(code) == ITEM_CODE_LENGTH and code.startswith(PREFIX) for _, code in REAL_ITEMS)


@pytest.mark.parametrize(("short_name", "expected"), REAL_ITEMS, ids=[n for n, _ in REAL_ITEMS])
def test_real_item_names_give_the_expected_code(
    short_name: str, expected: str, overrides: PinyinOverrides
) -> None:
    parts = parts_for(short_name, overrides)
    assert compose_code(parts) == expected
    assert parts.code() == expected
    assert decode_code(expected) == parts


# ------------------------------------------------------------------------------------------------- polyphones
@pytest.mark.parametrize(
    ("phrase", "letters"),
    [
        ("重新申领", "CXSL"),  # chóng xīn, not zhòng
        ("行驶证", "XSZ"),  # xíng
        ("长期居住", "CQJZ"),  # cháng
        ("银行", "YH"),  # háng
        ("特种行业", "TZHY"),  # háng
        ("单位", "DW"),  # dān, the override 单县 must not leak
        ("娱乐", "YL"),  # lè
        ("音乐", "YY"),  # yuè
        ("校车", "XC"),  # xiào
        ("曾用名", "CYM"),  # céng
        ("调解", "TJ"),  # tiáo
        ("变更更正", "BGGZ"),  # gēng
    ],
)
def test_pypinyin_phrase_dictionary_reads_common_polyphones(
    phrase: str, letters: str, overrides: PinyinOverrides
) -> None:
    assert name_letters(phrase, overrides) == letters


@pytest.mark.parametrize(
    ("short_name", "expected_name_code"),
    [
        # An override in the middle must not stop pypinyin from seeing the rest as whole phrases.
        ("单县银行", "SXYH00000000"),  # char by char 行 would read xíng → SXYX
        ("单县居民身份证重新申领", "SXJMSFZCXSL0"),  # char by char 重 would read zhòng → SXJMSFZZXSL
        ("重新申领单县", "CXSLSX000000"),
        ("朝阳长期居住证明", "CYCQJZZM0000"),  # char by char 长 would read zhǎng
        ("长治行驶证补领", "CZXSZBL00000"),
    ],
)
def test_overrides_split_runs_without_breaking_pypinyin_phrases(
    short_name: str, expected_name_code: str, overrides: PinyinOverrides
) -> None:
    assert name_code(short_name, overrides) == expected_name_code


# -------------------------------------------------------------------------------------------------- overrides
@pytest.mark.parametrize(
    ("short_name", "with_overrides", "pypinyin_alone"),
    [
        ("单县户籍证明", "SXHJZM000000", "DXHJZM000000"),  # 单县 Shàn Xiàn
        ("朝阳市户口迁移审批", "CYSHKQYSP000", "ZYSHKQYSP000"),  # 朝阳 Cháoyáng (辽宁)
        ("朝阳县居住证核发", "CYXJZZHF0000", "ZYXJZZHF0000"),
        ("长治市犯罪记录证明开具", "CZSFZJLZMKJ0", "ZZSFZJLZMKJ0"),  # 长治 Chángzhì
        ("长宁区居住证核发", "CNQJZZHF0000", "ZNQJZZHF0000"),  # 长宁 Chángníng (上海)
        ("洪洞县户籍证明", "HTXHJZM00000", "HDXHJZM00000"),  # 洪洞 Hóngtóng
        ("漯河市户口迁移审批", "LHSHKQYSP000", "THSHKQYSP000"),  # 漯河 Luòhé
        ("涡阳县户籍证明", "GYXHJZM00000", "WYXHJZM00000"),  # 涡阳 Guōyáng
        ("浚县户籍证明", "XXHJZM000000", "JXHJZM000000"),  # 浚县 Xùn Xiàn
        ("南乐县户籍证明", "NLXHJZM00000", "NYXHJZM00000"),  # 南乐 Nánlè
        ("泊头市户籍证明", "BTSHJZM00000", "PTSHJZM00000"),  # 泊头 Bótóu
    ],
)
def test_place_name_overrides_correct_pypinyin(
    short_name: str, with_overrides: str, pypinyin_alone: str, overrides: PinyinOverrides
) -> None:
    assert name_code(short_name, overrides) == with_overrides
    assert name_code(short_name, NO_OVERRIDES) == pypinyin_alone


@pytest.mark.parametrize(
    ("short_name", "expected"),
    [
        ("朝阳区户籍证明", "CYQHJZM00000"),  # pypinyin already reads 朝阳区 right; the override agrees
        ("蚌埠市户口迁移审批", "BBSHKQYSP000"),  # Bèngbù: pypinyin right, no override needed
        ("六安市户籍证明", "LASHJZM00000"),  # Lù'ān
        ("丽水市居住证核发", "LSSJZZHF0000"),  # Líshuǐ
        ("乐清市居住证核发", "YQSJZZHF0000"),  # Yuèqīng
        ("长子县户籍证明", "ZZXHJZM00000"),  # Zhǎngzǐ: 长 really is zhǎng here
    ],
)
def test_places_pypinyin_already_reads_right(short_name: str, expected: str, overrides: PinyinOverrides) -> None:
    assert name_code(short_name, overrides) == expected
    assert name_code(short_name, NO_OVERRIDES) == expected


def test_packaged_dictionary_loads_with_the_place_name_table(overrides: PinyinOverrides) -> None:
    assert overrides.version == "2026.12.1"
    assert len(overrides.places) > 6000  # every division name, with and without its level suffix
    assert overrides.dictionary_version == f"2026.12.1/{overrides.places.version}"
    for short_name, letters in (("单县", "SX"), ("朝阳区", "CYQ"), ("长治市", "CZS")):  # the place table reads them
        assert name_letters(short_name, overrides) == letters
        assert [p.rule for p in explain_letters(short_name, overrides)] == ["place"]


def test_every_packaged_override_corrects_something_neither_pypinyin_nor_the_place_table_gets(
        overrides: PinyinOverrides) -> None:
    """Keeps the hand dictionary minimal: if pypinyin or the place table comes to read an entry right, this test
    says which one to drop; and every entry says why it is there."""
    without = PinyinOverrides(phrases={}, version="none", places=overrides.places)
    for phrase, letters in overrides.phrases.items():
        assert name_letters(phrase, overrides) == letters
        assert name_letters(phrase, without) != letters, f"{phrase} is read right without the entry; drop it"
        assert overrides.reasons.get(phrase), f"{phrase} has no reason"


def test_packaged_data_file_has_the_documented_shape() -> None:
    path = DEFAULT_OVERRIDES_PATH
    assert path.parts[-3:] == ("coding", "data", "pinyin_overrides.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert set(document) == {"version", "description", "phrases"}
    assert all(set(entry) == {"letters", "reason"} for entry in document["phrases"].values())
    assert PinyinOverrides.load(path) == PinyinOverrides.load()


def test_longest_override_wins() -> None:
    base = NO_OVERRIDES.with_phrase("朝阳", "CY")
    assert name_letters("朝阳区户籍证明", base) == "CYQHJZM"
    longer = base.with_phrase("朝阳区", "XYZ")
    assert name_letters("朝阳区户籍证明", longer) == "XYZHJZM"
    assert name_letters("朝阳市", longer) == "CYS"


def test_with_phrase_returns_a_new_dictionary() -> None:
    base = PinyinOverrides(phrases={"单县": "SX"}, version="1")
    changed = base.with_phrase("户口", "AB", version="2")
    assert base.phrases == {"单县": "SX"} and base.version == "1"
    assert changed.phrases == {"单县": "SX", "户口": "AB"} and changed.version == "2"
    assert name_code("户口迁移审批", changed) == "ABQYSP000000"
    assert name_code("户口迁移审批", base) == "HKQYSP000000"
    assert base.with_phrase("单县", "DX").phrases["单县"] == "DX"  # replace
    assert base.with_phrase("单县", "DX").version == "1"
    assert changed.without_phrase("户口").phrases == {"单县": "SX"}


def test_overrides_are_immutable() -> None:
    base = PinyinOverrides(phrases={"单县": "SX"}, version="1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.version = "2"  # type: ignore[misc]
    with pytest.raises(TypeError):
        base.phrases["朝阳"] = "CY"  # type: ignore[index]
    source = {"单县": "SX"}
    copied = PinyinOverrides(phrases=source, version="1")
    source["朝阳"] = "CY"
    assert "朝阳" not in copied.phrases
    assert hash(copied) == hash(PinyinOverrides(phrases={"单县": "SX"}, version="1"))


@pytest.mark.parametrize(
    ("phrase", "letters"),
    [
        ("单县", "sx"),  # lowercase
        ("单县", "S"),  # one letter short
        ("单县", "SXX"),  # one letter too many
        ("单县", "S1"),  # digit
        ("单县", "ＳＸ"),  # full-width letters
        ("", ""),  # empty
        ("C1", "CY"),  # not CJK
        ("单县1", "SXY"),  # mixed
        ("单 县", "SXX"),  # space
        ("（单县）", "XSXX"),  # punctuation
    ],
)
def test_with_phrase_validates(phrase: str, letters: str) -> None:
    with pytest.raises(PinyinOverrideInvalidError) as caught:
        NO_OVERRIDES.with_phrase(phrase, letters)
    assert rendered(caught.value)["code"] == "PINYIN_OVERRIDE_INVALID"
    assert CHINESE.search(caught.value.context["reason"])


def test_without_phrase_of_an_unknown_phrase_fails() -> None:
    with pytest.raises(PinyinOverrideNotFoundError):
        NO_OVERRIDES.without_phrase("单县")


def test_load_from_a_given_path(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"version": "t1", "phrases": {"单县": "SX"}}, ensure_ascii=False), encoding="utf-8")
    loaded = PinyinOverrides.load(path)
    assert loaded == PinyinOverrides(phrases={"单县": "SX"}, version="t1")
    assert loaded.as_dict() == {"version": "t1", "phrases": {"单县": "SX"}}


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"version": "t1"}),
        json.dumps({"phrases": {"单县": "SX"}}),
        json.dumps({"version": "", "phrases": {}}),
        json.dumps({"version": "t1", "phrases": {"单县": "sx"}}, ensure_ascii=False),
        json.dumps({"version": "t1", "phrases": ["单县", "SX"]}, ensure_ascii=False),
    ],
)
def test_load_rejects_a_bad_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "overrides.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PinyinOverrideInvalidError):
        PinyinOverrides.load(path)


# ------------------------------------------------------------------------------ ASCII, punctuation, truncation
@pytest.mark.parametrize(
    ("short_name", "expected_name_code"),
    [
        ("C1驾驶证", "C1JSZ0000000"),
        ("c1驾驶证", "C1JSZ0000000"),  # ASCII upper-cased
        ("Ｃ１驾驶证", "C1JSZ0000000"),  # full-width normalised (NFKC)
        ("A1A2B1B2C1驾驶证申领", "A1A2B1B2C1JS"),  # truncated at 12
        ("交管12123账号注册", "JG12123ZHZC0"),
        ("B2驾驶证降级", "B2JSZJJ00000"),
        ("机动车 注册 登记", "JDCZCDJ00000"),  # spaces dropped
        ("《居住证》签注", "JZZQZ0000000"),  # book-title marks dropped
        ("“一件事”办理", "YJSBL0000000"),  # quotes dropped
        ("户口迁移·审批", "HKQYSP000000"),  # middle dot dropped
        ("居民身份证办理(包括临时)", "JMSFZBLBKLS0"),  # ASCII brackets dropped too
        ("α射线装置许可", "SXZZXK000000"),  # other scripts dropped
        ("外国人签证延期、换发、补发", "WGRQZYQHFBF0"),
    ],
)
def test_ascii_kept_punctuation_dropped(
    short_name: str, expected_name_code: str, overrides: PinyinOverrides
) -> None:
    assert name_code(short_name, overrides) == expected_name_code


def test_name_letters_is_not_truncated(overrides: PinyinOverrides) -> None:
    assert name_letters("互联网上网服务营业场所信息网络安全审核", overrides) == "HLWSWFWYYCSXXWLAQSH"
    assert name_code("互联网上网服务营业场所信息网络安全审核", overrides) == "HLWSWFWYYCSX"
    assert name_letters("户籍证明", overrides) == "HJZM"


@pytest.mark.parametrize("short_name", ["", "   ", "（）", "——", "!!!", "αβγ", "、。，"])
def test_nothing_codable_raises(short_name: str, overrides: PinyinOverrides) -> None:
    with pytest.raises(EmptyNameCodeError) as caught:
        name_code(short_name, overrides)
    assert rendered(caught.value)["code"] == "EMPTY_NAME_CODE"
    assert isinstance(caught.value, CodingError)
    assert CHINESE.search(rendered(caught.value)["message"])
    assert name_letters(short_name, overrides) == ""


# ------------------------------------------------------------------------------------------ decode / display
def test_decode_and_display() -> None:
    parts = decode_code("014401150201HKQYSP000000")
    assert parts == ItemCodeParts(
        item_type="01", region_code="440115", police_type="02", service_category="01", name_code="HKQYSP000000"
    )
    assert display_code("014401150201HKQYSP000000") == "01-440115-02-01-HKQYSP000000"
    assert display_code("201101000304JDCJSZCXSL00") == "20-110100-03-04-JDCJSZCXSL00"


@pytest.mark.parametrize(
    ("code", "part"),
    [
        ("", "length"),
        ("014401150201HKQYSP00000", "length"),  # 23
        ("014401150201HKQYSP0000000", "length"),  # 25
        ("01-440115-02-01-HKQYSP000000", "length"),  # display form is not the code
        ("0A4401150201HKQYSP000000", "item_type"),
        ("０１4401150201HKQYSP000000", "item_type"),  # full-width digits are not digits here
        ("014401X50201HKQYSP000000", "region_code"),
        ("01440115X201HKQYSP000000", "police_type"),
        ("014401150 01HKQYSP000000", "police_type"),
        ("0144011502 1HKQYSP000000", "service_category"),
        ("01440115020-HKQYSP000000", "service_category"),
        ("014401150201hkqysp000000", "name_code"),  # lowercase
        ("014401150201HKQYSP-00000", "name_code"),
        ("014401150201户口迁移审批000000", "name_code"),
    ],
)
def test_decode_names_the_malformed_part(code: str, part: str) -> None:
    with pytest.raises(MalformedCodeError) as caught:
        decode_code(code)
    assert caught.value.context["part"] == part
    assert rendered(caught.value)["code"] == "MALFORMED_CODE"
    assert CHINESE.search(caught.value.context["reason"])
    with pytest.raises(MalformedCodeError):
        display_code(code)


@pytest.mark.parametrize(
    ("kwargs", "part"),
    [
        ({"item_type": "1"}, "item_type"),
        ({"region_code": "44011"}, "region_code"),
        ({"police_type": "002"}, "police_type"),
        ({"service_category": "AB"}, "service_category"),
        ({"name_code": "HKQYSP"}, "name_code"),
    ],
)
def test_parts_are_checked_on_construction(kwargs: dict[str, str], part: str) -> None:
    values = {"item_type": "01", "region_code": "440115", "police_type": "02", "service_category": "01"}
    values["name_code"] = "HKQYSP000000"
    values.update(kwargs)
    with pytest.raises(MalformedCodeError) as caught:
        ItemCodeParts(**values)
    assert caught.value.context["part"] == part


# ------------------------------------------------------------------------------------- collision and service
def test_collision_sequence_replaces_the_last_two_characters() -> None:
    assert with_collision_sequence("014401150201HKQYSP000000", 1) == "014401150201HKQYSP000001"
    assert with_collision_sequence("014401150201HKQYSP000000", 99) == "014401150201HKQYSP000099"
    assert with_collision_sequence("014401150201WLGATXZJQZQF", 7) == "014401150201WLGATXZJQZ07"
    assert with_collision_sequence("014401150201WLGATXZJQZ07", 8) == "014401150201WLGATXZJQZ08"


@pytest.mark.parametrize("sequence", [0, 100, -1, 1000])
def test_collision_sequence_bounds(sequence: int) -> None:
    with pytest.raises(ValueError, match="冲突序号应为1至99之间的整数") as caught:
        with_collision_sequence("014401150201HKQYSP000000", sequence)
    assert isinstance(caught.value, SequenceOutOfRangeError)
    assert rendered(caught.value)["code"] == "SEQUENCE_OUT_OF_RANGE"


@pytest.mark.parametrize("sequence", [True, 1.0, "1"])
def test_sequences_must_be_integers(sequence: object) -> None:
    with pytest.raises(ValueError, match="冲突序号应为1至99之间的整数"):
        with_collision_sequence("014401150201HKQYSP000000", sequence)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="事项服务序号应为1至999之间的整数"):
        service_code("014401150201HKQYSP000000", sequence)  # type: ignore[arg-type]


def test_service_code() -> None:
    assert service_code("014401150201HKQYSP000000", 1) == "014401150201HKQYSP000000001"
    assert service_code("014401150201HKQYSP000000", 42) == "014401150201HKQYSP000000042"
    assert service_code("014401150201HKQYSP000000", SERVICE_SEQUENCE_MAX) == "014401150201HKQYSP000000999"


@pytest.mark.parametrize("sequence", [0, 1000, -5])
def test_service_code_bounds(sequence: int) -> None:
    with pytest.raises(ValueError, match="事项服务序号应为1至999之间的整数"):
        service_code("014401150201HKQYSP000000", sequence)


def test_sequences_need_a_well_formed_code() -> None:
    with pytest.raises(MalformedCodeError):
        service_code("014401150201HKQYSP00000", 1)
    with pytest.raises(MalformedCodeError):
        with_collision_sequence("014401150201hkqysp000000", 1)


# ------------------------------------------------------------------------------------------------- properties
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, database=None)

valid_parts = st.builds(
    ItemCodeParts,
    item_type=st.from_regex(r"[0-9]{2}", fullmatch=True),
    region_code=st.from_regex(r"[0-9]{6}", fullmatch=True),
    police_type=st.from_regex(r"[0-9]{2}", fullmatch=True),
    service_category=st.from_regex(r"[0-9]{2}", fullmatch=True),
    name_code=st.from_regex(r"[0-9A-Z]{12}", fullmatch=True),
)

# Characters from real names (polyphones included), ASCII, full-width forms, punctuation and other scripts.
_NAME_ALPHABET = (
    "户口迁移审批居民身份证办理包括临时机动车驾驶行重新申领长期居住银行单县朝阳乐清治安特种业许可签发注册登记"
    "ABCxyz0129ＡＢｃ１２（）()、，。“”《》·/- αβ𠀀〇"
)
short_names = st.one_of(st.text(alphabet=_NAME_ALPHABET, max_size=30), st.text(max_size=30))


@PROPERTY_SETTINGS
@given(valid_parts)
def test_compose_then_decode_is_the_identity(parts: ItemCodeParts) -> None:
    code = compose_code(parts)
    assert len(code) == ITEM_CODE_LENGTH
    assert decode_code(code) == parts
    assert display_code(code).split("-") == [
        parts.item_type,
        parts.region_code,
        parts.police_type,
        parts.service_category,
        parts.name_code,
    ]


@PROPERTY_SETTINGS
@given(valid_parts, st.integers(min_value=1, max_value=99), st.integers(min_value=1, max_value=SERVICE_SEQUENCE_MAX))
def test_sequences_keep_codes_well_formed(parts: ItemCodeParts, collision: int, service: int) -> None:
    code = compose_code(parts)
    collided = with_collision_sequence(code, collision)
    assert collided[:-2] == code[:-2] and int(collided[-2:]) == collision
    assert decode_code(collided).item_type == parts.item_type
    full = service_code(collided, service)
    assert full[:ITEM_CODE_LENGTH] == collided and int(full[ITEM_CODE_LENGTH:]) == service


@PROPERTY_SETTINGS
@given(short_names)
def test_name_code_always_has_the_right_shape(short_name: str) -> None:
    overrides = PinyinOverrides.load()
    letters = name_letters(short_name, overrides)
    assert re.fullmatch("[0-9A-Z]*", letters)
    if not letters:
        with pytest.raises(EmptyNameCodeError):
            name_code(short_name, overrides)
        return
    code = name_code(short_name, overrides)
    assert NAME_CODE_SHAPE.fullmatch(code)
    assert len(code) == NAME_CODE_LENGTH
    assert code == letters[:NAME_CODE_LENGTH].ljust(NAME_CODE_LENGTH, "0")
    assert ItemCodeParts("01", "440115", "02", "01", code).code() == PREFIX + code


@PROPERTY_SETTINGS
@given(
    st.text(alphabet="单县朝阳长治户口迁移审批银行重", min_size=1, max_size=6),
    st.data(),
)
def test_a_single_override_is_used_verbatim(phrase: str, data: st.DataObject) -> None:
    letters = data.draw(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=len(phrase), max_size=len(phrase)))
    overrides = NO_OVERRIDES.with_phrase(phrase, letters)
    assert name_letters(phrase, overrides) == letters
    assert name_letters(f"（{phrase}）C1", overrides) == letters + "C1"


@PROPERTY_SETTINGS
@given(valid_parts, st.integers(min_value=1, max_value=SERVICE_SEQUENCE_MAX))
def test_every_service_code_decodes_back_to_its_item_code_and_sequence(parts: ItemCodeParts, sequence: int) -> None:
    assert decode_service_code(service_code(compose_code(parts), sequence)) == (parts, sequence)


@pytest.mark.parametrize(
    ("code", "part"),
    [
        ("014401150201HKQYSP000000", "length"),  # an item code is not a service code
        ("014401150201HKQYSP000000000", "service_sequence"),
        ("014401150201HKQYSP00000012A", "service_sequence"),
        ("0A4401150201HKQYSP000000001", "item_type"),
        ("014401150201hkqysp000000001", "name_code"),
    ],
)
def test_decode_service_code_names_the_malformed_part(code: str, part: str) -> None:
    with pytest.raises(MalformedCodeError) as caught:
        decode_service_code(code)
    assert caught.value.context["part"] == part
    assert CHINESE.search(caught.value.context["reason"])


# The name code memoises pypinyin's conversion per segment (for speed); it must read exactly as pypinyin does.
_PYPINYIN_ALPHABET = (_NAME_ALPHABET + "重庆长沙朝阳行长银行长城调查调解单于乐器音乐会计算机"
                      "参差不齐和平暖和着急看着薄荷都市都是")


def _lazy_pinyin_letters(text: str) -> str:
    initials = "".join(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="ignore")).upper()
    return "".join(ch for ch in initials if "A" <= ch <= "Z")


@settings(max_examples=400, deadline=None, database=None)
@given(st.one_of(st.text(alphabet=_PYPINYIN_ALPHABET, min_size=1, max_size=24),
                 st.text(alphabet=st.characters(min_codepoint=0x3400, max_codepoint=0x9FFF), min_size=1, max_size=12)))
def test_name_letters_read_exactly_as_pypinyin_lazy_pinyin(text: str) -> None:
    for run in re.findall("[\u3007\u3400-\u4dbf\u4e00-\u9fff]+", text):
        assert name_letters(run, NO_OVERRIDES) == _lazy_pinyin_letters(run)


@pytest.mark.parametrize("short_name", [name for name, _ in REAL_ITEMS])
def test_real_names_read_exactly_as_pypinyin_lazy_pinyin(short_name: str) -> None:
    expected = "".join(
        _lazy_pinyin_letters(han) if han else ascii_alnum.upper()
        for han, ascii_alnum in re.findall("([\u4e00-\u9fff]+)|([A-Za-z0-9]+)", short_name)
    )
    assert name_letters(short_name, NO_OVERRIDES) == expected


@pytest.mark.parametrize(
    "text",
    [
        "一不小",  # every prefix starts a phrase (一不小心) but none is one: pypinyin reads each character alone
        "户口一不小迁移",
        "一丘之貉长治久安",
        "重新申领重新申领",
        "行行出状元银行行长",
        "长长长长",
    ],
)
def test_segmentation_edge_cases_read_exactly_as_pypinyin(text: str) -> None:
    assert name_letters(text, NO_OVERRIDES) == _lazy_pinyin_letters(text)
