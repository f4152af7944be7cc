"""What the national platform receives: the published-record schema of the national feed (`GET /sync/v1/feed`,
`GET /sync/v1/snapshot`). It is a contract with the outside world, versioned on its own and translated by the
sync gateway from the lifecycle's events, never a copy of them: internal fields (authors, review steps, pending
revisions, import jobs) have no place here, and a change of the internal events changes nothing here.

Each feed entry is a structured CloudEvent (`application/cloudevents-batch+json`): ``type`` one of
:data:`FEED_TYPES`, ``source`` ``/shixiang/sync``, ``subject`` the item id, ``sequence`` the feed cursor,
``itemversion`` the item's lifecycle version (what `POST /sync/v1/national/feedback` answers), ``data`` a
:class:`PublishedItemRecord`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FEED_SOURCE = "/shixiang/sync"

# change → (CloudEvents type, 变更 in Chinese, the national exchange's operation: insert / update / delete)
CHANGES: dict[str, tuple[str, str, str]] = {
    "published": ("shixiang.item.published.v1", "上线", "insert"),
    "updated": ("shixiang.item.updated.v1", "更新上线", "update"),
    "maintained": ("shixiang.item.maintained.v1", "维护", "update"),
    "unpublished": ("shixiang.item.unpublished.v1", "下线", "update"),
    "resumed": ("shixiang.item.resumed.v1", "重新上线", "update"),
    "cancelled": ("shixiang.item.cancelled.v1", "注销", "delete"),
}
FEED_TYPES: tuple[str, ...] = tuple(t for t, _, _ in CHANGES.values())
Change = Literal["published", "updated", "maintained", "unpublished", "resumed", "cancelled"]


class _Published(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LegalBasis(_Published):
    rank: str = Field(..., description="效力层级：法律、行政法规、地方性法规、部门规章、省级政府规章、规范性文件")
    title: str = Field(..., description="法律法规或文件名称")
    article: str | None = Field(None, description="条款")
    text: str | None = Field(None, description="条文内容")


class Material(_Published):
    name: str = Field(..., description="材料名称")
    basis: str | None = Field(None, description="材料依据")
    format: str | None = Field(None, description="格式")
    copies: int | None = Field(None, description="份数")
    signature_seal: str | None = Field(None, description="签字、盖章要求")


class FeeItem(_Published):
    item: str = Field(..., description="收费项目")
    standard: str = Field(..., description="收费标准")
    basis: str | None = Field(None, description="收费依据")


class Fees(_Published):
    free: bool = Field(..., description="true 表示不收费")
    items: list[FeeItem] = Field(default_factory=list, description="收费项目")


class ServiceGuide(_Published):
    conditions: list[str] | None = Field(None, description="受理条件")
    materials: list[Material] | None = Field(None, description="申请材料")
    steps: list[str] | None = Field(None, description="办理流程")
    statutory_time_limit_days: int | None = Field(None, description="法定办结时限（工作日）")
    promised_time_limit_days: int | None = Field(None, description="承诺办结时限（工作日）")
    fees: Fees | None = Field(None, description="收费")
    place: str | None = Field(None, description="办理地点")
    hours: str | None = Field(None, description="办理时间")
    consultation_contact: str | None = Field(None, description="咨询方式")
    complaint_contact: str | None = Field(None, description="投诉方式")


class PublishedElements(_Published):
    """The published content of an item (事项要素), every element the registry keeps, as reviewed."""

    name: str = Field(..., description="★ 事项名称")
    short_name: str = Field(..., description="简称")
    item_type: str = Field(..., description="★ 事项类型编码")
    police_type: str = Field(..., description="业务警种编码")
    service_category: str = Field(..., description="服务类别编码")
    region_code: str = Field(..., description="区划代码（GB/T 2260）")
    competent_department: str | None = Field(None, description="★ 主管部门")
    implementing_agency: str | None = Field(None, description="★ 实施机关")
    exercise_levels: list[str] = Field(default_factory=list, description="★ 行使层级编码")
    legal_basis: list[LegalBasis] = Field(default_factory=list, description="★ 设定依据，按效力从高到低")
    service_guide: ServiceGuide | None = Field(None, description="办事指南")
    service_objects: list[str] = Field(default_factory=list, description="服务对象")
    case_type: str | None = Field(None, description="办件类型")
    online_service_depth: int | None = Field(None, description="网办深度（1–4）")
    planned_effective_date: date | None = Field(None, description="计划生效日期")
    planned_cancel_date: date | None = Field(None, description="计划取消日期")
    national_basic_code: str | None = Field(None, description="国家基本编码")
    national_implementation_code: str | None = Field(None, description="国家实施编码")
    national_handling_code: str | None = Field(None, description="国家业务办理项编码")
    composition: str = Field(..., description="事项形式：元事项 / 组合事项")
    member_item_ids: list[str] = Field(default_factory=list, description="组合事项的成员事项 ID")
    tier: str = Field(..., description="事项层级：主项 / 子项 / 业务办理项")
    parent_item_id: str | None = Field(None, description="上级事项 ID")
    handling_kind: str | None = Field(None, description="办理项类型")
    serial_predecessor_ids: list[str] = Field(default_factory=list, description="串联前置事项 ID")
    parallel_item_ids: list[str] = Field(default_factory=list, description="并联事项 ID")


class PublishedItemRecord(_Published):
    """One change of a published item, as the national platform receives it (published record v1)."""

    item_id: str = Field(..., description="事项 ID（同 CloudEvents subject）")
    item_version: int = Field(..., description="事项的生命周期版本（国家平台答复时引用）")
    change: Change = Field(..., description="变更：published 上线 / updated 更新上线 / maintained 维护 / "
                                            "unpublished 下线 / resumed 重新上线 / cancelled 注销")
    change_label: str = Field(..., description="变更中文名")
    operation: Literal["insert", "update", "delete"] = Field(
        ..., description="对应国家交换库的同步类型：insert 新增 / update 更新 / delete 删除")
    state: Literal["online", "offline", "cancelled"] = Field(..., description="事项状态")
    state_label: str = Field(..., description="状态中文名：在线期 / 离线期 / 注销期")
    code: str | None = Field(..., description="事项编码（24 位）")
    previous_code: str | None = Field(None, description="更新后重新赋码时的原编码")
    region_code: str = Field(..., description="区划代码")
    revision: int | None = Field(..., description="对外内容的版本号（注销时为 null）")
    elements: PublishedElements | None = Field(..., description="对外的事项要素（注销时为 null）")
    offline_kind: Literal["suspension", "maintenance"] | None = Field(None, description="下线类型：暂停 / 维护")
    reason: str | None = Field(None, description="下线或注销原因")
    successors: list[str] = Field(default_factory=list, description="拆分 / 合并后接替它的事项 ID")
    effective_at: datetime = Field(..., description="变更生效时间")


class FeedEntry(_Published):
    """One entry of the national feed: a structured CloudEvent (`application/cloudevents-batch+json`) around a
    published record."""

    specversion: Literal["1.0"] = Field(..., description="CloudEvents 版本")
    id: str = Field(..., description="条目 ID（同一变更重复投递时不变）")
    type: str = Field(..., description="条目类型：" + "、".join(t for t, _, _ in CHANGES.values()))
    source: Literal["/shixiang/sync"] = Field(..., description="来源")
    subject: str = Field(..., description="事项 ID")
    time: datetime = Field(..., description="变更发生的时间")
    datacontenttype: Literal["application/json"] = Field(..., description="data 的格式")
    itemversion: int = Field(..., description="事项的生命周期版本（国家平台答复时引用）")
    sequence: str = Field(..., description="同步源游标（十进制数字字符串），下一次请求 after= 它")
    data: PublishedItemRecord = Field(..., description="对外发布记录")
