"""The catalogue-quality report (pure): what the standards ask managers to assess about an item list besides its
consistency (consistency.py) — 完备度 (completeness) and 覆盖度 (coverage). The adapters count and select the
records (registry/adapters/queries.py quality_report); this module decides what the figures are.

- 完备度: an item is complete when its latest revision has every element review needs (the element table's
  ``SUBMISSION`` fields: ``missing_for_submission``, stated on every revision event as ``complete``/``missing``).
  Per group (a region one level below the prefix, or a 主管部门): items, complete ones, their share, and the
  incomplete ones (capped) with the Chinese names of what each lacks.
- 覆盖度: a province's standard items are the items whose region is the province itself (xx0000). A county
  (6-digit code not ending in 00) implements a standard item when one of its items is the same item by the rule the
  consistency report uses (:func:`consistency.same_item_keys`: the same 基本编码, or the same name within the
  province). Per county: how many of its province's standard items it implements, the share, and the missing ones
  (capped).
Cancelled items are history: they count nowhere."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.contracts.elements import label_of
from shared.dictionaries import Regions

from registry.domain.consistency import same_item_keys

COUNTY_LEVEL = 3  # the level of a county in the region table (1 province, 2 city)


@dataclass(frozen=True)
class Incomplete:
    item_id: str
    name: str
    missing: tuple[str, ...]  # element paths, as the revision event states them


@dataclass(frozen=True)
class Group:
    key: str | None
    items: int
    complete: int
    incomplete: tuple[Incomplete, ...]  # the first ones, up to the cap


@dataclass(frozen=True)
class Record:
    item_id: str
    region_code: str
    name: str
    national_basic_code: str | None


def share(part: int, whole: int) -> float | None:
    """part / whole to four places; None when there is nothing to divide (no items: no share, not 0 %)."""
    return round(part / whole, 4) if whole else None


def completeness_entry(group: Group) -> dict[str, Any]:
    return {"items": group.items, "complete": group.complete, "share": share(group.complete, group.items),
            "incomplete_total": group.items - group.complete,
            "incomplete": [{"item_id": i.item_id, "name": i.name, "missing": [label_of(p) for p in i.missing]}
                           for i in group.incomplete]}


def completeness(by_region: Iterable[Group], by_department: Iterable[Group], regions: Regions) -> dict[str, Any]:
    return {"by_region": [{"code": g.key, "name": regions.name_of(g.key or ""), **completeness_entry(g)}
                          for g in sorted(by_region, key=lambda g: g.key or "")],
            "by_department": [{"department": g.key, **completeness_entry(g)}
                              for g in sorted(by_department, key=lambda g: (-g.items, g.key or ""))]}


def counties_under(regions: Regions, prefix: str | None, *, on: date) -> list[tuple[str, str]]:
    """The counties (code, name) valid on ``on`` whose code starts with ``prefix`` (None: every county)."""
    return [(e.code, e.label) for e in regions.entries.values()
            if e.level == COUNTY_LEVEL and e.valid_on(on) and e.code.startswith(prefix or "")]


def coverage(counties: Sequence[tuple[str, str]], standard: Sequence[Record], county_items: Iterable[Record], *,
             cap: int) -> list[dict[str, Any]]:
    """Each county whose province has standard items: how many of them it implements (see the module docstring)."""
    by_province: dict[str, list[Record]] = {}
    for record in sorted(standard, key=lambda r: (r.name, r.item_id)):
        by_province.setdefault(record.region_code[:2], []).append(record)
    implemented_keys: dict[str, set[str]] = {}
    for record in county_items:
        implemented_keys.setdefault(record.region_code, set()).update(
            same_item_keys(record.region_code, record.name, record.national_basic_code))
    report = []
    for code, name in counties:
        wanted = by_province.get(code[:2])
        if not wanted:
            continue
        keys = implemented_keys.get(code, set())
        missing = [r for r in wanted if not keys.intersection(
            same_item_keys(r.region_code, r.name, r.national_basic_code))]
        implemented = len(wanted) - len(missing)
        report.append({"county_code": code, "county_name": name, "standard_items": len(wanted),
                       "implemented": implemented, "share": share(implemented, len(wanted)),
                       "missing_total": len(missing),
                       "missing": [{"item_id": r.item_id, "name": r.name} for r in missing[:cap]]})
    return report
