"""xlsx read whole by calamine (Rust, ≈18 times faster than openpyxl), or streamed row by row by openpyxl in
read-only mode (slow, memory flat: for a workbook whose sheet xlsx_parts.py cannot cut)."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shared.dictionaries import Dictionaries

from registry.adapters.spreadsheets import xlsx_bounds as bounds
from registry.adapters.spreadsheets.formats import SHEET
from registry.adapters.spreadsheets.rows import RowReader, tabular_rows
from registry.domain.errors import ImportFileError


def xlsx_rows_whole(path: Path, dictionaries: Dictionaries) -> RowReader:
    """calamine (Rust) reads the sheet into memory at once, ≈18 times faster than openpyxl."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
        sheet = book.get_sheet_by_name(SHEET if SHEET in book.sheet_names else book.sheet_names[0])
    except (CalamineError, OSError, ValueError, IndexError) as exc:
        raise ImportFileError(reason=f"无法读取 xlsx 文件：{exc}") from exc
    values = sheet_rows(sheet)
    header = list(next(values, ()))
    total = (sheet.height - 1) if sheet.height > 1 else None
    state = {"row": 1}

    def numbered() -> Iterator[tuple[int, list[Any]]]:
        for row in values:
            state["row"] += 1
            yield state["row"], row

    rows, problems = tabular_rows(header, numbered(), dictionaries)
    return RowReader(rows, lambda: min(1.0, (state["row"] - 1) / total) if total else 0.0, total, problems,
                     close=book.close)


def sheet_rows(sheet: Any) -> Iterator[list[Any]]:
    """A calamine sheet's rows as the sheet numbers them: calamine pads rows from the first, but starts each row at
    the leftmost column used; that column is put back in front, so that two reads of one sheet line up."""
    padding = [""] * (sheet.start[1] if sheet.start else 0)
    for row in sheet.iter_rows():
        yield padding + row if padding else row


def xlsx_rows_streamed(path: Path, dictionaries: Dictionaries) -> RowReader:
    """openpyxl in read-only mode: row by row, memory flat whatever the size."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        bounds.check_archive(path)  # openpyxl reads members as it pleases: each is bounded before it may
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise ImportFileError(reason=f"无法读取 xlsx 文件：{exc}") from exc
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

    rows, problems = tabular_rows(header, numbered(), dictionaries)
    return RowReader(rows, lambda: min(1.0, (state["row"] - 1) / total) if total else 0.0, total, problems,
                     close=close)
