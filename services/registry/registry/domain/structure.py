"""Rules between items (pure): composite members, main → sub → handling items, serial and parallel relations.

The handler loads the referenced items and the serial graph around them; these functions only decide. Seed 000:
元事项 is indivisible, a 组合事项 is made of 元事项; 主项 → 子项 → 业务办理项 (办理项为最小项); 串联 means B needs A's
result first, so serial relations may never form a cycle; 并联 items are handled together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.contracts.elements import COMPOSITE, HANDLING, MAIN, META, SUB

from registry.domain.elements import REFERENCE_LISTS
from registry.domain.problems import Problem, index_path

# Which tiers may be the parent of which: a handling item hangs under a sub-item, or directly under a main item
# that has no sub-items (most public-security items: 机动车登记 → 注册/变更/转移/注销登记).
ALLOWED_PARENT_TIERS = {SUB: (MAIN,), HANDLING: (MAIN, SUB)}


@dataclass(frozen=True)
class ReferencedItem:
    """What the rules need to know of an item another item points at."""

    item_id: str
    name: str
    composition: str
    tier: str
    cancelled: bool = False


def referenced_ids(elements: dict[str, Any]) -> set[str]:
    ids = {i for key in REFERENCE_LISTS for i in elements.get(key) or []}
    if elements.get("parent_item_id"):
        ids.add(elements["parent_item_id"])
    return ids


def check_references(item_id: str, elements: dict[str, Any], found: Mapping[str, ReferencedItem]) -> list[Problem]:
    """Every referenced item exists, is not cancelled, is not the item itself; members are meta items; the parent
    has a tier that may hold this one."""
    problems: list[Problem] = []
    slots = [(index_path(key, i), ref) for key in REFERENCE_LISTS for i, ref in enumerate(elements.get(key) or [])]
    if elements.get("parent_item_id"):
        slots.append(("parent_item_id", elements["parent_item_id"]))
    for path, ref in slots:
        target = found.get(ref)
        if ref == item_id:
            problems.append(Problem(path, "SELF_REFERENCE", "事项不能引用自身"))
        elif target is None:
            problems.append(Problem(path, "REFERENCE_NOT_FOUND", f"引用的事项“{ref}”不存在"))
        elif target.cancelled:
            problems.append(Problem(path, "REFERENCE_CANCELLED", f"引用的事项“{target.name}”已注销"))
        elif path.startswith("member_item_ids") and target.composition != META:
            problems.append(Problem(path, "MEMBER_NOT_META",
                                    f"“{target.name}”是组合事项；组合事项的成员必须是元事项"))
        elif path == "parent_item_id" and target.tier not in ALLOWED_PARENT_TIERS.get(elements.get("tier", ""), ()):
            allowed = "或".join(ALLOWED_PARENT_TIERS.get(elements.get("tier", ""), ()))
            problems.append(Problem(path, "PARENT_TIER_MISMATCH",
                                    f"{elements.get('tier')}的上级事项应是{allowed}，“{target.name}”是{target.tier}"))
    return problems


def check_dependents(elements: dict[str, Any], *, composites_listing_it: Sequence[ReferencedItem],
                     children: Sequence[ReferencedItem]) -> list[Problem]:
    """A revision may not break items that point at this one: a member of a composite stays a meta item, and an item
    with sub-items or handling items keeps a tier that may hold them."""
    problems = []
    live_composites = [c for c in composites_listing_it if not c.cancelled]
    if elements.get("composition") == COMPOSITE and live_composites:
        names = "、".join(f"“{c.name}”" for c in live_composites)
        problems.append(Problem("composition", "STILL_A_MEMBER", f"本事项是组合事项{names}的成员，不能改为组合事项"))
    tier = elements.get("tier")
    stranded = [c for c in children if not c.cancelled and tier not in ALLOWED_PARENT_TIERS.get(c.tier, ())]
    if stranded:
        names = "、".join(f"“{c.name}”" for c in stranded)
        problems.append(Problem("tier", "HAS_CHILDREN", f"事项下还有{names}，不能改为{tier}"))
    return problems


def find_serial_cycle(item_id: str, predecessors: Sequence[str],
                      edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """The cycle ``item_id → … → item_id`` that giving ``item_id`` these serial predecessors would close, or None.
    ``edges`` maps other items to their predecessors (at least every item reachable from ``predecessors``)."""
    graph = {**edges, item_id: list(predecessors)}
    reached_from: dict[str, str] = {}  # node → the node whose predecessor it is (for the path back)
    stack = [item_id]
    while stack:
        node = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == item_id:
                chain = [node]
                while chain[-1] != item_id:
                    chain.append(reached_from[chain[-1]])
                return [*reversed(chain), item_id]
            if nxt not in reached_from:
                reached_from[nxt] = node
                stack.append(nxt)
    return None


def cycle_problem(cycle: list[str], names: Mapping[str, str]) -> Problem:
    chain = " → ".join(f"“{names.get(i, i)}”" for i in cycle)
    return Problem("serial_predecessor_ids", "SERIAL_CYCLE", f"串联关系会形成循环：{chain}")
