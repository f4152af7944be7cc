"""Registry HTTP routes (thin: read the request, call one service-layer function, shape the response). Roles,
regions and SQL are the service layer's and the adapters' business, never a route's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import AfterValidator
from starlette.background import BackgroundTask

from shared.contracts import PHASE_CHOICES, PHASE_LABELS, phase_named
from shared.http import INT4_MAX, CorrelationId, CurrentPrincipal, ServiceRoute, error_responses

from registry.adapters import queries
from registry.adapters.multipart import FormUpload, is_form_upload
from registry.adapters.schemas import (
    PROBLEMS_DESCRIPTION,
    ConsistencyReport,
    ImportJob,
    ImportJobPage,
    ItemCreate,
    ItemElements,
    ItemPage,
    ItemView,
    QualityReport,
    RevisedItemView,
    RevisionDiff,
    RevisionSummary,
    request_body,
)
from registry.adapters.spool import remove_quietly
from registry.adapters.spreadsheets.formats import part_type_hint
from registry.domain.elements import null_problems
from registry.domain.errors import ElementsInvalidError
from registry.domain.problems import Problem
from registry.errors import ERRORS
from registry.service_layer import exports
from registry.service_layer.imports.jobs import ImportJobs
from registry.service_layer.items import Registry

router = APIRouter(prefix="/registry/v1", tags=["registry 事项要素"], route_class=ServiceRoute,
                   responses={**error_responses(ERRORS), 422: {"description": PROBLEMS_DESCRIPTION}})
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


async def get_import_jobs(request: Request) -> ImportJobs:
    jobs: ImportJobs = request.app.state.imports
    return jobs


RegistryDep = Annotated[Registry, Depends(get_registry)]
ImportsDep = Annotated[ImportJobs, Depends(get_import_jobs)]


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; the domain checks its content (so every problem has a path, code and message).
    The route (shared.http.ServiceRoute) has parsed it already and refused what is not JSON (400 MALFORMED_JSON), a
    NUL character, nesting too deep or another Content-Type (415)."""
    body = await request.json()
    if not isinstance(body, dict):
        raise ElementsInvalidError.of([Problem("", "NOT_OBJECT", "请求体应为 JSON 对象（事项要素）")])
    if problems := null_problems(body):
        raise ElementsInvalidError.of(problems)
    return body


JsonBody = Annotated[dict[str, Any], Depends(json_object)]

# OpenAPI links from an item just written or read to what a client does next with it (schemathesis follows them in
# tests/integration/test_schemathesis.py: create → read → revise).
ITEM_LINKS = {
    "GetItem": {"operationId": "get_item_registry_v1_items__item_id__get", "description": "读取该事项",
                "parameters": {"item_id": "$response.body#/item_id"}},
    "ReviseItem": {"operationId": "revise_item_registry_v1_items__item_id__put",
                   "description": "以所读版本（ETag）修改该事项",
                   "parameters": {"item_id": "$response.body#/item_id", "header.if-match": "$response.header.ETag"},
                   "requestBody": "$response.body#/elements"},
    "ListRevisions": {"operationId": "list_revisions_registry_v1_items__item_id__revisions_get",
                      "description": "该事项的全部版本", "parameters": {"item_id": "$response.body#/item_id"}},
    "GetRevision": {"operationId": "get_revision_registry_v1_items__item_id__revisions__revision__get",
                    "description": "该事项的最新版本",
                    "parameters": {"item_id": "$response.body#/item_id", "revision": "$response.body#/revision"}},
}


PHASE_QUERY_DOC = "生命周期阶段，英文值或中文名均可：" + "、".join(
    f"{phase} / {label}" for phase, label in PHASE_LABELS.items())


def _phase_named(name: str | None) -> str | None:
    if name is None:
        return None
    phase = phase_named(name)
    if phase is None:  # a validation error: 422 VALIDATION_FAILED naming the parameter
        raise ValueError(f"没有“{name}”这一阶段；可选：{PHASE_CHOICES}")
    return phase.value


