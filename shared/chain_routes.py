"""Verifying one item's hash chain in a service that keeps a stream of it (``GET {prefix}/items/{item_id}/verify``):
the registry (its revisions), the coding service (its codes) and the sync gateway (national answers) mount this one
route, each with its own read roles and the way it knows an item's region. The lifecycle has its own route, which
also compares the chain's head with its read models."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute

from shared.db import RegionOf
from shared.errors import NotFoundError
from shared.eventstore import ChainVerdict, load_stream, verify_chain
from shared.http_auth import CurrentPrincipal


def chain_view(item_id: str, verdict: ChainVerdict) -> dict[str, Any]:
    """The verdict as clients read it (the lifecycle's verify answer has the same keys, and more)."""
    return {"item_id": item_id, "verified": verdict.ok,
            "verified_label": "哈希链完整" if verdict.ok else "哈希链被破坏", "events": verdict.events,
            "head_hash": verdict.head_hash, "hash_algorithms": list(verdict.algorithms),
            "broken_at_version": verdict.broken_at_version, "reason": verdict.reason}


def chain_router(prefix: str, *, roles: tuple[str, ...], region_of: RegionOf, route_class: type[APIRoute] = APIRoute,
                 responses: dict[int | str, dict[str, Any]] | None = None) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["hash chain 哈希链"], route_class=route_class, responses=responses)

    @router.get(
        "/items/{item_id}/verify", summary="校验本服务所存该事项事件流的哈希链（篡改、删除或调换任何事件都会被发现）",
        description=("逐条重算哈希链；verified=false 时给出第一处断点（broken_at_version）与原因。"
                     "本服务未记录该事项、或事项不在调用人管辖区划内时 404 NOT_FOUND。"))
    async def verify_item_stream(request: Request, principal: CurrentPrincipal, item_id: str) -> dict[str, Any]:
        principal.require_role(*roles)
        async with request.app.state.runtime.engine.connect() as conn:
            region = await region_of(conn, item_id)
            if region is None or not principal.may_access_region(region):
                raise NotFoundError(what="事项的事件流", key=item_id)
            events = await load_stream(conn, item_id)
        return chain_view(item_id, verify_chain(events))

    return router
