"""Item lists as files (I/O): reading xlsx, csv and ndjson as a stream of rows, writing exports and the template.

Reading keeps memory bounded whatever the file size: csv.reader over a text stream, ndjson line by line, and xlsx
by calamine (Rust, ≈18 times faster than openpyxl): whole up to 1 MiB, beyond that a part of 10,000 rows at a time
(the sheet's XML cut into smaller sheets, see _xlsx_rows_in_parts); openpyxl in read-only mode streams a workbook
whose sheet cannot be cut that way (slow, flat). csv arrives in UTF-8 (with or without BOM) or GB18030 (what
Excel on a Chinese Windows saves as "CSV"); the encoding is told apart on the first 64 KiB. Exports write the
columns of registry/domain/tabular.py, so an exported file can be edited and imported again."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import os
import re
import zipfile
import zlib
from array import array
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
from shared.contracts.elements import (
    CASE_TYPES,
    COMPOSITIONS,
    HANDLING_KINDS,
    ONLINE_SERVICE_DEPTHS,
    TIERS,
)
from registry.domain.problems import PROBLEM_CODES, Problem
from registry.spool import part_copy, remove_quietly

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
# xlsx files up to this size (≈9,000 rows of a full element set) are read whole by calamine; larger ones a part of
# XLSX_PART_ROWS rows at a time (calamine too, memory bounded by two parts: ≈230 MB for any size of our lists).
XLSX_WHOLE_READ_MAX_BYTES = 1024 * 1024
XLSX_PART_ROWS = 10_000


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
    return _xlsx_rows_in_parts(path, dictionaries)


def _xlsx_rows_whole(path: Path, dictionaries: Dictionaries) -> RowReader:
    """calamine (Rust) reads the sheet into memory at once, ≈18 times faster than openpyxl."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
        sheet = book.get_sheet_by_name(SHEET if SHEET in book.sheet_names else book.sheet_names[0])
    except (CalamineError, OSError, ValueError, IndexError) as exc:
        raise ImportFileError(reason=f"无法读取 xlsx 文件：{exc}") from exc
    values = _sheet_rows(sheet)
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


def _sheet_rows(sheet: Any) -> Iterator[list[Any]]:
    """A calamine sheet's rows as the sheet numbers them: calamine pads rows from the first, but starts each row at
    the leftmost column used; that column is put back in front, so that two reads of one sheet line up."""
    padding = [""] * (sheet.start[1] if sheet.start else 0)
    for row in sheet.iter_rows():
        yield padding + row if padding else row


def _sheet_members(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → its archive member, in the workbook's order (workbook.xml names the sheets, its relationships
    locate them)."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
          "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
          "p": "http://schemas.openxmlformats.org/package/2006/relationships"}
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target") or "" for rel in rels.iterfind("p:Relationship", ns)}
    members = {}
    for sheet in workbook.iterfind("m:sheets/m:sheet", ns):
        target = targets.get(sheet.get(f"{{{ns['r']}}}id"), "")
        if target:
            members[sheet.get("name") or ""] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return members


def _sheet_xml_parts(read: Any, rows_per_part: int) -> Iterator[bytes]:
    """A sheet's XML (``read(n)`` gives its next bytes) as complete sheets of ``rows_per_part`` rows each, the last
    one what is left: each is the sheet's own opening (everything up to <sheetData>, so its <dimension> too), a run
    of whole <row> elements, and the closing tags. Nothing for a sheet without rows (or without a <sheetData>)."""
    buffer = bytearray()
    opening, end_of_row, end_of_data, closing = b"", b"", b"", b""
    position = found = 0
    while block := read(1024 * 1024):
        buffer += block
        if not opening:
            data = _SHEET_DATA.search(buffer)  # how the elements are spelt: <row> or <x:row>
            if data is None:
                continue
            rows_start = buffer.index(b">", data.start()) + 1
            opening, prefix = bytes(buffer[:rows_start]), data[1]
            end_of_row, end_of_data = b"</" + prefix + b"row>", b"</" + prefix + b"sheetData>"
            closing = end_of_data + b"</" + prefix + b"worksheet>"
            del buffer[:rows_start]
        while (at := buffer.find(end_of_row, position)) >= 0:
            found, position = found + 1, at + len(end_of_row)
            if found == rows_per_part:
                with memoryview(buffer) as view:  # one copy of the part, not three
                    part = b"".join((opening, view[:position], closing))
                del buffer[:position]
                found = position = 0
                yield part
    if opening:
        end = buffer.find(end_of_data)
        rest = bytes(buffer[:end] if end >= 0 else buffer)
        if end_of_row in rest:
            yield opening + rest + closing


