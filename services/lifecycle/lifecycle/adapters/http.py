"""Lifecycle HTTP routes (thin: parse → one service-layer call → render)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from shared import jsoncodec
from shared.http import INT4_MAX, CorrelationId, CurrentPrincipal, ServiceRoute, UtcDatetime, error_responses

from lifecycle.adapters.queries import ListFilter
from lifecycle.adapters.views import chain_view, event_view, state_view
from lifecycle.domain.adjustments import Adjustment, AdjustmentKind
from lifecycle.domain.decide import ItemCommand
from lifecycle.domain.model import ItemState
from lifecycle.domain.vocabulary import (
    PHASE_LABELS,
    STEP_LABELS,
    Command,
    Phase,
    SyncResult,
    UnpublishKind,
    phase_named,
)
from lifecycle.errors import ERRORS
from lifecycle.service_layer.adjustments import Adjustments
from lifecycle.service_layer.batches import BatchCommands, BatchReport
from lifecycle.service_layer.items import LifecycleService

router = APIRouter(prefix="/lifecycle/v1", tags=["lifecycle 事项生命周期"], responses=error_responses(ERRORS),
                   route_class=ServiceRoute)

MAX_BATCH_ITEMS = 10_000
PHASE_QUERY_DOC = "生命周期阶段，英文值或中文名均可：" + "、".join(
    f"{phase.value} / {PHASE_LABELS[phase]}" for phase in Phase) + "；其他值返回 422 UNKNOWN_PHASE"


# Dependencies are ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop per
# request that cost the command path about a millisecond of CPU under load.
async def get_lifecycle(request: Request) -> LifecycleService:
    service: LifecycleService = request.app.state.lifecycle
    return service


async def get_batches(request: Request) -> BatchCommands:
    batches: BatchCommands = request.app.state.batches
    return batches


async def get_adjustments(request: Request) -> Adjustments:
    adjustments: Adjustments = request.app.state.adjustments
    return adjustments


LifecycleDep = Annotated[LifecycleService, Depends(get_lifecycle)]
BatchesDep = Annotated[BatchCommands, Depends(get_batches)]
AdjustmentsDep = Annotated[Adjustments, Depends(get_adjustments)]


class CommandOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, max_length=2000, description="原因：reject、unpublish、cancel 必填")
    result: Literal["pass", "fail"] | None = Field(None, description="record-test 的测试结果：pass 通过 / fail 未通过")
    notes: str | None = Field(None, max_length=4000, description="record-test 的测试说明")
    kind: UnpublishKind = Field(UnpublishKind.suspension, description="unpublish：suspension 暂停 / maintenance 维护")

    def command(self, command: Command) -> ItemCommand:
        return ItemCommand(command=command, reason=self.reason, test_result=self.result, notes=self.notes,
                           unpublish_kind=self.kind)


class CommandBody(CommandOptions):
    expected_version: int | None = Field(None, ge=0, le=INT4_MAX,
                                         description="乐观并发：事项当前版本，不一致时返回 409")


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: Command = Field(description="对每个事项执行的命令")
    item_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=MAX_BATCH_ITEMS, description="事项 ID 列表（重复的只执行一次）")
    body: CommandOptions = Field(default_factory=CommandOptions, description="命令参数，对每个事项相同")


class AdjustmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: AdjustmentKind = Field(description="split 主子项拆分（1 个原事项 → 多个新事项）/ merge 合并（多个 → 1 个）")
    predecessors: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=100, description="原事项 ID：调整后注销")
    successors: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=100, description="新事项 ID：须已在事项登记服务录入")
    reason: str = Field(min_length=1, max_length=2000, description="调整原因")


@router.post(
    "/items/{item_id}/commands/{command}",
    summary="对事项执行生命周期命令（提交、审核、测试、注册、上线、下线、注销）",
    description=(
        "command ∈ submit, approve, reject, record-test, register, publish, unpublish, resume, cancel。"
        "在线期的 submit / approve / reject / publish 作用于待更新版本（先审后用）。"
        "非法命令返回 409 ILLEGAL_TRANSITION，details 含当前状态与允许的命令；"
        "审核人不能审核自己录入或提交的版本（403）。"
        "register 请求赋码，编码由编码服务异步分配，分配后 GET 可见 code，step 变为 registered。"
    ),
)
async def run_command(
    item_id: str, command: Annotated[Command, Path(description="生命周期命令")], svc: LifecycleDep,
    principal: CurrentPrincipal, correlation_id: CorrelationId, body: CommandBody | None = None,
) -> JSONResponse:
    body = body or CommandBody()
    state = await svc.execute(item_id, body.command(command), principal, expected_version=body.expected_version,
                              correlation_id=correlation_id)
    return _state_response(state, svc)


class _StateResponse(JSONResponse):
    """The same compact JSON as JSONResponse, encoded by orjson (``shared.jsoncodec``): several times faster for a
    state with its element sets, on the service's hottest path."""

    def render(self, content: Any) -> bytes:
        return jsoncodec.dumps(content).encode()


