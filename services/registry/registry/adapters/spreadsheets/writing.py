"""Exports: item lists written as csv or xlsx, in the columns of the import template (registry/domain/tabular.py),
so that an exported file can be edited and imported again."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from shared.dictionaries import Dictionaries
from shared.spreadsheets import escape_cell

from registry.adapters.spreadsheets.formats import SHEET
from registry.domain import tabular


async def write_csv(path: Path, batches: AsyncIterator[tuple[list[Any], dict[str, str]]],
                    dictionaries: Dictionaries, *, encoding: str = "utf-8-sig") -> int:
    """UTF-8 with BOM by default, so that Excel opens it with the Chinese intact; ``gb18030`` on request. Every data
    cell is quoted and a cell a spreadsheet would run as a formula is escaped (csv_file.py says how; the import
    undoes exactly that)."""
    count = 0
    with path.open("w", encoding=encoding, newline="") as out:
        csv.writer(out).writerow(tabular.HEADERS)  # our own headers: nothing to escape
        writer = csv.writer(out, quoting=csv.QUOTE_ALL)
        async for rows, names in batches:
            for r in rows:
                writer.writerow(["" if v is None else escape_cell(v) if isinstance(v, str) else v for v in
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
    column_widths(sheet)
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


def column_widths(sheet: Any) -> None:
    from openpyxl.utils import get_column_letter

    for i, column in enumerate(tabular.COLUMNS, start=1):
        wide = column.kind in (tabular.LEGAL_BASIS, tabular.MATERIALS, tabular.LINES, tabular.FEES)
        sheet.column_dimensions[get_column_letter(i)].width = 40 if wide else max(12, 2 * len(column.header) + 4)