def _announced_rows(sheet_xml: bytes) -> int | None:
    """The rows after the header a sheet's <dimension> announces, if it has one."""
    dimension = _DIMENSION.search(sheet_xml, 0, max(sheet_xml.find(b"sheetData"), 0))
    return int(dimension[1]) - 1 if dimension else None


_OTHER_SHEET_OR_MEDIA = re.compile(r"xl/(worksheets/[^/]+\.xml|media/)")
_SHARED_STRING = re.compile(rb"<((?:\w+:)?)si[\s/>]")
_CELL_NUMBER = re.compile(rb"v>\s*(\d+)\s*</")  # <v> with or without a prefix (and, harmlessly, more)


class _SharedStrings:
    """A workbook's shared-strings table (Excel keeps every text cell there; uniqueCount is ≈ 5 per row of a list
    with free text) cut at its entries, so that the copy of each part carries only the strings that part's cells
    use: calamine would otherwise parse the whole table again for every part (a 100,000-row list with 80 MB of
    unique text read in 7.5 s at a 268 MB peak; trimmed, in 6.0 s at 226 MB). The entries keep their places — each
    one a part does not use is left empty, those after the last one it uses are left out — so the cells' indexes
    stay as they are."""

    def __init__(self, xml: bytes) -> None:
        self.xml = xml
        self.starts = array("q", (m.start() for m in _SHARED_STRING.finditer(xml)))
        prefix = _SHARED_STRING.search(xml)
        self.empty = b"<%bsi/>" % prefix[1] if prefix else b""  # calamine counts it as an empty string (tested)
        self.end = xml.rfind(b"</")  # the table's closing tag

    def for_part(self, part_xml: bytes) -> bytes:
        """The table as the part needs it. What a part uses is read over-inclusively — every whole number in a
        cell value, numbers in numeric cells too — so that no string a cell refers to can be left out."""
        count = len(self.starts)
        if not count or self.end < self.starts[-1]:
            return self.xml
        used = sorted({n for n in map(int, _CELL_NUMBER.findall(part_xml)) if n < count})
        pieces, following = [self.xml[:self.starts[0]]], 0
        run_start = 0
        for at, index in enumerate(used):  # each run of consecutive entries is copied in one slice
            if at + 1 < len(used) and used[at + 1] == index + 1:
                continue
            first = used[run_start]
            pieces.append(self.empty * (first - following))
            pieces.append(self.xml[self.starts[first]:self.starts[index + 1] if index + 1 < count else self.end])
            following, run_start = index + 1, at + 1
        pieces.append(self.xml[self.end:])  # entries after the last one used are left out
        return b"".join(pieces)

_SHEET_DATA = re.compile(rb"<((?:\w+:)?)sheetData[\s>]")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"[A-Z]+\d+:[A-Z]+(\d+)\"")


