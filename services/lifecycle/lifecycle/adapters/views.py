"""The JSON clients read: item states, events and verification reports (English keys, Chinese labels beside)."""

from __future__ import annotations

from typing import Any

from shared.eventstore import StoredEvent

from lifecycle.adapters.queries import ChainReport
from lifecycle.domain.adjustments import ADJUSTMENT_LABELS, AdjustmentKind
from lifecycle.domain.events import EVENT_LABELS
from lifecycle.domain.model import ItemState, Revision
from lifecycle.domain.planning import PLANNED_ACTION_LABELS, Plan
from lifecycle.domain.vocabulary import PHASE_LABELS, STEP_LABELS, SYNC_RESULT_LABELS, UPDATE_STAGE_LABELS


def state_view(state: ItemState, planned: Plan | None = None) -> dict[str, Any]:
    """phase in English and Chinese, code, the published and the pending revision, history-relevant facts."""
    t = state.last_transition
    published = state.revisions.get(state.published_revision) if state.published_revision else None
    update = state.update
    last_sync = state.national_sync[max(state.national_sync)] if state.national_sync else None
    return {
        "item_id": state.item_id,
        "version": state.version,
        "phase": state.phase.value if state.phase else None,
        "phase_label": PHASE_LABELS[state.phase] if state.phase else None,
        "step": state.step.value,
        "step_label": STEP_LABELS[state.step],
        "region_code": state.region_code,
        "code": state.code,
        "retired_codes": list(state.retired_codes),
        "latest_revision": state.latest_revision,
        "review_revision": state.review_revision,
        "published_revision": state.published_revision,
        "published_elements": published.elements if published else None,
        "published": None if published is None else {**_revision(published), "code": state.published_code},
        "pending": None if update is None else {
            **_revision(state.revisions[update.revision]), "stage": update.stage.value,
            "stage_label": UPDATE_STAGE_LABELS[update.stage.value], "submitted_by": update.submitted_by},
        "test_result": state.test_result,
        "allowed_commands": state.allowed_commands(),
        "planned": None if planned is None else {
            "action": planned.action.value, "action_label": PLANNED_ACTION_LABELS[planned.action.value],
            "date": planned.planned_date, "due_at": planned.due_at.isoformat(), "revision": planned.revision},
        "national_sync": {
            "last": None if last_sync is None else _sync(last_sync),
            "by_version": {str(v): _sync(s) for v, s in sorted(state.national_sync.items())},
        },
        "lineage": [
            {"adjustment_id": link.adjustment_id, "kind": link.kind,
             "kind_label": ADJUSTMENT_LABELS[AdjustmentKind(link.kind)], "role": link.role,
             "predecessors": list(link.predecessors), "successors": list(link.successors),
             "reason": link.reason, "actor": link.actor, "at": link.at.isoformat()}
            for link in state.lineage
        ],
        "last_transition": None if t is None else {
            "command": t.command, "event": t.event, "actor": t.actor, "at": t.at.isoformat(), "reason": t.reason},
    }


def _revision(revision: Revision) -> dict[str, Any]:
    return {"revision": revision.number, "author": revision.author, "elements": revision.elements,
            "complete": revision.complete, "missing": list(revision.missing)}


def _sync(record: Any) -> dict[str, Any]:
    return {"item_version": record.item_version, "result": record.result.value,
            "result_label": SYNC_RESULT_LABELS[record.result], "reason": record.reason,
            "feed_sequence": record.feed_sequence, "at": record.at.isoformat()}


def event_view(e: StoredEvent) -> dict[str, Any]:
    """One history entry: who, when, what, and why (the reason or test notes, lifted out of the data)."""
    data = e.data
    return {
        "position": e.position, "version": e.version, "event_id": str(e.event_id), "type": e.type,
        "label": EVENT_LABELS.get(e.type, e.type), "actor": e.actor, "recorded_at": e.recorded_at.isoformat(),
        "reason": data.get("reason") or data.get("notes"), "revision": data.get("revision"),
        "correlation_id": e.correlation_id, "causation_id": e.causation_id, "hash": e.hash, "hash_alg": e.hash_alg,
        "data": data,
    }


def chain_view(report: ChainReport) -> dict[str, Any]:
    verdict = report.verdict
    reason = verdict.reason
    if verdict.ok and report.missing_tail is not None:
        reason = (f"读模型记录到第 {report.missing_tail} 版，事件日志只到第 {report.head_version} 版："
                  "末尾的事件已被删除")
    return {
        "item_id": report.item_id,
        "verified": report.verified,
        "verified_label": "哈希链完整" if report.verified else "哈希链被破坏",
        "events": verdict.events,
        "head_version": report.head_version,
        "head_hash": verdict.head_hash,
        "hash_algorithms": list(verdict.algorithms),
        "projected_version": report.projected_version,
        "snapshot_version": report.snapshot_version,
        "broken_at_version": (verdict.broken_at_version if not verdict.ok
                              else None if report.missing_tail is None else report.head_version + 1),
        "reason": reason,
    }
