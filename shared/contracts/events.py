"""The events that cross a service boundary: one versioned schema each (the data of the CloudEvent), with the
service that produces it and the services that consume it.

A producer's event store refuses to append an event that breaks its schema (``check_outgoing``); a consumer
upcasts an older version to the current one and validates it before it acts (``read_incoming``); anything that
fails goes to the consumer's dead letters with the reason. Schemas are tolerant readers: fields not listed here are
kept (a producer may add fields; a consumer relies only on what is listed). A breaking change gets a new version
(``.v2``) and an upcaster from the old one, because old events stay in the stores and are republished after a
broker loss. ``docs/events.md`` is generated from this module (``python -m shared.contracts.docs``)."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.contracts.vocabulary import Phase

# ---- event types --------------------------------------------------------------------------------------------------
REGISTRY_ITEM_DRAFTED = "registry.item.drafted.v2"
REGISTRY_ITEM_DRAFTED_V1 = "registry.item.drafted.v1"
REGISTRY_ITEM_REVISED = "registry.item.revised.v1"

LIFECYCLE_ENTERED = "lifecycle.item.entered.v1"
LIFECYCLE_APPROVED = "lifecycle.item.approved.v1"
LIFECYCLE_REGISTRATION_REQUESTED = "lifecycle.item.registration_requested.v1"
LIFECYCLE_PUBLISHED = "lifecycle.item.published.v1"
LIFECYCLE_UNPUBLISHED = "lifecycle.item.unpublished.v1"
LIFECYCLE_RESUMED = "lifecycle.item.resumed.v1"
LIFECYCLE_CANCELLED = "lifecycle.item.cancelled.v1"
LIFECYCLE_LINEAGE_RECORDED = "lifecycle.item.lineage_recorded.v1"

CODING_CODE_ASSIGNED = "coding.code.assigned.v1"
CODING_CODE_RETIRED = "coding.code.retired.v1"

SYNC_NATIONAL_ACKNOWLEDGED = "sync.national.acknowledged.v1"
SYNC_NATIONAL_REJECTED = "sync.national.rejected.v1"

ITEM_CODE_PATTERN = r"^[0-9A-Z]{24}$"


# ---- shared shapes ------------------------------------------------------------------------------------------------
class _Data(BaseModel):
    """A tolerant reader: fields not declared are never refused. (Validation only checks: producers store and
    consumers act on the event's data as it is, every field included; so undeclared fields need not be copied into
    the model, which would cost a consumer more than the check itself.)"""

    model_config = ConfigDict(extra="ignore")


class ContractElements(_Data):
    """事项要素 as the registry documents them (`GET /registry/v1/items/{id}`); these are the ones other services
    rely on. Every other element travels along unchanged."""

    name: str = Field(..., min_length=1, description="事项名称")
    short_name: str = Field(..., min_length=1, description="简称（事项名称编码的来源）")
    item_type: str = Field(..., pattern=r"^\d{2}$", description="事项类型编码")
    police_type: str = Field(..., pattern=r"^\d{2}$", description="业务警种编码")
    service_category: str = Field(..., pattern=r"^\d{2}$", description="服务类别编码")
    region_code: str = Field(..., pattern=r"^\d{6}$", description="区划代码（GB/T 2260）")
    planned_effective_date: date | None = Field(None, description="计划生效日期")
    planned_cancel_date: date | None = Field(None, description="计划取消日期")


class CodedElements(_Data):
    """The elements an item code is made of (vocabulary.CODED_ELEMENTS)."""

    item_type: str = Field(..., pattern=r"^\d{2}$", description="事项类型编码")
    region_code: str = Field(..., pattern=r"^\d{6}$", description="区划代码")
    police_type: str = Field(..., pattern=r"^\d{2}$", description="业务警种编码")
    service_category: str = Field(..., pattern=r"^\d{2}$", description="服务类别编码")
    short_name: str = Field(..., min_length=1, description="简称")


# ---- registry -----------------------------------------------------------------------------------------------------
class _ItemRevision(_Data):
    """What every revision of an item carries (a draft's and a later one's)."""

    item_id: str = Field(..., min_length=1, description="事项 ID（= 流 ID = 消息键）")
    revision: int = Field(..., ge=1, description="版本号")
    region_code: str = Field(..., pattern=r"^\d{6}$", description="区划代码")
    elements: ContractElements = Field(..., description="该版本完整的事项要素")
    author: str = Field(..., description="录入人")
    complete: bool = Field(..., description="提交审核所需要素是否齐全（生命周期在 submit 时检查）")
    missing: list[str] = Field(..., description="提交审核前还需填写的要素路径")
    maintenance: bool = Field(False, description="是否为维护（非实质性修改）")
    pending: bool = Field(False, description="事项已发布，本版本待审核（先审后用）")
    source_ref: str | None = Field(None, description="来源编号（调用方的事项编号）")
    import_job_id: str | None = Field(None, description="导入任务 ID（非导入为 null）")


class ItemDrafted(_ItemRevision):
    """录入: a new item's first revision."""

    revision: Literal[1] = Field(..., description="版本号：草稿总是第 1 版")


