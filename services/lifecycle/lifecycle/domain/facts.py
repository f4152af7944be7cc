"""Facts from other services, decided purely like commands: a registry revision (``on_revision``), a code from
coding (``on_code_assigned``), the national platform's answer from the sync gateway (``on_national_feedback``).
The consumers (adapters/consumers.py) translate contract events into these calls.

How content revisions from the registry meet the lifecycle (decided here; the registry only says what changed):

- 形成期, 录入: a revision is simply the newer draft; ``submit`` sends the latest one to review, provided the
  registry found it complete (``complete`` / ``missing`` on its events: every element review needs is there).
  The same holds for submitting an update.
- 形成期, 审核中, and 上线准备期: what was submitted or approved is outdated by a newer revision, so the item goes
  back to 录入 (``returned_to_entry``) and must be submitted and reviewed again. A reviewer never approves stale
  content, and nothing unreviewed can reach the national platform. Exception: a 维护 revision (below) in 上线准备期
  replaces the approved revision without a new review.
- 在线期 (更新 update, 先审后用): a newer revision becomes the *pending update* while the published revision stays
  online. It is submitted, reviewed (four-eyes against the update's own author and submitter) and then published
  again (``published`` with ``update: true``). If the approved update changes a coded element, registration is
  requested again and the update can be published only once the new code has arrived. A still newer revision
  supersedes a pending update at any stage: the update goes back to 更新待提交.
- 离线期: a newer revision becomes the pending update as well; its review continues once the item is back online
  (resume restores the update's stage).
- 维护 maintenance (seed 000: non-substantive fixes, still recorded): the registry flags a revision with
  ``maintenance: true``. The lifecycle accepts it *without review* when the item has reviewed content (上线准备期,
  在线期, 离线期), no update is pending, the national platform's rejection does not stand against it
  (``ItemState.national_rejection``: what goes to the platform after a rejection is a corrected revision a reviewer
  has seen, declined as ``national_rejected`` otherwise), and compared with the reviewed content the revision
  changes only maintainable elements (``MAINTAINABLE_PATHS``, read off the element table in
  ``shared.contracts.elements``: place, hours, contacts, online depth, national codes). It is recorded
  (``maintained``) and, when the item is online, published at once (``published`` with ``update: true,
  maintenance: true``); offline, the fix goes online with ``resume``.
  Otherwise the revision is handled as an ordinary one and the refusal is recorded on ``revision_received``
  (``maintenance_declined``). (The registry refuses such a maintenance revision already; this is the second
  check, because publishing without review rests on it.)
- 注销期: content is final; later revisions are ignored.

Facts recorded from other services: codes from coding (``code_recorded``; an answer to an outstanding
registration request completes it even when the code is unchanged), and the national platform's acknowledgements
and rejections from the sync gateway (``national_sync_recorded``, 同步, per fed version; whatever the phase,
including 注销期: a cancellation is itself fed and acknowledged, so this is the one thing a cancelled item still
records — its phase, content and code never change again). Split and merge (``adjustments.py``) and planned dates
(``planning.py``) cancel through ``decide.retire``. Every event carries who (the stored event's actor), when (its
recorded time) and, where a person decided, why (``reason``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.contracts import MAINTAINABLE_PATHS

from lifecycle.domain.errors import UnknownItemVersionError
from lifecycle.domain.events import DomainEvent, EventType, public_payload
from lifecycle.domain.model import ItemState, Revision
from lifecycle.domain.vocabulary import Phase, Step, SyncResult, UpdateStage


# What a 维护 revision may change (the registry's rule, checked again here because publishing without review rests
# on it): where and when to apply, whom to ask or complain to, the online depth and the national platform's codes.
# Any other change (names, types, basis, conditions, materials, limits, fees, dates, structure) changes what an
# applicant must do: an update, reviewed. Unknown elements count as substantive.
def on_revision(state: ItemState, *, revision: int, author: str, region_code: str, elements: dict[str, Any],
                now: datetime, maintenance: bool = False, complete: bool | None = None,
                missing: list[str] | None = None) -> list[DomainEvent]:
    """A draft or a new revision written in the registry (see the module docstring for what each phase makes of
    it). Old or repeated revisions, and anything after cancellation, change nothing. ``now`` (the registry event's
    time) stamps a maintenance publication; ``complete`` / ``missing`` are the registry's completeness verdict."""
    if revision <= state.latest_revision or state.phase is Phase.cancelled:
        return []
    data: dict[str, Any] = {"revision": revision, "author": author, "region_code": region_code, "elements": elements}
    if complete is not None:
        data |= {"complete": complete, "missing": list(missing or [])}
    if not state.exists:
        return [DomainEvent(EventType.ENTERED, data)]
    if maintenance:
        declined, fields = _maintenance_verdict(state, elements)
        if declined is None and complete is False:
            # a fix that leaves a required element empty is no fix to publish unreviewed (``missing`` says which)
            declined, fields = "incomplete", []
        if declined is None:
            return _maintain(state, Revision(revision, author, elements), data, fields, now)
        data = {**data, "maintenance": True, "maintenance_declined": declined, "substantive_fields": fields}
    received = [DomainEvent(EventType.REVISION_RECEIVED, data)]
    if state.phase is Phase.preparing or state.step is Step.in_review:
        reason = (f"审核期间收到新版本（第 {revision} 版），需重新提交审核" if state.step is Step.in_review
                  else f"已通过审核的事项要素发生变更（第 {revision} 版），需重新提交审核")
        received.append(DomainEvent(EventType.RETURNED_TO_ENTRY, {
            "revision": revision, "from_phase": state.phase.value if state.phase else None,
            "from_step": state.step.value, "reason": reason}))
    return received


