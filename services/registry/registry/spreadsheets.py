"""Item lists as files (I/O): reading xlsx, csv and ndjson as a stream of rows, writing exports and the template.

Reading keeps memory bounded whatever the file size: csv.reader over a text stream, ndjson line by line, and xlsx
read whole by calamine up to 8 MiB (fast; ≈30 times the file in memory) or streamed by openpyxl in read-only mode
beyond that (slow, flat). csv arrives in UTF-8 (with or without BOM) or GB18030 (what Excel on a Chinese
Windows saves as "CSV"); the encoding is told apart on the first 64 KiB. Exports write the columns of
registry/domain/tabular.py, so an exported file can be edited and imported again."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import os
import zipfile
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from shared.dictionaries import Dictionaries
from shared.errors import DomainError

from registry.domain import tabular
from registry.domain.elements import (
    CASE_TYPES,
    COMPOSITIONS,
    HANDLING_KINDS,
    ONLINE_SERVICE_DEPTHS,
    TIERS,
)
from registry.domain.problems import PROBLEM_CODES, Problem

XLSX, CSV, NDJSON = "xlsx", "csv", "ndjson"
FORMATS = (XLSX, CSV, NDJSON)
SHEET = "事项清单"
_CONTENT_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": XLSX,
    "text/csv": CSV, "application/csv": CSV,
    "application/x-ndjson": NDJSON, "application/ndjson": NDJSON, "application/jsonl": NDJSON,
}
# Types that say nothing about the content (curl's default, browsers' fallback): the name and the bytes decide.
_GENERIC_TYPES = ("", "application/octet-stream", "text/plain", "application/x-www-form-urlencoded")
_SNIFF_BYTES = 64 * 1024
# xlsx files up to this size are read whole by calamine (fast; memory ≈ 30 times the file: 8 MiB ≈ 70,000 rows
# ≈ 240 MB); larger ones are streamed by openpyxl (≈ 18 times slower per row, memory flat).
XLSX_WHOLE_READ_MAX_BYTES = 8 * 1024 * 1024


class ImportFileError(DomainError):
    """The file cannot be read as an item list at all (format, encoding, missing columns)."""


class UnsupportedFormatError(DomainError):
    """Neither xlsx, csv nor ndjson."""


def detect_format(head: bytes, *, declared: str | None, content_type: str | None, filename: str | None) -> str:
    """The caller's word first (``format``), then the content type, the file name, and finally the bytes."""
    if declared:
        if declared not in FORMATS:
            raise UnsupportedFormatError(format=declared)
        return declared
    media = (content_type or "").split(";")[0].strip().lower()
    if media in _CONTENT_TYPES:
        return _CONTENT_TYPES[media]
    if media not in _GENERIC_TYPES:
        raise UnsupportedFormatError(format=media)
    suffix = Path(filename or "").suffix.lower().lstrip(".")
    if suffix in FORMATS or suffix in ("jsonl",):
        return NDJSON if suffix == "jsonl" else suffix
    if head.startswith(b"PK\x03\x04"):
        return XLSX
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return NDJSON
    if head:
        return CSV
    raise UnsupportedFormatError(format=media or suffix or "?")


@dataclass
class SourceRow:
    """One row of the file: its number as the user sees it, its 来源编号, raw elements and reading problems."""

    row: int
    source_ref: str | None
    elements: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)


@dataclass
class RowReader:
    """An open file as rows. ``total_rows`` is known up front for xlsx; ``progress()`` is 0..1 for all formats."""

    rows: Iterator[SourceRow]
    progress: Any  # Callable[[], float]
    total_rows: int | None = None
    header_problems: list[Problem] = field(default_factory=list)
    tabular: bool = True  # problems are reported by column (xlsx, csv) or by field path (ndjson)
    close: Any = None

    def __iter__(self) -> Iterator[SourceRow]:
        return self.rows


def open_rows(path: Path, fmt: str, dictionaries: Dictionaries) -> RowReader:
    if fmt == XLSX:
        return _xlsx_rows(path, dictionaries)
    if fmt == CSV:
        return _csv_rows(path, dictionaries)
    return _ndjson_rows(path)


def _tabular_rows(header: list[Any], records: Iterable[tuple[int, list[Any]]],
                  dictionaries: Dictionaries) -> tuple[Iterator[SourceRow], list[Problem]]:
    headers = [tabular.canonical_header(h) for h in header]
    missing = tabular.missing_headers(headers)
    if missing:
        raise ImportFileError(reason=f"缺少必需的列：{'、'.join(missing)}（请使用导入模板）", missing=missing)
    problems = [Problem(h, "UNKNOWN_COLUMN", f"不认识的列“{h}”，已忽略") for h in tabular.unknown_headers(headers)]

    def rows() -> Iterator[SourceRow]:
        for number, values in records:
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue  # blank lines between blocks of a sheet are not errors
            parsed = tabular.parse_row(dict(zip(headers, values, strict=False)), dictionaries)
            yield SourceRow(number, parsed.source_ref, parsed.elements, parsed.problems)

    return rows(), problems


