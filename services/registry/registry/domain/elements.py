"""The item element model (事项要素, ../shared/docs/domain.md) and its content rules, pure.

The elements are declared once, in ``shared/contracts/elements.py`` (keys, labels, kinds, requirements); this module
compiles that table into the registry's checks and lists the rules between fields by name (:data:`RULES`).

:func:`validate_elements` turns what a caller sent into the canonical element set (every key present, text trimmed,
defaults filled) and lists every problem at once. Two levels of "required":

* **draft** (every create and every revision): the six elements the coding and lifecycle services key on — name,
  short_name, item_type, police_type, service_category, region_code — and every element that *is* given must be
  valid. A civil servant can save a half-filled item and finish it later.
* **submission** (形成期 → 审核): every element domain.md lists as required for review. The registry cannot know when
  someone submits, so it does not refuse incomplete drafts; it states :func:`missing_for_submission` on every
  revision event (``complete``, ``missing``) and the lifecycle refuses ``submit`` while ``complete`` is false."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date
from typing import Any

from shared.contracts import elements as spec
from shared.contracts.elements import COMPOSITE, HANDLING, LEGAL_RANKS, LINE_MAX, MAIN, META, SUB, label_of
from shared.dictionaries import (
    Dictionaries,
    Dictionary,
    DictionaryError,
    ExpiredCodeError,
    NotYetValidCodeError,
    UnknownCodeError,
)

from registry.domain.problems import Problem, index_path

# ---- the keys, in the order the API documents them (also the order of canonical JSON and of diffs) ---------------
ELEMENT_KEYS: tuple[str, ...] = spec.ITEM.keys
MINIMAL_ELEMENTS: tuple[str, ...] = tuple(f.key for f in spec.ELEMENTS if f.required is spec.DRAFT)
REFERENCE_LISTS: tuple[str, ...] = tuple(f.key for f in spec.ELEMENTS if isinstance(f.kind, spec.References))
# Every field path (entries without an index: ``legal_basis.rank``) → its Chinese label.
LABELS: dict[str, str] = {path: f.label for path, f in spec.walk()}

DICTIONARY_PROBLEM_CODES = {
    UnknownCodeError: "UNKNOWN_CODE", ExpiredCodeError: "EXPIRED_CODE", NotYetValidCodeError: "NOT_YET_VALID_CODE",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ELEMENT_KEY_SET = frozenset(ELEMENT_KEYS)


class _Checker:
    """Accumulates problems while the compiled checks read one raw value after another into canonical form; holds
    what the checks need besides the value (the reference tables and the day they must be valid on)."""

    __slots__ = ("dictionaries", "problems", "today")

    def __init__(self, dictionaries: Dictionaries, today: date) -> None:
        self.dictionaries = dictionaries
        self.today = today
        self.problems: list[Problem] = []

    def add(self, path: str, code: str, message: str) -> None:
        self.problems.append(Problem(path, code, message))

    def text(self, raw: Any, path: str, max_len: int, required: bool) -> str | None:
        """The full reading of a text, for whatever the checks' common case (printable, non-blank, short enough
        text) did not answer."""
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

    def not_a_list(self, path: str) -> None:
        self.add(path, "NOT_LIST", f"{label_of(path)}必须是列表")

    def no_duplicates(self, values: list[str], path: str) -> None:
        if len(set(values)) == len(values):
            return
        seen: set[str] = set()
        for value in values:
            if value in seen:
                self.add(path, "DUPLICATE", f"{label_of(path)}中“{value}”重复出现")
            seen.add(value)

    def has_problem(self, path: str) -> bool:
        return any(p.field == path for p in self.problems)


# ---- the compiled checks ------------------------------------------------------------------------------------------
# A check reads one raw value into its canonical form: check(checker, raw, prefix), where prefix is the path of the
# object holding the field (``""``, ``service_guide.``, ``legal_basis[2].``). Paths are spelled out only for a
# problem. Every element of every imported row passes here (≈50 per item), so each kind's common case — a value
# that is already right — is answered first, inline, by a closure built once per field at import time.
Check = Callable[[_Checker, Any, str], Any]
# A rule between fields runs after the field it is anchored at has been read, with the object holding that field.
Rule = Callable[[_Checker, dict[str, Any]], None]


def _text_check(key: str, max_len: int, required: bool, pattern: str | None = None, malformed: str = "") -> Check:
    def check(c: _Checker, raw: Any, prefix: str) -> str | None:
        if raw.__class__ is str and raw.isprintable():
            value = raw.strip()
            if value and len(value) <= max_len:
                return value
        elif raw is None and not required:
            return None
        return c.text(raw, prefix + key, max_len, required)

    if pattern is None:
        return check
    matches = re.compile(pattern).fullmatch

    def patterned(c: _Checker, raw: Any, prefix: str) -> str | None:
        value: str | None = check(c, raw, prefix)
        if value is not None and not matches(value):
            path = prefix + key
            c.add(path, "MALFORMED", malformed.format(label=label_of(path), value=value))
        return value

    return patterned


def _code_check(key: str, dictionary: str, required: bool, pattern: str | None = None, malformed: str = "") -> Check:
    matches = re.compile(pattern).fullmatch if pattern is not None else None

    def check(c: _Checker, raw: Any, prefix: str) -> str | None:
        value: str | None
        if raw.__class__ is str and raw.isprintable() and (value := raw.strip()) and len(value) <= LINE_MAX:
            pass
        elif raw is None and not required:
            return None
        else:
            value = c.text(raw, prefix + key, LINE_MAX, required)
            if value is None:
                return None
        if matches is not None and not matches(value):
            path = prefix + key
            c.add(path, "MALFORMED", malformed.format(label=label_of(path), value=value))
            return value  # not looked up: the problem says what is wrong with it
        table = getattr(c.dictionaries, dictionary)
        try:
            table.lookup(value, c.today)
        except DictionaryError as exc:
            hint = accepted_codes(table, c.today) if isinstance(exc, UnknownCodeError) else ""
            c.add(prefix + key, DICTIONARY_PROBLEM_CODES.get(type(exc), "UNKNOWN_CODE"), exc.message + hint)
        return value

    return check


LISTED_CODES_MAX = 30  # a table this small is listed in an unknown code's message; a larger one (regions) pointed to


def accepted_codes(table: Dictionary, today: date) -> str:
    """What to write instead of an unknown code, for its message: the codes valid today with their names (a sheet
    reads either), or where a large table is found."""
    valid = [f"{e.code} {e.label}" for e in table.entries.values() if e.valid_on(today)]
    if len(valid) > LISTED_CODES_MAX:
        return (f"；{table.title}请从导入模板“{table.title}”列的下拉列表中选择，"
                f"或查代码表 GET /coding/v1/dictionaries/{table.name}")
    return f"；可填（编码或名称）：{'、'.join(valid)}"


def _choice_check(key: str, allowed: tuple[str, ...], required: bool, default: str | None) -> Check:
    allowed_set = frozenset(allowed)

    def check(c: _Checker, raw: Any, prefix: str) -> str | None:
        value: str | None
        if raw.__class__ is str and raw.isprintable() and (value := raw.strip()) and len(value) <= LINE_MAX:
            pass
        elif raw is None and not required:
            return default
        else:
            value = c.text(raw, prefix + key, LINE_MAX, required)
            if value is None:
                return default
        if value not in allowed_set:
            path = prefix + key
            c.add(path, "NOT_ALLOWED_VALUE", f"{label_of(path)}“{value}”不在可选范围内（{'、'.join(allowed)}）")
        return value

    return check


def _integer_check(key: str, minimum: int, maximum: int, required: bool) -> Check:
    def check(c: _Checker, raw: Any, prefix: str) -> int | None:
        if raw.__class__ is int and minimum <= raw <= maximum:
            value: int = raw
            return value
        path = prefix + key
        if raw is None:
            if required:
                c.add(path, "REQUIRED", f"{label_of(path)}为必填项")
            return None
        if isinstance(raw, bool) or not isinstance(raw, int):
            c.add(path, "NOT_INTEGER", f"{label_of(path)}必须是整数")
            return None
        c.add(path, "OUT_OF_RANGE", f"{label_of(path)}应在 {minimum} 到 {maximum} 之间")
        return raw

    return check


def _date_check(key: str, required: bool) -> Check:
    text = _text_check(key, LINE_MAX, required)

    def check(c: _Checker, raw: Any, prefix: str) -> str | None:
        value: str | None = text(c, raw, prefix)
        if value is not None and not _is_iso_date(value):
            path = prefix + key
            c.add(path, "NOT_DATE", f"{label_of(path)}“{value}”不是有效日期（格式 YYYY-MM-DD）")
        return value

    return check


def _is_iso_date(value: str) -> bool:
    try:
        return bool(_ISO_DATE.fullmatch(value)) and date.fromisoformat(value) is not None
    except ValueError:
        return False


def _texts_check(key: str, max_len: int, unique: bool, default: list[str] | None) -> Check:
    def check(c: _Checker, raw: Any, prefix: str) -> list[str] | None:
        if raw is None:
            return None if default is None else []
        if not isinstance(raw, list):
            c.not_a_list(prefix + key)
            return None if default is None else []
        out = []
        for i, item in enumerate(raw):
            # the common case inline, so that the entry's path is only spelled out for a problem
            if item.__class__ is str and item.isprintable() and (text := item.strip()) and len(text) <= max_len:
                out.append(text)
            elif (value := c.text(item, index_path(prefix + key, i), max_len, True)) is not None:
                out.append(value)
        if unique:
            c.no_duplicates(out, prefix + key)
        return out

    return check


def _list_of_check(key: str, entry: Check) -> Check:
    """A list of codes or choices: each entry checked with its index as its path; entries read as None (a blank
    choice) are dropped; none may appear twice."""
    def check(c: _Checker, raw: Any, prefix: str) -> list[str]:
        if raw is None:
            return []
        path = prefix + key
        if not isinstance(raw, list):
            c.not_a_list(path)
            return []
        out = [v for i, item in enumerate(raw) if (v := entry(c, item, f"{path}[{i}]")) is not None]
        c.no_duplicates(out, path)
        return out

    return check


Plan = tuple[tuple[str, Check, tuple[Rule, ...]], ...]


def _run(plan: Plan, c: _Checker, raw: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, check, rules in plan:
        out[key] = check(c, raw.get(key), prefix)
        if rules:
            for rule in rules:
                rule(c, out)
    return out


def _entries_check(key: str, shape: spec.Shape, default: list[Any] | None, plan: Plan) -> Check:
    keys = frozenset(shape.keys)

    def check(c: _Checker, raw: Any, prefix: str) -> list[dict[str, Any]] | None:
        if raw is None:
            return None if default is None else []
        path = prefix + key
        if not isinstance(raw, list):
            c.not_a_list(path)
            return None if default is None else []
        entries = []
        for i, item in enumerate(raw):
            if (item.__class__ is not dict or not keys.issuperset(item)) and c.mapping(
                    item, f"{path}[{i}]", keys) is None:
                continue  # None (a blank entry) is dropped; anything else not an object is a problem
            entries.append(_run(plan, c, item, f"{path}[{i}]."))
        return entries

    return check


def _object_check(key: str, shape: spec.Shape, plan: Plan, *, always: bool) -> Check:
    """A section (always an object, its fields filled with their defaults) or a record (None when not given)."""
    keys = frozenset(shape.keys)

    def check(c: _Checker, raw: Any, prefix: str) -> dict[str, Any] | None:
        path = prefix + key
        given = raw if raw.__class__ is dict and keys.issuperset(raw) else c.mapping(raw, path, keys)
        if given is None:
            if not always:
                return None
            given = {}
        return _run(plan, c, given, path + ".")

    return check


def _passed_on(c: _Checker, raw: Any, prefix: str) -> Any:
    """A flag: read as it is; its object's rule decides what a missing or wrong one means (spec.Flag)."""
    return raw


