"""Routes of the catalogue (事项目录: ``/sync/v1/catalog``, its csv and xlsx exports) and of the public guide
(办事指南: ``/sync/v1/public/items/{code}`` and its printable page), thin: parse → one service-layer call → shape."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from shared import jsoncodec
from shared.contracts.catalogue import CataloguePage
from shared.contracts.catalogue import PublicGuide as PublicGuideSchema
from shared.http import CurrentPrincipal, ServiceRoute, error_responses
from shared.spreadsheets import XlsxWriter, csv_text

from sync_gateway.adapters.guide_page import render_guide_page
from sync_gateway.adapters.http import EPOCH_HEADER, EpochQuery
from sync_gateway.domain.catalogue import (
    EXPORT_HEADER,
    EXPORT_SHEET,
    EXPORT_WIDTHS,
    CatalogueQuery,
    State,
    export_row,
)
from sync_gateway.errors import ERRORS
from sync_gateway.service_layer.catalogue import NationalCatalogue, PublicGuide

router = APIRouter(prefix="/sync/v1", tags=["sync 国家平台同步"], responses=error_responses(ERRORS),
                   route_class=ServiceRoute)
public_router = APIRouter(prefix="/sync/v1/public", tags=["sync 公开办事指南"], route_class=ServiceRoute,
                          responses=error_responses(ERRORS, statuses=(404, 429)))

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def get_catalogue(request: Request) -> NationalCatalogue:
    catalogue: NationalCatalogue = request.app.state.national_catalogue
    return catalogue


async def get_public_guide(request: Request) -> PublicGuide:
    guide: PublicGuide = request.app.state.public_guide
    return guide


CatalogueDep = Annotated[NationalCatalogue, Depends(get_catalogue)]
PublicGuideDep = Annotated[PublicGuide, Depends(get_public_guide)]


async def catalogue_query(
    # None (not given) is online only: a list default would be one list shared by every call.
    state: Annotated[list[State] | None, Query(description="事项状态，可多选：online 在线期（默认）/ offline 离线期 / "
                                                           "cancelled 注销期")] = None,
    code: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z]{1,36}$", description="事项编码（前缀）")] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{1,6}$", description=(
        "区划代码前缀（只在本人管辖区划内取交集；管辖区划外的前缀得到空目录）"))] = None,
    police_type: Annotated[str | None, Query(max_length=20, description="业务警种编码")] = None,
    item_type: Annotated[str | None, Query(max_length=20, description="事项类型编码")] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=200, description="事项名称（包含该文字）")] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="分页游标：上一页的 next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="每页条数")] = 100,
) -> CatalogueQuery:
    return CatalogueQuery(states=tuple(dict.fromkeys(state or ["online"])), code=code, region=region,
                          police_type=police_type, item_type=item_type, name=name, after=cursor, limit=limit)


CatalogueQueryDep = Annotated[CatalogueQuery, Depends(catalogue_query)]

_CATALOGUE_RULES = ("只含已发布的内容（同步源发布过的事项的最新状态）。区划规则同同步源：令牌 regions 为 *（全国）时"
                    "列出全部事项，其他调用人只列其管辖区划内的事项。")


@router.get(
    "/catalog", summary="事项目录：已发布事项的编码、状态、区划、警种，可筛选、分页",
    description="默认只列在线期事项，state= 可选离线期、注销期（可多选）。筛选：code 编码前缀、region 区划前缀、"
                "police_type 警种、item_type 事项类型、name 名称包含。按事项 ID 排序；next_cursor 不为 null 时以 "
                "cursor=<next_cursor> 读下一页。" + _CATALOGUE_RULES + "响应头 X-Feed-Epoch 为同步源纪元；带 epoch= "
                "且纪元已变时返回 410 FEED_EPOCH_CHANGED。",
    responses=error_responses(ERRORS, statuses=(410,)), response_model=CataloguePage,
)
async def get_catalog(catalogue: CatalogueDep, principal: CurrentPrincipal, query: CatalogueQueryDep,
                      response: Response, epoch: EpochQuery = None) -> dict[str, Any]:
    items, next_cursor, current = await catalogue.page(principal, query, epoch=epoch)
    response.headers[EPOCH_HEADER] = current
    return {"items": items, "next_cursor": next_cursor, "epoch": current}


@router.get("/catalog.csv", summary="导出事项目录（csv，UTF-8 带 BOM）",
            description="筛选同 /sync/v1/catalog（不分页：从 cursor 起的全部事项，边读边发送）。" + _CATALOGUE_RULES,
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "csv 文件"}})
async def export_csv(catalogue: CatalogueDep, principal: CurrentPrincipal, query: CatalogueQueryDep) -> Response:
    pages = await catalogue.export(principal, query)

    async def body() -> AsyncIterator[bytes]:
        yield ("\ufeff" + csv_text([], header=EXPORT_HEADER)).encode()
        async for page in pages:
            yield csv_text(export_row(item) for item in page).encode()

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": _attachment("csv")})


@router.get("/catalog.xlsx", summary="导出事项目录（xlsx）",
            description="筛选同 /sync/v1/catalog（不分页：从 cursor 起的全部事项）。逐行写入临时文件后发送，内存占用与"
                        "行数无关。" + _CATALOGUE_RULES,
            response_class=FileResponse,
            responses={200: {"content": {XLSX_TYPE: {}}, "description": "xlsx 文件"}})
async def export_xlsx(catalogue: CatalogueDep, principal: CurrentPrincipal, query: CatalogueQueryDep) -> Response:
    pages = await catalogue.export(principal, query)
    writer = await asyncio.to_thread(XlsxWriter, EXPORT_SHEET, EXPORT_HEADER, widths=EXPORT_WIDTHS)
    async for page in pages:
        await asyncio.to_thread(writer.append, [export_row(item) for item in page])
    with tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False) as handle:
        path = Path(handle.name)
    try:
        await asyncio.to_thread(writer.save, path)
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return FileResponse(path, media_type=XLSX_TYPE, headers={"Content-Disposition": _attachment("xlsx")},
                        background=BackgroundTask(path.unlink, missing_ok=True))


def _attachment(extension: str) -> str:
    chinese = "%E4%BA%8B%E9%A1%B9%E7%9B%AE%E5%BD%95"  # 事项目录, percent-encoded (RFC 6266)
    return f"attachment; filename=catalog.{extension}; filename*=UTF-8''{chinese}.{extension}"


# ---- the public guide ---------------------------------------------------------------------------------------------
CodePath = Annotated[str, PathParam(max_length=64, description="事项编码")]
_PUBLIC_RULES = ("匿名、只读，只含在线事项已发布的内容；未发布、已下线或已注销的编码返回 404 PUBLIC_ITEM_NOT_FOUND。"
                 "可缓存：响应带 Cache-Control 与 ETag，带 If-None-Match 且内容未变时返回 304。按客户端地址限流"
                 "（令牌桶），超出时返回 429 RATE_LIMITED 与 Retry-After。")
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "内容未变（If-None-Match 与 ETag 相同）"}}


@public_router.get("/items/{code}.html", summary="办事指南（可打印的中文页面）", description=_PUBLIC_RULES,
                   response_class=HTMLResponse,
                   responses={200: {"content": {"text/html": {}}, "description": "办事指南页面"}, **_NOT_MODIFIED})
async def public_item_page(code: CodePath, guide: PublicGuideDep, request: Request) -> Response:
    found = await guide.guide(code, client=_client(request))
    return _cacheable(request, render_guide_page(found).encode(), "text/html; charset=utf-8",
                      guide_max_age(request))


@public_router.get("/items/{code}", summary="办事指南（JSON：在线事项已发布的办事指南与要素）",
                   description=_PUBLIC_RULES, response_class=Response,
                   responses={200: {"model": PublicGuideSchema, "description": "办事指南"}, **_NOT_MODIFIED})
async def public_item(code: CodePath, guide: PublicGuideDep, request: Request) -> Response:
    found = await guide.guide(code, client=_client(request))
    return _cacheable(request, jsoncodec.dumps(found).encode(), "application/json", guide_max_age(request))


def guide_max_age(request: Request) -> int:
    max_age: int = request.app.state.settings.public_max_age_s
    return max_age


def _client(request: Request) -> str:
    """The client address the rate applies to: the connection's peer (a proxy in front sets its own limits)."""
    return request.client.host if request.client else "unknown"


def _cacheable(request: Request, body: bytes, media_type: str, max_age: int) -> Response:
    """A public, cacheable answer: its ETag is the hash of its bytes; 304 (no body) when the client holds them."""
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    held = {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}
    if etag in held or "*" in held:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
