"""The lifecycle's statistics (pure): counts of items per phase, per region one level below the region asked about
and per police type, shaped as the operators' console shows them (phases in lifecycle order with their Chinese
names, regions and police types with their GB/T 2260 and dictionary names). The counting itself is the adapters'
(GROUP BY on the items list); this module only arranges what they counted."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.contracts import PHASE_LABELS, PHASES
from shared.dictionaries import Dictionaries


def item_statistics(region: str | None, by_area_and_phase: Iterable[tuple[str, str, int]],
                    by_police_type: Iterable[tuple[str, int]], dictionaries: Dictionaries) -> dict[str, Any]:
    """``by_area_and_phase``: (region code prefix one level below ``region``, phase, items);
    ``by_police_type``: (police type code, items). Every phase appears, with 0 when no item is in it; areas in code
    order, police types by their code."""
    totals = dict.fromkeys(PHASES, 0)
    areas: dict[str, dict[str, int]] = {}
    for area, phase, count in by_area_and_phase:
        if phase not in totals:  # an item whose first event has not set a phase yet: not counted anywhere
            continue
        totals[phase] += count
        areas.setdefault(area, dict.fromkeys(PHASES, 0))[phase] += count
    return {
        "region": None if region is None else {"code": region, "name": dictionaries.regions.name_of(region)},
        "total": sum(totals.values()),
        "phases": [{"phase": phase, "label": PHASE_LABELS[phase], "count": totals[phase]} for phase in PHASES],
        "regions": [{"code": area, "name": dictionaries.regions.name_of(area), "count": sum(phases.values()),
                     "phases": phases} for area, phases in sorted(areas.items())],
        "police_types": [{"code": code, "name": _label(dictionaries, code), "count": count}
                         for code, count in sorted(by_police_type) if count],
    }


def _label(dictionaries: Dictionaries, code: str) -> str | None:
    entry = dictionaries.police_types.get(code)
    return entry.label if entry else None
