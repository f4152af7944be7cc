"""The item element model (事项要素, ../shared/docs/domain.md) and its content rules, pure.

:func:`validate_elements` turns what a caller sent into the canonical element set (every key present, text trimmed,
defaults filled) and lists every problem at once. Two levels of "required":

* **draft** (every create and every revision): the six elements the coding and lifecycle services key on — name,
  short_name, item_type, police_type, service_category, region_code — and every element that *is* given must be
  valid. A civil servant can save a half-filled item and finish it later.
* **submission** (形成期 → 审核): every element domain.md lists as required for review. The registry cannot know when
  someone submits, so it does not refuse incomplete drafts; it states :func:`missing_for_submission` on every
  revision event (``complete``, ``missing``) and the lifecycle refuses ``submit`` while ``complete`` is false.

Closed sets that are themselves Chinese administrative terms (设定依据层级, 服务对象, 办件类型, 事项形式/层级,
办理项类型) are stored as those terms; the versioned reference tables (types, police types, categories, levels,
regions) are stored as their codes."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared.dictionaries import (
    Dictionaries,
    Dictionary,
    DictionaryError,
    ExpiredCodeError,
    NotYetValidCodeError,
    UnknownCodeError,
)

from registry.domain.problems import Problem, index_path

# ---- closed sets ----------------------------------------------------------------------------------------------------
# 设定依据的效力层级, highest first (seed 001: 从高到低依次列举).
LEGAL_RANKS = ("法律", "行政法规", "地方性法规", "部门规章", "省级政府规章", "规范性文件")
SERVICE_OBJECTS = ("自然人", "法人", "非法人组织", "行政机关", "其他组织")
CASE_TYPES = ("即办件", "承诺件")
ONLINE_SERVICE_DEPTHS = {1: "一级：网上公开办事指南", 2: "二级：网上预约或下载表格", 3: "三级：网上申报、线下核验",
                         4: "四级：全程网办"}
META, COMPOSITE = "元事项", "组合事项"
COMPOSITIONS = (META, COMPOSITE)
MAIN, SUB, HANDLING = "主项", "子项", "业务办理项"
TIERS = (MAIN, SUB, HANDLING)
HANDLING_KINDS = ("新设", "变更", "延续", "注销")

# ---- the keys, in the order the API documents them (also the order of canonical JSON and of diffs) ---------------
MINIMAL_ELEMENTS = ("name", "short_name", "item_type", "police_type", "service_category", "region_code")
GUIDE_KEYS = ("conditions", "materials", "steps", "statutory_time_limit_days", "promised_time_limit_days", "fees",
              "place", "hours", "consultation_contact", "complaint_contact")
MATERIAL_KEYS = ("name", "basis", "format", "copies", "signature_seal")
LEGAL_BASIS_KEYS = ("rank", "title", "article", "text")
FEE_ITEM_KEYS = ("item", "standard", "basis")
REFERENCE_LISTS = ("member_item_ids", "serial_predecessor_ids", "parallel_item_ids")

LABELS: dict[str, str] = {
    "name": "事项名称", "short_name": "简称", "item_type": "事项类型", "police_type": "业务警种",
    "service_category": "服务类别", "region_code": "区划代码", "competent_department": "主管部门",
    "implementing_agency": "实施机关", "exercise_levels": "行使层级", "legal_basis": "设定依据",
    "service_guide": "办事指南", "service_objects": "服务对象", "case_type": "办件类型",
    "online_service_depth": "网办深度", "planned_effective_date": "计划生效日期", "planned_cancel_date": "计划取消日期",
    "national_basic_code": "基本编码", "national_implementation_code": "实施编码",
    "national_handling_code": "业务办理项编码", "composition": "事项形式", "member_item_ids": "成员事项",
    "tier": "事项层级", "parent_item_id": "上级事项", "handling_kind": "办理项类型",
    "serial_predecessor_ids": "串联前置事项", "parallel_item_ids": "并联事项",
    # service guide
    "conditions": "受理条件", "materials": "申请材料", "steps": "办理流程",
    "statutory_time_limit_days": "法定办结时限（工作日）", "promised_time_limit_days": "承诺办结时限（工作日）",
    "fees": "收费", "place": "办理地点", "hours": "办理时间", "consultation_contact": "咨询方式",
    "complaint_contact": "投诉方式",
    # entries
    "rank": "层级", "title": "名称", "article": "条款", "text": "条文内容", "basis": "依据", "format": "格式",
    "copies": "份数", "signature_seal": "签字盖章要求", "free": "不收费", "items": "收费项目", "item": "项目",
    "standard": "标准",
}
ELEMENT_KEYS = tuple(k for k in LABELS if k not in GUIDE_KEYS and k not in (
    "rank", "title", "article", "text", "basis", "format", "copies", "signature_seal", "free", "items", "item",
    "standard"))

NAME_MAX, SHORT_NAME_MAX, LINE_MAX, TEXT_MAX, LEGAL_TEXT_MAX = 200, 60, 500, 2000, 10000
TIME_LIMIT_MAX = 3650  # working days: ten years is beyond any statutory limit
NATIONAL_CODES = {  # key → (pattern, rule in Chinese)
    "national_basic_code": (re.compile(r"[0-9A-Z]{12}"), "必须是 12 位数字或大写字母"),
    "national_implementation_code": (re.compile(r"[0-9A-Z]{1,36}"), "只能包含数字和大写字母，最长 36 位"),
    "national_handling_code": (re.compile(r"[0-9A-Z]{1,50}"), "只能包含数字和大写字母，最长 50 位"),
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_REGION_CODE = re.compile(r"\d{6}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The keys each object may have, as sets (checked for every object of every imported row).
_ELEMENT_KEY_SET, _GUIDE_KEY_SET, _MATERIAL_KEY_SET, _LEGAL_BASIS_KEY_SET, _FEE_ITEM_KEY_SET, _FEES_KEY_SET = (
    frozenset(ELEMENT_KEYS), frozenset(GUIDE_KEYS), frozenset(MATERIAL_KEYS), frozenset(LEGAL_BASIS_KEYS),
    frozenset(FEE_ITEM_KEYS), frozenset(("free", "items")))
DICTIONARY_PROBLEM_CODES = {
    UnknownCodeError: "UNKNOWN_CODE", ExpiredCodeError: "EXPIRED_CODE", NotYetValidCodeError: "NOT_YET_VALID_CODE",
}


def label_of(path: str) -> str:
    """A Chinese label for a field path: ``legal_basis[2].rank`` → ``设定依据第3条·层级``."""
    parts = []
    for segment in path.split("."):
        match = re.fullmatch(r"(\w+)\[(\d+)\]", segment)
        if match:
            parts.append(f"{LABELS.get(match[1], match[1])}第{int(match[2]) + 1}条")
        else:
            parts.append(LABELS.get(segment, segment))
    return "·".join(parts)


@dataclass
class _Checker:
    """Accumulates problems while it reads one raw value after another into canonical form."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, path: str, code: str, message: str) -> None:
        self.problems.append(Problem(path, code, message))

    def text(self, raw: Any, path: str, *, max_len: int = LINE_MAX, required: bool = False) -> str | None:
        # Every element of every imported row passes here (≈50 per item): the common case, printable text that
        # is not blank, is answered first; everything else takes the full path below.
        if raw.__class__ is str and raw.isprintable():
            value = raw.strip()
            if value and len(value) <= max_len:
                return value
        elif raw is None and not required:
            return None
        return self._text(raw, path, max_len=max_len, required=required)

    def _text(self, raw: Any, path: str, *, max_len: int, required: bool) -> str | None:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if required:
                self.add(path, "REQUIRED", f"{label_of(path)}为必填项")
            return None
        if not isinstance(raw, str):
            self.add(path, "NOT_TEXT", f"{label_of(path)}必须是文本")
            return None
        # Control characters come from copy-paste out of other systems; they are invisible and break xlsx files.
        value = (raw if raw.isprintable() else _CONTROL.sub("", raw)).strip()  # the check is the cheap common case
        if len(value) > max_len:
            self.add(path, "TOO_LONG", f"{label_of(path)}不能超过 {max_len} 个字（现有 {len(value)} 个）")
        return value

    def integer(self, raw: Any, path: str, *, minimum: int, maximum: int) -> int | None:
        if raw.__class__ is int and minimum <= raw <= maximum:
            return raw
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.add(path, "NOT_INTEGER", f"{label_of(path)}必须是整数")
            return None
        if not minimum <= raw <= maximum:
            self.add(path, "OUT_OF_RANGE", f"{label_of(path)}应在 {minimum} 到 {maximum} 之间")
        return raw

    def choice(self, raw: Any, path: str, allowed: tuple[str, ...], *, default: str | None = None,
               required: bool = False) -> str | None:
        value = self.text(raw, path, required=required)
        if value is None:
            return default
        if value not in allowed:
            self.add(path, "NOT_ALLOWED_VALUE", f"{label_of(path)}“{value}”不在可选范围内（{'、'.join(allowed)}）")
        return value

    def listing(self, raw: Any, path: str) -> list[Any] | None:
        if raw is None:
            return None
        if not isinstance(raw, list):
            self.add(path, "NOT_LIST", f"{label_of(path)}必须是列表")
            return None
        return raw

    def mapping(self, raw: Any, path: str, keys: frozenset[str]) -> dict[str, Any] | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.add(path, "NOT_OBJECT", f"{label_of(path)}格式不正确，应为对象")
            return None
        if not keys.issuperset(raw):
            for unknown in sorted(raw.keys() - keys):
                self.add(f"{path}.{unknown}", "UNKNOWN_FIELD", f"{label_of(path)}中没有“{unknown}”这一项")
        return raw

    def texts(self, raw: Any, path: str, *, max_len: int = TEXT_MAX, unique: bool = False) -> list[str] | None:
        values = self.listing(raw, path)
        if values is None:
            return None
        out = []
        for i, item in enumerate(values):
            # text()'s common case inline, so that the entry's path is only spelled out for a problem
            if item.__class__ is str and item.isprintable() and (value := item.strip()) and len(value) <= max_len:
                out.append(value)
            elif (value := self.text(item, index_path(path, i), max_len=max_len, required=True)) is not None:
                out.append(value)
        if unique:
            self.no_duplicates(out, path)
        return out

    def no_duplicates(self, values: list[str], path: str) -> None:
        if len(set(values)) == len(values):
            return
        seen: set[str] = set()
        for value in values:
            if value in seen:
                self.add(path, "DUPLICATE", f"{label_of(path)}中“{value}”重复出现")
            seen.add(value)

    def code(self, raw: Any, path: str, dictionary: Dictionary, today: date, *, required: bool = False) -> str | None:
        value = self.text(raw, path, required=required)
        if value is None:
            return None
        try:
            dictionary.lookup(value, today)
        except DictionaryError as exc:
            self.add(path, DICTIONARY_PROBLEM_CODES.get(type(exc), "UNKNOWN_CODE"), exc.message)
        return value

    def iso_date(self, raw: Any, path: str) -> str | None:
        value = self.text(raw, path)
        if value is not None and not _is_iso_date(value):
            self.add(path, "NOT_DATE", f"{label_of(path)}“{value}”不是有效日期（格式 YYYY-MM-DD）")
        return value

    def has_problem(self, path: str) -> bool:
        return any(p.field == path for p in self.problems)


