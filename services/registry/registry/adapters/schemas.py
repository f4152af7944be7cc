"""The registry's JSON shapes for the OpenAPI document (Chinese descriptions, snake_case English keys).

Request bodies are *documented* with these models but checked by registry/domain/elements.py, so that every problem
comes back the same way — field path, stable code, Chinese message — whether it arrived by API or in a spreadsheet.
:data:`ItemElements` and the models inside it (ServiceGuide, LegalBasisEntry, Material, Fees, FeeItem) are built from
the element table (``shared/contracts/elements.py``): names, descriptions, types, enums, ranges, patterns, defaults
and the example are the table's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, create_model

from shared.contracts import elements as spec
from shared.http import document_models

from registry.domain.elements import nullable
from registry.domain.problems import PROBLEM_CODES

# Type forms subscripted with what is known only when the table is read (the type checker sees them as Any).
_LITERAL: Any = Literal
_LIST: Any = list


def _annotation(kind: spec.Kind) -> Any:
    """The JSON type of a value of ``kind`` in the registry's API (closed sets as enums)."""
    match kind:
        case spec.Text() | spec.Code() | spec.IsoDate() | spec.Reference():
            return str  # dates travel as YYYY-MM-DD text and are checked by the registry, not by the schema
        case spec.Codes() | spec.Texts() | spec.References():
            return list[str]
        case spec.Choice(values=values):
            return _LITERAL[values]
        case spec.Choices(values=values):
            return _LIST[_LITERAL[values]]
        case spec.Integer():
            return int
        case spec.Flag():
            return bool
        case spec.Entries(shape=shape):
            return _LIST[model_of(shape)]
        case spec.Record(shape=shape) | spec.Section(shape=shape):
            return model_of(shape)
    raise TypeError(f"no API type for {kind!r}")


def _constraints(kind: spec.Kind) -> dict[str, Any]:
    """What the schema states about a value besides its type. Text lengths are left out: they count the text after
    trimming, which a schema on the raw value cannot say."""
    match kind:
        case spec.Integer(minimum=minimum, maximum=maximum):
            return {"ge": minimum, "le": maximum}
        case spec.Text(pattern=str(pattern)) | spec.Code(pattern=str(pattern)):
            return {"pattern": f"^{pattern}$"}
    return {}


def model_of(shape: spec.Shape, config: ConfigDict | None = None) -> type[BaseModel]:
    """The model of ``shape`` (nested models for the objects inside it), named and described as the table says."""
    fields: dict[str, Any] = {}
    for f in shape.fields:
        annotation = _annotation(f.kind)
        if f.required is spec.DRAFT:
            default = Field(..., description=f.doc, **_constraints(f.kind))
        elif f.default == []:
            default = Field(default_factory=list, description=f.doc, **_constraints(f.kind))
        elif isinstance(f.kind, spec.Section):  # always an object: left out, its fields take their defaults
            default = Field(default_factory=dict, description=f.doc)
        else:
            annotation = annotation | None if nullable(f) else annotation
            default = Field(f.default, description=f.doc, **_constraints(f.kind))
        fields[f.key] = (annotation, default)
    return create_model(shape.api_model, __doc__=shape.api_doc, __module__=__name__, __config__=config, **fields)


EXAMPLE = {"source_ref": "NS-HZ-0001", **{f.key: f.example_value for f in spec.ELEMENTS}}

if TYPE_CHECKING:  # for the type checker a model class; its fields are the element table's, built below
    ItemElements = BaseModel
else:
    ItemElements = model_of(spec.ITEM, ConfigDict(extra="forbid", json_schema_extra={"example": {
        k: v for k, v in EXAMPLE.items() if k != "source_ref"}}))


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