class ItemRevised(_ItemRevision):
    """更新 / 维护: a later revision of an item."""

    revision: int = Field(..., ge=2, description="版本号")
    changed_fields: list[str] = Field(..., description="相对上一版本有变化的要素")


def _drafted_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 listed every element key in ``changed_fields`` (a draft "changes" everything): a fifth of its bytes,
    which nobody read. v2 leaves it out."""
    return {k: v for k, v in data.items() if k != "changed_fields"}


# ---- lifecycle ----------------------------------------------------------------------------------------------------
class ItemEntered(_Data):
    """形成期 begins: the lifecycle took in a new item's draft."""

    revision: int = Field(..., ge=1, description="草稿版本号")
    author: str = Field(..., description="录入人")
    region_code: str = Field(..., pattern=r"^\d{6}$", description="区划代码")
    elements: ContractElements = Field(..., description="草稿的事项要素")
    complete: bool | None = Field(None, description="要素是否齐全")
    missing: list[str] | None = Field(None, description="提交审核前还需填写的要素")


class ItemApproved(_Data):
    """审核通过: 形成期 → 上线准备期, or (update: true) an update to an online item approved."""

    revision: int = Field(..., ge=1, description="通过审核的版本号")
    at: datetime = Field(..., description="审核时间")
    update: bool = Field(False, description="是否为在线事项的更新")


class RegistrationRequested(_Data):
    """注册: please allocate the item's code (again, with update: true, when an approved update changes a coded
    element: coding retires the old code and links it to the new one)."""

    revision: int = Field(..., ge=1, description="注册所依据的版本号")
    elements: CodedElements = Field(..., description="构成编码的要素")
    update: bool = Field(False, description="是否为更新后的重新赋码")
    at: datetime = Field(..., description="申请时间")


class _PublicState(_Data):
    item_id: str = Field(..., min_length=1, description="事项 ID")
    code: str = Field(..., pattern=ITEM_CODE_PATTERN, description="事项编码")
    revision: int = Field(..., ge=1, description="对外版本号")
    phase_label: str = Field(..., description="阶段中文名")
    elements: ContractElements = Field(..., description="对外版本的事项要素")
    at: datetime = Field(..., description="发生时间")


class ItemPublished(_PublicState):
    """上线 (or an update or a maintenance fix going online): the reviewed revision is what the public sees."""

    phase: Literal[Phase.online] = Field(..., description="online")
    update: bool = Field(False, description="是否为更新后重新上线")
    maintenance: bool = Field(False, description="是否为维护（无需审核）")
    previous_revision: int | None = Field(None, description="此前对外的版本号")
    previous_code: str | None = Field(None, description="此前的事项编码（更新后重新赋码时不同）")


class ItemUnpublished(_PublicState):
    """下线 (暂停 or 维护)."""

    phase: Literal[Phase.offline] = Field(..., description="offline")
    kind: Literal["suspension", "maintenance"] = Field(..., description="下线类型：暂停 / 维护")
    reason: str = Field(..., min_length=1, description="下线原因")


class ItemResumed(_PublicState):
    """重新上线."""

    phase: Literal[Phase.online] = Field(..., description="online")


