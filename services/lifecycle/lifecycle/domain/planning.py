"""Planned dates (计划生效日期 / 计划取消日期) as pure decisions: which action an item's state plans next, and the
events it causes once it is due. The scheduler (service_layer/planned_dates.py) only stores the plan and asks
again when it is due.

Rules (decided here):
- Only reviewed content plans anything: the approved revision before the first publication, the published one
  after it. A date in a draft does nothing until the draft passes review.
- 计划生效日期 ``planned_effective_date``: an item that is registered (has its code) goes online at that date; one
  that becomes registered after the date goes online at once. An approved update goes online at its date only if
  the update *changed* the date (the item's original effective date says nothing about when an update applies);
  otherwise the publisher publishes it.
- 计划取消日期 ``planned_cancel_date``: the item is cancelled at that date from any live state (``decide.retire``).
  A cancel date on or before the effective date wins: nothing goes online only to be cancelled.
- A date means the start of that day in the configured time zone (China Standard Time by default).
- The plan is recomputed from the state whenever the state changes and again just before acting, so an action is
  never taken on a stale plan; appending with the expected version makes a second actor lose."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum

from lifecycle.domain.decide import ItemCommand, decide, retire
from lifecycle.domain.events import DomainEvent
from lifecycle.domain.model import ItemState, Revision
from lifecycle.domain.vocabulary import Command, Phase, Step

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

SCHEDULER_ACTOR = "scheduler"  # the planned-dates worker, as recorded on the events it writes


class PlannedAction(StrEnum):
    publish = "publish"  # 计划生效：上线
    cancel = "cancel"  # 计划取消：注销


PLANNED_ACTION_LABELS = {"publish": "计划上线", "cancel": "计划注销"}


@dataclass(frozen=True)
class Plan:
    action: PlannedAction
    due_at: datetime
    planned_date: str  # the element's ISO date
    revision: int  # whose date it is


def plan(state: ItemState, *, tz: tzinfo = CHINA_STANDARD_TIME) -> Plan | None:
    """The next planned action of ``state`` (cancel before publish when both are due), or None."""
    candidates: list[Plan] = []
    reviewed = state.reviewed_revision()
    if state.phase not in (None, Phase.cancelled) and reviewed is not None:
        cancel = _dated(PlannedAction.cancel, reviewed, "planned_cancel_date", tz)
        if cancel is not None:
            candidates.append(cancel)
    if state.phase is Phase.preparing and state.step is Step.registered and reviewed is not None:
        publish = _dated(PlannedAction.publish, reviewed, "planned_effective_date", tz)
        if publish is not None:
            candidates.append(publish)
    update = state.update
    if state.step is Step.update_approved and update is not None and reviewed is not None:
        pending = state.revisions[update.revision]
        if pending.elements.get("planned_effective_date") != reviewed.elements.get("planned_effective_date"):
            publish = _dated(PlannedAction.publish, pending, "planned_effective_date", tz)
            if publish is not None:
                candidates.append(publish)
    if not candidates:
        return None
    return min(candidates, key=lambda p: (p.due_at, p.action is not PlannedAction.cancel))


def decide_planned(state: ItemState, *, now: datetime, tz: tzinfo = CHINA_STANDARD_TIME) -> list[DomainEvent]:
    """The events of the planned action if it is due at ``now`` (nothing otherwise), by the scheduler."""
    due = plan(state, tz=tz)
    if due is None or due.due_at > now:
        return []
    if due.action is PlannedAction.cancel:
        return retire(state, reason=f"计划取消日期（{due.planned_date}）已到", now=now, label="计划注销",
                      planned_date=due.planned_date)
    events = decide(state, ItemCommand(Command.publish), actor=SCHEDULER_ACTOR, now=now)
    return [DomainEvent(e.type, {**e.data, "planned_date": due.planned_date}) for e in events]


def _dated(action: PlannedAction, revision: Revision, key: str, tz: tzinfo) -> Plan | None:
    value = revision.elements.get(key)
    if not isinstance(value, str) or not value:
        return None
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return None  # the registry validates dates; an unreadable one plans nothing rather than failing a fold
    return Plan(action, datetime.combine(day, time(0), tzinfo=tz), day.isoformat(), revision.number)