def _xlsx_rows(path: Path, dictionaries: Dictionaries) -> RowReader:
    if path.stat().st_size <= XLSX_WHOLE_READ_MAX_BYTES:
        return _xlsx_rows_whole(path, dictionaries)
    return _xlsx_rows_streamed(path, dictionaries)


def _xlsx_rows_whole(path: Path, dictionaries: Dictionaries) -> RowReader:
    """calamine (Rust) reads the sheet into memory at once, ≈18 times faster than openpyxl."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
        sheet = book.get_sheet_by_name(SHEET if SHEET in book.sheet_names else book.sheet_names[0])
    except (CalamineError, OSError, ValueError, IndexError) as exc:
        raise ImportFileError(reason=f"无法读取 xlsx 文件：{exc}") from exc
    values = iter(sheet.iter_rows())
    header = list(next(values, ()))
    total = (sheet.height - 1) if sheet.height > 1 else None
    state = {"row": 1}

    def numbered() -> Iterator[tuple[int, list[Any]]]:
        for row in values:
            state["row"] += 1
            yield state["row"], row

    rows, problems = _tabular_rows(header, numbered(), dictionaries)
    return RowReader(rows, lambda: min(1.0, (state["row"] - 1) / total) if total else 0.0, total, problems,
                     close=book.close)


def _xlsx_rows_streamed(path: Path, dictionaries: Dictionaries) -> RowReader:
    """openpyxl in read-only mode: row by row, memory flat whatever the size."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    handle = path.open("rb")  # a file object: openpyxl would refuse the spooled file's name (no .xlsx suffix)
    try:
        book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except (InvalidFileException, KeyError, OSError, ValueError, zipfile.BadZipFile) as exc:
        handle.close()
        raise ImportFileError(reason=f"无法读取 xlsx 文件：{exc}") from exc
    sheet = book[SHEET] if SHEET in book.sheetnames else book.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    header = list(next(values, ()))
    total = (sheet.max_row - 1) if sheet.max_row and sheet.max_row > 1 else None
    state = {"row": 1}

    def numbered() -> Iterator[tuple[int, list[Any]]]:
        for row in values:
            state["row"] += 1
            yield state["row"], list(row)

    def close() -> None:
        book.close()
        handle.close()

    rows, problems = _tabular_rows(header, numbered(), dictionaries)
    return RowReader(rows, lambda: min(1.0, (state["row"] - 1) / total) if total else 0.0, total, problems,
                     close=close)


def _csv_rows(path: Path, dictionaries: Dictionaries) -> RowReader:
    csv.field_size_limit(16 * 1024 * 1024)  # a cell of many legal texts can exceed the 128 KiB default
    size = max(path.stat().st_size, 1)
    binary = path.open("rb")
    encoding = sniff_encoding(binary.read(_SNIFF_BYTES))
    binary.seek(0)
    stream = io.TextIOWrapper(binary, encoding=encoding, newline="")
    reader = csv.reader(stream)
    try:
        header = next(reader, [])
    except (UnicodeDecodeError, csv.Error) as exc:
        binary.close()
        raise ImportFileError(reason=f"无法读取 csv 文件：{exc}") from exc

    def numbered() -> Iterator[tuple[int, list[Any]]]:
        # Rows as Excel shows them: the header is row 1, and a cell with line breaks is still one row.
        for number, record in enumerate(reader, start=2):
            yield number, list(record)

    def progress() -> float:
        return 1.0 if stream.closed else min(1.0, binary.tell() / size)

    rows, problems = _tabular_rows(header, numbered(), dictionaries)
    return RowReader(rows, progress, None, problems, close=stream.close)  # the reader keeps the stream alive


def sniff_encoding(head: bytes) -> str:
    """UTF-8 (BOM or valid), else GB18030 — the two encodings Chinese spreadsheets are saved in."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut multi-byte char at the end is fine
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _ndjson_rows(path: Path) -> RowReader:
    size = max(path.stat().st_size, 1)
    binary = path.open("rb")

    def rows() -> Iterator[SourceRow]:
        for number, line in enumerate(binary, start=1):
            if not line.strip():
                continue
            try:
                record = _json_line(line)
            except (UnicodeDecodeError, ValueError) as exc:
                problem = Problem("", "UNREADABLE_ROW", f"第 {number} 行不是有效的 JSON：{exc}")
                yield SourceRow(number, None, {}, [problem])
                continue
            if not isinstance(record, dict):
                yield SourceRow(number, None, {}, [Problem("", "UNREADABLE_ROW", f"第 {number} 行应为 JSON 对象")])
                continue
            source_ref = record.pop("source_ref", None)
            yield SourceRow(number, source_ref.strip() if isinstance(source_ref, str) and source_ref.strip()
                            else None, record)

    return RowReader(rows(), lambda: min(1.0, binary.tell() / size), None, [], tabular=False, close=binary.close)


def _json_line(line: bytes) -> Any:
    """orjson reads a line ≈5 times faster; what it refuses (a BOM, NaN, integers beyond 64 bits) the standard
    library still reads, and its message is the one reported for a line that is not JSON at all."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line.decode("utf-8-sig"))


