"""The console's audit routes (``/sync/v1/console/audit…``): thin, each one call of ``service_layer.console_audit``.
For auditors only (403 AUDITOR_REQUIRED otherwise); these reads are audited by the gateway like every other."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shared.audit import Flag, Since, Subject, Until
from shared.audit_rules import AuditFlag
from shared.http import CorrelationId, CurrentPrincipal, ServiceRoute, error_responses

from sync_gateway.errors import ERRORS
from sync_gateway.service_layer.console_audit import ConsoleAudit

router = APIRouter(prefix="/sync/v1/console", tags=["console 运维控制台"], route_class=ServiceRoute,
                   responses=error_responses(ERRORS, statuses=(401, 403, 422)))

Service = Literal["registry", "coding", "lifecycle", "sync"]
ONLY = "仅审计员（auditor）可查阅（三员分立：管理员、运维人员不能查阅）。"


def _console(request: Request) -> ConsoleAudit:
    console: ConsoleAudit = request.app.state.console_audit
    return console


def _authorization(request: Request) -> str:
    return request.headers.get("authorization", "")


def _params(since: datetime | None, until: datetime | None, subject: str | None,
            flag: AuditFlag | None) -> dict[str, Any]:
    return {"since": since, "until": until, "subject": subject, "flag": flag.value if flag else None}


@router.get("/audit", summary="审计日志：四个服务记录的读取，按时间合并（新的在前）",
            description="筛选：service 服务、subject 用户、flag 标记、since/until 时间。"
                        "下一页以 until=<next_until> 读取。无法访问的服务列在 unreachable 中，本页仍然回答。" + ONLY)
async def list_audit(request: Request, principal: CurrentPrincipal, correlation: CorrelationId,
                     service: Annotated[Service | None, Query(description="只看此服务")] = None,
                     since: Since = None, until: Until = None, subject: Subject = None, flag: Flag = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    return await _console(request).entries(principal, service=service, params=_params(since, until, subject, flag),
                                           limit=limit, authorization=_authorization(request),
                                           correlation_id=correlation)


@router.get("/audit/chains", summary="各服务审计日志哈希链的校验结果（锚点、记录数、断点）", description=ONLY)
async def audit_chains(request: Request, principal: CurrentPrincipal, correlation: CorrelationId) -> dict[str, Any]:
    return await _console(request).chains(principal, authorization=_authorization(request),
                                          correlation_id=correlation)


@router.get("/audit/{service}.csv", summary="导出一个服务的审计日志（csv，筛选同 /console/audit）", description=ONLY,
            response_class=Response, responses={200: {"content": {"text/csv": {}}, "description": "csv 文件"}})
async def export_audit(request: Request, principal: CurrentPrincipal, correlation: CorrelationId, service: Service,
                       since: Since = None, until: Until = None, subject: Subject = None,
                       flag: Flag = None) -> Response:
    body, media = await _console(request).export(principal, service, params=_params(since, until, subject, flag),
                                                 authorization=_authorization(request), correlation_id=correlation)
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f"attachment; filename=\"audit-{service}.csv\""})