def _check_of(f: spec.Field, path: str, rules: dict[str, list[Rule]]) -> Check:
    kind, key, required = f.kind, f.key, f.required is spec.DRAFT
    if required and isinstance(kind, (*spec.LIST_KINDS, spec.Record, spec.Section)):
        raise ValueError(f"{path}: the checks cannot yet require a list or an object in every draft")
    match kind:
        case spec.Text(max_len=max_len, pattern=pattern, malformed=malformed):
            return _text_check(key, max_len, required, pattern, malformed)
        case spec.Reference():
            return _text_check(key, spec.ID_MAX, required)
        case spec.Code(dictionary=dictionary, pattern=pattern, malformed=malformed):
            return _code_check(key, dictionary, required, pattern, malformed)
        case spec.Codes(dictionary=dictionary):
            return _list_of_check(key, _code_check("", dictionary, True))
        case spec.Choice(values=values):
            return _choice_check(key, values, required, f.default)
        case spec.Choices(values=values):
            return _list_of_check(key, _choice_check("", values, False, None))
        case spec.Integer(minimum=minimum, maximum=maximum):
            return _integer_check(key, minimum, maximum, required)
        case spec.IsoDate():
            return _date_check(key, required)
        case spec.Texts(max_len=max_len):
            return _texts_check(key, max_len, False, f.default)
        case spec.References():
            return _texts_check(key, spec.ID_MAX, True, f.default)
        case spec.Flag():
            return _passed_on
        case spec.Entries(shape=shape):
            inner = _plan(shape, path + ".", {})  # rules inside entries would run once per entry: none so far
            return _entries_check(key, shape, f.default, inner)
        case spec.Record(shape=shape):
            return _object_check(key, shape, _plan(shape, path + ".", rules), always=False)
        case spec.Section(shape=shape):
            return _object_check(key, shape, _plan(shape, path + ".", rules), always=True)
    raise TypeError(f"{path}: no check for {kind!r}")


