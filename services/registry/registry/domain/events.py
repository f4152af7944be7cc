"""The registry's events (their schemas: shared.contracts.events) and the lifecycle facts it folds (pure).

Data of ``registry.item.drafted.v2`` and ``registry.item.revised.v1``: item_id, revision, region_code, elements (the
whole canonical element set), author, maintenance, ``source_ref`` (the caller's own id or null), ``complete`` and
``missing`` (the element paths review still needs; the lifecycle refuses ``submit`` while ``complete`` is false),
``pending`` (true when the item has a published revision, so this one waits for review while the published one
stays online) and ``import_job_id`` (null unless imported); a revision also lists its ``changed_fields`` (a draft
changes every element, so v2 of drafted leaves the list out; v1 events in the store still carry it).
The stream version of an item always equals its revision number: the registry writes one event per revision."""

from __future__ import annotations

from typing import Any

from shared import contracts
from shared.contracts import PHASES

from registry.domain.elements import ELEMENT_KEYS, missing_for_submission
from registry.domain.revisions import CANCELLED, FORMING, PREPARING

DRAFTED = contracts.REGISTRY_ITEM_DRAFTED
REVISED = contracts.REGISTRY_ITEM_REVISED


def revision_data(*, item_id: str, revision: int, elements: dict[str, Any], author: str, source_ref: str | None,
                  changed_fields: list[str] | None = None, maintenance: bool = False, pending: bool = False,
                  import_job_id: str | None = None, missing: list[str] | None = None) -> dict[str, Any]:
    """``missing``: :func:`missing_for_submission` of ``elements`` when the caller has it already (imports compute
    it in the reader process)."""
    if missing is None:
        missing = missing_for_submission(elements)
    data: dict[str, Any] = {
        "item_id": item_id,
        "revision": revision,
        "region_code": elements["region_code"],
        "elements": elements,
        "author": author,
        "maintenance": maintenance,
        "complete": not missing,
        "missing": missing,
        "pending": pending,
        "source_ref": source_ref,
        "import_job_id": import_job_id,
    }
    if revision > 1:
        data["changed_fields"] = list(ELEMENT_KEYS) if changed_fields is None else changed_fields
    return data


def revision_changed_fields(event_type: str, data: dict[str, Any]) -> list[str]:
    """What a revision event changed: its list, or every element for a draft (v2 drafts do not list them)."""
    if "changed_fields" in data:
        return list(data["changed_fields"])
    return list(ELEMENT_KEYS) if contracts.current_type(event_type) == DRAFTED else []


# ---- lifecycle facts ---------------------------------------------------------------------------------------------
# The public events carry the phase; "entered" (形成期 starts) and "approved" (形成期 → 上线准备期) say the rest. An
# approval of an update to a published item leaves the phase alone (the published item stays online while its
# update is reviewed).
LIFECYCLE_ENTERED = contracts.LIFECYCLE_ENTERED
LIFECYCLE_APPROVED = contracts.LIFECYCLE_APPROVED
_PHASE_EVENTS = (contracts.LIFECYCLE_PUBLISHED, contracts.LIFECYCLE_UNPUBLISHED, contracts.LIFECYCLE_RESUMED,
                 contracts.LIFECYCLE_CANCELLED)
# What the registry's lifecycle consumer acts on. Not "entered": an item the lifecycle has not placed yet is in
# 形成期 (no row means forming), so entering changes nothing the registry keeps, and passing it over spares every
# new item's largest lifecycle event its parsing and a write.
FOLLOWED_LIFECYCLE_EVENTS = (LIFECYCLE_APPROVED, *_PHASE_EVENTS)


def phase_after(current: str | None, event_type: str, data: dict[str, Any]) -> tuple[str, int | None] | None:
    """(phase, published revision or None to keep it) after a lifecycle event, or None if it says nothing new."""
    if event_type in _PHASE_EVENTS:
        phase = data.get("phase")
        if event_type == contracts.LIFECYCLE_CANCELLED:
            phase = CANCELLED
        if phase not in PHASES:
            return None
        revision = data.get("revision") if event_type != contracts.LIFECYCLE_CANCELLED else None
        return phase, revision if isinstance(revision, int) else None
    if event_type == LIFECYCLE_ENTERED and current is None:
        return FORMING, None
    if event_type == LIFECYCLE_APPROVED and current in (None, FORMING):
        return PREPARING, None
    return None
