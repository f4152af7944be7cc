"""What the catalogue (事项目录, `GET /sync/v1/catalog`) and the public guide (办事指南, `GET
/sync/v1/public/items/{code}`) send: outward schemas of their own, built from the published record
(``shared.contracts.feed``) and nothing else — no internal field can appear in them (``extra="forbid"``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.feed import Change, PublishedElements


class _Outward(BaseModel):
    model_config = ConfigDict(extra="forbid")


if TYPE_CHECKING:
    PublishedServiceGuide = _Outward
else:  # the service guide's published model, as the element table made it for the feed's schema
    PublishedServiceGuide: Any = PublishedElements.model_fields["service_guide"].annotation


class CatalogueItem(_Outward):
    """One item of the catalogue: its published identity, state and coded elements, as its latest feed entry says."""

    item_id: str = Field(..., description="事项 ID")
    item_version: int = Field(..., description="事项版本（最近一次同步的生命周期版本）")
    code: str | None = Field(..., description="事项编码")
    name: str | None = Field(..., description="事项名称（已注销事项为注销前最后发布的名称）")
    state: Literal["online", "offline", "cancelled"] = Field(..., description="事项状态")
    state_label: str = Field(..., description="状态中文名：在线期 / 离线期 / 注销期")
    region_code: str = Field(..., description="区划代码")
    police_type: str | None = Field(..., description="业务警种编码")
    item_type: str | None = Field(..., description="事项类型编码")
    revision: int | None = Field(..., description="对外内容的版本号（已注销为 null）")
    change: Change = Field(..., description="最近一次变更")
    change_label: str = Field(..., description="最近一次变更的中文名")
    effective_at: datetime = Field(..., description="最近一次变更生效时间")
    synced_at: datetime | None = Field(..., description="同步时间（最近一次变更写入同步源的时间）")
    batch: str | None = Field(..., description="批次号（最近一次变更的同步批次）")
    feed_sequence: str = Field(..., description="最近一次变更在同步源中的游标")


class CataloguePage(_Outward):
    """A page of the catalogue."""

    items: list[CatalogueItem] = Field(..., description="本页事项，按事项 ID 排序")
    next_cursor: str | None = Field(..., description="下一页的 cursor=；null 表示已是最后一页")
    epoch: str = Field(..., description="同步源纪元（同响应头 X-Feed-Epoch）")


class PublicGuide(_Outward):
    """The public guide of an online item: its published service guide and elements."""

    code: str = Field(..., description="事项编码")
    item_id: str = Field(..., description="事项 ID")
    name: str = Field(..., description="事项名称")
    state: Literal["online"] = Field(..., description="事项状态（只公开在线事项）")
    state_label: str = Field(..., description="在线期")
    region_code: str = Field(..., description="区划代码")
    revision: int = Field(..., description="对外内容的版本号")
    effective_at: datetime = Field(..., description="该版本生效时间")
    service_guide: PublishedServiceGuide | None = Field(..., description="办事指南")
    elements: PublishedElements = Field(..., description="对外的全部事项要素")
