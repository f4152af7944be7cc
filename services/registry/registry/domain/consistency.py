"""The consistency report (pure): 同一事项、同一名称 (seed 001: the same item keeps the same name at every level and
in every area; seed 004: 同一事项、同一标准、同一编码).

Two ways to know that two records are the same item: they carry the same national 基本编码, or they have the same
name inside one provincial region tree (so the province, its cities and its counties are compared with each other).
A finding lists the diverging elements and every record involved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from registry.domain.elements import LABELS

SAME_BASIC_CODE = "same_basic_code"
SAME_NAME_IN_REGION_TREE = "same_name_in_region_tree"
COMPARED = ("name", "item_type")


def same_item_keys(region_code: str, name: str, national_basic_code: str | None) -> tuple[str, ...]:
    """What makes two records the same item, as keys: records sharing a key are the same item. The national
    基本编码 where the record has one, and its name within its provincial region tree (the key a
    :data:`SAME_NAME_IN_REGION_TREE` finding carries). The report groups by these in SQL; the coverage report
    (quality.py) matches a county's items to its province's by them."""
    name_key = f"{SAME_NAME_IN_REGION_TREE}:{region_code[:2]}:{name}"
    return (f"{SAME_BASIC_CODE}:{national_basic_code}", name_key) if national_basic_code else (name_key,)


@dataclass(frozen=True)
class ItemFacts:
    item_id: str
    region_code: str
    region_name: str | None
    region_level: int | None
    name: str
    item_type: str


def finding(kind: str, key: str, items: Sequence[ItemFacts]) -> dict[str, Any] | None:
    """A finding for one group of records that are the same item, or None when they agree."""
    diverging = [f for f in COMPARED if len({getattr(i, f) for i in items}) > 1]
    if not diverging:
        return None
    what = "、".join(LABELS[f] for f in diverging)
    why = f"基本编码同为 {key}" if kind == SAME_BASIC_CODE else f"同一省级区划（{key[:2]}）内名称同为“{key[3:]}”"
    return {
        "kind": kind,
        "key": key,
        "diverging": diverging,
        "message": f"{why}的 {len(items)} 个事项{what}不一致（同一事项在各层级应保持同一名称、同一类型）",
        "items": [asdict(i) for i in sorted(items, key=lambda i: (i.region_level or 9, i.region_code, i.item_id))],
    }