def _is_iso_date(value: str) -> bool:
    try:
        return bool(_ISO_DATE.fullmatch(value)) and date.fromisoformat(value) is not None
    except ValueError:
        return False


def validate_elements(raw: dict[str, Any], dictionaries: Dictionaries, today: date) -> tuple[dict[str, Any],
                                                                                         list[Problem]]:
    """(canonical elements, every problem). Reference tables are checked on ``today``: an expired region code or a
    retired dictionary value is refused on every new revision, not only on the first."""
    c = _Checker()
    if not _ELEMENT_KEY_SET.issuperset(raw):
        for unknown in sorted(set(raw) - _ELEMENT_KEY_SET):
            c.add(unknown, "UNKNOWN_FIELD", f"不认识的要素“{unknown}”")
    e: dict[str, Any] = {}
    e["name"] = c.text(raw.get("name"), "name", max_len=NAME_MAX, required=True)
    e["short_name"] = c.text(raw.get("short_name"), "short_name", max_len=SHORT_NAME_MAX, required=True)
    if e["short_name"] and not _has_codable_character(e["short_name"]):
        c.add("short_name", "NO_CODABLE_CHARACTER", "简称至少需要一个汉字、字母或数字（用于生成事项名称编码）")
    d = dictionaries
    e["item_type"] = c.code(raw.get("item_type"), "item_type", d.item_types, today, required=True)
    e["police_type"] = c.code(raw.get("police_type"), "police_type", d.police_types, today, required=True)
    e["service_category"] = c.code(raw.get("service_category"), "service_category", d.service_categories, today,
                                   required=True)
    e["region_code"] = _region(c, raw.get("region_code"), d, today)
    e["competent_department"] = c.text(raw.get("competent_department"), "competent_department")
    e["implementing_agency"] = c.text(raw.get("implementing_agency"), "implementing_agency")
    levels = c.listing(raw.get("exercise_levels"), "exercise_levels") or []
    e["exercise_levels"] = [v for i, level in enumerate(levels)
                            if (v := c.code(level, index_path("exercise_levels", i), d.exercise_levels, today,
                                            required=True)) is not None]
    c.no_duplicates(e["exercise_levels"], "exercise_levels")
    e["legal_basis"] = _legal_basis(c, raw.get("legal_basis"))
    e["service_guide"] = _service_guide(c, raw.get("service_guide"))
    e["service_objects"] = [v for i, obj in enumerate(c.listing(raw.get("service_objects"), "service_objects") or [])
                            if (v := c.choice(obj, index_path("service_objects", i), SERVICE_OBJECTS)) is not None]
    c.no_duplicates(e["service_objects"], "service_objects")
    e["case_type"] = c.choice(raw.get("case_type"), "case_type", CASE_TYPES)
    e["online_service_depth"] = c.integer(raw.get("online_service_depth"), "online_service_depth", minimum=1,
                                          maximum=max(ONLINE_SERVICE_DEPTHS))
    e["planned_effective_date"] = c.iso_date(raw.get("planned_effective_date"), "planned_effective_date")
    e["planned_cancel_date"] = c.iso_date(raw.get("planned_cancel_date"), "planned_cancel_date")
    if (e["planned_effective_date"] and e["planned_cancel_date"] and not c.has_problem("planned_effective_date")
            and not c.has_problem("planned_cancel_date") and e["planned_cancel_date"] <= e["planned_effective_date"]):
        c.add("planned_cancel_date", "CANCEL_NOT_AFTER_EFFECTIVE", "计划取消日期必须晚于计划生效日期")
    for key, (pattern, rule) in NATIONAL_CODES.items():
        e[key] = c.text(raw.get(key), key, max_len=100)
        if e[key] is not None and not pattern.fullmatch(e[key]):
            c.add(key, "MALFORMED", f"{LABELS[key]}“{e[key]}”{rule}")
    _structure(c, raw, e)
    return e, c.problems