def _state_response(state: ItemState, svc: LifecycleService) -> JSONResponse:
    # The view is JSON already: answering with it directly spares FastAPI's recursive re-encoding of every element
    # (the hottest path of the service).
    return _StateResponse(state_view(state, svc.plan(state)))


@router.post(
    "/batches",
    summary="批量执行同一生命周期命令（如批量审核通过导入的事项），逐项报告结果",
    description=(
        "每个事项单独加载、校验（角色、区划、状态、审核回避）并写入自己的事件；一个事项失败不影响其他事项。"
        "results 与 item_ids 顺序一致：成功为 ok=true 及新状态，失败为 ok=false 及 HTTP 状态、错误代码与中文说明。"
    ),
)
async def run_batch(body: BatchBody, request: Request, batches: BatchesDep, principal: CurrentPrincipal,
                    correlation_id: CorrelationId) -> dict[str, Any]:
    report = await batches.execute(body.body.command(body.command), body.item_ids, principal,
                                   correlation_id=correlation_id)
    return _batch_view(report, request)


def _batch_view(report: BatchReport, request: Request) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for outcome in report.outcomes:
        if outcome.error is not None:
            status, error = request.app.state.errors.render(outcome.error)
            results.append({"item_id": outcome.item_id, "ok": False, "status": status, **error})
            continue
        state = outcome.state
        assert state is not None and state.phase is not None
        results.append({"item_id": outcome.item_id, "ok": True, "version": state.version, "phase": state.phase.value,
                        "phase_label": PHASE_LABELS[state.phase], "step": state.step.value,
                        "step_label": STEP_LABELS[state.step]})
    return {"command": report.command, "total": len(report.outcomes), "succeeded": report.succeeded,
            "failed": len(report.outcomes) - report.succeeded, "results": results}


@router.post(
    "/adjustments",
    status_code=201,
    summary="事项调整：主子项拆分或合并（原事项注销，新事项记录来源，双方可见）",
    description=(
        "新事项须已在事项登记服务录入。所有相关事项的事件一次写入：要么全部记录，要么全不记录。"
        "其他调整：新增 = 登记服务录入新事项；变更 = 登记服务修订（在线期为先审后用的更新）；"
        "暂停 = unpublish；取消 = cancel。"
    ),
)
async def adjust(body: AdjustmentBody, adjustments: AdjustmentsDep, principal: CurrentPrincipal,
                 correlation_id: CorrelationId) -> JSONResponse:
    adjustment = Adjustment(adjustment_id=str(uuid.uuid4()), kind=body.kind, predecessors=tuple(body.predecessors),
                            successors=tuple(body.successors), reason=body.reason)
    states = await adjustments.adjust(adjustment, principal, correlation_id=correlation_id)
    return JSONResponse({"adjustment_id": adjustment.adjustment_id, "kind": adjustment.kind.value,
                         "items": {item_id: state_view(s) for item_id, s in states.items()}}, status_code=201)


# Who reads: the staff (service_layer/roles.py READ_ROLES), within their regions. A state holds drafts and pending
# revisions, a history every internal step: the national platform reads published content through the sync gateway.
READ_RIGHTS = ("内部角色（录入、审核、测试、发布、管理、运维）可读，限本人管辖区划，区划外的事项返回 404；"
               "国家平台（national）返回 403 ROLE_FORBIDDEN：它通过同步源（/sync/v1）读取已发布的内容。")


@router.get("/items/{item_id}", summary="事项当前状态（由事件日志重建）；as_of 重建过去某一时刻的状态",
            description=READ_RIGHTS)
async def get_item(
    item_id: str, svc: LifecycleDep, principal: CurrentPrincipal,
    as_of: Annotated[UtcDatetime | None, Query(description="ISO 8601 时间，返回该时刻的状态")] = None,
) -> JSONResponse:
    return _state_response(await svc.get(item_id, principal, as_of=as_of), svc)


