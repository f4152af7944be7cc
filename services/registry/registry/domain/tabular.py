"""The item list as a table (事项清单): the columns of the xlsx template, of csv files and of exports, and the
conversion of one row to raw elements and back (pure; the file formats are in registry/adapters/spreadsheets/).

Civil servants live in Excel, so one row is one item and every cell is something a person can type:
* reference tables as ``code label`` (``01 行政许可``, ``440115 南沙区``); the code alone, or a unique label, is
  read too, and a code Excel turned into a number (``1``) gets its leading zeros back;
* lists one entry per line (Alt+Enter in Excel); an entry with several parts separates them with ``｜``
  (设定依据 ``层级｜名称｜条款｜条文``, 申请材料 ``名称｜依据｜格式｜份数｜签字盖章``, 收费 ``项目｜标准｜依据`` or
  ``不收费``); ``无`` in 申请材料 means 无需提交材料;
* several values in one line separated by ``、`` (行使层级, 服务对象, related items);
* related items by their 来源编号 (or registry item id).
Writing a row and reading it back gives the same elements (tested), so an export can be edited and imported again.
The columns are the element table's (``shared/contracts/elements.py``: every field with a ``Column``, in table
order, its cell format chosen by its kind), after the row's own 来源编号."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from itertools import zip_longest
from typing import Any

from shared.contracts import elements as spec
from shared.dictionaries import Dictionaries

from registry.domain.problems import Problem, index_path

TEXT, DICT, DICT_LIST, CHOICE, CHOICE_LIST, INT, DATE, LINES, LEGAL_BASIS, MATERIALS, FEES, DEPTH, REF, REFS = (
    "text", "dict", "dict_list", "choice", "choice_list", "int", "date", "lines", "legal_basis", "materials", "fees",
    "depth", "ref", "refs")
PART_SEPARATOR = "｜"
NO_MATERIALS = "无"
FREE_OF_CHARGE = "不收费"
_PARTS = re.compile(r"[｜|]")
_VALUES = re.compile(r"[、,，;；\n]")
_CHINESE_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4}


@dataclass(frozen=True)
class Column:
    header: str
    field: str  # element path; "source_ref" is the row's own key, not an element
    kind: str
    source: str | tuple[str, ...] = ()  # dictionary name (DICT, DICT_LIST) or the allowed values (CHOICE…)
    required: bool = False
    note: str = ""


# The row's own key: not an element (it identifies the item in the caller's system), so not in the element table.
SOURCE_REF_COLUMN = Column("来源编号", "source_ref", TEXT, required=True,
                           note="本单位系统中的事项编号，同一区划内唯一；再次导入时据此更新原事项，不会重复创建")
# The cell format of each object-valued element, by the shape of its objects (a new shape needs a format here).
_OBJECT_CELLS: dict[str, str] = {spec.LEGAL_BASIS_ENTRY.api_model: LEGAL_BASIS, spec.MATERIAL.api_model: MATERIALS,
                                 spec.FEES.api_model: FEES}


def _cell(path: str, kind: spec.Kind) -> tuple[str, str | tuple[str, ...]]:
    """(cell kind, its source: the dictionary's name or the allowed values) of an element's column."""
    match kind:
        case spec.Text():
            return TEXT, ()
        case spec.Code(dictionary=dictionary):
            return DICT, dictionary
        case spec.Codes(dictionary=dictionary):
            return DICT_LIST, dictionary
        case spec.Choice(values=values):
            return CHOICE, values
        case spec.Choices(values=values):
            return CHOICE_LIST, values
        case spec.Integer(grades=grades):
            return (INT if grades is None else DEPTH), ()
        case spec.IsoDate():
            return DATE, ()
        case spec.Texts():
            return LINES, ()
        case spec.Reference():
            return REF, ()
        case spec.References():
            return REFS, ()
        case spec.Entries(shape=shape) | spec.Record(shape=shape) if shape.api_model in _OBJECT_CELLS:
            return _OBJECT_CELLS[shape.api_model], ()
    raise TypeError(f"{path}: no cell format for {kind!r} (tabular._cell)")


def columns_of(shape: spec.Shape) -> tuple[Column, ...]:
    """The item list's columns for the elements of ``shape``: the row's key, then every field with a Column."""
    columns = [SOURCE_REF_COLUMN]
    for path, field in spec.walk(shape):
        if isinstance(field.column, spec.Column):
            kind, source = _cell(path, field.kind)
            columns.append(Column(field.column.header, path, kind, source, required=field.column.required,
                                  note=field.column.note))
    return tuple(columns)


# Every element with a column (spec.Column), in table order, after the row's key.
COLUMNS: tuple[Column, ...] = columns_of(spec.ITEM)
HEADERS = tuple(c.header for c in COLUMNS)
_BY_HEADER = {c.header: c for c in COLUMNS}
_BY_FIELD = {c.field: c for c in COLUMNS}
REFERENCE_FIELDS = tuple(c.field for c in COLUMNS if c.kind in (REF, REFS))


def canonical_header(raw: Any) -> str:
    """Template headers may carry a required mark (``事项名称*``, ``事项名称（必填）``) and stray spaces."""
    text = re.sub(r"\s+", "", str(raw or ""))
    return re.sub(r"(\*|＊|（必填）|\(必填\))$", "", text)


def column_for(field: str) -> Column | None:
    """The column a problem's field path belongs to (``service_guide.materials[0].copies`` → 申请材料)."""
    parts = re.sub(r"\[\d+\]", "", field).split(".")
    for end in range(len(parts), 0, -1):
        column = _BY_FIELD.get(".".join(parts[:end]))
        if column is not None:
            return column
    return None


def unknown_headers(headers: list[str]) -> list[str]:
    return [h for h in headers if h and h not in _BY_HEADER]


def missing_headers(headers: list[str]) -> list[str]:
    return [c.header for c in COLUMNS if c.required and c.header not in headers]


# ---- reading --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParsedRow:
    source_ref: str | None
    elements: dict[str, Any]  # raw elements, to be validated like any API input
    problems: list[Problem]


def parse_row(cells: Mapping[str, Any], dictionaries: Dictionaries) -> ParsedRow:
    """One row (canonical header → cell value) to raw elements. Cells it cannot read become problems on the field;
    absent and empty cells leave the element absent."""
    problems: list[Problem] = []
    elements: dict[str, Any] = {}
    # This runs for every cell of every imported row: each column's reader was chosen once (_PLAN), and text cells
    # (most of them) are taken as they are, stripped.
    for header, read, head, tail, column in _PLAN:
        value = cells.get(header)
        if value is None:
            continue
        if value.__class__ is str:
            value = value.strip()  # every reader strips: doing it once here lets blank cells drop out early
            if not value:
                continue
            parsed = value if read is None else read(value, column, dictionaries, problems)
        else:  # a number or a date from xlsx
            parsed = _plain(value).strip() if read is None else read(value, column, dictionaries, problems)
        if tail:
            group = elements.get(head)
            if group is None:
                group = elements[head] = {}
            group[tail] = parsed
        else:
            elements[head] = parsed
    source_ref = cells.get("来源编号")
    return ParsedRow(None if _blank(source_ref) else _plain(source_ref).strip(), elements, problems)


# Each reader takes (cell value: stripped text or an xlsx number/date, column, dictionaries, problems so far); _plain
# of either has no surrounding blanks, so readers do not strip again.
def _read_code(value: Any, column: Column, d: Dictionaries, problems: list[Problem]) -> str:
    # getattr, not by_name: by_name lists the dataclass fields on every call, and this runs per cell
    return _code(value, getattr(d, str(column.source)).entries, labels=column.source != "regions")


def _read_codes(value: Any, column: Column, d: Dictionaries, problems: list[Problem]) -> list[str]:
    entries = getattr(d, str(column.source)).entries
    return [_code(v, entries, labels=True) for v in _split_values(value)]


def _read_values(value: Any, column: Column, d: Dictionaries, problems: list[Problem]) -> list[str]:
    return _split_values(value)


def _read_integer(value: Any, column: Column, d: Dictionaries, problems: list[Problem]) -> Any:
    return _integer(value, column.field, problems)


def _read_date(value: Any, column: Column, d: Dictionaries, problems: list[Problem]) -> str | None:
    if isinstance(value, (date, datetime)):
        return _plain(value)
    text = _plain(value)
    match = _DATE.fullmatch(text)
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3])).isoformat()
        except ValueError:
            pass
    problems.append(Problem(column.field, "NOT_DATE", f"“{text}”不是有效日期（格式 YYYY-MM-DD）"))
    return None


