"""Lifecycle HTTP routes (thin: parse → one handler call → render)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shared.http import ERROR_RESPONSES, CorrelationId, CurrentPrincipal

from lifecycle.app import LifecycleService, state_view
from lifecycle.domain import Command, ItemCommand, UnpublishKind

router = APIRouter(prefix="/lifecycle/v1", tags=["lifecycle 事项生命周期"], responses=ERROR_RESPONSES)


def service(request: Request) -> LifecycleService:
    return request.app.state.lifecycle


Service = Annotated[LifecycleService, Depends(service)]


class CommandBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, max_length=2000, description="原因：reject、unpublish、cancel 必填")
    result: Literal["pass", "fail"] | None = Field(None, description="record-test 的测试结果：pass 通过 / fail 未通过")
    notes: str | None = Field(None, max_length=4000, description="record-test 的测试说明")
    kind: UnpublishKind = Field(UnpublishKind.suspension, description="unpublish：suspension 暂停 / maintenance 维护")
    expected_version: int | None = Field(None, ge=0, description="乐观并发：事项当前版本，不一致时返回 409")


@router.post(
    "/items/{item_id}/commands/{command}",
    summary="对事项执行生命周期命令（提交、审核、测试、注册、上线、下线、注销）",
    description=(
        "command ∈ submit, approve, reject, record-test, register, publish, unpublish, resume, cancel。"
        "非法命令返回 409 ILLEGAL_TRANSITION，details 含当前状态与允许的命令；审核人不能审核自己的事项（403）。"
        "register 请求赋码，编码由编码服务异步分配，分配后 GET 可见 code，step 变为 registered。"
    ),
)
async def run_command(
    item_id: str, command: Annotated[Command, Path(description="生命周期命令")], svc: Service,
    principal: CurrentPrincipal, correlation_id: CorrelationId, body: CommandBody | None = None,
) -> dict[str, Any]:
    body = body or CommandBody()
    cmd = ItemCommand(command=command, reason=body.reason, test_result=body.result, notes=body.notes,
                      unpublish_kind=body.kind)
    state = await svc.execute(item_id, cmd, principal, expected_version=body.expected_version,
                              correlation_id=correlation_id)
    return state_view(state)


@router.get("/items/{item_id}", summary="事项当前状态（由事件日志重建）；as_of 重建过去某一时刻的状态")
async def get_item(
    item_id: str, svc: Service, principal: CurrentPrincipal,
    as_of: Annotated[datetime | None, Query(description="ISO 8601 时间，返回该时刻的状态")] = None,
) -> dict[str, Any]:
    return state_view(await svc.get(item_id, principal, as_of=as_of))


@router.get("/items/{item_id}/events", summary="事项的事件历史（含操作人、时间、原因）")
async def get_events(item_id: str, svc: Service, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    return [
        {"position": e.position, "version": e.version, "event_id": str(e.event_id), "type": e.type,
         "actor": e.actor, "recorded_at": e.recorded_at.isoformat(), "correlation_id": e.correlation_id,
         "causation_id": e.causation_id, "data": e.data}
        for e in await svc.events(item_id, principal)
    ]


@router.get("/items", summary="按阶段、区划、警种、事项类型列出事项（投影）")
async def list_items(
    svc: Service, principal: CurrentPrincipal,
    phase: Annotated[str | None, Query(description="forming/preparing/online/offline/cancelled")] = None,
    region: Annotated[str | None, Query(description="区划代码前缀")] = None,
    police_type: str | None = None, item_type: str | None = None,
    cursor: Annotated[str | None, Query(description="上一页最后一个 item_id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    rows = await svc.list(principal, phase=phase, region=region, police_type=police_type, item_type=item_type,
                          after=cursor, limit=limit)
    for row in rows:
        row["updated_at"] = row["updated_at"].isoformat()
    return {"items": rows, "next_cursor": rows[-1]["item_id"] if len(rows) == limit else None}