def _region(c: _Checker, raw: Any, d: Dictionaries, today: date) -> str | None:
    value = c.text(raw, "region_code", required=True)
    if value is not None and not _REGION_CODE.fullmatch(value):
        c.add("region_code", "MALFORMED", "区划代码必须是 6 位数字（GB/T 2260）")
    elif value is not None:
        c.code(value, "region_code", d.regions, today)
    return value


def _legal_basis(c: _Checker, raw: Any) -> list[dict[str, Any]]:
    entries = []
    for i, item in enumerate(c.listing(raw, "legal_basis") or []):
        path = index_path("legal_basis", i)
        if c.mapping(item, path, _LEGAL_BASIS_KEY_SET) is None:
            continue
        entries.append({
            "rank": c.choice(item.get("rank"), f"{path}.rank", LEGAL_RANKS, required=True),
            "title": c.text(item.get("title"), f"{path}.title", required=True),
            "article": c.text(item.get("article"), f"{path}.article"),
            "text": c.text(item.get("text"), f"{path}.text", max_len=LEGAL_TEXT_MAX),
        })
    _legal_basis_order(c, entries)
    return entries


def _legal_basis_order(c: _Checker, entries: list[dict[str, Any]]) -> None:
    """法律 > 行政法规 > 地方性法规 > 部门规章 > 省级政府规章 > 规范性文件: each entry's rank may not be higher than the
    one before it. The problem names both entries, so the fix is obvious."""
    previous: tuple[int, str] | None = None
    for i, entry in enumerate(entries):
        if entry["rank"] not in LEGAL_RANKS:
            continue
        if previous is not None and LEGAL_RANKS.index(entry["rank"]) < LEGAL_RANKS.index(previous[1]):
            c.add(index_path("legal_basis", i, "rank"), "LEGAL_BASIS_OUT_OF_ORDER",
                  f"设定依据应按效力从高到低排列（{' > '.join(LEGAL_RANKS)}）：第{i + 1}条“{entry['rank']}”"
                  f"不能排在第{previous[0] + 1}条“{previous[1]}”之后")
        previous = (i, entry["rank"])


