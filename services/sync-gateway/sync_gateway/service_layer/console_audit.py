"""The console's audit page (审计日志): the four services' audit logs of reads merged by time, and each one's chain.

Each audit log stays in the service that keeps it: the gateway reads the other three through their audit API with
the caller's own token (so each service checks that the caller is an auditor itself, and the gateway never reads
with more rights than its caller), and its own directly. A service that cannot be reached is named in
``unreachable``; the page still answers. The gateway checks the auditor role first: other roles are refused before
anything is read (403 AUDITOR_REQUIRED)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from shared import audit
from shared.auth import Principal
from shared.service import ServiceRuntime

from sync_gateway.adapters.services import SERVICE_LABELS, ServiceClients, refused_or_json
from sync_gateway.domain.errors import ServiceUnavailableError
from sync_gateway.errors import ERRORS
from sync_gateway.service_layer.console_pipeline import PREFIXES, SELF, SERVICES


def _query(params: dict[str, Any]) -> audit.AuditQuery:
    return audit.AuditQuery(params.get("since"), params.get("until"), params.get("subject"), params.get("flag"))


def _wire(params: dict[str, Any]) -> dict[str, Any]:
    """The filters as query parameters of another service's audit API (times in ISO 8601)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in params.items()}


class ConsoleAudit:
    def __init__(self, runtime: ServiceRuntime, services: ServiceClients) -> None:
        self.runtime = runtime
        self.services = services

    async def entries(self, principal: Principal, *, service: str | None, params: dict[str, Any], limit: int,
                      authorization: str, correlation_id: str | None) -> dict[str, Any]:
        """The newest ``limit`` entries of the services asked for (all four by default), newest first. The next
        page: ``until=<next_until>`` (the time of the last entry shown; entries of that very microsecond in another
        service may show twice, never be skipped)."""
        audit.require_auditor(principal)
        names = [service] if service else list(SERVICES)
        pages = await asyncio.gather(*(self._page(name, {**params, "limit": limit}, authorization, correlation_id)
                                       for name in names))
        items = sorted((item for page in pages for item in page["items"]), key=lambda e: e["at"], reverse=True)
        more = len(items) > limit or any(page["more"] for page in pages)
        shown = items[:limit]
        return {"items": shown, "next_until": shown[-1]["at"] if more and shown else None,
                "unreachable": {p["service"]: p["error"] for p in pages if p["error"]}}

    async def _page(self, service: str, params: dict[str, Any], authorization: str,
                    correlation_id: str | None) -> dict[str, Any]:
        try:
            if service == SELF:
                page = await audit.page(self.runtime.engine, SELF, _query(params), params["limit"])
            else:
                page = await self.services.get_json(service, f"{PREFIXES[service]}/audit", params=_wire(params),
                                                    authorization=authorization, correlation_id=correlation_id)
        except ServiceUnavailableError as exc:
            return {"service": service, "items": [], "more": False, "error": ERRORS.render(exc)[1]["message"]}
        return {"service": service, "items": [{**item, "service": service, "service_label": SERVICE_LABELS[service]}
                                              for item in page["items"]],
                "more": page["next_cursor"] is not None, "error": None}

    async def chains(self, principal: Principal, *, authorization: str, correlation_id: str | None) -> dict[str, Any]:
        """Each service's chain verdict (``GET {prefix}/audit/verify``)."""
        audit.require_auditor(principal)

        async def one(service: str) -> dict[str, Any]:
            try:
                if service == SELF:
                    verdict = await audit.verify(self.runtime.engine, SELF)
                else:
                    verdict = await self.services.get_json(service, f"{PREFIXES[service]}/audit/verify",
                                                           authorization=authorization, correlation_id=correlation_id)
            except ServiceUnavailableError as exc:
                return {"service": service, "service_label": SERVICE_LABELS[service], "reachable": False,
                        "error": ERRORS.render(exc)[1]["message"]}
            return {**verdict, "service": service, "service_label": SERVICE_LABELS[service], "reachable": True}

        return {"services": list(await asyncio.gather(*(one(name) for name in SERVICES)))}

    async def export(self, principal: Principal, service: str, *, params: dict[str, Any], authorization: str,
                     correlation_id: str | None) -> tuple[bytes, str]:
        """One service's csv export (its body and media type), read with the caller's token."""
        audit.require_auditor(principal)
        if service == SELF:
            rows = [audit.csv_rows(items) async for items in audit.all_rows(self.runtime.engine, SELF, _query(params))]
            return ("\ufeff" + ",".join(audit.CSV_HEADER) + "\r\n" + "".join(rows)).encode(), "text/csv; charset=utf-8"
        response = await self.services.call(service, "GET", f"{PREFIXES[service]}/audit.csv", params=_wire(params),
                                            authorization=authorization, correlation_id=correlation_id)
        if response.status_code >= 400:
            refused_or_json(service, response)  # raises the service's refusal as the console's
        return response.content, response.headers.get("content-type", "text/csv; charset=utf-8")
