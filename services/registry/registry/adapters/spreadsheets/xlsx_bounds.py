"""What an uploaded xlsx may expand to, checked on its XML before calamine or openpyxl sees it.

An xlsx is a zip of XML: 1 MB of upload can hold a 1 GiB cell (a zip bomb), and two cells at A1 and XFD1048576 make
calamine allocate the whole grid between them (17 billion cells: the reader process aborts). Both are bounded here,
each bound far beyond any item list, so that what a reader holds stays a few hundred MB whatever the upload:

* every zip member is read as a stream and stops at its limit (:class:`Expanding`, :func:`read_member`): the sheet
  at :data:`SHEET_MAX_BYTES` (it is read a part at a time), the shared strings at :data:`STRINGS_MAX_BYTES` and
  :data:`STRINGS_MAX_COUNT` entries (held whole), everything else together at :data:`OTHERS_MAX_BYTES`;
* no cell is longer than :data:`CELL_MAX_CHARS`, Excel's own limit (and beyond the element model's longest text):
  the XML between two tags — one cell's text at most — is never longer than :data:`RUN_MAX_BYTES`;
* no cell lies beyond column :data:`LAST_COLUMN` (ZZ), and the rows × columns of what calamine reads at once (the
  whole sheet, or a part of it) stay within :data:`GRID_MAX_CELLS` (:func:`check_grid`).

A file that breaks a bound fails its job with :class:`ImportFileTooLargeError` (IMPORT_FILE_TOO_LARGE_EXPANDED),
whose Chinese reason names the bound."""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from typing import IO, ClassVar

from registry.domain.errors import ImportFileTooLargeError

MB = 1024 * 1024
CELL_MAX_CHARS = 32_767  # Excel's limit of one cell: a statute's full text (LEGAL_TEXT_MAX) fits, three times over
# A character of a cell is at most 4 bytes of UTF-8, or 6 as an XML reference (&quot;): a cell within the limit is
# never a longer run of bytes without a "<".
RUN_MAX_BYTES = 6 * CELL_MAX_CHARS
SHEET_MAX_BYTES = 2048 * MB  # the sheet's XML (read a part at a time): ≈ 10 times a 100,000-row list
STRINGS_MAX_BYTES = 256 * MB  # the shared strings (held whole): ≈ 3 times those of a 100,000-row list
STRINGS_MAX_COUNT = 4_000_000  # ≈ 8 times those of a 100,000-row list (Excel keeps ≈ 5 a row)
OTHERS_MAX_BYTES = 64 * MB  # workbook, relationships, styles, themes…, together
LAST_COLUMN = 702  # ZZ: an item list has a few dozen columns
GRID_MAX_CELLS = 8_000_000  # ≈ 32 bytes each in calamine: 256 MB for one read
_RUN = re.compile(b"<[^<]{%d}" % RUN_MAX_BYTES)
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s[^>]*?\bref=\"([A-Z]*)(\d*)(?::([A-Z]*)(\d*))?\"")
_SHEET_DATA = re.compile(rb"<(\w+:)?sheetData[\s>]")
_TAG = re.compile(rb"<(?:\w+:)?(row|c)(?=[\s/>])([^>]*)>")
_R = re.compile(rb"\br=\"([A-Z]*)(\d*)\"")


def is_read(name: str) -> bool:
    """Whether a reader reads the member: the workbook's XML parts (sheets, shared strings, styles, relationships,
    content types). Pictures, embedded objects and printer settings are neither read nor bounded (their bytes are
    no text: a run of zeros in an embedded document is no cell)."""
    return name.lower().endswith((".xml", ".rels")) and not name.endswith("/")


def too_large(reason: str, limit: str) -> ImportFileTooLargeError:
    return ImportFileTooLargeError(reason=reason, limit=limit)


