"""The operations log (运维事件日志): every event of every service, as the operators' console shows it.

Pure decisions only: which event types each producer's log consumer takes, how one event becomes a log row (its
Chinese label, actor, reason) and what it tells about its item (name, code, region, police type — the
``operations_items`` read model), how a row is shown (:func:`ops_event`), and the retention rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared import contracts
from shared.cloudevents import CloudEvent
from shared.dictionaries import Dictionaries

SERVICES = ("registry", "coding", "lifecycle", "sync")
SERVICE_LABELS = {"registry": "事项登记", "coding": "事项编码", "lifecycle": "生命周期", "sync": "国家平台同步"}

# One Chinese label per event type on the services' topics (tests/unit/test_operations_log.py checks that every
# current type of every producer has one). Some types refine theirs by the event's data (see :func:`label_of`).
LABELS: dict[str, str] = {
    contracts.REGISTRY_ITEM_DRAFTED: "录入",
    contracts.REGISTRY_ITEM_REVISED: "修订",
    contracts.LIFECYCLE_ENTERED: "进入形成期",
    contracts.LIFECYCLE_APPROVED: "审核通过",
    contracts.LIFECYCLE_REGISTRATION_REQUESTED: "申请赋码",
    contracts.LIFECYCLE_PUBLISHED: "发布上线",
    contracts.LIFECYCLE_UNPUBLISHED: "下线",
    contracts.LIFECYCLE_RESUMED: "恢复上线",
    contracts.LIFECYCLE_CANCELLED: "注销",
    contracts.LIFECYCLE_LINEAGE_RECORDED: "拆分/合并",
    contracts.CODING_CODE_ASSIGNED: "赋码",
    contracts.CODING_CODE_RETIRED: "编码注销",
    contracts.SYNC_NATIONAL_ACKNOWLEDGED: "国家平台接收",
    contracts.SYNC_NATIONAL_REJECTED: "国家平台退回",
    "lifecycle.item.revision_received.v1": "收到新版本",
    "lifecycle.item.returned_to_entry.v1": "退回录入",
    "lifecycle.item.maintained.v1": "维护生效",
    "lifecycle.item.submitted.v1": "提交审核",
    "lifecycle.item.rejected.v1": "审核退回",
    "lifecycle.item.test_recorded.v1": "记录测试结果",
    "lifecycle.item.code_recorded.v1": "记录编码",
    "lifecycle.item.national_sync_recorded.v1": "记录国家平台答复",
    "coding.item_service.allocated.v1": "分配服务编码",
    "coding.item_service.withdrawn.v1": "撤销服务编码",
    "coding.item_service.recoded.v1": "服务编码随事项重新赋码",
    "coding.pinyin_override.set.v1": "设置拼音修正",
    "coding.pinyin_override.removed.v1": "删除拼音修正",
}
_RETIRED_REASONS = {"cancelled": "事项注销", "recoded": "重新赋码", "split": "拆分", "merged": "合并"}


def accepted_types(producer: str) -> tuple[str, ...]:
    """Every current event type on ``producer``'s topic: its contracts and its internal events (published for
    operators and this log)."""
    types = {c.type for c in contracts.CONTRACTS.values() if c.producer == producer}
    types |= {t for t, (service, _) in contracts.INTERNAL_EVENTS.items() if service == producer}
    return tuple(sorted(types))


def label_of(event_type: str, data: Mapping[str, Any]) -> str:
    """The event's Chinese name as the console shows it (a type nobody labelled yet shows as its type)."""
    if event_type == contracts.LIFECYCLE_LINEAGE_RECORDED:
        return {"split": "拆分", "merge": "合并"}.get(str(data.get("kind")), LABELS[event_type])
    if event_type == contracts.REGISTRY_ITEM_REVISED and data.get("maintenance"):
        return "维护修订"
    if event_type == contracts.LIFECYCLE_PUBLISHED:
        return "维护上线" if data.get("maintenance") else "更新上线" if data.get("update") else LABELS[event_type]
    if event_type == contracts.LIFECYCLE_APPROVED and data.get("update"):
        return "更新审核通过"
    if event_type == contracts.LIFECYCLE_REGISTRATION_REQUESTED and data.get("update"):
        return "申请重新赋码"
    if event_type == contracts.LIFECYCLE_UNPUBLISHED:
        kinds = {"suspension": "暂停（下线）", "maintenance": "维护（下线）"}
        return kinds.get(str(data.get("kind")), LABELS[event_type])
    if event_type == contracts.CODING_CODE_ASSIGNED and data.get("repeated"):
        return "赋码（重复应答）"
    return LABELS.get(event_type, event_type)