@router.get("/items/{item_id}/events", summary="事项的事件历史（含操作人、时间、原因、哈希）",
            description=READ_RIGHTS)
async def get_events(
    item_id: str, svc: LifecycleDep, principal: CurrentPrincipal,
    after_version: Annotated[int, Query(ge=0, le=INT4_MAX, description="只返回此版本之后的事件")] = 0,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> list[dict[str, Any]]:
    return [event_view(e) for e in await svc.events(item_id, principal, after_version=after_version, limit=limit)]


@router.get(
    "/items/{item_id}/verify",
    summary="校验事项事件日志的哈希链（篡改或删除任何事件都会被发现）",
    description=("逐条重算哈希链；另将链头版本与读模型记录的版本比较，以发现被删除的最后一条事件。"
                 "verified=false 时给出第一处断点与原因。" + READ_RIGHTS),
)
async def verify_item(item_id: str, svc: LifecycleDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return chain_view(await svc.verify(item_id, principal))


REGION_PREFIX = r"^\d{2}(\d{2}){0,2}$"  # a GB/T 2260 prefix: 44, 4401, 440115


@router.get(
    "/stats",
    summary="事项统计：各阶段、下一级区划（含各阶段）、各业务警种的事项数",
    description=(
        "只统计调用人管辖区划内的事项（与事项列表 GET /items 相同的范围），region 再限定区划前缀。"
        "total：事项总数；phases：五个阶段按生命周期顺序（形成期、上线准备期、在线期、离线期、注销期），每个都列出，"
        "没有事项时为 0；regions：region 的下一级区划（不给 region 时为省级 2 位代码，给省级时为地市 4 位，"
        "给地市时为区县 6 位，给区县时为其本身），code 为该级代码前缀，name 为 GB/T 2260 名称"
        "（省本级事项计入代码以 00 结尾的那一项，如 4400 广东省），count 与各阶段 phases；"
        "police_types：有事项的业务警种及其名称。" + READ_RIGHTS),
)
async def stats(
    svc: LifecycleDep, principal: CurrentPrincipal,
    region: Annotated[str | None, Query(pattern=REGION_PREFIX, description="区划代码前缀：44、4401、440115")] = None,
) -> dict[str, Any]:
    return await svc.statistics(principal, region=region)


@router.get("/items", summary="按阶段、区划、警种、事项类型、编码或名称搜索（q）列出事项（投影，游标分页）",
            description="只列调用人管辖区划内的事项。" + READ_RIGHTS)
async def list_items(
    svc: LifecycleDep, principal: CurrentPrincipal,
    phase: Annotated[str | None, Query(description=PHASE_QUERY_DOC)] = None,
    step: Annotated[str | None, Query(description="子状态，如 in_review、update_in_review")] = None,
    region: Annotated[str | None, Query(description="区划代码前缀")] = None,
    police_type: Annotated[str | None, Query(description="业务警种编码")] = None,
    item_type: Annotated[str | None, Query(description="事项类型编码")] = None,
    service_category: Annotated[str | None, Query(description="服务类别编码")] = None,
    code: Annotated[str | None, Query(description="事项编码（前缀）")] = None,
    name: Annotated[str | None, Query(description="事项名称包含")] = None,
    pending_update: Annotated[bool | None, Query(description="true：只列有待更新版本的事项")] = None,
    national: Annotated[SyncResult | None, Query(description=(
        "国家平台同步结果：rejected 只列被国家平台退回、尚待修正的事项（其最新答复为退回，且此后未发布新内容；"
        "修正版本经审核发布或国家平台确认接收后不再列出）/ acknowledged 最新答复为已接收"))] = None,
    q: Annotated[str | None, Query(max_length=100, description=(
        "搜索：事项名称或简称包含的文字（如 护照），或事项编码（前缀，可带连字符，如 01-440115）"))] = None,
    cursor: Annotated[str | None, Query(description="上一页最后一个 item_id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    filters = ListFilter(phase=phase_named(phase).value if phase else None, step=step, region=region,
                         police_type=police_type, item_type=item_type, service_category=service_category, code=code,
                         name=name, pending_update=pending_update, q=q,
                         national=national.value if national else None)
    rows = await svc.list(principal, filters, after=cursor, limit=limit)
    for row in rows:
        row["updated_at"] = row["updated_at"].isoformat()
    return {"items": rows, "next_cursor": rows[-1]["item_id"] if len(rows) == limit else None}