class Expanding:
    """A zip member read as a stream (``read(n)``), stopping at ``limit`` bytes expanded and at any run of bytes
    longer than a cell may be. ``what`` names the member in the reason."""

    def __init__(self, stream: IO[bytes], *, limit: int, what: str, columns: bool = False) -> None:
        self._stream = stream
        self.limit = limit
        self._what = what
        self._columns = columns  # a sheet read by openpyxl: no cell beyond ZZ (check_columns) either
        self._carry = b""  # from the last "<" of what was read: the run it begins continues in the next block
        self.read_bytes = 0

    def read(self, n: int) -> bytes:
        block = self._stream.read(n)
        self.read_bytes += len(block)
        if self.read_bytes > self.limit:
            raise too_large(f"xlsx 文件解压后过大：{self._what}超过 {self.limit // MB} MB"
                            "（可能是压缩炸弹；确实这么大的清单请拆分后分批导入）", "member")
        data = self._carry + block
        last = data.rfind(b"<")
        if _RUN.search(data) or (last < 0 and len(data) > RUN_MAX_BYTES):
            raise too_large(f"xlsx 中有超过 {CELL_MAX_CHARS} 个字符的单元格（Excel 单元格最多 {CELL_MAX_CHARS} "
                            "个字符）", "cell")
        if self._columns:
            check_columns(data)
        self._carry = data[last:] if last >= 0 else data
        return block

    def close(self) -> None:
        self._stream.close()


def read_member(archive: zipfile.ZipFile, name: str, *, limit: int, what: str) -> bytes:
    """A whole member, within ``limit`` (see :class:`Expanding`)."""
    stream = Expanding(archive.open(name), limit=limit, what=what)
    try:
        blocks = []
        while block := stream.read(MB):
            blocks.append(block)
        return b"".join(blocks)
    finally:
        stream.close()


def check_archive(path: str | os.PathLike[str]) -> None:
    """Every member a reader reads (:func:`is_read`), read through as a stream within its bound (for a reader that
    reads them as it pleases: openpyxl). Worksheets are also checked for cells beyond ZZ."""
    with zipfile.ZipFile(path) as archive:
        budget = OTHERS_MAX_BYTES
        for info in archive.infolist():
            name = info.filename.lower()
            if not is_read(info.filename):
                continue
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                stream = Expanding(archive.open(info), limit=SHEET_MAX_BYTES, what="工作表", columns=True)
            elif name.endswith("sharedstrings.xml"):
                stream = Expanding(archive.open(info), limit=STRINGS_MAX_BYTES, what="共享字符串（sharedStrings.xml）")
            else:
                stream = Expanding(archive.open(info), limit=budget, what="工作表以外的部件（样式、关系等）合计")
            try:
                while stream.read(MB):
                    pass
            finally:
                stream.close()
            if stream.limit == budget:
                budget -= stream.read_bytes


def check_string_count(count: int) -> None:
    if count > STRINGS_MAX_COUNT:
        raise too_large(f"xlsx 的共享字符串超过 {STRINGS_MAX_COUNT:,} 条，远超事项清单所需（可能是压缩炸弹）",
                        "strings")


def check_columns(xml: bytes) -> None:
    """No cell, and no announced dimension, beyond column ZZ (cells as Excel and openpyxl write them: their
    position first; a sheet that writes them otherwise is counted by :func:`check_grid`)."""
    tags = _Tags.of(xml)
    dimension = _DIMENSION.search(xml, 0, _opening_end(xml))
    if tags.wide_cell.search(xml) or (dimension and max(len(dimension[1]), len(dimension[3] or b"")) > 2):
        raise _beyond_zz()


def _beyond_zz() -> ImportFileTooLargeError:
    return too_large(f"工作表在第 ZZ 列之后还有内容或格式（事项清单不超过 {LAST_COLUMN} 列）：请删除多余的列后再导入",
                     "columns")