def _service_guide(c: _Checker, raw: Any) -> dict[str, Any]:
    g = c.mapping(raw, "service_guide", _GUIDE_KEY_SET) or {}
    p = "service_guide"
    guide: dict[str, Any] = {
        "conditions": c.texts(g.get("conditions"), f"{p}.conditions"),
        "materials": _materials(c, g.get("materials")),
        "steps": c.texts(g.get("steps"), f"{p}.steps"),
        "statutory_time_limit_days": c.integer(g.get("statutory_time_limit_days"), f"{p}.statutory_time_limit_days",
                                               minimum=0, maximum=TIME_LIMIT_MAX),
        "promised_time_limit_days": c.integer(g.get("promised_time_limit_days"), f"{p}.promised_time_limit_days",
                                              minimum=0, maximum=TIME_LIMIT_MAX),
        "fees": _fees(c, g.get("fees")),
    }
    for key in ("place", "hours", "consultation_contact", "complaint_contact"):
        guide[key] = c.text(g.get(key), f"{p}.{key}")
    statutory, promised = guide["statutory_time_limit_days"], guide["promised_time_limit_days"]
    if isinstance(statutory, int) and isinstance(promised, int) and promised > statutory:
        c.add(f"{p}.promised_time_limit_days", "PROMISED_EXCEEDS_STATUTORY",
              f"承诺办结时限（{promised} 个工作日）不能超过法定办结时限（{statutory} 个工作日）")
    return guide


