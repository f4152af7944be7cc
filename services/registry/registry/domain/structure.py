"""Rules between items (pure): composite members, main → sub → handling items, serial and parallel relations.

The service layer loads what an item's rules need of the others — :class:`RelatedItems`: the items it refers to,
the serial graph around it, the items that point at it (registry/adapters/store.py ``load_related``) — and
:func:`structure_problems` decides on that alone. Seed 000:
元事项 is indivisible, a 组合事项 is made of 元事项; 主项 → 子项 → 业务办理项 (办理项为最小项); 串联 means B needs A's
result first, so serial relations may never form a cycle; 并联 items are handled together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

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


@dataclass(frozen=True)
class Dependents:
    """The items that point at an item, which a revision of it may strand."""

    composites_listing_it: Sequence[ReferencedItem]
    children: Sequence[ReferencedItem]  # its sub-items and handling items


_NOTHING: Mapping[str, Any] = MappingProxyType({})


class RelatedItems(NamedTuple):
    """What the rules between items need to know of the others around item ``item_id``, loaded before deciding.
    Only what its elements call for is loaded: an item that refers to nothing and is not restructured needs
    nothing but its id. (A named tuple: an import builds one per row, and it costs a third of a frozen
    dataclass.)"""

    item_id: str
    referenced: Mapping[str, ReferencedItem] = _NOTHING  # the items it refers to, those found
    # every item reachable from its serial predecessors → that item's own predecessors (for the cycle check) …
    serial_edges: Mapping[str, Sequence[str]] = _NOTHING
    names: Mapping[str, str] = _NOTHING  # … and their names (a cycle's message names them)
    dependents: Dependents | None = None  # loaded only when a revision restructures the item (see restructures)


def referenced_ids(elements: dict[str, Any]) -> set[str]:
    ids = {i for key in REFERENCE_LISTS for i in elements.get(key) or []}
    if elements.get("parent_item_id"):
        ids.add(elements["parent_item_id"])
    return ids


def check_references(item_id: str, elements: dict[str, Any], found: Mapping[str, ReferencedItem]) -> list[Problem]:
    """Every referenced item exists, is not cancelled, is not the item itself; members are meta items; the parent
    has a tier that may hold this one."""
    if not (elements.get("parent_item_id") or any(map(elements.get, REFERENCE_LISTS))):
        return []  # most items refer to nothing: no slots to list
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


def restructures(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Does a revision change what the item is in the structure (its composition or tier)? Then the items that
    point at it are checked too (:func:`check_dependents`)."""
    return before.get("composition") != after.get("composition") or before.get("tier") != after.get("tier")


def structure_problems(elements: dict[str, Any], related: RelatedItems, *,
                       before: Mapping[str, Any] | None = None) -> list[Problem]:
    """Every rule between items for ``related.item_id`` with these elements: its references, the serial cycle it
    would close, and — for a revision (``before``: its current elements) that restructures it — its dependents."""
    item_id = related.item_id
    problems = check_references(item_id, elements, related.referenced)
    predecessors = elements.get("serial_predecessor_ids") or []
    if predecessors and not any(p.code == "SELF_REFERENCE" for p in problems):
        cycle = find_serial_cycle(item_id, predecessors, related.serial_edges)
        if cycle:
            names = {i: related.names.get(i, i) for i in cycle}
            names[item_id] = elements["name"]
            problems.append(cycle_problem(cycle, names))
    if before is not None and restructures(before, elements):
        if related.dependents is None:
            raise ValueError(f"the dependents of {item_id} were not loaded, but its revision restructures it")
        problems += check_dependents(elements, composites_listing_it=related.dependents.composites_listing_it,
                                     children=related.dependents.children)
    return problems
