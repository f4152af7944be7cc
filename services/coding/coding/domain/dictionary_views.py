"""What ``GET /coding/v1/dictionaries/…`` serves, computed from the reference tables (pure).

The small tables are served whole. The region table (GB/T 2260, ~6,800 codes with the retired ones) is served a
page at a time and can be walked as a tree: ``level=1`` gives the provinces, ``parent=44`` the children of 440000,
``parent=4401`` those of 440100; every region says how many children it has (``child_count``) and
``expand=children`` embeds them. ``valid_on`` keeps only codes valid on that day (without it, retired codes are
listed too, with their ``valid_to``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.dictionaries import Dictionaries, Dictionary, DictionaryEntry, Regions

from coding.domain.errors import DictionaryQueryInvalidError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
REGION_PREFIX = re.compile("[0-9]{2}(?:[0-9]{2}(?:[0-9]{2})?)?")


@dataclass(frozen=True)
class DictionaryQuery:
    valid_on: date | None = None
    q: str | None = None  # part of the label, or the start of the code
    parent: str | None = None  # regions: 2, 4 or 6 digits
    level: int | None = None  # regions: 1 province, 2 prefecture, 3 county
    expand_children: bool = False  # regions
    cursor: str | None = None  # the last code of the previous page
    limit: int = DEFAULT_PAGE_SIZE


def region_code_of_prefix(prefix: str) -> str:
    """``44`` → ``440000``, ``4401`` → ``440100``: the region a GB/T 2260 prefix stands for."""
    if not REGION_PREFIX.fullmatch(prefix):
        raise DictionaryQueryInvalidError(parameter="parent", reason=f"区划代码前缀“{prefix}”应为2位、4位或6位数字")
    return prefix.ljust(6, "0")


def catalogue(dictionaries: Dictionaries) -> dict[str, Any]:
    """Every table's name, title, version and size."""
    return {"dictionaries": [
        {"name": d.name, "title": d.title, "version": d.version, "entries": len(d.entries),
         "hierarchical": isinstance(d, Regions), "provenance": provenance(d)}
        for d in (dictionaries.by_name(name) for name in dictionaries.names)]}


def provenance(dictionary: Dictionary) -> dict[str, str]:
    return {key.replace(" ", "_").replace("-", "_"): value for key, value in dictionary.provenance.items()}


def query_dictionary(dictionary: Dictionary, query: DictionaryQuery) -> dict[str, Any]:
    """One page of a table, filtered, in code order, with the cursor of the next page (``None`` at the end)."""
    regions = dictionary if isinstance(dictionary, Regions) else None
    if regions is None:
        for parameter, value in (("parent", query.parent), ("level", query.level)):
            if value is not None:
                raise DictionaryQueryInvalidError(
                    parameter=parameter, reason=f"参数 {parameter} 只适用于区划代码表（regions）")
    if not 1 <= query.limit <= MAX_PAGE_SIZE:
        raise DictionaryQueryInvalidError(parameter="limit", reason=f"limit 应在 1 至 {MAX_PAGE_SIZE} 之间")
    entries: list[DictionaryEntry]
    if regions is not None and query.parent is not None:
        entries = regions.children(region_code_of_prefix(query.parent))  # an unknown parent: UnknownCodeError
    else:
        entries = list(dictionary.entries.values())
    matching = sorted((e for e in entries if _matches(e, query)), key=lambda e: e.code)
    after = [e for e in matching if query.cursor is None or e.code > query.cursor]
    page = after[: query.limit]
    return {
        "name": dictionary.name, "title": dictionary.title, "version": dictionary.version,
        "provenance": provenance(dictionary),
        "filters": {"valid_on": query.valid_on.isoformat() if query.valid_on else None, "q": query.q,
                    "parent": region_code_of_prefix(query.parent) if query.parent else None, "level": query.level},
        "total": len(matching),
        "entries": [_entry(e, regions, query) for e in page],
        "next_cursor": page[-1].code if len(after) > len(page) else None,
    }


def region_detail(regions: Regions, code: str, valid_on: date | None) -> dict[str, Any]:
    """One region with its ancestors (province first) and its children: a step of a tree walk."""
    entry = regions.lookup(region_code_of_prefix(code))
    return {
        "version": regions.version,
        **_entry(entry, regions, DictionaryQuery(valid_on=valid_on)),
        "valid_on_day": entry.valid_on(valid_on) if valid_on else None,
        "ancestors": [a.to_json(hierarchy=True) for a in regions.ancestors(entry.code)],
        "children": [_entry(c, regions, DictionaryQuery(valid_on=valid_on))
                     for c in regions.children(entry.code, on=valid_on)],
    }


def _matches(entry: DictionaryEntry, query: DictionaryQuery) -> bool:
    if query.valid_on is not None and not entry.valid_on(query.valid_on):
        return False
    if query.level is not None and entry.level != query.level:
        return False
    return not query.q or query.q in entry.label or entry.code.startswith(query.q)


def _entry(entry: DictionaryEntry, regions: Regions | None, query: DictionaryQuery) -> dict[str, Any]:
    data = entry.to_json(hierarchy=regions is not None)
    if regions is not None:
        children = regions.children(entry.code, on=query.valid_on)
        data["child_count"] = len(children)
        if query.expand_children:
            data["children"] = [c.to_json(hierarchy=True) for c in children]
    return data
