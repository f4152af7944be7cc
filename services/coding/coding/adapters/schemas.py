"""The coding API's request bodies (pydantic)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PreviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_type: str = Field(..., description="事项类型编码: item type code, 2 digits (dictionary item_types)")
    region_code: str = Field(..., description="区划代码: GB/T 2260 region code, 6 digits, valid today")
    police_type: str = Field(..., description="业务警种编码: police type code, 2 digits (dictionary police_types)")
    service_category: str = Field(
        ..., description="服务类别编码: service category code, 2 digits (dictionary service_categories)")
    short_name: str = Field(..., max_length=200, description="简称: short name, source of the 12-character name code")


class ServiceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=200,
                      description="事项服务名称: name of the item service (unique among the item's active services)")


class WithdrawBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., min_length=1, max_length=2000, description="撤销原因: why the service is withdrawn")


class OverrideBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phrase: str = Field(..., min_length=1, max_length=20,
                        description="词语: the phrase, Chinese characters only (e.g. 单县)")
    letters: str = Field(..., min_length=1, max_length=20,
                         description="首字母: uppercase first letters, one per character (e.g. SX)")
    reason: str = Field(..., min_length=1, max_length=2000, description="修改原因: why the reading is corrected")