class ItemCancelled(_Data):
    """注销 (by command, by a planned cancel date, or by a split / merge)."""

    item_id: str = Field(..., min_length=1, description="事项 ID")
    code: str | None = Field(None, description="被注销事项的编码（未赋码为 null）")
    phase: Literal[Phase.cancelled] = Field(..., description="cancelled")
    phase_label: str = Field(..., description="注销期")
    reason: str = Field(..., min_length=1, description="注销原因")
    was_published: bool = Field(..., description="是否曾经上线（只有上线过的事项注销才告知国家平台）")
    successors: list[str] = Field(default_factory=list, description="拆分 / 合并后的新事项 ID")
    at: datetime = Field(..., description="注销时间")


class LineageRecorded(_Data):
    """事项调整: a split or merge, written on the stream of every item involved."""

    kind: Literal["split", "merge"] = Field(..., description="split 拆分 / merge 合并")
    predecessors: list[str] = Field(..., min_length=1, description="原事项 ID")
    successors: list[str] = Field(..., min_length=1, description="新事项 ID")
    reason: str | None = Field(None, description="调整原因")
    at: datetime = Field(..., description="调整时间")


# ---- coding -------------------------------------------------------------------------------------------------------
class CodeAssigned(_Data):
    """赋码: the item's code (also the answer to a repeated request, then repeated: true)."""

    item_id: str = Field(..., min_length=1, description="事项 ID")
    code: str = Field(..., pattern=ITEM_CODE_PATTERN, description="事项编码（24 位）")
    base_code: str = Field(..., pattern=ITEM_CODE_PATTERN, description="未处理重码前的编码")
    collided_with: str | None = Field(None, description="重码时已占用该编码的事项 ID")
    parts: dict[str, str] = Field(..., description="编码各部分")
    pinyin_letters: str = Field(..., description="简称的拼音首字母")
    overrides_version: str = Field(..., min_length=1,
                                   description="读出简称所用词典的版本：拼音修正词典，自 2026.12 起加“/地名读音表版本”")
    replaces: str | None = Field(None, description="被本编码取代的旧编码（重新赋码时）")
    repeated: bool = Field(False, description="已持有该编码，本次为重复应答")
    elements: dict[str, str] | None = Field(
        None, description="赋码所依据的五个编码要素（事项类型、区划代码、业务警种、服务类别、简称）；重复应答不带")


class CodeRetired(_Data):
    """编码注销: the code is retired for good (never reused)."""

    item_id: str = Field(..., min_length=1, description="事项 ID")
    code: str = Field(..., pattern=ITEM_CODE_PATTERN, description="被注销的编码")
    reason: Literal["cancelled", "recoded", "split", "merged"] = Field(..., description="注销原因")
    replaced_by: str | None = Field(None, description="取代它的新编码")


# ---- sync-gateway -------------------------------------------------------------------------------------------------
class NationalAcknowledged(_Data):
    """同步: the national platform accepted one fed version of the item."""

    item_id: str = Field(..., min_length=1, description="事项 ID")
    item_version: int = Field(..., ge=1, le=2**31 - 1, description="所答复的同步条目对应的生命周期版本")
    code: str | None = Field(None, description="事项编码")
    feed_sequence: int = Field(..., ge=1, description="同步源游标")
    note: str | None = Field(None, description="备注")


class NationalRejected(NationalAcknowledged):
    """同步: the national platform rejected one fed version, with its reason."""

    reason: str = Field(..., min_length=1, description="国家平台的退回原因")


# ---- the catalogue --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventContract:
    type: str
    producer: str  # the service whose topic carries it: registry, lifecycle, coding, sync
    consumers: dict[str, str]  # consuming service → what it does with the event
    model: builtins.type[BaseModel]  # builtins: inside this class body `type` is the field above
    example: dict[str, Any]
    adapter: TypeAdapter[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "adapter", TypeAdapter(self.model))

    @property
    def summary(self) -> str:
        return (self.model.__doc__ or "").strip().splitlines()[0]


@dataclass(frozen=True)
class Upcast:
    """An old version of an event type, still found in the stores, and how to read it as the current one."""

    old_type: str
    new_type: str
    convert: Callable[[dict[str, Any]], dict[str, Any]]


_AT = "2026-12-07T09:30:00+08:00"
_ITEM = "3f2c9a1e-7b4d-4c1a-9e2f-5a6b7c8d9e0f"
_CODE = "014401150203HKQYSP000000"
_ELEMENTS = {"name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
             "service_category": "03", "region_code": "440115", "planned_effective_date": None,
             "planned_cancel_date": None, "competent_department": "广州市公安局", "…": "其余要素见登记服务文档"}
