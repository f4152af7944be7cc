"""The catalogue (事项目录) of published items, as the national platform and operators query and export it, and the
public guide (办事指南) of an online item: pure rules over the published records the feed keeps (``catalog`` rows:
each item's latest feed entry). Nothing here reads more than the feed published.

- :class:`CatalogueQuery`: the filters (code prefix, region prefix within the caller's regions, police type, item
  type, states, name) and the item-id cursor of one page.
- :func:`catalogue_item`: one row of the catalogue (the published record's identity, state and coded elements), in
  its outward schema (``shared.contracts.catalogue``), as is the public guide.
- :data:`EXPORT_COLUMNS`: the columns of the csv and xlsx exports, and :func:`export_row`.
- :func:`public_guide`: the anonymous JSON of an online item's published service guide and elements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shared.contracts.catalogue import CatalogueItem, PublicGuide

State = Literal["online", "offline", "cancelled"]
STATES: tuple[State, ...] = ("online", "offline", "cancelled")


@dataclass(frozen=True)
class CatalogueQuery:
    """One page of the catalogue: items whose state is one of ``states`` and that match every filter given, in item
    id order after ``after``."""

    states: tuple[State, ...] = ("online",)
    code: str | None = None  # prefix of the item code
    region: str | None = None  # prefix of the region code (within the caller's regions)
    police_type: str | None = None
    item_type: str | None = None
    name: str | None = None  # part of the item's name
    after: str | None = None  # cursor: the last item id of the previous page
    limit: int = 100


def region_prefixes(caller: Sequence[str] | None, wanted: str | None) -> tuple[str, ...] | None:
    """The region prefixes a catalogue read is limited to: the caller's (``None``: nationwide) narrowed to the
    ``wanted`` prefix. A wanted prefix wider than one of the caller's keeps the caller's; one outside all of them
    leaves nothing (an empty page, never another region's items)."""
    if wanted is None:
        return None if caller is None else tuple(caller)
    if caller is None:
        return (wanted,)
    narrowed = {wanted if wanted.startswith(p) else p for p in caller if wanted.startswith(p) or p.startswith(wanted)}
    return tuple(sorted(narrowed))


def catalogue_item(entry: Mapping[str, Any], elements: Mapping[str, Any] | None) -> dict[str, Any]:
    """One row of the catalogue from an item's latest feed entry. ``elements``: the item's published elements, those
    of its last entry that had any (a cancellation carries none; the catalogue still names what was cancelled)."""
    record = entry["data"]
    elements = elements or {}
    return CatalogueItem.model_validate({
        "item_id": record["item_id"], "item_version": record["item_version"], "code": record["code"],
        "name": elements.get("name"), "state": record["state"], "state_label": record["state_label"],
        "region_code": record["region_code"], "police_type": elements.get("police_type"),
        "item_type": elements.get("item_type"), "revision": record["revision"], "change": record["change"],
        "change_label": record["change_label"], "effective_at": record["effective_at"],
        "synced_at": record.get("synced_at"), "batch": record.get("batch"), "feed_sequence": entry["sequence"],
    }).model_dump(mode="json")


# The exports' columns: (header, catalogue item key).
EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("事项编码", "code"), ("事项名称", "name"), ("状态", "state_label"), ("区划代码", "region_code"),
    ("业务警种编码", "police_type"), ("事项类型编码", "item_type"), ("事项版本", "item_version"),
    ("对外内容版本", "revision"), ("最近变更", "change_label"), ("变更生效时间", "effective_at"),
    ("同步时间", "synced_at"), ("批次号", "batch"), ("事项 ID", "item_id"),
)
EXPORT_HEADER: tuple[str, ...] = tuple(h for h, _ in EXPORT_COLUMNS)
EXPORT_WIDTHS: tuple[int, ...] = (28, 30, 8, 10, 12, 12, 10, 12, 10, 28, 28, 36, 38)
EXPORT_SHEET = "事项目录"


def export_row(item: Mapping[str, Any]) -> list[Any]:
    return [item.get(key) for _, key in EXPORT_COLUMNS]


def public_guide(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The public guide of an online item (anonymous, cacheable): its identity and published content only — the
    published record's elements, with the service guide beside them for readers that want just it."""
    record = entry["data"]
    elements = record["elements"] or {}
    return PublicGuide.model_validate({
        "code": record["code"], "item_id": record["item_id"], "name": elements.get("name"),
        "state": record["state"], "state_label": record["state_label"], "region_code": record["region_code"],
        "revision": record["revision"], "effective_at": record["effective_at"],
        "service_guide": elements.get("service_guide"), "elements": elements,
    }).model_dump(mode="json")
