"""Large xlsx files a part at a time: the sheet's XML cut into sheets of :data:`XLSX_PART_ROWS` rows, each read by
calamine from a copy of the file that holds it (:func:`xlsx_rows_in_parts`), so that memory holds two parts whatever
the file size, at calamine's speed."""

from __future__ import annotations

import itertools
import os
import re
import zipfile
import zlib
from array import array
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_untrusted_xml

from shared.dictionaries import Dictionaries

from registry.adapters.spool import part_copy, remove_quietly
from registry.adapters.spreadsheets import xlsx_bounds as bounds
from registry.adapters.spreadsheets.formats import SHEET
from registry.adapters.spreadsheets.rows import RowReader, tabular_rows
from registry.adapters.spreadsheets.xlsx_file import sheet_rows, xlsx_rows_streamed
from registry.domain.errors import ImportFileError, ImportFileTooLargeError

XLSX_PART_ROWS = 10_000
# A part is cut before its rows reach this size, however few they are (calamine holds a part several times over);
# a single row beyond it is refused. The sheet's opening (up to <sheetData>) may not exceed it either.
XLSX_PART_MAX_BYTES = 128 * bounds.MB


def _sheet_members(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → its archive member, in the workbook's order (workbook.xml names the sheets, its relationships
    locate them)."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
          "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
          "p": "http://schemas.openxmlformats.org/package/2006/relationships"}
    # An upload is untrusted XML: defusedxml refuses entity declarations (billion laughs) and external references.
    workbook = parse_untrusted_xml(bounds.read_member(archive, "xl/workbook.xml", limit=bounds.OTHERS_MAX_BYTES,
                                                      what="工作簿（workbook.xml）"))
    rels = parse_untrusted_xml(bounds.read_member(archive, "xl/_rels/workbook.xml.rels",
                                                  limit=bounds.OTHERS_MAX_BYTES, what="工作簿的关系部件"))
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
                if len(buffer) > XLSX_PART_MAX_BYTES:
                    raise bounds.too_large(f"工作表在数据之前的部分超过 {XLSX_PART_MAX_BYTES // bounds.MB} MB", "part")
                continue
            rows_start = buffer.index(b">", data.start()) + 1
            opening, prefix = bytes(buffer[:rows_start]), data[1]
            end_of_row, end_of_data = b"</" + prefix + b"row>", b"</" + prefix + b"sheetData>"
            closing = end_of_data + b"</" + prefix + b"worksheet>"
            del buffer[:rows_start]
        while True:
            full = False  # the next row would take the part beyond XLSX_PART_MAX_BYTES: it ends before
            while found < rows_per_part and (at := buffer.find(end_of_row, position)) >= 0:
                if at + len(end_of_row) > XLSX_PART_MAX_BYTES:
                    if not found:
                        raise bounds.too_large(f"工作表中有一行超过 {XLSX_PART_MAX_BYTES // bounds.MB} MB", "row")
                    full = True
                    break
                found, position = found + 1, at + len(end_of_row)
            if found == rows_per_part or (found and (full or len(buffer) > XLSX_PART_MAX_BYTES)):
                with memoryview(buffer) as view:  # one copy of the part, not three
                    part = b"".join((opening, view[:position], closing))
                del buffer[:position]
                found = position = 0
                yield part
            elif len(buffer) > XLSX_PART_MAX_BYTES:  # not one whole row in it
                raise bounds.too_large(f"工作表中有一行超过 {XLSX_PART_MAX_BYTES // bounds.MB} MB", "row")
            else:
                break
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


class SharedStrings:
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
_DIMENSION_ELEMENT = re.compile(rb"<(?:\w+:)?dimension\s[^>]*>")


# What calamine may read whole: the sheet and everything else together, expanded.
WHOLE_READ_MAX_EXPANDED = 64 * bounds.MB


