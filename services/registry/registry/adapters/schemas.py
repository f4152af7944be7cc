"""The registry's JSON shapes for the OpenAPI document (Chinese descriptions, snake_case English keys).

Request bodies are *documented* with these models but checked by registry/domain/elements.py, so that every problem
comes back the same way — field path, stable code, Chinese message — whether it arrived by API or in a spreadsheet."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from shared.http import document_models

from registry.domain.elements import (
    CASE_TYPES,
    COMPOSITIONS,
    HANDLING_KINDS,
    LEGAL_RANKS,
    SERVICE_OBJECTS,
    TIERS,
)
from registry.domain.problems import PROBLEM_CODES

Rank = Literal[LEGAL_RANKS]  # type: ignore[valid-type]
ServiceObject = Literal[SERVICE_OBJECTS]  # type: ignore[valid-type]

EXAMPLE = {
    "source_ref": "NS-HZ-0001",
    "name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
    "service_category": "03", "region_code": "440115",
    "competent_department": "广州市公安局", "implementing_agency": "广州市公安局南沙区分局",
    "exercise_levels": ["4"],
    "legal_basis": [
        {"rank": "行政法规", "title": "中华人民共和国户口登记条例", "article": "第十条",
         "text": "公民迁出本户口管辖区，由本人或者户主在迁出前向户口登记机关申报迁出登记，领取迁移证件，注销户口。"},
        {"rank": "规范性文件", "title": "广州市户籍迁入管理规定", "article": "第五条", "text": "……"},
    ],
    "service_guide": {
        "conditions": ["申请人符合本市户籍迁入条件"],
        "materials": [{"name": "居民户口簿", "basis": "《中华人民共和国户口登记条例》第十条", "format": "原件",
                       "copies": 1, "signature_seal": None}],
        "steps": ["申请", "受理", "审核", "办结"],
        "statutory_time_limit_days": 20, "promised_time_limit_days": 10,
        "fees": {"free": True, "items": []},
        "place": "南沙区政务服务中心公安综合窗口", "hours": "工作日 9:00-12:00，13:30-17:00",
        "consultation_contact": "020-12345678", "complaint_contact": "12345",
    },
    "service_objects": ["自然人"], "case_type": "承诺件", "online_service_depth": 3,
    "planned_effective_date": "2027-01-01", "planned_cancel_date": None,
    "national_basic_code": None, "national_implementation_code": None, "national_handling_code": None,
    "composition": "元事项", "member_item_ids": [], "tier": "主项", "parent_item_id": None, "handling_kind": None,
    "serial_predecessor_ids": [], "parallel_item_ids": [],
}


class LegalBasisEntry(BaseModel):
    """一条设定依据。列表按效力从高到低排列：法律 > 行政法规 > 地方性法规 > 部门规章 > 省级政府规章 > 规范性文件，
    顺序不对时返回 LEGAL_BASIS_OUT_OF_ORDER。"""

    rank: Rank = Field(..., description="效力层级")
    title: str = Field(..., description="法律法规或文件名称")
    article: str | None = Field(None, description="条款（如 第十条）；提交审核前须填写")
    text: str | None = Field(None, description="条文内容；提交审核前须填写")


class Material(BaseModel):
    """一种申请材料。"""

    name: str = Field(..., description="材料名称")
    basis: str | None = Field(None, description="材料依据")
    format: str | None = Field(None, description="格式（原件、复印件、电子件……）")
    copies: int | None = Field(None, ge=1, le=99, description="份数")
    signature_seal: str | None = Field(None, description="签字、盖章要求")


class FeeItem(BaseModel):
    item: str = Field(..., description="收费项目")
    standard: str = Field(..., description="收费标准")
    basis: str | None = Field(None, description="收费依据")


class Fees(BaseModel):
    """收费：不收费时 free 为 true 且不列项目；收费时 free 为 false 并列出项目。"""

    free: bool = Field(..., description="true 表示不收费")
    items: list[FeeItem] = Field(default_factory=list, description="收费项目、标准和依据")


class ServiceGuide(BaseModel):
    """办事指南（公安部 2017 年方案：依据条件、流程时限、收费标准，材料名称、依据、格式份数、签名签章）。"""

    conditions: list[str] | None = Field(None, description="受理条件，每条一项")
    materials: list[Material] | None = Field(
        None, description="申请材料；null 表示尚未填写，[] 表示无需提交材料")
    steps: list[str] | None = Field(None, description="办理流程，每步一项")
    statutory_time_limit_days: int | None = Field(None, ge=0, description="法定办结时限（工作日）")
    promised_time_limit_days: int | None = Field(
        None, ge=0, description="承诺办结时限（工作日），不得超过法定办结时限（PROMISED_EXCEEDS_STATUTORY）")
    fees: Fees | None = Field(None, description="收费或“不收费”")
    place: str | None = Field(None, description="办理地点")
    hours: str | None = Field(None, description="办理时间")
    consultation_contact: str | None = Field(None, description="咨询方式")
    complaint_contact: str | None = Field(None, description="投诉方式")


class ItemElements(BaseModel):
    """事项要素。★ 为各层级必须保持一致的要素。

    草稿（创建与每次修订）只要求前六项（name、short_name、item_type、police_type、service_category、region_code），
    已填写的要素都须合法；提交审核所需的其余要素由 `complete` / `missing` 标明（生命周期服务在 submit 时检查）。
    PUT 时给出完整的要素集合（未给出的要素视为清空）。字典编码须在字典中且当日有效，否则为 UNKNOWN_CODE /
    EXPIRED_CODE。"""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        k: v for k, v in EXAMPLE.items() if k != "source_ref"}})

    name: str = Field(..., description="★ 事项名称（同一事项在各层级、各地区名称一致）")
    short_name: str = Field(..., description="简称（事项名称编码取其拼音首字母）")
    item_type: str = Field(..., description="★ 事项类型编码（字典 item_types，2 位，如 01 行政许可）")
    police_type: str = Field(..., description="业务警种编码（字典 police_types，2 位，如 02 户政管理）")
    service_category: str = Field(..., description="服务类别编码（字典 service_categories，2 位，如 03 许可审批）")
    region_code: str = Field(..., description="区划代码（GB/T 2260，6 位，当日有效，且在调用人管辖区划内）")
    competent_department: str | None = Field(None, description="★ 主管部门（全称或规范化简称，前后一致）")
    implementing_agency: str | None = Field(None, description="★ 实施机关")
    exercise_levels: list[str] = Field(default_factory=list,
                                       description="★ 行使层级编码列表（字典 exercise_levels：1 国家级 … 6 村级）")
    legal_basis: list[LegalBasisEntry] = Field(default_factory=list, description="★ 设定依据，按效力从高到低排列")
    service_guide: ServiceGuide | None = Field(None, description="办事指南")
    service_objects: list[ServiceObject] = Field(default_factory=list,  # type: ignore[valid-type]
                                                 description="服务对象")
    case_type: Literal[CASE_TYPES] | None = Field(None, description="办件类型")  # type: ignore[valid-type]
    online_service_depth: int | None = Field(None, ge=1, le=4, description="网办深度：1 网上公开办事指南 … 4 全程网办")
    planned_effective_date: str | None = Field(None, description="计划生效日期（YYYY-MM-DD）")
    planned_cancel_date: str | None = Field(None, description="计划取消日期（YYYY-MM-DD，须晚于计划生效日期）")
    national_basic_code: str | None = Field(None, pattern=r"^[0-9A-Z]{12}$",
                                            description="国家基本编码（12 位数字或大写字母）")
    national_implementation_code: str | None = Field(None, pattern=r"^[0-9A-Z]{1,36}$",
                                                     description="国家实施编码（≤36 位数字或大写字母）")
    national_handling_code: str | None = Field(None, pattern=r"^[0-9A-Z]{1,50}$",
                                               description="国家业务办理项编码（≤50 位数字或大写字母）")
    composition: Literal[COMPOSITIONS] = Field("元事项", description="事项形式：元事项（不可再分）或组合事项")  # type: ignore[valid-type]
    member_item_ids: list[str] = Field(default_factory=list,
                                       description="组合事项的成员事项 ID（至少两个，且都是元事项）")
    tier: Literal[TIERS] = Field("主项", description="事项层级：主项 → 子项 → 业务办理项")  # type: ignore[valid-type]
    parent_item_id: str | None = Field(
        None, description="上级事项 ID（子项的上级为主项；业务办理项的上级为主项或子项）")
    handling_kind: Literal[HANDLING_KINDS] | None = Field(None, description="办理项类型（仅业务办理项）")  # type: ignore[valid-type]
    serial_predecessor_ids: list[str] = Field(default_factory=list,
                                              description="串联前置事项 ID：须先办结的事项（不得形成循环）")
    parallel_item_ids: list[str] = Field(default_factory=list, description="并联事项 ID：一并办理的事项")


class ItemCreate(ItemElements):
    """录入事项：事项要素，外加调用方自己的事项编号。"""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE})

    source_ref: str | None = Field(
        None, max_length=100,
        description="来源编号：调用方系统中的事项编号，同一区划内唯一。重复提交同一来源编号且内容相同返回原事项；"
                    "内容不同返回 409 SOURCE_REF_TAKEN")


class RevisionRef(BaseModel):
    revision: int = Field(..., description="版本号")
    elements: ItemElements = Field(..., description="该版本的事项要素")


class PendingRevision(RevisionRef):
    changed_fields: list[str] = Field(..., description="相对已发布版本有变化的要素")
    maintenance: bool = Field(..., description="是否为维护（非实质性修改）")


class PublishedRevision(RevisionRef):
    at: str = Field(..., description="该版本的登记时间")


class ItemView(BaseModel):
    """事项当前版本。已发布的事项再修改时，新版本作为“待审核版本”（pending）保存，已发布版本（published）继续对外。"""

    item_id: str = Field(..., description="事项 ID")
    revision: int = Field(..., description="最新版本号（也在 ETag 中给出；修改时放入 If-Match）")
    region_code: str = Field(..., description="区划代码")
    source_ref: str | None = Field(None, description="来源编号")
    elements: ItemElements = Field(..., description="最新版本的事项要素")
    complete: bool = Field(..., description="要素是否齐全、可以提交审核")
    missing: list[str] = Field(..., description="提交审核前还需填写的要素路径")
    phase: Literal["forming", "preparing", "online", "offline", "cancelled"] = Field(..., description="生命周期阶段")
    phase_label: str = Field(..., description="阶段中文名：形成期、上线准备期、在线期、离线期、注销期")
    author: str | None = Field(None, description="录入人")
    created_at: str = Field(..., description="录入时间")
    updated_by: str | None = Field(None, description="最后修改人")
    updated_at: str = Field(..., description="最后修改时间")
    published: PublishedRevision | None = Field(None, description="已发布版本（尚未发布时为 null）")
    pending: PendingRevision | None = Field(None, description="待审核的新版本（没有时为 null）")


class ItemSummary(BaseModel):
    item_id: str
    revision: int
    region_code: str
    source_ref: str | None
    name: str
    short_name: str
    item_type: str
    police_type: str
    service_category: str
    phase: str = Field(..., description="生命周期阶段")
    phase_label: str
    complete: bool = Field(..., description="要素是否齐全")
    updated_at: str


class ItemPage(BaseModel):
    items: list[ItemSummary]
    next_cursor: str | None = Field(None, description="下一页游标；null 表示已是最后一页")


class RevisionSummary(BaseModel):
    revision: int
    type: str = Field(..., description="事件类型：registry.item.drafted.v2（草稿；早期为 v1）/ registry.item.revised.v1")
    author: str | None = Field(None, description="修改人")
    at: str = Field(..., description="修改时间")
    changed_fields: list[str] = Field(..., description="本版本修改的要素")
    maintenance: bool = Field(..., description="是否为维护")
    pending: bool = Field(..., description="是否为已发布事项的待审核版本")
    complete: bool | None = Field(None, description="本版本要素是否齐全")
    import_job_id: str | None = Field(None, description="由导入产生时的导入任务 ID")


class FieldChange(BaseModel):
    field: str = Field(..., description="字段路径，如 legal_basis[1].article")
    label: str = Field(..., description="中文名称，如 设定依据第2条·条款")
    change: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None


class RevisionDiff(BaseModel):
    item_id: str
    from_revision: int
    to_revision: int
    changed_fields: list[str]
    changes: list[FieldChange]


class RowError(BaseModel):
    row: int = Field(..., description="行号（表格中表头为第 1 行；ndjson 为行号）")
    column: str | None = Field(None, description="列名（表格）或字段路径（ndjson）")
    field: str | None = Field(None, description="字段路径")
    code: str = Field(..., description="问题代码")
    message: str = Field(..., description="中文说明")


class ImportJob(BaseModel):
    """导入任务：有效行保存，无效行逐行报告；再次导入同一文件不产生变化（按来源编号识别）。"""

    job_id: str
    status: Literal["queued", "running", "completed", "failed", "interrupted"] = Field(
        ..., description="queued：排队中（同一服务进程同时只运行有限个导入，其余按提交先后等候）；running：导入中；"
                         "completed：已完成；failed：整个文件无法导入（见 error）；interrupted：服务重启而中断，"
                         "重新导入同一文件即可补全，已导入的行不会重复")
    status_label: str = Field(..., description="状态的中文说明")
    filename: str | None
    format: Literal["xlsx", "csv", "ndjson"]
    rows_total: int | None = Field(None, description="总行数（xlsx 表格注明了范围时开始即知，Excel 保存的文件都会注明；"
                                                 "其余情况及 csv、ndjson 完成时给出）")
    rows_processed: int
    progress: float = Field(..., description="进度 0–1")
    created: int = Field(..., description="新建事项数")
    revised: int = Field(..., description="产生新版本的事项数")
    unchanged: int = Field(..., description="内容未变、未写入的行数")
    failed: int = Field(..., description="未通过校验的行数")
    error: str | None = Field(None, description="整个文件无法导入时的原因")
    created_at: str
    started_at: str | None
    finished_at: str | None
    errors_total: int
    errors: list[RowError]
    next_errors_after: int | None = Field(None, description="还有更多错误时，下一页的 errors_after 参数")


class ConsistencyItem(BaseModel):
    item_id: str
    region_code: str
    region_name: str | None
    region_level: int | None
    name: str
    item_type: str


class ConsistencyFinding(BaseModel):
    kind: Literal["same_basic_code", "same_name_in_region_tree"] = Field(
        ..., description="判定为同一事项的依据：基本编码相同，或同一省级区划内名称相同")
    key: str
    diverging: list[str] = Field(..., description="不一致的要素")
    message: str
    items: list[ConsistencyItem]


class ConsistencyReport(BaseModel):
    findings: list[ConsistencyFinding]
    count: int


DOCUMENTED = (ItemCreate, ItemElements)
PROBLEMS_DESCRIPTION = "校验失败：details.problems 逐项列出 {field, code, message}。问题代码：" + "；".join(
    f"{code} {meaning}" for code, meaning in PROBLEM_CODES.items())


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def document_request_models(app: FastAPI) -> None:
    """Put the request-body models into the OpenAPI components (the routes take raw JSON, see module docstring)."""
    document_models(app, *DOCUMENTED)