def _read_depth(value: Any, column: Column, d: Dictionaries, problems: list[Problem]) -> int | None:
    text = _plain(value)
    match = _DEPTH.match(text)
    if match:
        return int(match[1]) if match[1] else _CHINESE_DIGITS[match[2]]
    problems.append(Problem(column.field, "NOT_ALLOWED_VALUE", f"网办深度“{text}”应为一级至四级"))
    return None


def _read_lines(value: Any, column: Column, d: Dictionaries, problems: list[Problem]) -> list[str]:
    return _lines(value)


def _read_legal_basis(value: Any, column: Column, d: Dictionaries, problems: list[Problem]) -> list[dict[str, Any]]:
    return _read_legal_basis_lines(value, column.field, problems)


def _read_materials(value: Any, column: Column, d: Dictionaries, problems: list[Problem]) -> list[dict[str, Any]]:
    if _plain(value) == NO_MATERIALS:
        return []
    return _read_material_lines(value, column.field, problems)


def _read_fees(value: Any, column: Column, d: Dictionaries, problems: list[Problem]) -> dict[str, Any]:
    text = _plain(value)
    if text in (FREE_OF_CHARGE, "免费", "否"):
        return {"free": True, "items": []}
    return {"free": False, "items": _read_fee_item_lines(text, column.field + ".items", problems)}


