"""The operations log's pure projection (sync_gateway.domain.operations): each event of each service becomes one
row with its Chinese label, actor and reason, and tells what it knows of its item."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import contracts
from shared.cloudevents import CloudEvent
from shared.dictionaries import load_dictionaries

from sync_gateway.domain.operations import (
    LABELS,
    SERVICES,
    EventFilter,
    accepted_types,
    label_of,
    ops_event,
    project,
    split_types,
    within_retention,
)

AT = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)


def event(event_type: str, data: dict[str, Any], *, subject: str = "item-1", actor: str | None = "entry-gz",
          sequence: int = 3) -> CloudEvent:
    return CloudEvent(id=str(uuid.uuid4()), type=event_type, source="/shixiang/x", subject=subject, time=AT,
                      data=data, sequence=sequence, actor=actor, correlation_id="corr-1")


def test_every_current_event_type_of_every_producer_is_taken_by_its_log_consumer_and_has_a_chinese_label() -> None:
    taken = {t for service in SERVICES for t in accepted_types(service)}
    on_topics = set(contracts.CONTRACTS) | set(contracts.INTERNAL_EVENTS)
    assert taken == on_topics
    for producer in SERVICES:
        assert all(contracts.CONTRACTS[t].producer == producer if t in contracts.CONTRACTS
                   else contracts.INTERNAL_EVENTS[t][0] == producer for t in accepted_types(producer))
    assert not on_topics - set(LABELS), "event types without a label"
    assert all(any("\u4e00" <= c <= "\u9fff" for c in label) for label in LABELS.values())


def test_the_contract_examples_project_to_rows_with_their_labels_actor_reason_and_item() -> None:
    expected = {contracts.REGISTRY_ITEM_DRAFTED: "录入", contracts.REGISTRY_ITEM_REVISED: "修订",
                contracts.LIFECYCLE_APPROVED: "审核通过", contracts.LIFECYCLE_REGISTRATION_REQUESTED: "申请赋码",
                contracts.LIFECYCLE_PUBLISHED: "发布上线", contracts.LIFECYCLE_UNPUBLISHED: "暂停（下线）",
                contracts.LIFECYCLE_RESUMED: "恢复上线", contracts.LIFECYCLE_CANCELLED: "注销",
                contracts.LIFECYCLE_LINEAGE_RECORDED: "拆分", contracts.CODING_CODE_ASSIGNED: "赋码",
                contracts.CODING_CODE_RETIRED: "编码注销", contracts.SYNC_NATIONAL_ACKNOWLEDGED: "国家平台接收",
                contracts.SYNC_NATIONAL_REJECTED: "国家平台退回"}
    for event_type, label in expected.items():
        contract = contracts.CONTRACTS[event_type]
        projection = project(contract.producer, event(event_type, dict(contract.example)))
        assert projection.row.details["label"] == label, event_type
        assert (projection.row.service, projection.row.type, projection.row.actor) == (
            contract.producer, event_type, "entry-gz")
        assert (projection.row.occurred_at, projection.row.correlation_id, projection.row.item_version) == (
            AT, "corr-1", 3)


def test_an_event_tells_its_items_name_code_region_and_police_type_as_far_as_it_carries_them() -> None:
    examples = {t: c.example for t, c in contracts.CONTRACTS.items()}
    drafted = project("registry", event(contracts.REGISTRY_ITEM_DRAFTED, examples[contracts.REGISTRY_ITEM_DRAFTED]))
    assert drafted.facts is not None
    assert (drafted.facts.name, drafted.facts.code, drafted.facts.region_code, drafted.facts.police_type) == (
        "户口迁移审批", None, "440115", "02")
    assert drafted.row.item_id == examples[contracts.REGISTRY_ITEM_DRAFTED]["item_id"]
    assigned = project("coding", event(contracts.CODING_CODE_ASSIGNED, examples[contracts.CODING_CODE_ASSIGNED]))
    assert assigned.facts is not None
    assert (assigned.facts.name, assigned.facts.code, assigned.facts.region_code, assigned.facts.police_type) == (
        None, "014401150203HKQYSP000000", "440115", "02")
    retired = project("coding", event(contracts.CODING_CODE_RETIRED, examples[contracts.CODING_CODE_RETIRED]))
    assert retired.facts is None, "a retired code is not the item's current code"
    assert retired.row.reason == "事项注销"
    approved = project("lifecycle", event(contracts.LIFECYCLE_APPROVED, examples[contracts.LIFECYCLE_APPROVED]))
    assert approved.facts is None and approved.row.item_id == "item-1"


def test_reasons_and_refined_labels_come_from_the_events_data() -> None:
    unpublished = project("lifecycle", event(contracts.LIFECYCLE_UNPUBLISHED, {"kind": "maintenance",
                                                                                "reason": "系统升级"}))
    assert (unpublished.row.details["label"], unpublished.row.reason) == ("维护（下线）", "系统升级")
    assert label_of(contracts.LIFECYCLE_LINEAGE_RECORDED, {"kind": "merge"}) == "合并"
    assert label_of(contracts.LIFECYCLE_PUBLISHED, {"update": True}) == "更新上线"
    assert label_of("lifecycle.item.submitted.v1", {}) == "提交审核"
    assert label_of("lifecycle.item.rejected.v1", {}) == "审核退回"
    assert label_of("somebody.new.v1", {}) == "somebody.new.v1"
    no_actor = project("registry", event(contracts.REGISTRY_ITEM_DRAFTED, {"author": "entry-sz"}, actor=None))
    assert no_actor.row.actor == "entry-sz"


def test_a_row_shows_with_service_region_and_police_type_names_and_the_events_own_name_when_none_is_known() -> None:
    row = {"position": 7, "event_id": "e", "service": "lifecycle", "type": contracts.LIFECYCLE_PUBLISHED,
           "item_id": "item-1", "item_version": 5, "actor": "publisher-gz", "reason": None, "occurred_at": AT,
           "recorded_at": AT, "correlation_id": None,
           "details": {"label": "发布上线", "name": "旧名称", "code": "014401150203HKQYSP000000"},
           "item_name": None, "item_code": None, "region_code": "440100", "police_type": "02"}
    shown = ops_event(row, load_dictionaries())
    police = load_dictionaries().police_types.get("02")
    assert police is not None
    assert shown == {
        "position": 7, "id": "e", "service": "lifecycle", "service_label": "生命周期",
        "type": contracts.LIFECYCLE_PUBLISHED, "label": "发布上线", "item_id": "item-1", "item_version": 5,
        "item_code": "014401150203HKQYSP000000", "item_name": "旧名称", "region_code": "440100",
        "region_name": "广州市", "police_type": "02", "police_type_name": police.label, "actor": "publisher-gz",
        "reason": None, "occurred_at": "2026-12-07T19:00:00+00:00", "recorded_at": "2026-12-07T19:00:00+00:00",
        "correlation_id": None}
    assert ops_event({**row, "item_name": "新名称", "region_code": None, "police_type": None},
                     load_dictionaries())["item_name"] == "新名称"


def test_retention_and_type_prefixes() -> None:
    assert within_retention(AT - timedelta(days=29), AT, 30)
    assert not within_retention(AT - timedelta(days=31), AT, 30)
    assert split_types(("lifecycle.item.*", "coding.code.assigned.v1")) == (
        ("coding.code.assigned.v1",), ("lifecycle.item.",))
    assert EventFilter().regions is None
