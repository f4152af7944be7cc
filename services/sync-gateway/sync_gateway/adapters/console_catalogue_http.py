"""The operators' console's catalogue routes (thin: the caller → one use case of
``service_layer/console_catalogue.py``): overview, catalogue quality, item search and the item page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from shared.http import CorrelationId, CurrentPrincipal, ServiceRoute, UtcDatetime, error_responses

from sync_gateway.errors import ERRORS
from sync_gateway.service_layer.console_catalogue import Caller, ConsoleCatalogue

router = APIRouter(prefix="/sync/v1/console", tags=["console 运维控制台"], route_class=ServiceRoute,
                   responses=error_responses(ERRORS, statuses=(401, 403, 404, 409, 422, 503)))

REGION_PREFIX = r"^\d{2}(\d{2}){0,2}$"  # a GB/T 2260 prefix: 44, 4401, 440115
ACCESS = ("运维、管理员可用（其他角色 403 CONSOLE_ROLE_REQUIRED），只含调用人管辖区划内的事项；"
          "数据由各服务的接口以调用人自己的令牌读取，各服务的拒绝原样转达（如 404、503 SERVICE_UNAVAILABLE）。")


async def get_catalogue(request: Request) -> ConsoleCatalogue:
    catalogue: ConsoleCatalogue = request.app.state.console_catalogue
    return catalogue


async def get_caller(request: Request, principal: CurrentPrincipal, correlation_id: CorrelationId) -> Caller:
    # The principal's dependency has accepted the header already: it is there, a bearer token.
    return Caller(principal, request.headers.get("authorization", ""), correlation_id)


CatalogueDep = Annotated[ConsoleCatalogue, Depends(get_catalogue)]
CallerDep = Annotated[Caller, Depends(get_caller)]
Region = Annotated[str | None, Query(pattern=REGION_PREFIX, description="区划代码前缀：44、4401、440115")]


@router.get(
    "/overview", summary="总览：各阶段、下一级区划、各警种的事项数，及正在运行的导入",
    description=("与生命周期服务 GET /lifecycle/v1/stats 对同一调用人的数字相同"
                 "（region 为空时按省，省下按地市，地市下按区县）；imports_running 为事项登记服务中调用人管辖区划内"
                 "正在运行的导入任务（GET /registry/v1/imports?status=running）。"
                 + ACCESS))
async def overview(catalogue: CatalogueDep, caller: CallerDep, region: Region = None) -> dict[str, Any]:
    return await catalogue.overview(caller, region=region)


@router.get(
    "/quality", summary="事项质量：完备度、覆盖度（事项登记服务 /quality）与准确度（一致性报告 /consistency）",
    description=("completeness、coverage 见 GET /registry/v1/quality 的说明（各数字的确切含义），"
                 "consistency 即 GET /registry/v1/consistency。" + ACCESS))
async def quality(
    catalogue: CatalogueDep, caller: CallerDep, region: Region = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="每个数字背后列出的事项数上限")] = 20,
) -> dict[str, Any]:
    return await catalogue.quality(caller, region=region, limit=limit)


@router.get(
    "/items", summary="查找事项：事项编码（全部或前缀）、国家基本编码 / 实施编码、名称（包含）或事项 ID",
    description="最多 50 个结果。" + ACCESS)
async def search_items(
    catalogue: CatalogueDep, caller: CallerDep,
    q: Annotated[str, Query(min_length=1, max_length=100, description="事项编码、国家编码、名称中的文字或事项 ID")],
) -> dict[str, Any]:
    return await catalogue.search(caller, q)


@router.get(
    "/items/{item_id}",
    summary="事项详情：某一时刻的状态、各版本逐字段变化、编码历史与沿革、同步条目与国家平台反馈、哈希链校验",
    description=("state 为生命周期服务的事项状态（as_of 给出时为该时刻的状态）；revisions 为事项登记服务的各版本，"
                 "changes 为与上一版本相比逐字段的变化（第 1 版为录入，无变化；只比较最近 50 个版本）；"
                 "codes 为编码服务的编码历史与拆分合并沿革（未赋码且无沿革时为 null）；"
                 "feed 为本服务同步源中该事项的条目；"
                 "national_feedback 为国家平台的反馈；verification 为持有该事项事件流的服务对其哈希链的校验结果。"
                 "事项不存在或不在调用人管辖区划内时 404。" + ACCESS))
async def item_page(
    item_id: str, catalogue: CatalogueDep, caller: CallerDep,
    as_of: Annotated[UtcDatetime | None, Query(description="ISO 8601 时间：该时刻的状态")] = None,
) -> dict[str, Any]:
    return await catalogue.item(caller, item_id, as_of=as_of)