def whole_read_fits(path: Path) -> bool:
    """Whether calamine may read the file whole (see reading.py): everything in it expands to at most
    :data:`WHOLE_READ_MAX_EXPANDED` and its sheet's grid, announced and filled, is within bounds. Else it is read in
    parts, which hold less at a time (and refuse what breaks a bound there). A cell or grid that no reader may take
    is refused here (ImportFileTooLargeError)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return False  # the parts' reader says why
    with archive:
        try:
            members = _sheet_members(archive)
            member = members[SHEET if SHEET in members else next(iter(members))]
            budget, sheet = WHOLE_READ_MAX_EXPANDED, b""
            for info in archive.infolist():
                if not bounds.is_read(info.filename):
                    continue
                xml = bounds.read_member(archive, info.filename, limit=budget, what="xlsx 的全部部件")
                budget -= len(xml)
                if info.filename == member:
                    sheet = xml
                elif info.filename.lower().endswith("sharedstrings.xml"):
                    bounds.check_string_count(len(_SHARED_STRING.findall(xml)))
        except ImportFileTooLargeError as exc:
            if exc.context.get("limit") == "member":
                return False  # larger than a whole read: the parts' reader bounds it
            raise
        except (KeyError, StopIteration, ParseError, DefusedXmlException, zipfile.BadZipFile, OSError, ValueError,
                EOFError, zlib.error):
            return False  # the parts' reader falls back to openpyxl, or says why
    announced = bounds.announced_grid(sheet)
    if announced is not None and announced.cells > bounds.GRID_MAX_CELLS:
        return False  # the parts leave the <dimension> out
    bounds.check_grid(sheet)
    return True


def xlsx_rows_in_parts(path: Path, dictionaries: Dictionaries) -> RowReader:
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
        # sheets nor pictures or embedded objects, which would only be copied again for every part. Each is read
        # within its bound (xlsx_bounds.py): the shared strings within theirs, the others together within theirs.
        others, strings_member, strings, budget = {}, None, None, bounds.OTHERS_MAX_BYTES
        for info in archive.infolist():
            if (info.filename == member or _OTHER_SHEET_OR_MEDIA.match(info.filename)
                    or not bounds.is_read(info.filename)):
                continue
            if info.filename.lower().endswith("sharedstrings.xml") and strings_member is None:
                strings_member = info.filename
                strings = SharedStrings(bounds.read_member(archive, info.filename, limit=bounds.STRINGS_MAX_BYTES,
                                                           what="共享字符串（sharedStrings.xml）"))
                bounds.check_string_count(len(strings.starts))
                continue
            others[info.filename] = bounds.read_member(archive, info.filename, limit=budget,
                                                       what="工作表以外的部件（样式、关系等）合计")
            budget -= len(others[info.filename])
        stream = bounds.Expanding(archive.open(member), limit=bounds.SHEET_MAX_BYTES, what="工作表")
    except ImportFileError:
        archive.close()
        raise
    except (KeyError, StopIteration, ParseError, DefusedXmlException, zipfile.BadZipFile, OSError, ValueError):
        archive.close()
        return xlsx_rows_streamed(path, dictionaries)
    loader = ThreadPoolExecutor(1, thread_name_prefix="xlsx-part")
    state: dict[str, Any] = {"row": 1, "read": 0, "total": None}

    def read(n: int) -> bytes:
        block = stream.read(n)
        state["read"] += len(block)
        return block

    def load(xml: bytes) -> Any:  # in the loader thread: calamine lets go of the GIL while it parses
        bounds.check_grid(xml)
        # Without the sheet's <dimension>: it announces the whole sheet, not this part (bounded above by the cells).
        opening = xml.find(b"sheetData")
        xml = _DIMENSION_ELEMENT.sub(b"", xml[:opening], count=1) + xml[opening:]
        handle, copy_name = part_copy(path)  # a file: calamine reads it as needed
        try:
            with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as copy:
                for filename, content in others.items():
                    copy.writestr(filename, content)
                if strings_member is not None and strings is not None:
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
        return xlsx_rows_streamed(path, dictionaries)
    state["total"] = _announced_rows(first)
    # Handed over, not held by the generator: neither the first part's XML nor its sheet is kept for the import.
    submitted = [loader.submit(load, first)]
    del first

    def rows_of_the_parts() -> Iterator[list[Any]]:
        pending: Any = submitted.pop()
        done = 0  # rows given so far: each part's sheet numbers its rows from the first row of the whole sheet
        while pending is not None:
            sheet = pending.result()
            following = next_part()
            pending = loader.submit(load, following) if following is not None else None
            for row in itertools.islice(sheet_rows(sheet), done, None):
                done += 1
                yield row

    values = rows_of_the_parts()
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

    rows, problems = tabular_rows(header, numbered(), dictionaries)
    return RowReader(rows, progress, total, problems, close=close)
