"""Coding HTTP routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import DomainError
from shared.http import ERROR_RESPONSES, CurrentPrincipal

from coding.app import CodingService

router = APIRouter(prefix="/coding/v1", tags=["coding 事项编码"], responses=ERROR_RESPONSES)


class DictionaryNotFoundError(DomainError):
    """Unknown dictionary name."""


def service(request: Request) -> CodingService:
    return request.app.state.coding


Service = Annotated[CodingService, Depends(service)]


class PreviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_type: str = Field(..., description="事项类型编码")
    region_code: str = Field(..., description="区划代码")
    police_type: str = Field(..., description="业务警种编码")
    service_category: str = Field(..., description="服务类别编码")
    short_name: str = Field(..., description="简称")


@router.post("/codes:preview", summary="预览事项编码（不分配）：各部分含义、拼音首字母、是否重码")
async def preview(body: PreviewBody, svc: Service, principal: CurrentPrincipal) -> dict[str, Any]:
    return await svc.preview(body.model_dump())


@router.get("/codes/{code}", summary="解码事项编码：各部分含义、持有事项、是否有效")
async def get_code(code: str, svc: Service, principal: CurrentPrincipal) -> dict[str, Any]:
    return await svc.code_info(code)


@router.get("/items/{item_id}/code", summary="事项的当前编码与编码历史")
async def get_item_code(item_id: str, svc: Service, principal: CurrentPrincipal) -> dict[str, Any]:
    return await svc.item_code(item_id)


@router.get("/dictionaries/{name}", summary="代码表（事项类型、业务警种、服务类别、行使层级、区划）及其版本")
async def get_dictionary(name: str, svc: Service) -> dict[str, Any]:
    try:
        return svc.dictionaries.by_name(name).to_json()
    except KeyError as exc:
        raise DictionaryNotFoundError(name=name, available="、".join(svc.dictionaries.names)) from exc