class RevisedItemView(ItemView):
    """修改事项的结果：事项当前版本，另说明这次修改走了哪条路径。"""

    path: Literal["draft", "update", "maintenance", "unchanged"] = Field(..., description=(
        "这次修改的路径：draft 修改（事项尚未发布，须提交审核；审核中或上线准备期的事项退回录入）/ "
        "update 更新（事项已发布，新版本待审核，审核上线前已发布版本继续对外，先审后用）/ "
        "maintenance 维护（请求带 ?maintenance=true，只改非实质性要素，免审核生效；事项另有待审核的更新时，"
        "事项生命周期服务按更新处理）/ unchanged 未变（内容与当前版本相同，没有产生新版本）"))
    path_label: str = Field(..., description="路径中文说明")
    hint: str | None = Field(None, description=(
        "提示：这次修改只涉及维护要素（办理地点、办理时间、咨询和投诉方式、网办深度、国家编码）却未作为维护提交时，"
        "说明可加 ?maintenance=true 免审核生效；修改仍按 path 所示路径处理。没有提示时为 null"))


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
    type: str = Field(..., description=(
        "事件类型：registry.item.drafted.v2（草稿；早期为 v1）/ registry.item.revised.v1"))
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
    started_by: str = Field(..., description="发起人（令牌的用户标识）")
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
    error_code: str | None = Field(None, description=(
        "整个文件无法导入时的问题代码：IMPORT_FILE_UNREADABLE（无法读取、缺少必需的列）、"
        "IMPORT_FILE_TOO_LARGE_EXPANDED（xlsx 解压后超出限制：单元格、工作表、列或行号范围过大）；"
        "IMPORT_FAILED 为系统内部错误"))
    created_at: str
    started_at: str | None
    finished_at: str | None
    errors_total: int
    errors: list[RowError]
    next_errors_after: int | None = Field(None, description="还有更多错误时，下一页的 errors_after 参数")


class ImportJobPage(BaseModel):
    """调用人最近的导入任务，最新的在前：本人发起的；管理员另见发起人管辖区划都在其管辖区划内的任务。"""

    jobs: list[ImportJob] = Field(..., description="每个任务同 GET /imports/{job_id}，只带前 errors_limit 条逐行错误")
    next_cursor: str | None = Field(None, description="下一页游标；null 表示已是最后一页")


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


class IncompleteItem(BaseModel):
    item_id: str
    name: str
    missing: list[str] = Field(..., description="缺少的审核所需要素（中文名）")


class CompletenessFigures(BaseModel):
    items: int = Field(..., description="未注销的事项数")
    complete: int = Field(..., description="具备审核所需全部要素的事项数")
    share: float | None = Field(..., description="complete / items，保留 4 位小数；无事项时为 null")
    incomplete_total: int = Field(..., description="不完备的事项数")
    incomplete: list[IncompleteItem] = Field(..., description="前 limit 个不完备的事项")


class RegionCompleteness(CompletenessFigures):
    code: str = Field(..., description="下一级区划代码前缀（2、4 或 6 位）")
    name: str | None = Field(..., description="区划名称（GB/T 2260）")


class DepartmentCompleteness(CompletenessFigures):
    department: str | None = Field(..., description="主管部门（未填写为 null）")


class Completeness(BaseModel):
    by_region: list[RegionCompleteness]
    by_department: list[DepartmentCompleteness]


class MissingStandardItem(BaseModel):
    item_id: str
    name: str


class CountyCoverage(BaseModel):
    county_code: str
    county_name: str
    standard_items: int = Field(..., description="所在省的省级标准事项数")
    implemented: int = Field(..., description="本区县已实施（有同一事项）的标准事项数")
    share: float | None = Field(..., description="implemented / standard_items，保留 4 位小数")
    missing_total: int = Field(..., description="未实施的标准事项数")
    missing: list[MissingStandardItem] = Field(..., description="前 limit 个未实施的标准事项")


class QualityReport(BaseModel):
    completeness: Completeness
    coverage: list[CountyCoverage]


DOCUMENTED = (ItemCreate, ItemElements)
PROBLEMS_DESCRIPTION = "校验失败：details.problems 逐项列出 {field, code, message}。问题代码：" + "；".join(
    f"{code} {meaning}" for code, meaning in PROBLEM_CODES.items())


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def document_request_models(app: FastAPI) -> None:
    """Put the request-body models into the OpenAPI components (the routes take raw JSON, see module docstring)."""
    document_models(app, *DOCUMENTED)
