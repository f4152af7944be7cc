"""ndjson as rows, line by line: each line one item's elements with its ``source_ref``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from registry.adapters.spreadsheets.rows import RowReader, SourceRow
from registry.domain.problems import Problem


def ndjson_rows(path: Path) -> RowReader:
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
