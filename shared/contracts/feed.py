"""What the national platform receives: the published-record schema of the national feed (`GET /sync/v1/feed`,
`GET /sync/v1/snapshot`). It is a contract with the outside world, versioned on its own and translated by the
sync gateway from the lifecycle's events, never a copy of them: internal fields (authors, review steps, pending
revisions, import jobs) have no place here, and a change of the internal events changes nothing here.

Each feed entry is a structured CloudEvent (`application/cloudevents-batch+json`): ``type`` one of
:data:`FEED_TYPES`, ``source`` ``/shixiang/sync``, ``subject`` the item id, ``sequence`` the feed cursor,
``itemversion`` the item's lifecycle version (what `POST /sync/v1/national/feedback` answers), ``data`` a
:class:`PublishedItemRecord`. Its ``elements`` (:data:`PublishedElements`) are derived from the element table
(``shared/contracts/elements.py``): every field the table marks ``Published``, described as it says there."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from shared.contracts import elements as spec

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


# Type forms subscripted with what is known only when the element table is read (the type checker sees Any).
_LIST: Any = list


def _published_type(kind: spec.Kind) -> Any:
    """The JSON type of a published value of ``kind``: plain types (the registry has checked the values; closed sets
    and code formats are the registry's rules, described in the text)."""
    match kind:
        case spec.Text() | spec.Code() | spec.Choice() | spec.Reference():
            return str
        case spec.IsoDate():
            return date
        case spec.Integer():
            return int
        case spec.Flag():
            return bool
        case spec.Codes() | spec.Choices() | spec.Texts() | spec.References():
            return list[str]
        case spec.Entries(shape=shape):
            return _LIST[published_model_of(shape)]
        case spec.Record(shape=shape) | spec.Section(shape=shape):
            return published_model_of(shape)
    raise TypeError(f"no published type for {kind!r}")


def published_model_of(shape: spec.Shape) -> type[BaseModel]:
    """The published model of ``shape``: its published fields (spec.Published), each required when every reviewed
    item has it (a draft needs it, or it has a default value), lists empty and the rest null otherwise."""
    fields: dict[str, Any] = {}
    for f in shape.fields:
        if not isinstance(f.published, spec.Published):
            continue
        annotation, description = _published_type(f.kind), f.published.description
        if f.required is spec.DRAFT or f.default not in (None, []):
            fields[f.key] = (annotation, Field(..., description=description))
        elif f.default == []:
            fields[f.key] = (annotation, Field(default_factory=list, description=description))
        else:
            fields[f.key] = (annotation | None, Field(None, description=description))
    return create_model(shape.published_model, __base__=_Published, __doc__=shape.published_doc, __module__=__name__,
                        **fields)


if TYPE_CHECKING:  # for the type checker a model class; its fields are the element table's, built below
    PublishedElements = _Published
else:
    PublishedElements = published_model_of(spec.ITEM)


class PublishedItemRecord(_Published):
    """One change of a published item, as the national platform receives it (published record v1; ``batch`` and
    ``synced_at`` were added to v1 later, an additive change: entries fed before carry them as null)."""

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
    batch: str | None = Field(None, description=(
        "批次号（国家交换库的 cd_batch）：同一同步轮次（同步网关一次写入同步源的一批变更）的条目批次号相同；"
        "早于本字段的条目为 null"))
    synced_at: datetime | None = Field(None, description=(
        "同步时间（国家交换库的 cd_time）：同步网关把该变更写入同步源的时间；早于本字段的条目为 null"))


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
