"""ndjson as rows, line by line: each line one item's elements with its ``source_ref``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from registry.adapters.spreadsheets.rows import RowReader, SourceRow
from registry.domain.problems import Problem

# An item's elements as one JSON line are a few KB, at most a few MB with long statutes; a longer line is no item
# and is not held in memory (it is reported and skipped).
LINE_MAX_BYTES = 16 * 1024 * 1024


def ndjson_rows(path: Path) -> RowReader:
    size = max(path.stat().st_size, 1)
    binary = path.open("rb")

    def rows() -> Iterator[SourceRow]:
        for number, line in enumerate(_lines(binary), start=1):
            if line is None:
                problem = Problem("", "UNREADABLE_ROW", f"第 {number} 行超过 {LINE_MAX_BYTES // (1024 * 1024)} MB")
                yield SourceRow(number, None, {}, [problem])
                continue
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


def _lines(binary: IO[bytes]) -> Iterator[bytes | None]:
    """The file's lines, each at most LINE_MAX_BYTES (a longer one is None, and skipped without being held)."""
    while line := binary.readline(LINE_MAX_BYTES + 1):
        if len(line) <= LINE_MAX_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while (rest := binary.readline(LINE_MAX_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield None


def _json_line(line: bytes) -> Any:
    """orjson reads a line ≈5 times faster; what it refuses (a BOM, NaN, Infinity) the standard library still reads,
    and its message is the one reported for a line that is not JSON at all. (An integer beyond 64 bits orjson reads
    as a float, where the standard library gave an int: no element holds such a number, and validation refuses it
    either way, as not an integer instead of out of range.)"""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line.decode("utf-8-sig"))
