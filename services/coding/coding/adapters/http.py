"""Coding HTTP routes (thin: parse → one service-layer call → shape the response)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from shared.http import CorrelationId, CurrentPrincipal, ServiceRoute, error_responses

from coding.adapters.schemas import OverrideBody, PreviewBody, ServiceBody, WithdrawBody
from coding.domain.dictionary_views import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, DictionaryQuery
from coding.errors import ERRORS
from coding.service_layer.codes import ItemCodes
from coding.service_layer.dictionaries import DictionaryViews
from coding.service_layer.item_services import ItemServices
from coding.service_layer.overrides import PinyinOverrideAdministration

router = APIRouter(prefix="/coding/v1", tags=["coding 事项编码"], responses=error_responses(ERRORS),
                   route_class=ServiceRoute)


# The getters are ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop per request.
async def get_item_codes(request: Request) -> ItemCodes:
    codes: ItemCodes = request.app.state.item_codes
    return codes


async def get_item_services(request: Request) -> ItemServices:
    services: ItemServices = request.app.state.item_services
    return services


async def get_dictionary_views(request: Request) -> DictionaryViews:
    views: DictionaryViews = request.app.state.dictionary_views
    return views


async def get_override_administration(request: Request) -> PinyinOverrideAdministration:
    administration: PinyinOverrideAdministration = request.app.state.override_administration
    return administration


ItemCodesDep = Annotated[ItemCodes, Depends(get_item_codes)]
ItemServicesDep = Annotated[ItemServices, Depends(get_item_services)]
DictionaryViewsDep = Annotated[DictionaryViews, Depends(get_dictionary_views)]
OverrideAdministrationDep = Annotated[PinyinOverrideAdministration, Depends(get_override_administration)]

REGION_PREFIX_PATTERN = "^[0-9]{2}([0-9]{2}([0-9]{2})?)?$"


# ---- codes ---------------------------------------------------------------------------------------------------------
@router.post(
    "/codes:preview",
    summary="预览事项编码（不分配）",
    description="按编码要素计算今天会得到的事项编码：各部分及其含义、拼音首字母、事项名称编码、"
                "是否与已分配的编码重码（重码时给出现在分配会得到的重码序号编码 code_if_allocated_now；"
                "持有该编码的事项 held_by 只在编码的区划属于调用人管辖区划时给出，否则为 null）、"
                "所用读音词典版本（拼音修正词典/地名读音表）。"
                "name_reading 逐字母说明简称如何读出：每个字母来自简称的哪个字、由哪条规则得出（override 拼音修正词典、"
                "place 地名读音表——附所指区划的代码、全称、读音与来源、phrase pypinyin 词组读音、character 单字读音、"
                "latin 字母数字照录），以及是否在事项名称编码保留的前 12 位内；"
                "不参与编码的文字也列出（letter 为 null）。"
                "要素无效返回 422 CODE_ELEMENTS_INVALID，details.problems 逐项说明。",
)
async def preview(body: PreviewBody, codes: ItemCodesDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return await codes.preview(body.model_dump(), principal)


@router.get(
    "/codes/{code}",
    summary="解码事项编码或事项服务编码",
    description="24 位事项编码：各部分及其含义、持有事项、有效或已注销"
                "（注销原因、被哪个编码取代 replaced_by、取代了哪个编码 replaces）、"
                "拆分合并沿革（前后事项及其当前编码）。27 位事项服务编码：事项编码各部分加事项服务序号、所属服务。"
                "格式错误返回 422 MALFORMED_CODE，details.part 指出出错的部分"
                "（length、item_type、region_code、police_type、service_category、name_code、service_sequence）。",
)
async def get_code(code: Annotated[str, Path(description="事项编码 (24) or 事项服务编码 (27), no separators")],
                   codes: ItemCodesDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return await codes.code_info(code, principal)


@router.get(
    "/items/{item_id}/code",
    summary="事项的当前编码、编码历史与沿革",
    description="当前有效编码（无则为 null）、曾持有的全部编码（含注销原因与新旧编码链接）、拆分合并的前后事项及其编码"
                "（后继事项的编码在读取时解析，可能尚未赋码）、本服务关于该事项的全部事件。"
                "从未赋码返回 404 CODE_NOT_FOUND。",
)
async def get_item_code(item_id: str, codes: ItemCodesDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return await codes.item_code(item_id, principal)


# ---- 事项服务编码 ------------------------------------------------------------------------------------------------
@router.get("/items/{item_id}/services", summary="事项的事项服务及其编码（含已撤销的）")
async def list_services(item_id: str, services: ItemServicesDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return await services.services_of(item_id, principal)


@router.post(
    "/items/{item_id}/services",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "同名的有效事项服务已存在：原编码"}},
    summary="为事项服务分配事项服务编码（事项编码 + 001–999）",
    description="需要 publisher 角色（或 admin）且事项在本人区划内。"
                "按名称幂等：同名的有效事项服务已存在时返回 200 和原编码；新分配返回 201。"
                "序号取曾发出的最大序号加一，撤销后也不复用。事项未赋码返回 409 ITEM_NOT_CODED。",
)
async def allocate_service(item_id: str, body: ServiceBody, response: Response, services: ItemServicesDep,
                           principal: CurrentPrincipal, correlation_id: CorrelationId) -> dict[str, Any]:
    outcome = await services.allocate(item_id, body.name, principal, correlation_id)
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
    return outcome.service


@router.post(
    "/items/{item_id}/services/{sequence}/withdraw",
    summary="撤销事项服务（其编码与序号不再复用）",
    description="需要 publisher 角色（或 admin）。已撤销的再次撤销返回 409 ITEM_SERVICE_WITHDRAWN。",
)
async def withdraw_service(item_id: str, sequence: Annotated[int, Path(ge=1, le=999, description="service sequence")],
                           body: WithdrawBody, services: ItemServicesDep, principal: CurrentPrincipal,
                           correlation_id: CorrelationId) -> dict[str, Any]:
    return await services.withdraw(item_id, sequence, body.reason, principal, correlation_id)


# ---- dictionaries --------------------------------------------------------------------------------------------------
@router.get("/dictionaries", summary="全部代码表及其版本、条目数与数据来源")
async def list_dictionaries(views: DictionaryViewsDep) -> dict[str, Any]:
    return views.catalogue()


@router.get(
    "/dictionaries/regions/{code}",
    summary="一个区划：上级链（省级在前）与直接下级",
    description="code 可为 2、4、6 位（44 即 440000，4401 即 440100）。valid_on 只列当日有效的下级。未知代码返回 404。",
)
async def get_region(
    code: Annotated[str, Path(pattern=REGION_PREFIX_PATTERN, description="GB/T 2260 code or 2/4-digit prefix")],
    views: DictionaryViewsDep,
    valid_on: Annotated[date | None, Query(description="keep only children valid on this day (ISO date)")] = None,
) -> dict[str, Any]:
    return views.region(code, valid_on)


@router.get(
    "/dictionaries/{name}",
    summary="代码表（事项类型、业务警种、服务类别、行使层级、区划代码）及其版本",
    description="name ∈ item_types, police_types, service_categories, exercise_levels, regions。"
                "按代码排序分页（cursor = 上一页 next_cursor）；valid_on 只列当日有效的代码；q 按名称或代码前缀筛选。"
                "区划代码表可逐级浏览：level=1 为省级，parent=44 为 440000 的直接下级，每条给出下级数 child_count，"
                "expand=children 直接带出下级。",
)
async def get_dictionary(
    name: str,
    views: DictionaryViewsDep,
    valid_on: Annotated[date | None, Query(description="only codes valid on this day (ISO date)")] = None,
    q: Annotated[str | None, Query(max_length=50, description="part of the label, or the start of the code")] = None,
    parent: Annotated[str | None, Query(
        pattern=REGION_PREFIX_PATTERN,
        description="regions only: direct children of this region (2/4/6 digits)")] = None,
    level: Annotated[int | None, Query(
        ge=1, le=3, description="regions only: 1 province, 2 prefecture, 3 county")] = None,
    expand: Annotated[Literal["children"] | None, Query(
        description="regions only: embed each region's children")] = None,
    cursor: Annotated[str | None, Query(max_length=12, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")] = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    return views.dictionary(name, DictionaryQuery(valid_on=valid_on, q=q, parent=parent, level=level,
                                                expand_children=expand == "children", cursor=cursor, limit=limit))


# ---- pinyin overrides (admin) ------------------------------------------------------------------------------------
@router.get(
    "/pinyin-overrides",
    summary="拼音修正词典：当前词条（来源：数据文件或管理员，含依据）、修改历史与地名读音表的版本（仅 admin）",
    description="读音顺序：拼音修正词典优先，其次地名读音表（place_names：全部区划名称的读音，带或不带层级后缀，"
                "由 scripts/generate_place_names.py 生成），最后 pypinyin；简称中按最长匹配、从左到右。",
)
async def get_overrides(overrides: OverrideAdministrationDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return await overrides.dictionary(principal)


@router.post(
    "/pinyin-overrides",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "与现有词条相同：未产生事件"}},
    summary="新增或修改拼音修正词条（仅 admin）",
    description="每次修改是 pinyin-overrides 流上的一个事件，词典版本随之递增（如 2026.12.1+3）；"
                "所有编码进程在计算编码前核对版本并加载新事件。词条优先于地名读音表。已分配的编码保存在分配事件中，永不重算；预览立即按新词典计算。"
                "与现有词条相同返回 200（不产生事件）；新增或修改返回 201。",
)
async def set_override(body: OverrideBody, response: Response, overrides: OverrideAdministrationDep,
                       principal: CurrentPrincipal, correlation_id: CorrelationId) -> dict[str, Any]:
    change = await overrides.set_override(body.phrase, body.letters, body.reason, principal, correlation_id)
    if not change.changed:
        response.status_code = status.HTTP_200_OK
    return asdict(change)


@router.delete(
    "/pinyin-overrides/{phrase}",
    summary="删除拼音修正词条，恢复地名读音表或 pypinyin 的读音（仅 admin）",
)
async def remove_override(
    phrase: str, overrides: OverrideAdministrationDep, principal: CurrentPrincipal, correlation_id: CorrelationId,
    reason: Annotated[str, Query(min_length=1, max_length=2000, description="why the correction is removed")],
) -> dict[str, Any]:
    return asdict(await overrides.remove_override(phrase, reason, principal, correlation_id))