class _Tags:
    """The sheet's tags as its namespace prefix spells them (``<c`` or ``<x:c``): literal patterns, which the regex
    engine finds at memchr speed (a 10,000-row part is read in well under 0.1 s)."""

    _made: ClassVar[dict[bytes, _Tags]] = {}  # a cache of the few prefixes there are

    def __init__(self, prefix: bytes) -> None:
        # In <sheetData> only cells begin with "<c" (and rarely a rich text's <charset>: then cells are counted
        # one by one), only rows with "<row".
        self.cell, self.row = b"<" + prefix + b"c", b"<" + prefix + b"row"
        self.placed_cell = self.cell + b' r="'  # a cell whose first attribute is its position
        self.wide_cell = re.compile(re.escape(self.placed_cell) + rb"[A-Z]{3}")
        self.column = re.compile(re.escape(self.placed_cell) + rb"([A-Z]+)\d")
        self.cell_row = re.compile(re.escape(self.placed_cell) + rb"[A-Z]+(\d+)")

    @classmethod
    def of(cls, xml: bytes) -> _Tags:
        found = _SHEET_DATA.search(xml)
        prefix = (found[1] or b"") if found else b""
        if prefix not in cls._made:
            cls._made[prefix] = cls(prefix)
        return cls._made[prefix]


@dataclass(frozen=True)
class Grid:
    first_row: int
    last_row: int
    columns: int

    @property
    def cells(self) -> int:
        return max(0, self.last_row - self.first_row + 1) * self.columns


def announced_grid(xml: bytes) -> Grid | None:
    """The rows × columns a sheet's <dimension> announces, if it has one."""
    found = _DIMENSION.search(xml, 0, _opening_end(xml))
    if not found or not found[2]:
        return None
    last_column, last_row = (found[3], found[4]) if found[4] else (found[1], found[2])
    return Grid(int(found[2]), int(last_row), _column_number(last_column or b"A"))


def check_grid(xml: bytes) -> Grid:
    """The rows × columns calamine allocates to read ``xml`` (a sheet, or a part of one), bounded; columns beyond
    ZZ are refused first (:func:`check_columns`). Rows count from the first to the last row holding a cell,
    columns up to the widest cell (taken as ZZ unless the rows are that many)."""
    check_columns(xml)
    tags = _Tags.of(xml)
    data = _opening_end(xml)
    if xml.count(tags.placed_cell, data) != xml.count(tags.cell, data):
        grid = _counted_grid(xml)  # a cell without its position first: counted in the order they come
    else:  # every cell says where it is (its row may differ from its <row>'s: the cell's is the one read)
        rows = {int(r) for r in set(tags.cell_row.findall(xml, data))}
        grid = Grid(min(rows, default=1), max(rows, default=0), LAST_COLUMN)
        if grid.cells > GRID_MAX_CELLS:  # only then is the widest cell worth finding
            widest = max(set(tags.column.findall(xml)), key=lambda c: (len(c), c), default=b"A")
            grid = Grid(grid.first_row, grid.last_row, _column_number(widest))
    if grid.cells > GRID_MAX_CELLS:
        raise too_large(f"工作表的范围过大：第 {grid.first_row} 行至第 {grid.last_row} 行、{grid.columns} 列"
                        f"（超过 {GRID_MAX_CELLS:,} 个单元格）：请删除远处多余的单元格后再导入", "grid")
    return grid


def _counted_grid(xml: bytes) -> Grid:
    first, last, widest, row, column = 0, 0, 0, 0, 0
    for tag in _TAG.finditer(xml):
        position = _R.search(tag[2])
        if tag[1] == b"row":
            row = int(position[2]) if position and position[2] else row + 1
            column = 0
            continue
        column = _column_number(position[1]) if position and position[1] else column + 1
        if column > LAST_COLUMN:
            raise _beyond_zz()
        first, last, widest = first or row, max(last, row), max(widest, column)
    return Grid(first or 1, last, widest)


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _opening_end(xml: bytes) -> int:
    end = xml.find(b"sheetData")
    return end if end >= 0 else len(xml)
