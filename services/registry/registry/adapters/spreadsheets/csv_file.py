"""csv as rows: csv.reader over a text stream (memory bounded whatever the size), in UTF-8 (with or without BOM) or
GB18030, told apart on the first 64 KiB. Cells a spreadsheet would run as formulas are escaped on export and
unescaped on import by the one rule every export follows: ``shared.spreadsheets`` (its docstring states it)."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shared.dictionaries import Dictionaries
from shared.spreadsheets import unescape_cell

from registry.adapters.spreadsheets.rows import RowReader, tabular_rows
from registry.domain.errors import ImportFileError

_SNIFF_BYTES = 64 * 1024
CELL_MAX_BYTES = 16 * 1024 * 1024  # a cell of many legal texts can exceed csv's 128 KiB default; none this
def csv_rows(path: Path, dictionaries: Dictionaries) -> RowReader:
    csv.field_size_limit(CELL_MAX_BYTES)
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
        number = 1
        try:
            for number, record in enumerate(reader, start=2):
                yield number, [unescape_cell(cell) if cell[:1] == "'" else cell for cell in record]
        except (UnicodeDecodeError, csv.Error) as exc:  # a cell beyond CELL_MAX_BYTES, or bytes of another encoding
            raise ImportFileError(reason=f"无法读取 csv 文件第 {number + 1} 行：{exc}") from exc

    def progress() -> float:
        return 1.0 if stream.closed else min(1.0, binary.tell() / size)

    rows, problems = tabular_rows(header, numbered(), dictionaries)
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
