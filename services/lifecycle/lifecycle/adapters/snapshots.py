"""Item states as JSON, for snapshots (pure, no I/O).

A snapshot is a cache: the state after version N, so that loading a long stream reads the snapshot and only the
events after it. Its JSON shape follows ``ItemState``; whenever that shape or the meaning of ``evolve`` changes,
bump ``SNAPSHOT_SCHEMA_VERSION``: snapshots of another schema are ignored (and replaced as items change or by
``shixiang rebuild``), never upcast, because the log can always rebuild them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifecycle.domain.model import ItemState, Lineage, NationalSync, PendingUpdate, Revision, Transition
from lifecycle.domain.vocabulary import Phase, Step, SyncResult, UpdateStage

SNAPSHOT_SCHEMA_VERSION = 2  # 2: published_version


def state_to_json(state: ItemState) -> dict[str, Any]:
    update, last = state.update, state.last_transition
    return {
        "item_id": state.item_id,
        "version": state.version,
        "phase": state.phase.value if state.phase else None,
        "step": state.step.value,
        "region_code": state.region_code,
        "revisions": [[r.number, r.author, r.elements, r.complete, list(r.missing)]
                      for r in state.revisions.values()],
        "latest_revision": state.latest_revision,
        "review_revision": state.review_revision,
        "submitted_by": state.submitted_by,
        "published_revision": state.published_revision,
        "published_code": state.published_code,
        "published_version": state.published_version,
        "update": None if update is None else [update.revision, update.stage.value, update.submitted_by],
        "test_result": state.test_result,
        "code": state.code,
        "code_elements": state.code_elements,
        "requested_code_elements": state.requested_code_elements,
        "retired_codes": list(state.retired_codes),
        "national_sync": [[s.item_version, s.result.value, s.reason, s.feed_sequence, s.at.isoformat()]
                          for s in state.national_sync.values()],
        "lineage": [[link.adjustment_id, link.kind, link.role, list(link.predecessors), list(link.successors),
                     link.reason, link.actor, link.at.isoformat()] for link in state.lineage],
        "last_transition": None if last is None else [last.command, last.event, last.actor, last.at.isoformat(),
                                                      last.reason],
    }


def state_from_json(data: dict[str, Any]) -> ItemState:
    update, last = data["update"], data["last_transition"]
    return ItemState(
        item_id=data["item_id"],
        version=data["version"],
        phase=Phase(data["phase"]) if data["phase"] else None,
        step=Step(data["step"]),
        region_code=data["region_code"],
        revisions={n: Revision(n, author, elements, complete, tuple(missing))
                   for n, author, elements, complete, missing in data["revisions"]},
        latest_revision=data["latest_revision"],
        review_revision=data["review_revision"],
        submitted_by=data["submitted_by"],
        published_revision=data["published_revision"],
        published_code=data["published_code"],
        published_version=data["published_version"],
        update=None if update is None else PendingUpdate(update[0], UpdateStage(update[1]), update[2]),
        test_result=data["test_result"],
        code=data["code"],
        code_elements=data["code_elements"],
        requested_code_elements=data["requested_code_elements"],
        retired_codes=tuple(data["retired_codes"]),
        national_sync={v: NationalSync(v, SyncResult(result), reason, sequence, datetime.fromisoformat(at))
                       for v, result, reason, sequence, at in data["national_sync"]},
        lineage=tuple(Lineage(aid, kind, role, tuple(pre), tuple(suc), reason, actor, datetime.fromisoformat(at))
                      for aid, kind, role, pre, suc, reason, actor, at in data["lineage"]),
        last_transition=None if last is None else Transition(last[0], last[1], last[2],
                                                             datetime.fromisoformat(last[3]), last[4]),
    )
