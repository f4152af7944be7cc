"""What every export of the suite writes spreadsheets with: the escaping of csv cells that a spreadsheet would run
as formulas, and an xlsx written row by row (openpyxl's write-only mode: memory bounded whatever the row count).
The registry's item exports and the sync gateway's catalogue exports both use it; neither imports the other.

Formula injection (CSV injection, OWASP): Excel and WPS run a csv cell that starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return as a formula (``=HYPERLINK(…)``, ``+cmd|' /C calc'!A0``). Exports therefore write such a
cell with a single quote in front, and every data cell in double quotes (:func:`escape_cell`). The rule, exactly:

* written: a text cell that starts with any number of single quotes (none included) followed by one of those six
  characters gets one more single quote in front;
* read: a cell that starts with one or more single quotes followed by one of those six characters loses its first
  single quote (:func:`unescape_cell`).

Every escaped cell is of the second kind and no cell left as it was is, so an exported file imported unedited gives
back exactly the values it was written from, and a cell typed by hand changes only if it is one a spreadsheet would
show as text anyway (``'=1+1``, Excel's own way of saying "text, not a formula"); ``'中文`` or ``'abc'`` stay as they
are. The xlsx writer needs none of this: its text cells are typed as text and never read as formulas."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_FORMULA_START = "=+-@\t\r"
_TO_ESCAPE = re.compile(f"'*[{re.escape(_FORMULA_START)}]")
_ESCAPED = re.compile(f"'+[{re.escape(_FORMULA_START)}]")


def escape_cell(value: str) -> str:
    """A text cell as an export writes it: never something a spreadsheet runs as a formula (see the module)."""
    return "'" + value if _TO_ESCAPE.match(value) else value


def unescape_cell(value: str) -> str:
    """The exact inverse of :func:`escape_cell` (see the module for why no other value changes)."""
    return value[1:] if _ESCAPED.match(value) else value


def csv_text(rows: Iterable[Sequence[Any]], *, header: Sequence[str] | None = None) -> str:
    """Rows as csv text (a streamed export writes it a page at a time): the header as it is, every data cell
    quoted and escaped, ``None`` as an empty cell."""
    out = io.StringIO()
    if header is not None:
        csv.writer(out).writerow(header)  # our own headers: nothing to escape
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    for row in rows:
        writer.writerow(["" if v is None else escape_cell(v) if isinstance(v, str) else v for v in row])
    return out.getvalue()


class XlsxWriter:
    """An xlsx of one sheet written row by row (write-only: rows go to a temporary file as they come), saved to
    ``path`` by :meth:`save`. Text cells are typed as text (never formulas); a header row in bold, frozen."""

    def __init__(self, sheet_name: str, header: Sequence[str], *, widths: Sequence[int] = ()) -> None:
        import openpyxl
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        self._cell = WriteOnlyCell
        self._book = openpyxl.Workbook(write_only=True)
        self._sheet = self._book.create_sheet(sheet_name)
        for i, width in enumerate(widths, start=1):
            self._sheet.column_dimensions[get_column_letter(i)].width = width
        self._sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        cells = []
        for h in header:
            cell = WriteOnlyCell(self._sheet, value=h)
            cell.font = bold
            cells.append(cell)
        self._sheet.append(cells)
        self.rows = 0

    def append(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            cells = []
            for value in row:
                cell = self._cell(self._sheet, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # text that starts with "=" stays text, never a formula
                cells.append(cell)
            self._sheet.append(cells)
            self.rows += 1

    def save(self, path: Path) -> None:
        self._book.save(path)
