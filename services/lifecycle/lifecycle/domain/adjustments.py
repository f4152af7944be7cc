"""事项调整 (seed 001) as a pure decision over several items at once.

How the adjustments of seed 001 map onto the lifecycle (domain.md):
- 新增 a new item: a draft in the registry (``entered``); 变更 of elements: a registry revision (an update while
  online); 暂停: the ``unpublish`` command; 取消: the ``cancel`` command (→ 注销期).
- 主子项拆分 split (one item → at least two) and 合并 merge (at least two → one): the new items are drafted in
  the registry first and follow their own lifecycle; this decision cancels every predecessor (its ``cancelled``
  event lists the successors, so coding retires its code as split / merged) and writes ``lineage_recorded`` on every
  involved item's stream, so that each side sees the other. The application appends all streams in one batch:
  all or nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from lifecycle.domain.decide import retire
from lifecycle.domain.errors import AdjustmentItemCancelledError, AdjustmentShapeError, ReasonRequiredError
from lifecycle.domain.events import DomainEvent, EventType
from lifecycle.domain.model import ItemState
from lifecycle.domain.vocabulary import Phase


# A plain Enum, not a StrEnum: a member named ``split`` would shadow ``str.split``. Its value is the word the API and
# the events use. (No docstring: it would become the schema's description in the OpenAPI document.)
class AdjustmentKind(Enum):
    split = "split"  # 主子项拆分
    merge = "merge"  # 合并


ADJUSTMENT_LABELS = {AdjustmentKind.split: "拆分", AdjustmentKind.merge: "合并"}


@dataclass(frozen=True)
class Adjustment:
    adjustment_id: str
    kind: AdjustmentKind
    predecessors: tuple[str, ...]
    successors: tuple[str, ...]
    reason: str

    @property
    def item_ids(self) -> tuple[str, ...]:
        return (*self.predecessors, *self.successors)


def check_shape(adjustment: Adjustment) -> None:
    """What can be refused before any item is loaded."""
    kind = adjustment.kind
    many_to_one = len(adjustment.predecessors) >= 2 and len(adjustment.successors) == 1
    one_to_many = len(adjustment.predecessors) == 1 and len(adjustment.successors) >= 2
    distinct = len(set(adjustment.item_ids)) == len(adjustment.item_ids)
    if not distinct or not (one_to_many if kind is AdjustmentKind.split else many_to_one):
        raise AdjustmentShapeError(kind=kind.value, kind_label=ADJUSTMENT_LABELS[kind],
                                   predecessors=len(adjustment.predecessors), successors=len(adjustment.successors),
                                   distinct=distinct)
    if not adjustment.reason.strip():
        raise ReasonRequiredError(command=kind.value, command_label=ADJUSTMENT_LABELS[kind])


def decide_adjustment(states: dict[str, ItemState], adjustment: Adjustment, *,
                      now: datetime) -> dict[str, list[DomainEvent]]:
    """Events per item id. ``states`` holds every involved item (existence and regions are checked by the caller)."""
    check_shape(adjustment)
    for item_id in adjustment.item_ids:
        if states[item_id].phase is Phase.cancelled:
            raise AdjustmentItemCancelledError(item_id=item_id, kind_label=ADJUSTMENT_LABELS[adjustment.kind])
    at = now.isoformat()
    lineage: dict[str, Any] = {
        "adjustment_id": adjustment.adjustment_id, "kind": adjustment.kind.value,
        "predecessors": list(adjustment.predecessors), "successors": list(adjustment.successors),
        "reason": adjustment.reason, "at": at,
    }
    decided: dict[str, list[DomainEvent]] = {}
    for item_id in adjustment.predecessors:
        # lineage first: the cancellation is the item's last word
        decided[item_id] = [
            DomainEvent(EventType.LINEAGE_RECORDED, {**lineage, "role": "predecessor"}),
            *retire(states[item_id], reason=adjustment.reason, now=now, label=ADJUSTMENT_LABELS[adjustment.kind],
                    successors=list(adjustment.successors), adjustment=adjustment.kind.value,
                    adjustment_id=adjustment.adjustment_id),
        ]
    for item_id in adjustment.successors:
        decided[item_id] = [DomainEvent(EventType.LINEAGE_RECORDED, {**lineage, "role": "successor"})]
    return decided
