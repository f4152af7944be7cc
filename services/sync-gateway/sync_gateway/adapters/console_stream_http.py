"""The console's operations-log routes: the live stream (SSE), pages of the log and events per minute."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from shared import jsoncodec
from shared.http import INT8_MAX, CurrentPrincipal, ServiceRoute, error_responses

from sync_gateway.domain.operations import EventFilter, split_types
from sync_gateway.errors import ERRORS
from sync_gateway.service_layer.console_stream import Batch, ConsoleEvents

router = APIRouter(prefix="/sync/v1", tags=["console 运维控制台"], responses=error_responses(ERRORS),
                   route_class=ServiceRoute)


async def get_console_events(request: Request) -> ConsoleEvents:
    events: ConsoleEvents = request.app.state.console_events
    return events


ConsoleEventsDep = Annotated[ConsoleEvents, Depends(get_console_events)]

_SERVICE_LIST = r"^(registry|coding|lifecycle|sync)(,(registry|coding|lifecycle|sync))*$"
_TYPE_LIST = r"^[a-z0-9_.]+\*?(,[a-z0-9_.]+\*?)*$"
_REGION = r"^\d{2}(\d{2}(\d{2})?)?$"

ServiceParam = Annotated[str | None, Query(pattern=_SERVICE_LIST, max_length=200,
                                           description="服务（逗号分隔）：registry 事项登记、coding 事项编码、"
                                                       "lifecycle 生命周期、sync 国家平台同步")]
TypeParam = Annotated[str | None, Query(pattern=_TYPE_LIST, max_length=2000,
                                        description="事件类型（逗号分隔），或以 * 结尾的前缀，如 lifecycle.item.*")]
RegionParam = Annotated[str | None, Query(pattern=_REGION,
                                          description="区划代码前缀（2、4 或 6 位），须在本人管辖区划内")]
PoliceTypeParam = Annotated[str | None, Query(pattern=r"^\d{2}$", description="业务警种编码")]
QParam = Annotated[str | None, Query(min_length=1, max_length=200, description="事项编码前缀或事项名称中的文字")]


def _filter(service: str | None, type: str | None, police_type: str | None, q: str | None,
            item_id: str | None = None) -> EventFilter:
    types, prefixes = split_types(tuple(type.split(","))) if type else ((), ())
    return EventFilter(services=tuple(service.split(",")) if service else (), types=types, type_prefixes=prefixes,
                       police_type=police_type, q=q.strip() or None if q else None, item_id=item_id)


@router.get(
    "/stream",
    summary="实时事件流（SSE）：各服务的每个事件，按批推送",
    description=(
        "text/event-stream。每条消息是一批事件：`id:` 为本批最后一个事件的位置，`event: events`，"
        "`data:` 为 OpsEvent 数组（每批最多 500 条）；无事件时每 15 秒发送一次 `: keepalive` 注释。"
        "从请求头 Last-Event-ID（或参数 after）之后继续；都没有时从当前末尾开始，只推送新事件；after=0 从头重放。"
        "事件记入运维事件日志后 1 秒内推送。筛选（均可选，同时满足）：service、type（可用 * 结尾的前缀）、"
        "region（区划前缀，须在本人管辖区划内）、police_type、q（事项编码前缀或名称中的文字）。"
        "只对运维、管理员角色开放；非全国范围的调用人只收到区划已知且在其管辖区划内的事项的事件。"
        "浏览器请用 fetch() 读取（EventSource 无法携带 Authorization），重连时自行发送 Last-Event-ID。"
    ),
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                     "description": "SSE：event: events，data 为 OpsEvent 数组"}},
)
async def stream(
    console: ConsoleEventsDep, principal: CurrentPrincipal,
    service: ServiceParam = None, type: TypeParam = None, region: RegionParam = None,
    police_type: PoliceTypeParam = None, q: QParam = None,
    after: Annotated[int | None, Query(ge=0, le=INT8_MAX, description="从该位置之后开始（0：从头）")] = None,
    last_event_id: Annotated[int | None, Header(ge=0, le=INT8_MAX, alias="Last-Event-ID",
                                                description="上次收到的最后一批的 id")] = None,
) -> StreamingResponse:
    f = console.scoped(principal, _filter(service, type, police_type, q), region)
    position = await console.start_position(last_event_id if last_event_id is not None else after)
    return StreamingResponse(_sse(console.stream(f, position), position), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _sse(batches: AsyncIterator[Batch], position: int) -> AsyncIterator[str]:
    # The first line tells a client where it stands before any event arrives (it may resume from there).
    yield f"retry: 1000\nid: {position}\n: ready\n\n"
    async for batch in batches:
        if batch.events is None:
            yield ": keepalive\n\n"
        else:
            yield f"id: {batch.position}\nevent: events\ndata: {jsoncodec.dumps(batch.events)}\n\n"


@router.get(
    "/console/events",
    summary="运维事件日志（分页）：各服务的事件，可按事项、服务、类型、区划、警种筛选",
    description=(
        "返回 {events: [OpsEvent], next}；order=desc（默认，最新在前）时用 before=next 翻页，"
        "order=asc 时用 after=next；next 为 null 表示没有更多。事项详情页的时间线为 item_id=…&order=asc。"
        "区划范围与实时事件流相同。"
    ),
)
async def console_events(
    console: ConsoleEventsDep, principal: CurrentPrincipal,
    service: ServiceParam = None, type: TypeParam = None, region: RegionParam = None,
    police_type: PoliceTypeParam = None, q: QParam = None,
    item_id: Annotated[str | None, Query(min_length=1, max_length=200, description="事项 ID")] = None,
    after: Annotated[int | None, Query(ge=0, le=INT8_MAX, description="只列该位置之后的事件")] = None,
    before: Annotated[int | None, Query(ge=0, le=INT8_MAX, description="只列该位置之前的事件")] = None,
    order: Annotated[Literal["desc", "asc"], Query(description="desc 最新在前 / asc 最早在前")] = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, object]:
    return await console.page(principal, _filter(service, type, police_type, q, item_id), region, after=after,
                              before=before, descending=order == "desc", limit=limit)


@router.get(
    "/console/activity",
    summary="各服务每分钟事件数（按发生时间），最近若干分钟",
    description="返回 {minutes: [每分钟起点], series: {registry, coding, lifecycle, sync: [事件数…]}}，"
                "最后一项为当前分钟；只统计本人管辖区划内事项的事件。",
)
async def console_activity(
    console: ConsoleEventsDep, principal: CurrentPrincipal,
    minutes: Annotated[int, Query(ge=1, le=1440, description="分钟数（1–1440）")] = 60,
) -> dict[str, object]:
    return await console.activity(principal, minutes)