def _plan(shape: spec.Shape, prefix: str, rules: dict[str, list[Rule]]) -> Plan:
    return tuple((f.key, _check_of(f, prefix + f.key, rules), tuple(rules.pop(prefix + f.key, ())))
                 for f in shape.fields)


# ---- the rules between fields -------------------------------------------------------------------------------------
def short_name_is_codable(c: _Checker, e: dict[str, Any]) -> None:
    """The item code's name part (事项名称编码) is made of the 简称's letters: it needs one."""
    if e["short_name"] and not _has_codable_character(e["short_name"]):
        c.add("short_name", "NO_CODABLE_CHARACTER", "简称至少需要一个汉字、字母或数字（用于生成事项名称编码）")


def legal_basis_in_rank_order(c: _Checker, e: dict[str, Any]) -> None:
    """法律 > 行政法规 > 地方性法规 > 部门规章 > 省级政府规章 > 规范性文件: each entry's rank may not be higher than the
    one before it. The problem names both entries, so the fix is obvious."""
    previous: tuple[int, str] | None = None
    for i, entry in enumerate(e["legal_basis"]):
        if entry["rank"] not in LEGAL_RANKS:
            continue
        if previous is not None and LEGAL_RANKS.index(entry["rank"]) < LEGAL_RANKS.index(previous[1]):
            c.add(index_path("legal_basis", i, "rank"), "LEGAL_BASIS_OUT_OF_ORDER",
                  f"设定依据应按效力从高到低排列（{' > '.join(LEGAL_RANKS)}）：第{i + 1}条“{entry['rank']}”"
                  f"不能排在第{previous[0] + 1}条“{previous[1]}”之后")
        previous = (i, entry["rank"])