_CODED = {"item_type": "01", "region_code": "440115", "police_type": "02", "service_category": "03",
          "short_name": "户口迁移审批"}
_PUBLIC = {"item_id": _ITEM, "code": _CODE, "revision": 1, "phase": "online", "phase_label": "在线期",
           "elements": _ELEMENTS, "at": _AT}
_REVISION = {"item_id": _ITEM, "revision": 1, "region_code": "440115", "elements": _ELEMENTS, "author": "entry-gz",
             "complete": True, "missing": [], "maintenance": False, "pending": False, "source_ref": "NS-0001",
             "import_job_id": None}

CONTRACTS: dict[str, EventContract] = {c.type: c for c in (
    EventContract(REGISTRY_ITEM_DRAFTED, "registry", {"lifecycle": "开始形成期（录入）"}, ItemDrafted, _REVISION),
    EventContract(REGISTRY_ITEM_REVISED, "registry",
                  {"lifecycle": "新版本：录入中替换草稿；审核中或准备期退回录入；在线期成为待审核更新；维护直接上线"},
                  ItemRevised, {**_REVISION, "revision": 2, "changed_fields": ["competent_department"],
                                "pending": True}),
    EventContract(LIFECYCLE_ENTERED, "lifecycle",
                  {"coding": "记下事项存在（只为已知事项赋码）"}, ItemEntered,
                  {"revision": 1, "author": "entry-gz", "region_code": "440115", "elements": _ELEMENTS,
                   "complete": True, "missing": []}),
    EventContract(LIFECYCLE_APPROVED, "lifecycle", {"registry": "形成期 → 上线准备期"}, ItemApproved,
                  {"revision": 1, "at": _AT}),
    EventContract(LIFECYCLE_REGISTRATION_REQUESTED, "lifecycle", {"coding": "分配（或重新分配）事项编码"},
                  RegistrationRequested, {"revision": 1, "elements": _CODED, "at": _AT}),
    EventContract(LIFECYCLE_PUBLISHED, "lifecycle",
                  {"registry": "事项在线，此后修改需审核", "sync": "写入国家平台同步源与事项目录"}, ItemPublished,
                  _PUBLIC),
    EventContract(LIFECYCLE_UNPUBLISHED, "lifecycle", {"registry": "事项离线", "sync": "同步源：下线"},
                  ItemUnpublished, {**_PUBLIC, "phase": "offline", "phase_label": "离线期", "kind": "suspension",
                                    "reason": "系统升级暂停办理"}),
    EventContract(LIFECYCLE_RESUMED, "lifecycle", {"registry": "事项重新在线", "sync": "同步源：重新上线"},
                  ItemResumed, _PUBLIC),
    EventContract(LIFECYCLE_CANCELLED, "lifecycle",
                  {"registry": "内容定稿，不再修改", "coding": "注销编码", "sync": "曾上线的事项：同步源注销"},
                  ItemCancelled, {"item_id": _ITEM, "code": _CODE, "phase": "cancelled", "phase_label": "注销期",
                                  "reason": "事项取消", "was_published": True, "successors": [], "at": _AT}),
    EventContract(LIFECYCLE_LINEAGE_RECORDED, "lifecycle", {"coding": "记录沿革，注销原事项编码"}, LineageRecorded,
                  {"kind": "split", "predecessors": [_ITEM], "successors": ["a1…", "b2…"],
                   "reason": "主子项拆分", "at": _AT}),
    EventContract(CODING_CODE_ASSIGNED, "coding", {"lifecycle": "记录事项编码，完成注册或更新的重新赋码"},
                  CodeAssigned, {"item_id": _ITEM, "code": _CODE, "base_code": _CODE, "collided_with": None,
                                 "parts": {"item_type": "01", "region_code": "440115", "police_type": "02",
                                           "service_category": "03", "name_code": "HKQYSP000000"},
                                 "pinyin_letters": "HKQYSP",
                                 "overrides_version": "2026.12.1+3/2026.09.11+cedict-2026-01-04",
                                 "replaces": None,
                                 "elements": {"item_type": "01", "region_code": "440115", "police_type": "02",
                                              "service_category": "03", "short_name": "户口迁移审批"}}),
    EventContract(CODING_CODE_RETIRED, "coding", {}, CodeRetired,
                  {"item_id": _ITEM, "code": _CODE, "reason": "cancelled", "replaced_by": None}),
    EventContract(SYNC_NATIONAL_ACKNOWLEDGED, "sync", {"lifecycle": "记录国家平台已接收（同步）"},
                  NationalAcknowledged, {"item_id": _ITEM, "item_version": 7, "code": _CODE, "feed_sequence": 42,
                                         "note": None}),
    EventContract(SYNC_NATIONAL_REJECTED, "sync", {"lifecycle": "记录国家平台退回及原因（同步）"},
                  NationalRejected, {"item_id": _ITEM, "item_version": 7, "code": _CODE, "feed_sequence": 42,
                                     "note": None, "reason": "实施机关名称不规范"}),
)}