# ---- writing ------------------------------------------------------------------------------------------------------
async def write_csv(path: Path, batches: AsyncIterator[tuple[list[Any], dict[str, str]]],
                    dictionaries: Dictionaries, *, encoding: str = "utf-8-sig") -> int:
    """UTF-8 with BOM by default, so that Excel opens it with the Chinese intact; ``gb18030`` on request."""
    count = 0
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(tabular.HEADERS)
        async for rows, names in batches:
            for r in rows:
                writer.writerow(["" if v is None else v for v in
                                 tabular.format_row(r.source_ref or r.item_id, r.elements, dictionaries, names)])
                count += 1
    return count


async def write_xlsx(path: Path, batches: AsyncIterator[tuple[list[Any], dict[str, str]]],
                     dictionaries: Dictionaries) -> int:
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(SHEET)
    _column_widths(sheet)
    sheet.freeze_panes = "C2"
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    header = []
    for h in tabular.HEADERS:
        cell = WriteOnlyCell(sheet, value=h)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    count = 0
    async for rows, names in batches:
        for r in rows:
            cells = []
            for value in tabular.format_row(r.source_ref or r.item_id, r.elements, dictionaries, names):
                cell = WriteOnlyCell(sheet, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # text that starts with "=" stays text, never a formula
                    if "\n" in value:
                        cell.alignment = wrap
                cells.append(cell)
            sheet.append(cells)
            count += 1
    book.save(path)
    return count


def _column_widths(sheet: Any) -> None:
    from openpyxl.utils import get_column_letter

    for i, column in enumerate(tabular.COLUMNS, start=1):
        wide = column.kind in (tabular.LEGAL_BASIS, tabular.MATERIALS, tabular.LINES, tabular.FEES)
        sheet.column_dimensions[get_column_letter(i)].width = 40 if wide else max(12, 2 * len(column.header) + 4)


# ---- the template -------------------------------------------------------------------------------------------------
TEMPLATE_ROWS = 5000  # rows that carry the drop-downs (a whole column would make Excel slow)


def write_template(path: Path, dictionaries: Dictionaries, *, regions: list[str], today: date) -> None:
    """The import template: Chinese headers (required ones in red, each with its filling note as a comment), the
    reference tables as drop-downs fed from a hidden 字典 sheet, the caller's own regions only, and a 填写说明 sheet."""
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = SHEET
    lists = book.create_sheet("字典")
    guide = book.create_sheet("填写说明")
    _column_widths(sheet)
    sheet.freeze_panes = "C2"
    for i, column in enumerate(tabular.COLUMNS, start=1):
        cell = sheet.cell(row=1, column=i, value=column.header)
        cell.font = Font(bold=True, color="C00000" if column.required else "000000")
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        if column.note:
            cell.comment = Comment(column.note, "事项管理系统")
    choices = _template_choices(dictionaries, regions, today)
    for list_index, (header, values) in enumerate(choices.items(), start=1):
        letter = get_column_letter(list_index)
        lists.cell(row=1, column=list_index, value=header)
        for row, value in enumerate(values, start=2):
            lists.cell(row=row, column=list_index, value=value)
        target = get_column_letter(tabular.HEADERS.index(header) + 1)
        # Warning style: a value typed by hand (a bare code) is allowed after a prompt; the import reads it.
        validation = DataValidation(type="list", formula1=f"=字典!${letter}$2:${letter}${len(values) + 1}",
                                    allow_blank=True, errorStyle="warning", showErrorMessage=True,
                                    errorTitle=header, error=f"请从下拉列表中选择{header}")
        validation.add(f"{target}2:{target}{TEMPLATE_ROWS + 1}")
        sheet.add_data_validation(validation)
    lists.sheet_state = "hidden"
    guide.append(["列名", "是否必填", "填写说明"])
    for column in tabular.COLUMNS:
        guide.append([column.header, "必填" if column.required else "", column.note])
    guide.append([])
    guide.append(["问题代码", "含义"])
    for code, meaning in PROBLEM_CODES.items():
        guide.append([code, meaning])
    guide.column_dimensions["A"].width = 28
    guide.column_dimensions["C"].width = 90
    book.save(path)


def _template_choices(dictionaries: Dictionaries, regions: list[str], today: date) -> dict[str, list[str]]:
    def table(name: str) -> list[str]:
        return [f"{e.code} {e.label}" for e in dictionaries.by_name(name).entries.values() if e.valid_on(today)]

    in_scope = [f"{e.code} {e.label}" for e in dictionaries.regions.entries.values()
                if e.valid_on(today) and any(p == "*" or e.code.startswith(p) for p in regions)]
    return {
        "事项类型": table("item_types"), "业务警种": table("police_types"), "服务类别": table("service_categories"),
        "区划代码": in_scope, "办件类型": list(CASE_TYPES),
        "网办深度": [f"{k} {v}" for k, v in ONLINE_SERVICE_DEPTHS.items()], "事项形式": list(COMPOSITIONS),
        "事项层级": list(TIERS), "办理项类型": list(HANDLING_KINDS),
    }


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)