EntryLines = Callable[[Any, str, list[Problem]], list[dict[str, Any]]]


def _entry_lines(shape: spec.Shape) -> EntryLines:
    """The reader of a cell of entries of ``shape``: one entry per line, its fields in table order separated by ｜
    (parts left out at the end are None); numbers (份数) written as text are read as numbers."""
    keys, count = shape.keys, len(shape.fields)
    numbers = tuple(i for i, f in enumerate(shape.fields) if isinstance(f.kind, spec.Integer))
    if not numbers:
        def read_texts(value: Any, field: str, problems: list[Problem]) -> list[dict[str, Any]]:
            text = _plain(value)
            if "\\n" in text:  # an escaped line break inside an entry: _lines restores it
                return [dict(zip_longest(keys, _parts(line, count))) for line in _lines(text)]
            # _lines inline (every entry cell of an import passes here)
            return [dict(zip_longest(keys, _parts(line, count))) for raw in text.splitlines() if (line := raw.strip())]

        return read_texts

    def read(value: Any, field: str, problems: list[Problem]) -> list[dict[str, Any]]:
        entries = []
        for i, line in enumerate(_lines(value)):
            parts: list[Any] = _parts(line, count)
            for position in numbers:
                number = parts[position] if position < len(parts) else None
                if number is not None:
                    parts[position] = int(number) if number.isdecimal() else _integer(
                        number, index_path(field, i, keys[position]), problems)
            entries.append(dict(zip_longest(keys, parts)))
        return entries

    return read


_read_legal_basis_lines, _read_material_lines, _read_fee_item_lines = (
    _entry_lines(spec.LEGAL_BASIS_ENTRY), _entry_lines(spec.MATERIAL), _entry_lines(spec.FEE_ITEM))


_READERS = {DICT: _read_code, DICT_LIST: _read_codes, CHOICE_LIST: _read_values, REFS: _read_values,
            INT: _read_integer, DATE: _read_date, DEPTH: _read_depth, LINES: _read_lines,
            LEGAL_BASIS: _read_legal_basis, MATERIALS: _read_materials, FEES: _read_fees}
# (header, reader or None for text taken as it is, element, sub-element or "", column) of every element column, in
# order: parse_row's plan. TEXT, CHOICE and REF cells are their stripped text (validation checks the choice).
_PLAN = tuple((c.header, _READERS.get(c.kind), *c.field.partition(".")[::2], c) for c in COLUMNS
              if c.field != "source_ref")
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_DEPTH = re.compile(r"(\d)|([一二三四])级")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _plain(value: Any) -> str:
    if value.__class__ is str:
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _code(value: Any, entries: Mapping[str, Any], *, labels: bool) -> str:
    text = _plain(value)
    words = text.split(None, 1)
    token = words[0] if words else text
    if token in entries:
        return token
    if token.isdigit():  # Excel turned 01 into 1
        padded = token.zfill(len(next(iter(entries), "")))
        if padded in entries:
            return padded
    if labels:
        matches = [code for code, entry in entries.items() if entry.label == text]
        if len(matches) == 1:
            return matches[0]
    return token  # unknown: validation reports it against the dictionary