def _maintenance_verdict(state: ItemState, elements: dict[str, Any]) -> tuple[str | None, list[str]]:
    """(None, changed fields) when a 维护 revision may go in without review, else (why not, substantive fields)."""
    base = state.reviewed_revision()
    if base is None:
        return "not_reviewed", []
    if state.update is not None or state.latest_revision != base.number:
        return "pending_update", []
    if state.national_rejection() is not None:
        # 同步退回: the national platform refused the published content; what goes to it next is a corrected
        # revision a reviewer has seen, never a fix published unreviewed
        return "national_rejected", []
    changed = changed_paths(base.elements, elements)
    substantive = [path for path in changed if path not in MAINTAINABLE_PATHS]
    if substantive:
        return "substantive_change", substantive
    return None, changed


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Changed elements; inside the service guide (办事指南) its changed fields, as ``service_guide.place``."""
    paths = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key == "service_guide" and isinstance(old, dict) and isinstance(new, dict):
            paths += [f"{key}.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        else:
            paths.append(key)
    return paths


def _maintain(state: ItemState, revision: Revision, data: dict[str, Any], changed: list[str],
              now: datetime) -> list[DomainEvent]:
    base = state.reviewed_revision()
    events = [DomainEvent(EventType.MAINTAINED, {
        **data, "base_revision": base.number if base else None, "changed_fields": changed})]
    if state.phase is Phase.online:
        events.append(DomainEvent(EventType.PUBLISHED, {
            **public_payload(state, revision, state.published_code, now.isoformat(), Phase.online), "update": True,
            "maintenance": True, "previous_revision": state.published_revision,
            "previous_code": state.published_code}))
    return events


def on_code_assigned(state: ItemState, *, code: str, replaces: str | None = None) -> list[DomainEvent]:
    """coding assigned (or re-assigned) the item's code. While a registration is outstanding an answer completes it
    even with the same code (allocation is idempotent); otherwise only a different code is news."""
    if not code or not state.exists or state.phase is Phase.cancelled:
        return []
    awaiting = state.step is Step.registering or (
        state.update is not None and state.update.stage is UpdateStage.recoding)
    if state.code == code and not awaiting:
        return []
    return [DomainEvent(EventType.CODE_RECORDED, {"code": code, **({"replaces": replaces} if replaces else {})})]


def on_national_feedback(state: ItemState, *, item_version: int, result: SyncResult, reason: str | None,
                         feed_sequence: int | None) -> list[DomainEvent]:
    """The national platform acknowledged or rejected one fed version (同步). A repeat changes nothing."""
    if not state.exists:
        return []
    if not 1 <= item_version <= state.version:
        raise UnknownItemVersionError(item_id=state.item_id, item_version=item_version, version=state.version)
    known = state.national_sync.get(item_version)
    if known is not None and (known.result, known.reason) == (result, reason):
        return []
    return [DomainEvent(EventType.NATIONAL_SYNC_RECORDED, {
        "item_version": item_version, "result": result.value, "reason": reason, "feed_sequence": feed_sequence})]