async def item_filter(
    region: Annotated[str | None, Query(pattern=r"^\d{2,6}$", description="区划代码前缀：44、4401、440115")] = None,
    police_type: Annotated[str | None, Query(description="业务警种编码")] = None,
    item_type: Annotated[str | None, Query(description="事项类型编码")] = None,
    service_category: Annotated[str | None, Query(description="服务类别编码")] = None,
    phase: Annotated[str | None, Query(description=PHASE_QUERY_DOC), AfterValidator(_phase_named)] = None,
    q: Annotated[str | None, Query(max_length=100, description="事项名称包含的文字（如 护照）")] = None,
    national_code: Annotated[str | None, Query(max_length=100, description=(
        "国家政务服务平台的基本编码或实施编码（完全相同）"))] = None,
) -> queries.ItemFilter:
    return queries.ItemFilter(region, police_type, item_type, service_category, phase, q, national_code)


Filter = Annotated[queries.ItemFilter, Depends(item_filter)]


@router.post("/items", status_code=201, summary="录入事项草稿（Idempotency-Key、来源编号防止重复创建）",
             response_model=None, responses={201: {"model": ItemView, "links": ITEM_LINKS},
                        200: {"model": ItemView, "description": "已存在的同一事项", "links": ITEM_LINKS}},
             openapi_extra=request_body(ItemCreate))
async def create_item(
    body: JsonBody, response: Response, svc: RegistryDep, principal: CurrentPrincipal, correlation_id: CorrelationId,
    idempotency_key: Annotated[str | None, Header(max_length=200, description="同一调用人同一键只创建一次")] = None,
) -> dict[str, Any]:
    view, created = await svc.create(principal, body, idempotency_key=idempotency_key, correlation_id=correlation_id)
    response.status_code = 201 if created else 200
    response.headers["ETag"] = f'"{view["revision"]}"'
    response.headers["Location"] = f"/registry/v1/items/{view['item_id']}"
    return view


@router.get("/items", summary="事项列表：按区划前缀、警种、类型、类别、阶段筛选，按名称检索，游标分页",
            response_model=ItemPage)