def fees_free_or_listed(c: _Checker, guide: dict[str, Any]) -> None:
    """收费 says 不收费 (free: true, no items) or lists what is charged (free: false, items); listing items without
    saying is read as charged."""
    fees = guide["fees"]
    if fees is None:
        return
    path = "service_guide.fees"
    free, items = fees["free"], fees["items"]
    if free is None and items:
        free = False
    if not isinstance(free, bool):
        c.add(f"{path}.free", "NOT_BOOLEAN", "请注明是否收费（“不收费”应为 true 或 false）")
    if free is True and items:
        c.add(f"{path}.items", "FEES_CONFLICT", "已注明“不收费”，不能再列收费项目")
    if free is False and not items:
        c.add(f"{path}.items", "REQUIRED", "收费事项须列出收费项目、标准和依据")
    fees["free"] = free if isinstance(free, bool) else None


def promised_within_statutory(c: _Checker, e: dict[str, Any]) -> None:
    guide = e["service_guide"]
    statutory, promised = guide["statutory_time_limit_days"], guide["promised_time_limit_days"]
    if isinstance(statutory, int) and isinstance(promised, int) and promised > statutory:
        c.add("service_guide.promised_time_limit_days", "PROMISED_EXCEEDS_STATUTORY",
              f"承诺办结时限（{promised} 个工作日）不能超过法定办结时限（{statutory} 个工作日）")


