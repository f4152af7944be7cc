"""Opening an upload as rows, whatever its format (see the package's docstring for how each is read)."""

from __future__ import annotations

from pathlib import Path

from shared.dictionaries import Dictionaries

from registry.adapters.spreadsheets.csv_file import csv_rows
from registry.adapters.spreadsheets.formats import CSV, XLSX
from registry.adapters.spreadsheets.ndjson_file import ndjson_rows
from registry.adapters.spreadsheets.rows import RowReader
from registry.adapters.spreadsheets.xlsx_file import xlsx_rows_whole
from registry.adapters.spreadsheets.xlsx_parts import whole_read_fits, xlsx_rows_in_parts

# xlsx files up to this size (≈9,000 rows of a full element set) are read whole by calamine, if what they expand to
# allows it (whole_read_fits); larger ones a part of XLSX_PART_ROWS rows at a time (calamine too, memory bounded by
# two parts: ≈230 MB for any size of our lists). What either may expand to is bounded: xlsx_bounds.py.
XLSX_WHOLE_READ_MAX_BYTES = 1024 * 1024


def open_rows(path: Path, fmt: str, dictionaries: Dictionaries) -> RowReader:
    if fmt == XLSX:
        return _xlsx_rows(path, dictionaries)
    if fmt == CSV:
        return csv_rows(path, dictionaries)
    return ndjson_rows(path)


def _xlsx_rows(path: Path, dictionaries: Dictionaries) -> RowReader:
    if path.stat().st_size <= XLSX_WHOLE_READ_MAX_BYTES and whole_read_fits(path):
        return xlsx_rows_whole(path, dictionaries)
    return xlsx_rows_in_parts(path, dictionaries)
