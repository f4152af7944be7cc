"""The console's pipeline-health and dead-letter routes (``/sync/v1/console/pipeline``, ``…/dead-letters``): thin,
each one call of ``service_layer.console_pipeline``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, Field

from shared.http import CorrelationId, CurrentPrincipal, ServiceRoute, error_responses

from sync_gateway.errors import ERRORS
from sync_gateway.service_layer.console_pipeline import ConsolePipeline

router = APIRouter(prefix="/sync/v1/console", tags=["console 运维控制台"], route_class=ServiceRoute,
                   responses=error_responses(ERRORS, statuses=(401, 403, 404, 409, 422)))

Service = Literal["registry", "coding", "lifecycle", "sync"]
DeadLetterId = Annotated[int, Path(ge=1, le=2**62, description="死信编号（所属服务内）")]


class ActionRequest(BaseModel):
    reason: str = Field(..., max_length=2000, description="原因（必填，不能为空白；记录在所属服务中）")


def _console(request: Request) -> ConsolePipeline:
    console: ConsolePipeline = request.app.state.console_pipeline
    return console


def _authorization(request: Request) -> str:
    return request.headers.get("authorization", "")


@router.get("/pipeline",
            summary="链路健康：各服务的存储头与 relay 位置、各消费组各分区的积压（读自 Kafka）、停滞的消息、"
                    "国家平台的确认进度与退回事项、死信数",
            description="积压 = 高水位 − 已提交位移（读自 Kafka）。分区状态：idle 无积压；moving 有积压且"
                        "已提交位移自上次采样以来前进；lagging 有积压、未前进、未超过阈值；stuck 服务报告该分区停在"
                        "某条消息上超过阈值（stuck_on 给出 offset、事件、错误、已等待秒数），或有积压且位移超过阈值"
                        "未前进。无法访问的服务显示 reachable=false 与原因，本页仍然回答 200。")
async def pipeline(request: Request, principal: CurrentPrincipal, correlation: CorrelationId) -> dict[str, Any]:
    return await _console(request).pipeline(principal, authorization=_authorization(request),
                                            correlation_id=correlation)


@router.get("/dead-letters", summary="死信：各服务合并列出，附每个服务的计数")
async def list_dead_letters(
    request: Request, principal: CurrentPrincipal, correlation: CorrelationId,
    service: Annotated[Service | None, Query(description="只看此服务")] = None,
    status: Annotated[Literal["waiting", "replayed", "discarded"] | None,
                      Query(description="waiting 待处理 / replayed 已重放 / discarded 已丢弃")] = "waiting",
    kind: Annotated[Literal["malformed", "wrong_source", "contract", "refused", "exhausted"] | None,
                    Query(description="原因类别")] = None,
    after_id: Annotated[int, Query(ge=0, le=2**62, description="从此编号之后开始（分页，配合 service 使用）")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    return await _console(request).dead_letters(
        principal, service=service, params={"status": status, "kind": kind, "after_id": after_id, "limit": limit},
        authorization=_authorization(request), correlation_id=correlation)


@router.get("/dead-letters/{service}/{dead_letter_id}",
            summary="一条死信：消息头、内容、原因、尝试次数、消费者、主题/分区/位移、状态，以及处理记录（actions）")
async def show_dead_letter(request: Request, principal: CurrentPrincipal, correlation: CorrelationId,
                           service: Service, dead_letter_id: DeadLetterId) -> dict[str, Any]:
    return await _console(request).dead_letter(principal, service, dead_letter_id,
                                               authorization=_authorization(request), correlation_id=correlation)


@router.post("/dead-letters/{service}/{dead_letter_id}/replay",
             summary="重放死信（仅管理员，须写明原因；操作人、原因、时间与结果记录在所属服务中）")
async def replay(request: Request, principal: CurrentPrincipal, correlation: CorrelationId, service: Service,
                 dead_letter_id: DeadLetterId, body: Annotated[ActionRequest, Body()]) -> dict[str, Any]:
    return await _console(request).act(principal, service, dead_letter_id, "replay", body.reason,
                                       authorization=_authorization(request), correlation_id=correlation)


@router.post("/dead-letters/{service}/{dead_letter_id}/discard",
             summary="丢弃死信（仅管理员，须写明原因；操作人、原因、时间与结果记录在所属服务中）")
async def discard(request: Request, principal: CurrentPrincipal, correlation: CorrelationId, service: Service,
                  dead_letter_id: DeadLetterId, body: Annotated[ActionRequest, Body()]) -> dict[str, Any]:
    return await _console(request).act(principal, service, dead_letter_id, "discard", body.reason,
                                       authorization=_authorization(request), correlation_id=correlation)
