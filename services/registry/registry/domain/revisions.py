"""Revisions (pure): what changed between two element sets, what a maintenance fix may touch, and how the item's
lifecycle phase decides what a change becomes.

Phase rules (domain.md, 先审后用): in 形成期 and 上线准备期 a change simply becomes the latest revision; once the
item has been published (在线期, 离线期) a change is a *pending* revision — stored as the latest revision and marked
pending, while the published revision stays what the public sees until the lifecycle reviews and publishes the new
one; a cancelled item's content is final."""

from __future__ import annotations

from typing import Any

from shared.contracts import PHASES
from shared.contracts.elements import label_of
from shared.contracts.vocabulary import MAINTAINABLE_PATHS

from registry.domain.elements import ELEMENT_KEYS
from registry.domain.problems import Problem

FORMING, PREPARING, ONLINE, OFFLINE, CANCELLED = PHASES

# 维护 (maintenance): non-substantive fixes that need no new review — where and when to go, whom to ask, and the
# national platform's codes (the fields the element table marks maintainable). Everything else (names, types, basis,
# conditions, materials, limits, fees, structure) changes what an applicant must do and is an update (更新) that is
# reviewed.
MAINTENANCE_FIELDS = MAINTAINABLE_PATHS


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Top-level element keys whose value differs, in documented order (the ``changed_fields`` of the event)."""
    keys = [k for k in ELEMENT_KEYS if before.get(k) != after.get(k)]
    return keys + sorted(k for k in set(before) | set(after) if k not in ELEMENT_KEYS and before.get(k) != after.get(k))


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Field-level changes: one entry per changed leaf, with its path (``legal_basis[1].article``), a Chinese label and
    both values. Lists are compared position by position; an entry only on one side is added or removed whole."""
    changes: list[dict[str, Any]] = []
    _diff_into(changes, "", before, after)
    return changes


def _diff_into(changes: list[dict[str, Any]], path: str, before: Any, after: Any) -> None:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        keys = list(before) + [k for k in after if k not in before]
        for key in keys:
            _diff_into(changes, f"{path}.{key}" if path else key, before.get(key), after.get(key))
        return
    if isinstance(before, list) and isinstance(after, list) and _structured(before + after):
        for i in range(max(len(before), len(after))):
            _diff_into(changes, f"{path}[{i}]", before[i] if i < len(before) else None,
                       after[i] if i < len(after) else None)
        return
    kind = "added" if before is None else "removed" if after is None else "changed"
    changes.append({"field": path, "label": label_of(path), "change": kind, "before": before, "after": after})


def _structured(values: list[Any]) -> bool:
    """Lists of objects are diffed entry by entry; lists of plain values (levels, ids) as one value."""
    return any(isinstance(v, dict) for v in values)


# The maintainable elements by their Chinese names, for messages.
MAINTAINABLE_LABELS = "、".join(label_of(f) for f in sorted(MAINTENANCE_FIELDS))


def maintenance_problems(before: dict[str, Any], after: dict[str, Any]) -> list[Problem]:
    return [Problem(change["field"], "MAINTENANCE_NOT_ALLOWED",
                    f"“{change['label']}”的修改属于事项更新，需要审核；维护只能修改：{MAINTAINABLE_LABELS}")
            for change in diff(before, after) if change["field"] not in MAINTENANCE_FIELDS]