def _materials(c: _Checker, raw: Any) -> list[dict[str, Any]] | None:
    """None = not filled in yet; [] = 无需提交材料 (complete)."""
    items = c.listing(raw, "service_guide.materials")
    if items is None:
        return None
    materials = []
    for i, item in enumerate(items):
        path = index_path("service_guide.materials", i)
        if c.mapping(item, path, _MATERIAL_KEY_SET) is None:
            continue
        materials.append({
            "name": c.text(item.get("name"), f"{path}.name", required=True),
            "basis": c.text(item.get("basis"), f"{path}.basis"),
            "format": c.text(item.get("format"), f"{path}.format"),
            "copies": c.integer(item.get("copies"), f"{path}.copies", minimum=1, maximum=99),
            "signature_seal": c.text(item.get("signature_seal"), f"{path}.signature_seal"),
        })
    return materials


def _fees(c: _Checker, raw: Any) -> dict[str, Any] | None:
    path = "service_guide.fees"
    fees = c.mapping(raw, path, _FEES_KEY_SET)
    if fees is None:
        return None
    items = []
    for i, item in enumerate(c.listing(fees.get("items"), f"{path}.items") or []):
        item_path = index_path(f"{path}.items", i)
        if c.mapping(item, item_path, _FEE_ITEM_KEY_SET) is not None:
            items.append({"item": c.text(item.get("item"), f"{item_path}.item", required=True),
                          "standard": c.text(item.get("standard"), f"{item_path}.standard", required=True),
                          "basis": c.text(item.get("basis"), f"{item_path}.basis")})
    free = fees.get("free")
    if free is None and items:  # listing fee items says it is charged
        free = False
    if not isinstance(free, bool):
        c.add(f"{path}.free", "NOT_BOOLEAN", "请注明是否收费（free: true 表示不收费）")
    if free is True and items:
        c.add(f"{path}.items", "FEES_CONFLICT", "已注明“不收费”，不能再列收费项目")
    if free is False and not items:
        c.add(f"{path}.items", "REQUIRED", "收费事项须列出收费项目、标准和依据")
    return {"free": free if isinstance(free, bool) else None, "items": items}