@dataclass(frozen=True)
class ItemFacts:
    """What one event tells about its item (``None``: it does not say)."""

    item_id: str
    name: str | None = None
    code: str | None = None
    region_code: str | None = None
    police_type: str | None = None

    @property
    def empty(self) -> bool:
        return self.name is None and self.code is None and self.region_code is None and self.police_type is None


@dataclass(frozen=True)
class LogRow:
    """One event as the operations log records it."""

    event_id: str
    service: str
    type: str
    item_id: str
    item_version: int
    actor: str | None
    reason: str | None
    occurred_at: datetime
    correlation_id: str | None
    details: dict[str, Any]  # what the console shows beside the columns: label, the item's name/code as then


@dataclass(frozen=True)
class Projection:
    row: LogRow
    facts: ItemFacts | None  # None: the event says nothing about its item's name, code, region or police type


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def facts_of(event_type: str, item_id: str, data: Mapping[str, Any]) -> ItemFacts | None:
    """The item's name, code, region and police type as far as the event carries them: registry revisions and the
    lifecycle's entered/public events carry the elements; coding's assigned carries the code and the coded
    elements; a lifecycle cancellation and the national answers carry the code."""
    elements = data.get("elements")
    elements = elements if isinstance(elements, Mapping) else {}
    code = _text(data.get("code")) if event_type != contracts.CODING_CODE_RETIRED else None  # retired: not current
    facts = ItemFacts(item_id, name=_text(elements.get("name")), code=code,
                      region_code=_text(elements.get("region_code")) or _text(data.get("region_code")),
                      police_type=_text(elements.get("police_type")))
    return None if facts.empty else facts


def project(service: str, event: CloudEvent) -> Projection:
    """One event of ``service``'s topic → its log row and what it tells about its item."""
    data = event.data
    item_id = _text(data.get("item_id")) or event.subject
    reason = _text(data.get("reason"))
    if event.type == contracts.CODING_CODE_RETIRED and reason:
        reason = _RETIRED_REASONS.get(reason, reason)
    facts = facts_of(event.type, item_id, data)
    details: dict[str, Any] = {"label": label_of(event.type, data)}
    if facts is not None:
        details.update({k: v for k, v in (("name", facts.name), ("code", facts.code)) if v is not None})
    row = LogRow(event_id=event.id, service=service, type=event.type, item_id=item_id, item_version=event.sequence,
                 actor=event.actor or _text(data.get("author")), reason=reason, occurred_at=event.time,
                 correlation_id=event.correlation_id, details=details)
    return Projection(row, facts)


def within_retention(occurred_at: datetime, now: datetime, days: int) -> bool:
    """Whether an event is young enough to be kept (older ones are pruned, and a re-read of a topic does not bring
    them back)."""
    return occurred_at >= now - timedelta(days=days)


def ops_event(row: Mapping[Any, Any], dictionaries: Dictionaries) -> dict[str, Any]:
    """A log row (joined with its item's latest known facts) as the console's OpsEvent. The item's name and code
    are its latest known ones, or those the event itself carried."""
    details = row["details"] or {}
    region = row["region_code"]
    police_type = row["police_type"]
    region_entry = dictionaries.regions.get(region) if region else None
    police_entry = dictionaries.police_types.get(police_type) if police_type else None
    return {
        "position": row["position"], "id": row["event_id"], "service": row["service"],
        "service_label": SERVICE_LABELS.get(row["service"], row["service"]), "type": row["type"],
        "label": details.get("label") or LABELS.get(row["type"], row["type"]), "item_id": row["item_id"],
        "item_version": row["item_version"], "item_code": row["item_code"] or details.get("code"),
        "item_name": row["item_name"] or details.get("name"), "region_code": region,
        "region_name": region_entry.label if region_entry else None, "police_type": police_type,
        "police_type_name": police_entry.label if police_entry else None, "actor": row["actor"],
        "reason": row["reason"], "occurred_at": row["occurred_at"].isoformat(),
        "recorded_at": row["recorded_at"].isoformat(), "correlation_id": row["correlation_id"],
    }


@dataclass(frozen=True)
class EventFilter:
    """What a console caller asks of the log (all optional, combined with AND). ``regions``: the region prefixes
    an event's item must lie in (``None``: any item, even one whose region is not known yet)."""

    services: tuple[str, ...] = ()
    types: tuple[str, ...] = ()  # exact event types
    type_prefixes: tuple[str, ...] = ()  # "lifecycle.item.*" → "lifecycle.item."
    regions: tuple[str, ...] | None = None
    police_type: str | None = None
    q: str | None = None
    item_id: str | None = None


def split_types(values: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``type`` values → (exact types, prefixes): a value ending with ``*`` is a prefix."""
    exact = tuple(v for v in values if not v.endswith("*"))
    prefixes = tuple(v[:-1] for v in values if v.endswith("*"))
    return exact, prefixes