def _split_values(value: Any) -> list[str]:
    return [v for part in _VALUES.split(_plain(value)) if (v := part.strip())]


def _integer(value: Any, field: str, problems: list[Problem]) -> Any:
    if value.__class__ is str:
        text = value.strip()
    elif isinstance(value, int):  # bool included: validation says it is not an integer
        return value
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    else:
        text = _plain(value).strip()
    if text.isdecimal():  # what \d+ matches: int() reads every Unicode decimal digit
        return int(text)
    problems.append(Problem(field, "NOT_INTEGER", f"“{text}”不是整数"))
    return None


def _lines(value: Any) -> list[str]:
    text = _plain(value)
    lines = [line for raw in text.splitlines() if (line := raw.strip())]
    if "\\n" in text:  # rare (an escaped break inside one entry, see _escape): one look instead of one per line
        return [line.replace("\\n", "\n") for line in lines]
    return lines


def _parts(line: str, count: int) -> list[str | None]:
    """At most ``count`` parts (the last takes the rest of the line); fewer when trailing parts were left out."""
    # The ASCII bar is read too (typed on an English keyboard); without one, str.split does what the regex would.
    pieces = _PARTS.split(line, maxsplit=count - 1) if "|" in line else line.split(PART_SEPARATOR, count - 1)
    return [p.strip() or None for p in pieces]


# ---- writing --------------------------------------------------------------------------------------------------------
def format_row(source_ref: str, elements: dict[str, Any], dictionaries: Dictionaries,
               reference_names: Mapping[str, str]) -> list[Any]:
    """One item as cells in :data:`COLUMNS` order: text, or int for the time limits. ``reference_names`` maps the
    item ids this item refers to onto what the sheet calls them (their 来源编号)."""
    cells: list[Any] = []
    for column in COLUMNS:
        if column.field == "source_ref":
            cells.append(source_ref)
            continue
        head, _, tail = column.field.partition(".")
        value = (elements.get(head) or {}).get(tail) if tail else elements.get(head)
        cells.append(_write(column, value, dictionaries, reference_names))
    return cells


def _write(column: Column, value: Any, d: Dictionaries, names: Mapping[str, str]) -> Any:
    if value is None or (value == [] and column.kind != MATERIALS):
        return None
    match column.kind:
        case "dict":
            entry = d.by_name(str(column.source)).get(value)
            return f"{value} {entry.label}" if entry else value
        case "dict_list":
            table = d.by_name(str(column.source))
            return "、".join(entry.label if (entry := table.get(v)) else v for v in value)
        case "choice_list":
            return "、".join(value)
        case "refs":
            return "、".join(names.get(v, v) for v in value)
        case "ref":
            return names.get(value, value)
        case "depth":
            return f"{value} {_DEPTHS.get(value, '')}".strip()
        case "lines":
            return "\n".join(_escape(v) for v in value)
        case "legal_basis":
            return "\n".join(_joined(e, _LEGAL_BASIS_KEYS) for e in value)
        case "materials":
            return "\n".join(_joined(m, _MATERIAL_KEYS) for m in value) or NO_MATERIALS
        case "fees":
            if value.get("free"):
                return FREE_OF_CHARGE
            return "\n".join(_joined(f, _FEE_ITEM_KEYS) for f in value.get("items") or [])
    return value  # text, choice, int, date


_LEGAL_BASIS_KEYS, _MATERIAL_KEYS, _FEE_ITEM_KEYS = spec.LEGAL_BASIS_ENTRY.keys, spec.MATERIAL.keys, spec.FEE_ITEM.keys
_DEPTHS = dict(spec.ONLINE_SERVICE_DEPTHS)  # the only graded element (spec.Integer with grades)


def _joined(entry: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    return PART_SEPARATOR.join(_escape("" if entry.get(k) is None else str(entry[k])) for k in keys).rstrip(
        PART_SEPARATOR)


def _escape(text: str) -> str:
    """A line break inside one entry would split it in two: it travels as the two characters ``\\n``."""
    return text.replace("\r\n", "\n").replace("\n", "\\n")