def cancel_after_effective(c: _Checker, e: dict[str, Any]) -> None:
    effective, cancel = e["planned_effective_date"], e["planned_cancel_date"]
    if (effective and cancel and not c.has_problem("planned_effective_date")
            and not c.has_problem("planned_cancel_date") and cancel <= effective):
        c.add("planned_cancel_date", "CANCEL_NOT_AFTER_EFFECTIVE", "计划取消日期必须晚于计划生效日期")


def structure_of_one_item(c: _Checker, e: dict[str, Any]) -> None:
    """The rules of one item's own structure fields; rules that need other items are in structure.py."""
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


# (the field path a rule runs after, the rule): it gets the object holding that field, every field before it read.
RULES: tuple[tuple[str, Rule], ...] = (
    ("short_name", short_name_is_codable),
    ("legal_basis", legal_basis_in_rank_order),
    ("service_guide.fees", fees_free_or_listed),
    ("service_guide", promised_within_statutory),
    ("planned_cancel_date", cancel_after_effective),
    ("parallel_item_ids", structure_of_one_item),  # the last of the structure fields
)


def compile_plan(shape: spec.Shape, rules: tuple[tuple[str, Rule], ...]) -> Plan:
    """The checks of every field of ``shape`` with ``rules`` in place. A rule anchored at no field (gone, renamed, or
    inside entries) would silently never run: it is an error here, at import."""
    anchored: dict[str, list[Rule]] = {}
    for path, rule in rules:
        anchored.setdefault(path, []).append(rule)
    plan = _plan(shape, "", anchored)
    if anchored:
        raise ValueError(f"rules anchored at no field: {sorted(anchored)}")
    return plan


_PLAN = compile_plan(spec.ITEM, RULES)


def validate_elements(raw: dict[str, Any], dictionaries: Dictionaries, today: date) -> tuple[dict[str, Any],
                                                                                         list[Problem]]:
    """(canonical elements, every problem). Reference tables are checked on ``today``: an expired region code or a
    retired dictionary value is refused on every new revision, not only on the first."""
    c = _Checker(dictionaries, today)
    if not _ELEMENT_KEY_SET.issuperset(raw):
        for unknown in sorted(set(raw) - _ELEMENT_KEY_SET):
            c.add(unknown, "UNKNOWN_FIELD", f"不认识的要素“{unknown}”")
    return _run(_PLAN, c, raw, ""), c.problems


# ---- completeness for submission ------------------------------------------------------------------------------------
_EMPTY: tuple[None, str, list[Any]] = (None, "", [])  # `value in _EMPTY`: 0 and False are values, not gaps
# The paths still empty in one object at a fixed path (the item, a section, a record).
GapFinder = Callable[[dict[str, Any]], list[str]]


