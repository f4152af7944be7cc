"""``docs/events.md``, generated from the contracts (``python -m shared.contracts.docs`` writes it; a test checks
that the file in the repository is what this renders, so it never drifts from the schemas)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shared.contracts.events import CONTRACTS, INTERNAL_EVENTS, UPCASTS, EventContract
from shared.contracts.feed import CHANGES, FEED_SOURCE, PublishedElements, PublishedItemRecord

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "events.md"
PRODUCERS = ("registry", "lifecycle", "coding", "sync")


def render() -> str:
    out = [
        "# Events between the services, and what leaves the suite",
        "",
        ("Generated from `shared/contracts/` by `python -m shared.contracts.docs`; do not edit by hand "
         "(`tests/unit/test_event_contracts.py` fails when this file and the schemas differ)."),
        "",
        ("Every event travels on its producer's topic `<prefix>.<producer>.events` as a CloudEvent in Kafka's binary "
         "mode: `ce_id`, `ce_type` (below), `ce_source` `/shixiang/<producer>` (a consumer dead-letters an event "
         "whose source is not the topic's owner), `ce_subject` and key = the item id, `ce_time`, `ce_sequence` (the "
         "event's version in its item's stream), `ce_position`, `ce_correlationid`, `ce_causationid`, `ce_actor`; "
         "the value is the JSON data. The producer's event store refuses to append data that breaks its schema; a "
         "consumer upcasts an older version, validates, and dead-letters what fails, with the reason. Schemas are "
         "tolerant: fields not listed are kept and may be added by a producer; a consumer relies only on what is "
         "listed. A breaking change is a new version with an upcaster from the old one."),
        "",
        "| type | producer | consumers |",
        "|---|---|---|",
    ]
    for contract in _ordered():
        consumers = "; ".join(f"{s}: {what}" for s, what in contract.consumers.items()) or "— (operators)"
        out.append(f"| [`{contract.type}`](#{_anchor(contract.type)}) | {contract.producer} | {consumers} |")
    out += ["", "Older versions still in the stores, read as the current one:", ""]
    out += [f"- `{u.old_type}` → `{u.new_type}`: {' '.join((u.convert.__doc__ or '').split())}"
            for u in UPCASTS.values()]
    for producer in PRODUCERS:
        out += ["", f"## {producer}", ""]
        for contract in (c for c in _ordered() if c.producer == producer):
            out += _section(contract)
        internal = [(t, what) for t, (p, what) in INTERNAL_EVENTS.items() if p == producer]
        if internal:
            out += [f"Also on the {producer} topic, consumed by no other service (the item's own history, for "
                    "operators): " + "; ".join(f"`{t}` {what}" for t, what in internal) + ".", ""]
    out += _feed()
    return "\n".join(out).rstrip() + "\n"


def _ordered() -> list[EventContract]:
    return sorted(CONTRACTS.values(), key=lambda c: (PRODUCERS.index(c.producer), c.type))


def _anchor(event_type: str) -> str:
    return event_type.replace(".", "")


def _section(contract: EventContract) -> list[str]:
    consumers = ", ".join(f"**{s}** ({what})" for s, what in contract.consumers.items()) or "none (operators)"
    return [f"### `{contract.type}`", "", _doc(contract.model), "",
            f"Producer: **{contract.producer}**. Consumers: {consumers}.", "",
            *_fields(contract.model), "", "Example:", "", "```json",
            json.dumps(contract.example, ensure_ascii=False, indent=2), "```", ""]


def _doc(model: type[BaseModel]) -> str:
    return " ".join(line.strip() for line in (model.__doc__ or "").strip().splitlines())


def _fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    rows = [] if prefix else ["| field | type | required | meaning |", "|---|---|---|---|"]
    schema = model.model_json_schema()
    definitions = schema.get("$defs", {})
    for name, field in model.model_fields.items():
        prop = schema["properties"][name]
        rows.append(f"| `{prefix}{name}` | {_type(prop, definitions)} | {'yes' if field.is_required() else 'no'} | "
                    f"{field.description or ''} |")
        nested = _nested_model(field.annotation)
        if nested is not None and nested is not model:
            rows += _fields(nested, f"{prefix}{name}.")
    return rows


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        for inner in getattr(candidate, "__args__", ()):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def _type(prop: dict[str, Any], definitions: dict[str, Any]) -> str:
    if "$ref" in prop:
        return "object"
    if "anyOf" in prop:
        return " or ".join(_type(p, definitions) for p in prop["anyOf"])
    if "const" in prop:
        return f"`{json.dumps(prop['const'], ensure_ascii=False)}`"
    if "enum" in prop:
        return " / ".join(f"`{v}`" for v in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}), definitions)}"
    if kind == "string" and prop.get("format"):
        return f"string ({prop['format']})"
    if kind == "string" and prop.get("pattern"):
        return f"string `{prop['pattern']}`"
    if kind == "object" and "additionalProperties" in prop:
        return "object"
    return str(kind)


def _feed() -> list[str]:
    example = PublishedItemRecord.model_validate({
        "item_id": "3f2c9a1e-7b4d-4c1a-9e2f-5a6b7c8d9e0f", "item_version": 7, "change": "published",
        "change_label": "上线", "operation": "insert", "state": "online", "state_label": "在线期",
        "code": "014401150203HKQYSP000000", "region_code": "440115", "revision": 1,
        "elements": {"name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
                     "service_category": "03", "region_code": "440115", "composition": "元事项", "tier": "主项"},
        "effective_at": "2026-12-07T09:30:00+08:00", "batch": "5d0c2f7e-8a41-4b6e-9f3a-0e1d2c3b4a59",
        "synced_at": "2026-12-07T01:30:00.180000+00:00"}).model_dump(mode="json")
    entry = {"specversion": "1.0", "id": "9b1d…", "type": CHANGES["published"][0], "source": FEED_SOURCE,
             "subject": example["item_id"], "time": "2026-12-07T01:30:00.120000+00:00",
             "datacontenttype": "application/json", "itemversion": 7, "sequence": "42", "data": example}
    return [
        "## The national feed (what leaves the suite)", "",
        ("`GET /sync/v1/feed` and `GET /sync/v1/snapshot` carry published records, never internal events: the sync "
         "gateway translates each public lifecycle event (上线, 更新上线, 维护, 下线, 重新上线, and the 注销 of an "
         "item that was published) into one entry. An entry is a structured CloudEvent with the feed's own types, "
         f"`source` `{FEED_SOURCE}`, `subject` the item id, `sequence` the feed cursor and `itemversion` the item's "
         "lifecycle version (what `POST /sync/v1/national/feedback` answers). Schema: "
         "`shared/contracts/feed.py` (published record v1)."), "",
        "| change | type | 变更 | operation |", "|---|---|---|---|",
        *[f"| `{change}` | `{t}` | {label} | `{op}` |" for change, (t, label, op) in CHANGES.items()], "",
        f"### `data`: {_doc(PublishedItemRecord)}", "", *_fields(PublishedItemRecord), "",
        (f"`elements` ({_doc(PublishedElements)}) carries every element as reviewed; see "
         "`GET /registry/v1/items/{id}` for their rules."), "", "Example entry:", "", "```json",
        json.dumps(entry, ensure_ascii=False, indent=2), "```", ""]


def main() -> int:
    DOCUMENT.write_text(render(), encoding="utf-8")
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
