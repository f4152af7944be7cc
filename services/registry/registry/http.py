"""Registry HTTP routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from shared.http import ERROR_RESPONSES, CorrelationId, CurrentPrincipal

from registry.app import RegistryService

router = APIRouter(prefix="/registry/v1", tags=["registry 事项要素"], responses=ERROR_RESPONSES)


def service(request: Request) -> RegistryService:
    return request.app.state.registry


Service = Annotated[RegistryService, Depends(service)]


class ItemElements(BaseModel):
    """事项要素（当前版本的最小集合，完整要素模型随后补充）。"""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
        "service_category": "03", "region_code": "440115"}})
    name: str = Field(..., description="★ 事项名称")
    short_name: str = Field(..., description="简称（事项名称编码的来源）")
    item_type: str = Field(..., description="★ 事项类型编码（2 位，如 01 行政许可）")
    police_type: str = Field(..., description="业务警种编码（2 位，如 02 户政管理）")
    service_category: str = Field(..., description="服务类别编码（2 位，如 01 证件办理）")
    region_code: str = Field(..., description="区划代码（GB/T 2260，6 位，须在调用人管辖区划内）")


@router.post("/items", status_code=201, summary="录入事项草稿（Idempotency-Key 防止重复创建）")
async def create_item(
    body: ItemElements, response: Response, svc: Service, principal: CurrentPrincipal,
    correlation_id: CorrelationId,
    idempotency_key: Annotated[str | None, Header(max_length=200, description="同一调用人同一键只创建一次")] = None,
) -> dict[str, Any]:
    view, created = await svc.create(principal, body.model_dump(), idempotency_key=idempotency_key,
                                     correlation_id=correlation_id)
    if not created:
        response.status_code = 200
    response.headers["ETag"] = str(view["revision"])
    return view


@router.get("/items/{item_id}", summary="读取事项当前版本的要素")
async def get_item(item_id: str, response: Response, svc: Service, principal: CurrentPrincipal) -> dict[str, Any]:
    view = await svc.get(item_id, principal)
    response.headers["ETag"] = str(view["revision"])
    return view