def _xlsx_rows_in_parts(path: Path, dictionaries: Dictionaries) -> RowReader:
    """A file too large to read whole: its sheet is cut into sheets of :data:`XLSX_PART_ROWS` rows
    (:func:`_sheet_xml_parts`), each read by calamine from a copy of the file that holds it (what else calamine
    needs copied as it is, styles included, and the shared strings those rows use: the cells read exactly as in the
    file), the next one parsed in a thread while this one's rows are used: memory holds two parts whatever the file
    size, at calamine's speed, and the first rows are there after one part (≈0.3 s), not after the whole sheet
    (≈1.3 s for 50,000 rows). A workbook whose sheet cannot be located or cut that way is streamed by openpyxl
    instead."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFileError(reason=f"无法读取 xlsx 文件：{exc}") from exc
    try:
        members = _sheet_members(archive)
        name = SHEET if SHEET in members else next(iter(members))
        member = members[name]
        size = max(archive.getinfo(member).file_size, 1)
        # What calamine needs besides the sheet (workbook, relationships, styles, shared strings), not the other
        # sheets nor pictures, which would only be copied again for every part.
        others = {info.filename: archive.read(info) for info in archive.infolist()
                  if info.filename != member and not _OTHER_SHEET_OR_MEDIA.match(info.filename)}
        strings_member = next((f for f in others if f.lower().endswith("sharedstrings.xml")), None)
        strings = _SharedStrings(others.pop(strings_member)) if strings_member else None
        stream = archive.open(member)
    except (KeyError, StopIteration, ElementTree.ParseError, zipfile.BadZipFile, OSError, ValueError):
        archive.close()
        return _xlsx_rows_streamed(path, dictionaries)
    loader = ThreadPoolExecutor(1, thread_name_prefix="xlsx-part")
    state: dict[str, Any] = {"row": 1, "read": 0, "total": None}

    def read(n: int) -> bytes:
        block = stream.read(n)
        state["read"] += len(block)
        return block

    def load(xml: bytes) -> Any:  # in the loader thread: calamine lets go of the GIL while it parses
        handle, copy_name = part_copy(path)  # a file: calamine reads it as needed
        try:
            with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as copy:
                for filename, content in others.items():
                    copy.writestr(filename, content)
                if strings is not None:
                    copy.writestr(strings_member, strings.for_part(xml))
                copy.writestr(member, xml)
            book = CalamineWorkbook.from_path(copy_name)
            try:
                return book.get_sheet_by_name(name)
            finally:
                book.close()
        except (CalamineError, ValueError) as exc:
            raise ImportFileError(reason=f"无法读取 xlsx 文件：{exc}") from exc
        finally:
            remove_quietly(Path(copy_name))

    cuts = _sheet_xml_parts(read, XLSX_PART_ROWS)

    def next_part() -> bytes | None:
        try:
            return next(cuts, None)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:  # the sheet's bytes are damaged
            raise ImportFileError(reason=f"无法读取 xlsx 文件：{exc}") from exc

    try:
        first, failure = next_part(), None
    except ImportFileError as exc:
        first, failure = None, exc
    if first is None:  # no <sheetData> to cut (or the sheet's bytes are damaged): openpyxl reads it, or says why
        loader.shutdown()
        stream.close()
        archive.close()
        if failure is not None:
            raise failure
        return _xlsx_rows_streamed(path, dictionaries)
    state["total"] = _announced_rows(first)

    def sheet_rows() -> Iterator[list[Any]]:
        nonlocal first
        pending: Any = loader.submit(load, first)
        first = None  # the part's XML is not kept for the whole import
        done = 0  # rows given so far: each part's sheet numbers its rows from the first row of the whole sheet
        while pending is not None:
            sheet = pending.result()
            following = next_part()
            pending = loader.submit(load, following) if following is not None else None
            for row in itertools.islice(_sheet_rows(sheet), done, None):
                done += 1
                yield row

    values = sheet_rows()
    header = list(next(values, ()))
    total = state["total"]  # known up front if the sheet announces its size (Excel's sheets do)

    def numbered() -> Iterator[tuple[int, list[Any]]]:
        for row in values:
            state["row"] += 1
            yield state["row"], row

    def progress() -> float:
        if state["total"]:
            return min(1.0, (state["row"] - 1) / state["total"])
        return min(1.0, state["read"] / size)  # the sheet's bytes read, a part or two ahead of the rows

    def close() -> None:
        loader.shutdown(wait=True, cancel_futures=True)
        stream.close()
        archive.close()

    rows, problems = _tabular_rows(header, numbered(), dictionaries)
    return RowReader(rows, progress, total, problems, close=close)


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
    """orjson reads a line ≈5 times faster; what it refuses (a BOM, NaN, Infinity) the standard library still reads,
    and its message is the one reported for a line that is not JSON at all. (An integer beyond 64 bits orjson reads
    as a float, where the standard library gave an int: no element holds such a number, and validation refuses it
    either way, as not an integer instead of out of range.)"""
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

