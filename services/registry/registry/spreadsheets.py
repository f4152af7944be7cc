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
import itertools
import json
import os
import re
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

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
# A sheet whose XML is larger than this is read from a head start (see _xlsx_rows_whole): its first rows come from a
# copy of the file that holds only them, while calamine parses the whole sheet.
XLSX_HEAD_MIN_SHEET_BYTES = 4 * 1024 * 1024
XLSX_HEAD_ROWS = 8000


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
    """calamine (Rust) reads the sheet into memory at once, ≈18 times faster than openpyxl.

    Reading a whole sheet of 50,000 rows takes calamine ≈1.3 s before it gives the first row, and the import would
    wait for it doing nothing. So calamine parses the sheet in a thread (it lets go of the GIL meanwhile) while
    the first :data:`XLSX_HEAD_ROWS` rows are read from a small copy of the file that holds only them
    (:func:`_sheet_head`); the rows after those come from the whole sheet once it is there."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
        name = SHEET if SHEET in book.sheet_names else book.sheet_names[0]
    except (CalamineError, OSError, ValueError, IndexError) as exc:
        raise ImportFileError(reason=f"无法读取 xlsx 文件：{exc}") from exc
    loader = ThreadPoolExecutor(1, thread_name_prefix="xlsx-sheet")
    whole = loader.submit(book.get_sheet_by_name, name)
    head = _sheet_head(path, name)

    def whole_sheet() -> Any:
        try:
            return whole.result()
        except (CalamineError, OSError, ValueError, IndexError) as exc:
            raise ImportFileError(reason=f"无法读取 xlsx 文件：{exc}") from exc

    state: dict[str, Any] = {"row": 1, "total": None}

    def rows_of(sheet: Any) -> Iterator[list[Any]]:
        state["total"] = (sheet.height - 1) if sheet.height > 1 else None
        return _sheet_rows(sheet)

    def head_then_whole(head: _SheetHead) -> Iterator[list[Any]]:
        read = 0
        for row in head.rows:
            read += 1
            yield row
        yield from itertools.islice(rows_of(whole_sheet()), read, None)

    if head is None:
        values = rows_of(whole_sheet())
    else:
        state["total"] = head.total_rows
        values = head_then_whole(head)
    header = list(next(values, ()))
    total = state["total"]  # known up front unless the head start's sheet does not announce its size

    def numbered() -> Iterator[tuple[int, list[Any]]]:
        for row in values:
            state["row"] += 1
            yield state["row"], row

    def close() -> None:
        whole.cancel()
        loader.shutdown(wait=True)
        book.close()
        if head is not None:
            head.close()

    def progress() -> float:
        return min(1.0, (state["row"] - 1) / state["total"]) if state["total"] else 0.0

    rows, problems = _tabular_rows(header, numbered(), dictionaries)
    return RowReader(rows, progress, total, problems, close=close)


def _sheet_rows(sheet: Any) -> Iterator[list[Any]]:
    """A calamine sheet's rows as the sheet numbers them: calamine pads rows from the first, but starts each row at
    the leftmost column used; that column is put back in front, so that two reads of one sheet line up."""
    padding = [""] * (sheet.start[1] if sheet.start else 0)
    for row in sheet.iter_rows():
        yield padding + row if padding else row


@dataclass
class _SheetHead:
    rows: Iterator[list[Any]]
    total_rows: int | None  # from the sheet's <dimension>, if it has one
    close: Any


def _sheet_head(path: Path, name: str) -> _SheetHead | None:
    """The first rows of a large sheet, from a copy of the file whose sheet stops after them (every other part is
    copied as it is, shared strings and styles included, so calamine reads the cells exactly as in the file). None
    if the sheet is small, or its XML is not laid out as expected: the whole sheet is then waited for."""
    from python_calamine import CalamineWorkbook

    copy_path: Path | None = None
    book = None
    try:
        with zipfile.ZipFile(path) as archive:
            member = _sheet_member(archive, name)
            if member is None or archive.getinfo(member).file_size < XLSX_HEAD_MIN_SHEET_BYTES:
                return None
            cut = _first_rows_xml(archive, member, XLSX_HEAD_ROWS + 1)  # the header row too
            if cut is None:
                return None
            xml, total = cut
            handle, copy_name = tempfile.mkstemp(suffix=".xlsx", dir=path.parent)
            copy_path = Path(copy_name)
            with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as copy:
                for info in archive.infolist():
                    copy.writestr(info.filename, xml if info.filename == member else archive.read(info))
        book = CalamineWorkbook.from_path(str(copy_path))
        sheet = book.get_sheet_by_name(name)
    except Exception:  # noqa: BLE001 - only a head start: the whole sheet is read (and its errors reported) anyway
        if book is not None:
            book.close()
        if copy_path is not None:
            remove_quietly(copy_path)
        return None
    opened, copied = book, copy_path

    def close() -> None:
        opened.close()
        remove_quietly(copied)

    return _SheetHead(_sheet_rows(sheet), total, close)


def _sheet_member(archive: zipfile.ZipFile, name: str) -> str | None:
    """The archive member of the sheet called ``name`` (workbook.xml names it, its relationships locate it)."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
          "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
          "p": "http://schemas.openxmlformats.org/package/2006/relationships"}
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    for sheet in workbook.iterfind("m:sheets/m:sheet", ns):
        if sheet.get("name") == name:
            rel_id = sheet.get(f"{{{ns['r']}}}id")
            for rel in rels.iterfind("p:Relationship", ns):
                if rel.get("Id") == rel_id:
                    target = rel.get("Target") or ""
                    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return None


def _first_rows_xml(archive: zipfile.ZipFile, member: str, rows: int) -> tuple[bytes, int | None] | None:
    """The sheet's XML cut after its ``rows``-th row and closed again, and the rows its <dimension> announces after
    the header; None if the sheet has no more rows than that (or no recognisable <sheetData>)."""
    head = bytearray()
    prefix: re.Match[bytes] | None = None
    end_of_row, position, found = b"", 0, 0
    with archive.open(member) as stream:
        while block := stream.read(1024 * 1024):
            head += block
            if prefix is None:
                prefix = _SHEET_DATA.search(head)  # how the elements are spelt: <row> or <x:row>
                if prefix is None:
                    continue
                end_of_row, position = b"</" + prefix[1] + b"row>", prefix.end()
            while found < rows and (at := head.find(end_of_row, position)) >= 0:
                found, position = found + 1, at + len(end_of_row)
            if found == rows:
                dimension = _DIMENSION.search(head, 0, prefix.start())
                total = int(dimension[1]) - 1 if dimension else None
                closing = b"</" + prefix[1] + b"sheetData></" + prefix[1] + b"worksheet>"
                return bytes(head[:position]) + closing, total
    return None


_SHEET_DATA = re.compile(rb"<((?:\w+:)?)sheetData[\s>]")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"[A-Z]+\d+:[A-Z]+(\d+)\"")


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