def _structure(c: _Checker, raw: dict[str, Any], e: dict[str, Any]) -> None:
    """The rules of one item's own structure fields; rules that need other items are in structure.py."""
    e["composition"] = c.choice(raw.get("composition"), "composition", COMPOSITIONS, default=META)
    e["member_item_ids"] = c.texts(raw.get("member_item_ids"), "member_item_ids", max_len=100, unique=True) or []
    e["tier"] = c.choice(raw.get("tier"), "tier", TIERS, default=MAIN)
    e["parent_item_id"] = c.text(raw.get("parent_item_id"), "parent_item_id", max_len=100)
    e["handling_kind"] = c.choice(raw.get("handling_kind"), "handling_kind", HANDLING_KINDS)
    e["serial_predecessor_ids"] = c.texts(raw.get("serial_predecessor_ids"), "serial_predecessor_ids", max_len=100,
                                          unique=True) or []
    e["parallel_item_ids"] = c.texts(raw.get("parallel_item_ids"), "parallel_item_ids", max_len=100,
                                     unique=True) or []
    if e["composition"] == COMPOSITE and len(e["member_item_ids"]) < 2:
        c.add("member_item_ids", "MEMBERS_REQUIRED", "组合事项至少由两个元事项组成")
    if e["composition"] == META and e["member_item_ids"]:
        c.add("member_item_ids", "MEMBERS_NOT_ALLOWED", "元事项是不可再分的事项，不能有成员事项")
    if e["tier"] in (SUB, HANDLING) and not e["parent_item_id"]:
        c.add("parent_item_id", "PARENT_REQUIRED", f"{e['tier']}必须指明上级事项")
    if e["tier"] == MAIN and e["parent_item_id"]:
        c.add("parent_item_id", "PARENT_NOT_ALLOWED", "主项没有上级事项；请把事项层级改为子项或业务办理项")
    if e["tier"] == HANDLING and not e["handling_kind"]:
        c.add("handling_kind", "HANDLING_KIND_REQUIRED", "业务办理项须注明办理项类型（新设、变更、延续、注销）")
    if e["tier"] != HANDLING and e["handling_kind"]:
        c.add("handling_kind", "HANDLING_KIND_NOT_ALLOWED", "只有业务办理项才有办理项类型")
    for both in sorted(set(e["serial_predecessor_ids"]) & set(e["parallel_item_ids"])):
        c.add("parallel_item_ids", "RELATION_CONFLICT", f"事项“{both}”不能同时是串联前置事项和并联事项")


def _has_codable_character(text: str) -> bool:
    for ch in unicodedata.normalize("NFKC", text):
        if ch.isascii() and ch.isalnum():
            return True
        if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
            return True
    return False


# ---- completeness for submission ------------------------------------------------------------------------------------
_REQUIRED_ELEMENTS = (*MINIMAL_ELEMENTS, "competent_department", "implementing_agency", "exercise_levels",
                      "legal_basis")
_REQUIRED_GUIDE = tuple((k, f"service_guide.{k}") for k in (  # (key, path)
    "conditions", "materials", "steps", "statutory_time_limit_days", "promised_time_limit_days", "fees", "place",
    "hours", "consultation_contact", "complaint_contact"))
_EMPTY = (None, "", [])  # `value in _EMPTY`: 0 and False are values, not gaps


def missing_for_submission(e: dict[str, Any]) -> list[str]:
    """Field paths still empty that review needs (domain.md "Required for submission to review"). Empty lists count
    as missing except ``service_guide.materials``, where ``[]`` means 无需提交材料."""
    missing = [k for k in _REQUIRED_ELEMENTS if e.get(k) in _EMPTY]
    for i, entry in enumerate(e.get("legal_basis") or ()):
        missing += [index_path("legal_basis", i, k) for k in ("article", "text") if entry.get(k) in _EMPTY]
    guide = e.get("service_guide") or {}
    missing += [path for k, path in _REQUIRED_GUIDE
                if (guide.get(k) is None if k == "materials" else guide.get(k) in _EMPTY)]
    return missing