UPCASTS: dict[str, Upcast] = {u.old_type: u for u in (
    Upcast(REGISTRY_ITEM_DRAFTED_V1, REGISTRY_ITEM_DRAFTED, _drafted_v1_to_v2),
)}

# Events on a service's topic that no other service consumes (its own history, published for operators and the
# operations log): listed so that every type on a topic is documented.
INTERNAL_EVENTS: dict[str, tuple[str, str]] = {
    "lifecycle.item.revision_received.v1": ("lifecycle", "收到新版本（录入中、更新待提交）"),
    "lifecycle.item.returned_to_entry.v1": ("lifecycle", "新版本使已提交或已通过审核的内容过时，退回录入"),
    "lifecycle.item.maintained.v1": ("lifecycle", "维护版本免审核生效"),
    "lifecycle.item.submitted.v1": ("lifecycle", "提交审核"),
    "lifecycle.item.rejected.v1": ("lifecycle", "审核退回"),
    "lifecycle.item.test_recorded.v1": ("lifecycle", "记录测试结果"),
    "lifecycle.item.code_recorded.v1": ("lifecycle", "记录编码服务分配的事项编码"),
    "lifecycle.item.national_sync_recorded.v1": ("lifecycle", "记录国家平台的接收或退回"),
    "coding.item_service.allocated.v1": ("coding", "分配事项服务编码"),
    "coding.item_service.withdrawn.v1": ("coding", "撤销事项服务编码"),
    "coding.item_service.recoded.v1": ("coding", "事项重新赋码，服务编码随之变更"),
    "coding.pinyin_override.set.v1": ("coding", "设置拼音修正"),
    "coding.pinyin_override.removed.v1": ("coding", "删除拼音修正"),
}


class ContractViolationError(ValueError):
    """An event that breaks its published schema (an upcast that failed counts too)."""


def check_outgoing(event_type: str, data: Any, data_json: str | None = None) -> None:
    """A producer's check before it appends: raises ContractViolationError when ``data`` breaks the schema of
    ``event_type`` (types with no contract pass). ``data_json``: the data already serialised, validated as it is."""
    contract = CONTRACTS.get(event_type)
    if contract is None:
        return
    try:
        if data_json is not None:
            contract.adapter.validate_json(data_json)
        else:
            contract.adapter.validate_python(data)
    except ValidationError as exc:
        raise ContractViolationError(f"{event_type}: {_summary(exc)}") from exc


def read_incoming(event_type: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A consumer's reading of an event: an older version upcast to the current one, then validated. Returns the
    current type and its data; raises ContractViolationError."""
    upcast = UPCASTS.get(event_type)
    while upcast is not None:
        try:
            data = upcast.convert(data)
        except Exception as exc:
            raise ContractViolationError(f"{event_type} → {upcast.new_type}: {exc}") from exc
        event_type = upcast.new_type
        upcast = UPCASTS.get(event_type)
    contract = CONTRACTS.get(event_type)
    if contract is not None:
        try:
            contract.adapter.validate_python(data)
        except ValidationError as exc:
            raise ContractViolationError(f"{event_type}: {_summary(exc)}") from exc
    return event_type, data


def current_type(event_type: str) -> str:
    """The current version of an event type (itself when it is current or unknown)."""
    while event_type in UPCASTS:
        event_type = UPCASTS[event_type].new_type
    return event_type


def _summary(exc: ValidationError) -> str:
    problems = exc.errors(include_url=False, include_input=False)
    shown = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(data)'}: {e['msg']}" for e in problems[:5])
    return shown + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