def _gap_finder(shape: spec.Shape, path: str, *, inside_a_value: bool) -> GapFinder | None:
    """Compiled from the table, like the checks. Elements (top level and section fields) required for a draft or for
    submission are checked; inside an entry or a record only those required for submission: a field a draft needs
    there is refused by validation whenever the entry is given. Listed in this order: the object's fields, then its
    entries' fields, then the fields of the objects inside it."""
    keys: list[str] = []
    path_of: dict[str, str] = {}
    answered: set[str] = set()  # an empty list is an answer, not a gap (申请材料 [] = 无需提交材料)
    entries: list[tuple[str, str, tuple[str, ...]]] = []  # (key, path, the entry keys checked)
    objects: list[tuple[str, bool, GapFinder]] = []  # (key, a section: checked even when never given, its finder)
    for f in shape.fields:
        if f.required is spec.SUBMISSION or (f.required is spec.DRAFT and not inside_a_value):
            keys.append(f.key)
            path_of[f.key] = path + f.key
            if isinstance(f.kind, spec.Entries) and f.kind.none_needed is not None:
                answered.add(f.key)
        match f.kind:
            case spec.Entries(shape=entry):
                if any(g.shape is not None and _gap_finder(g.shape, "", inside_a_value=True) is not None
                       for g in entry.fields):  # not needed so far: refused rather than never checked
                    raise ValueError(f"{path}{f.key}: missing_for_submission does not look into objects in entries")
                checked = tuple(g.key for g in entry.fields if g.required is spec.SUBMISSION)
                if checked:
                    entries.append((f.key, path + f.key, checked))
            case spec.Section(shape=inner) | spec.Record(shape=inner):
                section = isinstance(f.kind, spec.Section)
                finder = _gap_finder(inner, f"{path}{f.key}.", inside_a_value=inside_a_value or not section)
                if finder is not None:
                    objects.append((f.key, section, finder))
    if not (keys or entries or objects):
        return None
    checked_keys, no_gap, entry_lists, inner_objects = tuple(keys), frozenset(answered), tuple(entries), tuple(objects)

    def find(obj: dict[str, Any]) -> list[str]:
        get = obj.get
        missing = [k for k in checked_keys if get(k) in _EMPTY]  # none in a complete item: the common case first
        if missing:
            missing = [path_of[k] for k in missing if k not in no_gap or get(k) is None]
        if entry_lists:
            for key, entries_path, entry_keys in entry_lists:
                for i, entry in enumerate(get(key) or ()):
                    entry_get = entry.get
                    missing += [f"{entries_path}[{i}].{k}" for k in entry_keys if entry_get(k) in _EMPTY]
        if inner_objects:
            for key, section, inner_finder in inner_objects:
                value = get(key)
                if value is not None or section:  # a section is checked field by field even when never given
                    missing += inner_finder(value or {})
        return missing

    return find


def _compile_gaps() -> GapFinder:
    finder = _gap_finder(spec.ITEM, "", inside_a_value=False)
    if finder is None:
        raise ValueError("the element table requires nothing for submission")
    return finder


_FIND_GAPS = _compile_gaps()


def missing_for_submission(e: dict[str, Any]) -> list[str]:
    """Field paths still empty that review needs (domain.md "Required for submission to review"). Empty lists count
    as missing except where the table says an empty list answers (``service_guide.materials``: ``[]`` means
    无需提交材料)."""
    return _FIND_GAPS(e)


# ---- null where the API's schema forbids it ----------------------------------------------------------------------
def nullable(f: spec.Field) -> bool:
    """Whether the API's schema lets ``f`` be ``null`` (adapters/schemas.py builds the models by this rule): only an
    optional field whose default is ``null``; a section (办事指南) is always an object, so it never is. (A
    spreadsheet's blank cell is read as absent, never as ``null``.)"""
    return f.required is not spec.DRAFT and f.default is None and not isinstance(f.kind, spec.Section)


def null_problems(raw: dict[str, Any], shape: spec.Shape = spec.ITEM, prefix: str = "") -> list[Problem]:
    """Every ``null`` a JSON body gives where the schema forbids one (``service_guide: null``), down through its
    sections, records and entries: the API refuses what its schema refuses instead of reading it as absent."""
    problems: list[Problem] = []
    for f in shape.fields:
        if f.key not in raw:
            continue
        value, path = raw[f.key], prefix + f.key
        if value is None:
            if not nullable(f):
                problems.append(Problem(path, "NULL_NOT_ALLOWED", f"{label_of(path)}不能为 null（不填请省略该项）"))
        elif isinstance(f.kind, (spec.Record, spec.Section)) and isinstance(value, dict):
            problems += null_problems(value, f.kind.shape, f"{path}.")
        elif isinstance(f.kind, spec.Entries) and isinstance(value, list):
            for i, entry in enumerate(value):
                if isinstance(entry, dict):
                    problems += null_problems(entry, f.kind.shape, f"{index_path(path, i)}.")
    return problems
