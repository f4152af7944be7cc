"""The operators' HTTP view of a service's pipeline and dead letters (every service mounts it under its own API
prefix): the pipeline report, and dead letters to list and inspect (operators and administrators) and to replay or
discard (administrators only, each with a reason, recorded with who did it, when and the outcome in the service's
``dead_letter_actions``).

A dead letter holds an item's content, so a caller of some regions sees only those of its regions: the region is
the one the service knows for the message's item (its subject), else the one the message itself names
(``dead_letters.payload_region``); a dead letter of no known region is for nationwide callers only. The counts by
status are of every dead letter (numbers, no content)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from shared import dead_letters
from shared.consumer import discard_dead_letter, replay_dead_letter
from shared.db import RegionOf
from shared.http_auth import CurrentPrincipal
from shared.pipeline import service_pipeline

ROLES = ("operator",)  # admin holds every role
ACTION_ROLES = ("admin",)  # replay and discard: require_role("admin") passes admins only


class ActionRequest(BaseModel):
    reason: str = Field(..., max_length=2000, description="原因（必填，不能为空白；与操作人、时间、结果一起记录）")


def dead_letter_router(prefix: str, route_class: type[APIRoute] = APIRoute,
                       responses: dict[int | str, dict[str, Any]] | None = None,
                       region_of: RegionOf | None = None) -> APIRouter:
    """The routes under ``{prefix}/dead-letters``; ``responses`` documents the errors they answer; ``region_of``
    is how the service knows an item's region (None: only what the messages themselves name)."""
    router = APIRouter(prefix=f"{prefix}/dead-letters", tags=["dead letters 死信"], route_class=route_class,
                       responses=responses)

    @router.get("", summary="死信列表（消费者放弃处理的消息，保存在本服务数据库中）")
    async def list_dead_letters(
        request: Request, principal: CurrentPrincipal,
        status: Annotated[Literal["waiting", "replayed", "discarded"] | None,
                          Query(description="waiting 待处理 / replayed 已重放 / discarded 已丢弃")] = "waiting",
        consumer: Annotated[str | None, Query(max_length=200, description="消费者（消费组）名称")] = None,
        kind: Annotated[Literal["malformed", "wrong_source", "contract", "refused", "exhausted"] | None,
                        Query(description="原因类别")] = None,
        after_id: Annotated[int, Query(ge=0, le=2**62, description="从此编号之后开始（分页）")] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        principal.require_role(*ROLES)
        engine = request.app.state.runtime.engine
        page = await dead_letters.listing(engine, dead_letters.Listing(status, consumer, kind, after_id, limit))
        # The page is cut by id before the region check: a caller of some regions may get fewer than ``limit``,
        # and reads on from next_after_id.
        items = [letter for letter in page
                 if await dead_letters.visible_to(engine, principal, region_of, letter["id"], letter["subject"])]
        return {"items": items, "counts": await dead_letters.counts(engine),
                "next_after_id": page[-1]["id"] if len(page) == limit else None}

    @router.get("/{dead_letter_id}", summary="一条死信：原因、尝试次数和原始消息（键、消息头、内容）")
    async def show_dead_letter(request: Request, principal: CurrentPrincipal,
                               dead_letter_id: Annotated[int, Path(ge=1, le=2**62)]) -> dict[str, Any]:
        principal.require_role(*ROLES)
        await dead_letters.require_visible(request.app.state.runtime.engine, principal, region_of, dead_letter_id)
        return await dead_letters.describe(request.app.state.runtime.engine, dead_letter_id)

    @router.post("/{dead_letter_id}/replay",
                 summary="重放：交给放弃它的消费者再处理一次（至多生效一次；仅管理员，须写明原因）")
    async def replay(request: Request, principal: CurrentPrincipal,
                     dead_letter_id: Annotated[int, Path(ge=1, le=2**62)],
                     body: Annotated[ActionRequest, Body()]) -> dict[str, Any]:
        principal.require_role(*ACTION_ROLES)
        await dead_letters.require_visible(request.app.state.runtime.engine, principal, region_of, dead_letter_id)
        runtime = request.app.state.runtime
        outcome = await replay_dead_letter(runtime.consumer_runners(), dead_letter_id, actor=principal.subject,
                                           reason=body.reason)
        row = await dead_letters.get(runtime.engine, dead_letter_id)
        return {"result": outcome.result, "detail": outcome.detail, "dead_letter": dead_letters.summary(row)}

    @router.post("/{dead_letter_id}/discard", summary="丢弃：不再处理（仅管理员，须写明原因）")
    async def discard(request: Request, principal: CurrentPrincipal,
                      dead_letter_id: Annotated[int, Path(ge=1, le=2**62)],
                      body: Annotated[ActionRequest, Body()]) -> dict[str, Any]:
        principal.require_role(*ACTION_ROLES)
        await dead_letters.require_visible(request.app.state.runtime.engine, principal, region_of, dead_letter_id)
        row = await discard_dead_letter(request.app.state.runtime.engine, dead_letter_id, actor=principal.subject,
                                        reason=body.reason)
        return dead_letters.summary(row)

    return router


def pipeline_router(prefix: str, route_class: type[APIRoute] = APIRoute,
                    responses: dict[int | str, dict[str, Any]] | None = None) -> APIRouter:
    """``{prefix}/pipeline``: the service's own pipeline report (shared.pipeline), for operators."""
    router = APIRouter(prefix=prefix, tags=["ops"], route_class=route_class, responses=responses)

    @router.get("/pipeline", summary="本服务的事件链路：存储头、relay 位置与积压、各消费者在本进程中的等待、死信数",
                description="`roles` 是本进程的角色（api / relay / consume）：消费者只在运行它的进程中报告"
                            "等待的分区（`runs_here`），`waiting` 列出每个分区等待的消息（offset、事件 id、最近的错误、"
                            "已等待秒数、是否超过 `stuck_after_s`）；`relay_lag` 为尚未发布的事件数。")
    async def pipeline(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        principal.require_role(*ROLES)
        return await service_pipeline(request.app.state.runtime)

    return router