async def list_items(
    svc: RegistryDep, principal: CurrentPrincipal, filters: Filter,
    cursor: Annotated[str | None, Query(description="上一页返回的 next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    return await svc.list_items(principal, filters, cursor=cursor, limit=limit)


@router.get("/items/{item_id}", summary="读取事项（最新版本；已发布事项另含已发布版本与待审核版本）",
            response_model=None, responses={200: {"model": ItemView, "links": ITEM_LINKS}})
async def get_item(item_id: str, response: Response, svc: RegistryDep, principal: CurrentPrincipal) -> dict[str, Any]:
    view = await svc.get(item_id, principal)
    response.headers["ETag"] = f'"{view["revision"]}"'
    return view


@router.put("/items/{item_id}", summary="修改事项：以完整要素产生新版本（须 If-Match；响应的 path 说明所走路径）",
            response_model=None,
            responses={200: {"model": RevisedItemView, "links": ITEM_LINKS},
                       **error_responses(ERRORS, statuses=(400, 428))},
            openapi_extra=request_body(ItemElements))
async def revise_item(
    item_id: str, body: JsonBody, response: Response, svc: RegistryDep, principal: CurrentPrincipal,
    correlation_id: CorrelationId,
    if_match: Annotated[str | None, Header(description="所修改的版本号（读取时的 ETag）")] = None,
    maintenance: Annotated[bool, Query(
        description="true：作为维护提交——只改办理地点、办理时间、咨询和投诉方式、网办深度、国家编码等非实质性要素，"
                    "免审核生效（改了其他要素则 422，问题代码 MAINTENANCE_NOT_ALLOWED）。"
                    "不加时，已发布事项的任何修改都是需要审核的更新；只改了维护要素时响应的 hint 会提示")] = False,
) -> dict[str, Any]:
    view = await svc.revise(item_id, principal, body, if_match=if_match, maintenance=maintenance,
                            correlation_id=correlation_id)
    response.headers["ETag"] = f'"{view["revision"]}"'
    return view


@router.get("/items/{item_id}/revisions", summary="事项的全部版本（谁、何时、改了什么）",
            response_model=list[RevisionSummary])
async def list_revisions(item_id: str, svc: RegistryDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    return await svc.revisions(item_id, principal)


@router.get("/items/{item_id}/revisions/{revision}", summary="某一版本的事项要素")
async def get_revision(item_id: str, revision: Annotated[int, PathParam(ge=1, le=INT4_MAX, description="版本号")],
                       svc: RegistryDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return await svc.revision(item_id, revision, principal)


@router.get("/items/{item_id}/diff", summary="任意两个版本之间逐字段的变化", response_model=RevisionDiff)
async def diff_revisions(
    item_id: str, svc: RegistryDep, principal: CurrentPrincipal,
    from_revision: Annotated[int, Query(alias="from", ge=1, le=INT4_MAX, description="起始版本")],
    to_revision: Annotated[int, Query(alias="to", ge=1, le=INT4_MAX, description="目标版本")],
) -> dict[str, Any]:
    return await svc.diff(item_id, principal, from_revision=from_revision, to_revision=to_revision)


@router.get("/consistency", summary="一致性报告：同一事项（基本编码相同，或同一省内名称相同）名称或类型不一致",
            response_model=ConsistencyReport)
async def consistency(
    svc: RegistryDep, principal: CurrentPrincipal,
    region: Annotated[str | None, Query(pattern=r"^\d{2,6}$", description="只看该区划前缀")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    return await svc.consistency(principal, region=region, limit=limit)


@router.get(
    "/quality", summary="事项质量：完备度（按下一级区划、主管部门）与覆盖度（各区县实施省级标准事项的情况）",
    response_model=QualityReport,
    description=(
        "只计调用人管辖区划内、未注销的事项；region 再限定区划前缀。"
        "完备度 completeness：事项最新版本具备审核所需的全部要素（录入时即按要素表判断并记入版本：complete / missing）"
        "即为完备。by_region 按 region 的下一级区划分组（不给 region 时为省级 2 位代码，"
        "省级下为地市 4 位，地市下为区县 6 位），"
        "by_department 按主管部门分组（未填写为 null）；每组 items 事项数、complete 完备数、share = complete / items"
        "（保留 4 位小数，无事项时为 null）、incomplete_total 不完备数、"
        "incomplete 前 limit 个不完备事项及其缺少的要素（中文名）。"
        "覆盖度 coverage：省级标准事项 = 区划为省本级（xx0000）的事项；对 region 下（不给则全国）管辖区划内每个现行区县"
        "（所在省有标准事项的），implemented 为其已实施的标准事项数——该区县有事项与之为同一事项"
        "（基本编码相同，或同省内名称相同，与一致性报告 /consistency 的“同一事项”同一规则），"
        "share = implemented / standard_items，missing_total 未实施数，missing 前 limit 个未实施的标准事项。"
        "标准事项须在调用人管辖区划内才计入：管辖区划不含省本级的调用人，其覆盖度为空。"
        "准确度见 GET /consistency。"),
)
async def quality(
    svc: RegistryDep, principal: CurrentPrincipal,
    region: Annotated[str | None, Query(pattern=r"^\d{2}(\d{2}){0,2}$",
                                        description="区划代码前缀：44、4401、440115")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="每组列出的事项数上限")] = 20,
) -> dict[str, Any]:
    return await svc.quality(principal, region=region, cap=limit)


# ---- lists in ---------------------------------------------------------------------------------------------------
_FILE = {"schema": {"type": "string", "format": "binary"}}
_IMPORT_BODY = {"required": True, "description": (
    "两种方式任选其一：文件内容本身作为请求体（Content-Type 为下列文件类型，或 application/octet-stream 由文件名和"
    "内容判断），或表单上传 multipart/form-data，文件放在字段 file 中（curl -F file=@事项清单.xlsx），其文件名如"
    " ?filename= 一样用于识别格式（?filename= 优先）。两种方式都边收边写入磁盘，超过大小限制即 413。"), "content": {
    XLSX_MEDIA: _FILE, "text/csv": _FILE, "application/x-ndjson": _FILE, "application/octet-stream": _FILE,
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "事项清单文件（xlsx、csv 或 ndjson），文件名用于识别格式"}}},
                            "encoding": {"file": {"contentType": f"{XLSX_MEDIA}, text/csv, application/x-ndjson, "
                                                                 "application/octet-stream"}}}}}


@router.post("/imports", status_code=202, summary="导入事项清单（xlsx、csv、ndjson；文件本身或表单上传），后台任务",
             response_model=ImportJob, responses=error_responses(ERRORS, statuses=(400, 413, 415)),
             openapi_extra={"requestBody": _IMPORT_BODY})
async def start_import(
    request: Request, response: Response, jobs: ImportsDep, principal: CurrentPrincipal,
    filename: Annotated[str | None, Query(max_length=255, description="原文件名（用于识别格式和显示）")] = None,
    fmt: Annotated[Literal["xlsx", "csv", "ndjson"] | None, Query(
        alias="format", description="文件格式；不给时按 Content-Type、文件名和内容判断")] = None,
) -> dict[str, Any]:
    content_type = request.headers.get("content-type")
    body: AsyncIterator[bytes] = request.stream()
    if is_form_upload(content_type):
        form = await FormUpload(body, content_type or "").open()
        body, filename, content_type = form.file_bytes(), filename or form.filename, part_type_hint(form.content_type)
    job = await jobs.start(principal, body, filename=filename, content_type=content_type, declared_format=fmt)
    response.headers["Location"] = f"/registry/v1/imports/{job['job_id']}"
    return job


@router.get("/imports", summary="导入任务：本人发起的，及管辖区划覆盖发起人区划的任务；最近的在前，游标分页",
            response_model=ImportJobPage,
            description="内部角色可读（运维、管理员据此看到其管辖区划内正在运行的导入：?status=running）：本人发起的任务，"
                        "及发起人区划全部在本人管辖区划内的任务（与 GET /imports/{job_id} 同一规则）。"
                        "status 只列该状态的任务（queued、running 指心跳未过期的；心跳过期的算 interrupted）。")
async def list_imports(
    jobs: ImportsDep, principal: CurrentPrincipal,
    status: Annotated[Literal["queued", "running", "completed", "failed", "interrupted"] | None, Query(
        description="只列该状态的任务：queued 排队中、running 导入中、completed 已完成、failed 失败、"
                    "interrupted 已中断")]
    = None,
    cursor: Annotated[str | None, Query(description="上一页返回的 next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    errors_limit: Annotated[int, Query(ge=1, le=1000, description="每个任务附带的逐行错误条数（其余见任务本身）")] = 10,
) -> dict[str, Any]:
    return await jobs.recent(principal, cursor=cursor, limit=limit, errors_limit=errors_limit, status=status)


@router.get("/imports/template.xlsx", summary="下载导入模板（中文表头、字典下拉、本人管辖区划）",
            response_class=FileResponse, responses={200: {"content": {XLSX_MEDIA: {}}}})
async def template(svc: RegistryDep, principal: CurrentPrincipal) -> FileResponse:
    return _download(exports.import_template(svc, principal), "事项清单导入模板.xlsx", XLSX_MEDIA)


@router.get("/imports/{job_id}", summary="导入任务进度与逐行错误", response_model=ImportJob,
            description="内部角色可读：发起人本人，或管辖区划覆盖任务发起时全部区划的用户（任务各行只能写入这些区划）；"
                        "其他内部用户返回 404 IMPORT_JOB_NOT_FOUND，国家平台返回 403 ROLE_FORBIDDEN。")
async def import_job(
    job_id: str, jobs: ImportsDep, principal: CurrentPrincipal,
    errors_after: Annotated[int, Query(ge=0, le=INT4_MAX, description="只返回该序号之后的错误（分页）")] = 0,
    errors_limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> dict[str, Any]:
    return await jobs.get(job_id, principal, errors_after=errors_after, errors_limit=errors_limit)


# ---- lists out --------------------------------------------------------------------------------------------------
@router.get("/exports/items.xlsx", summary="按筛选条件导出事项清单（xlsx，与导入模板同列）",
            response_class=FileResponse,
            responses={200: {"content": {XLSX_MEDIA: {}}}})
async def export_xlsx(svc: RegistryDep, principal: CurrentPrincipal, filters: Filter) -> FileResponse:
    return _download(await exports.export_xlsx(svc, principal, filters), "事项清单.xlsx", XLSX_MEDIA)


@router.get("/exports/items.csv", summary="按筛选条件导出事项清单（csv，与导入模板同列）", response_class=FileResponse,
            responses={200: {"content": {"text/csv": {}}}})
async def export_csv(
    svc: RegistryDep, principal: CurrentPrincipal, filters: Filter,
    encoding: Annotated[Literal["utf-8", "gb18030"], Query(description="utf-8（带 BOM，Excel 可直接打开）或 gb18030")]
    = "utf-8",
) -> FileResponse:
    path = await exports.export_csv(svc, principal, filters,
                                    encoding="utf-8-sig" if encoding == "utf-8" else "gb18030")
    return _download(path, "事项清单.csv", f"text/csv; charset={encoding}")


def _download(path: Path, filename: str, media_type: str) -> FileResponse:
    return FileResponse(path, media_type=media_type, filename=filename,
                        background=BackgroundTask(remove_quietly, path))
