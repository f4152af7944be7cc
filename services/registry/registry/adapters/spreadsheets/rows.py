"""A file as rows: :class:`SourceRow` (a row's number as the user sees it, its 来源编号, raw elements and reading
problems) and :class:`RowReader`; a sheet's header and records (xlsx, csv) become rows through the columns of
registry/domain/tabular.py."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.dictionaries import Dictionaries

from registry.domain import tabular
from registry.domain.errors import ImportFileError
from registry.domain.problems import Problem


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


def tabular_rows(header: list[Any], records: Iterable[tuple[int, list[Any]]],
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
