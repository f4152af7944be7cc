"""Pure rules of allocation (赋码), re-coding, retirement and 事项服务编码: no I/O, no clock.

The service layer (``coding.service_layer.allocation``, ``coding.service_layer.item_services``) reads what the
database holds, asks these functions what to do, and writes the answer together with its events in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from shared.contracts import CODED_ELEMENTS
from shared.dictionaries import Dictionaries, DictionaryError

from coding.domain.codes import (
    COLLISION_SEQUENCE_MAX,
    ITEM_CODE_LENGTH,
    SERVICE_SEQUENCE_MAX,
    ItemCodeParts,
    PinyinOverrides,
    name_code,
    name_code_of_letters,
    name_letters,
    with_collision_sequence,
)
from coding.domain.errors import EmptyNameCodeError

# The coded elements (编码要素) of an item, in code order (shared.contracts): the four table parts, then the 简称 of
# the name code.
TABLE_ELEMENTS = tuple(e for e in CODED_ELEMENTS if e != "short_name")

# Why a code stopped being active (coding.code.retired.v1 ``reason``).
RETIRED_CANCELLED = "cancelled"
RETIRED_RECODED = "recoded"
RETIRED_SPLIT = "split"
RETIRED_MERGED = "merged"
_LINEAGE_RETIREMENT = {"split": RETIRED_SPLIT, "merge": RETIRED_MERGED}
LINEAGE_KINDS = tuple(_LINEAGE_RETIREMENT)

# All codes that share the first 22 characters compete for the same collision sequences: a base code's
# sequence ``NN`` replaces its last two characters.
COLLISION_PREFIX_LENGTH = ITEM_CODE_LENGTH - 2


@dataclass(frozen=True)
class ElementProblem:
    """One coded element that cannot go into a code: which field, a stable code and a Chinese message."""

    field: str
    code: str
    message: str


def coded_elements(elements: Mapping[str, Any]) -> dict[str, str]:
    """The five coded elements of an element set, as strings (absent → empty)."""
    return {key: "" if elements.get(key) is None else str(elements.get(key)) for key in CODED_ELEMENTS}


class ComputedParts(NamedTuple):
    """What :func:`code_parts` found: the parts and the 简称's full pinyin letters, or the problems."""

    parts: ItemCodeParts | None
    pinyin_letters: str
    problems: list[ElementProblem]


def code_parts(
    elements: Mapping[str, Any], dictionaries: Dictionaries, overrides: PinyinOverrides, *, on: date
) -> ComputedParts:
    """The parts of the code ``elements`` would get on day ``on``: every table value must be valid that day
    (GB/T 2260: a retired region code cannot be allocated) and the 简称 must give a name code. Every problem is
    reported, not just the first."""
    values = coded_elements(elements)
    problems: list[ElementProblem] = []
    tables = {"item_type": dictionaries.item_types, "region_code": dictionaries.regions,
              "police_type": dictionaries.police_types, "service_category": dictionaries.service_categories}
    for key, table in tables.items():
        try:
            table.lookup(values[key], on=on)
        except DictionaryError as exc:
            problems.append(ElementProblem(key, type(exc).__name__, exc.message))
    letters = name_letters(values["short_name"], overrides)
    try:
        code = name_code_of_letters(values["short_name"], letters)
    except EmptyNameCodeError as exc:  # one problem among the others: the answer lists them all
        problems.append(ElementProblem("short_name", "EMPTY_NAME_CODE", exc.context["reason"]))
    if problems:
        return ComputedParts(None, letters, problems)
    return ComputedParts(ItemCodeParts(values["item_type"], values["region_code"], values["police_type"],
                                       values["service_category"], code), letters, [])


def same_code_parts(held: Mapping[str, Any], requested: Mapping[str, Any], overrides: PinyinOverrides) -> bool:
    """Would ``requested`` give the item the same code parts as the elements its active code was made from?

    Both 简称 are read with the *same* override dictionary, so a dictionary change between the allocation and a
    repeated request never counts as a change of the item (its stored code is never recomputed); an edit of the
    简称 that leaves its name code alone (punctuation, letters past the twelfth) is no change either."""
    old, new = coded_elements(held), coded_elements(requested)
    if any(old[key] != new[key] for key in TABLE_ELEMENTS):
        return False
    if old["short_name"] == new["short_name"]:
        return True
    try:
        return name_code(old["short_name"], overrides) == name_code(new["short_name"], overrides)
    except EmptyNameCodeError:
        return False


def collision_candidates(base: str) -> Iterator[str]:
    """The codes ``base`` may end up as, in order of preference: itself, then sequences 01–99 (made lazily: most
    base codes are free, and allocation is on the hot path)."""
    yield base
    for n in range(1, COLLISION_SEQUENCE_MAX + 1):
        yield with_collision_sequence(base, n)


def lowest_free_code(base: str, taken: Collection[str]) -> str | None:
    """``base`` if nobody holds or held it, else the lowest free collision sequence; ``None`` when all 99 are
    taken. ``taken`` holds every code ever allocated (active and retired), so a retired code is never reused,
    also not as a collision sequence."""
    return next((code for code in collision_candidates(base) if code not in taken), None)


def parts_json(parts: ItemCodeParts) -> dict[str, str]:
    return {"item_type": parts.item_type, "region_code": parts.region_code, "police_type": parts.police_type,
            "service_category": parts.service_category, "name_code": parts.name_code}


def lineage_retirement(item_id: str, kind: str, predecessors: Iterable[str], successors: Iterable[str]) -> str | None:
    """The retirement reason a split/merge gives ``item_id``'s code, or ``None`` when the item lives on (it is not
    a predecessor, or it is also one of the successors, e.g. the main item a sub-item was split from)."""
    if kind not in _LINEAGE_RETIREMENT:
        raise ValueError(f"unknown lineage kind {kind!r}; expected one of {', '.join(LINEAGE_KINDS)}")
    if item_id in set(predecessors) and item_id not in set(successors):
        return _LINEAGE_RETIREMENT[kind]
    return None


def cancellation_retirement(successors: Sequence[str]) -> str:
    """The retirement reason of a cancellation: a plain cancellation, or the end of a split (several successors)
    or a merge (one successor) when the lifecycle cancels a predecessor and lists its successors. Then the reason
    does not depend on whether the lineage event or the cancellation is handled first."""
    if len(successors) >= 2:
        return RETIRED_SPLIT
    if len(successors) == 1:
        return RETIRED_MERGED
    return RETIRED_CANCELLED


def next_service_sequence(issued: Iterable[int]) -> int | None:
    """The next 事项服务 sequence of an item: one past the highest ever issued (withdrawn ones included, so a
    sequence is never reused); ``None`` when 999 have been issued."""
    following = max(issued, default=0) + 1
    return following if following <= SERVICE_SEQUENCE_MAX else None
