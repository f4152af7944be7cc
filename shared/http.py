"""HTTP pieces every service uses: the app factory (health, readiness, metrics, error rendering, the dead-letter
routes), and — from shared.http_auth — the bearer-token dependency and request-metadata helpers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import TokenVerifier
from shared.dead_letter_routes import dead_letter_router
from shared.errors import DomainError, ErrorTable
from shared.http_auth import CorrelationId, CurrentPrincipal, correlation_id, current_principal
from shared.http_docs import serve_docs_offline
from shared.metrics import HTTP_LATENCY
from shared.service import ServiceRuntime, runtime_lifespan
from shared.settings import ServiceSettings

# What any route may answer: no or a bad token, a role or region not the caller's, something not found, a conflict
# with the state of things, input that breaks a rule. Statuses only some routes answer (a missing If-Match, a file
# too large) are added by those routes with ``error_responses(ERRORS, statuses=(…))``.
EVERY_ROUTE_STATUSES = (401, 403, 404, 409, 422)


def error_responses(table: ErrorTable,
                    statuses: Sequence[int] = EVERY_ROUTE_STATUSES) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` derived from a service's error table: one per client-error status in ``statuses`` that
    the table has, its description listing that status's stable codes with their Chinese message templates (a code
    with several messages is listed with each). Server errors (5xx) are not promised. A router adds what it says
    more precisely on top (``{**error_responses(ERRORS), 422: …}``). tests/unit/test_error_tables.py checks that
    every client-error status of a table is documented on some route of its service."""
    listed: dict[int, dict[tuple[str, str], None]] = {}
    for spec in table.codes():
        if 400 <= spec.status < 500 and spec.status in statuses:
            listed.setdefault(spec.status, {})[(spec.code, spec.message)] = None
    responses: dict[int | str, dict[str, Any]] = {
        status: {"description": _status_description(status, list(listed[status]))} for status in sorted(listed)}
    return responses


def _status_description(status: int, codes: list[tuple[str, str]]) -> str:
    lines = [f"- `{code}`：{message}" for code, message in codes]
    return (f"{HTTPStatus(status).phrase}。响应体 `{{code, message, details}}`，code 为下列之一"
            f"（message 中的 {{…}} 取自 details）：\n\n" + "\n".join(lines))


def create_service_app(
    *,
    service: str,
    title: str,
    description: str,
    errors: ErrorTable,
    runtime: ServiceRuntime,
    api_prefix: str,
    settings: ServiceSettings,
    on_start: Callable[[], Awaitable[None]] | None = None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    app = FastAPI(title=title, description=description, version="1.0.0", docs_url=None, redoc_url=None,
                  lifespan=runtime_lifespan(runtime, on_start=on_start, on_stop=on_stop))
    serve_docs_offline(app)  # /docs and /redoc without a CDN
    app.state.errors = errors
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.verify_token = TokenVerifier(settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        status, body = errors.render(exc)
        return JSONResponse(body, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "code": e.get("type", "invalid"),
             "message": _chinese_validation_message(e)}
            for e in exc.errors()
        ]
        return JSONResponse(
            {"code": "VALIDATION_FAILED", "message": "提交的数据未通过校验", "details": {"problems": problems}},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        message = {404: "请求的路径不存在", 405: "不支持该请求方法"}.get(exc.status_code, str(exc.detail))
        return JSONResponse({"code": code, "message": message, "details": None}, status_code=exc.status_code)

    app.add_middleware(RequestMetrics, service=service)
    app.include_router(dead_letter_router(api_prefix))

    @app.get("/healthz", tags=["ops"], summary="存活检查：进程与后台任务（relay、consumer）都活着 (liveness)")
    async def healthz() -> JSONResponse:
        # A background worker only ends on a bug (they retry every outage themselves): let the orchestrator restart us.
        workers = runtime.workers.health()
        ok = all(v == "ok" for v in workers.values())
        return JSONResponse({"status": "ok" if ok else "worker-stopped", "service": service, "workers": workers},
                            status_code=200 if ok else 503)

    @app.get("/readyz", tags=["ops"], summary="就绪检查：数据库可达、后台任务在运行、没有分区停滞 (readiness)",
             description="200 `ok`；503 `unavailable`（数据库不可达或后台任务停止）或 `degraded`（某个消费者分区"
                         "停滞超过 SHIXIANG_CONSUMER_STUCK_AFTER_S 秒，checks 中写明分区、消息与最近的错误）。")
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        degraded = all(v == "ok" or v.startswith("degraded") for v in checks.values())
        status = "ok" if ok else "degraded" if degraded else "unavailable"
        return JSONResponse({"status": status, "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus 指标", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    return app


class RequestMetrics:
    """Latency of every HTTP request by service, method, route template and status (``HTTP_LATENCY``), measured
    from the request's arrival to the start of its response.

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` (BaseHTTPMiddleware) runs the rest of the app
    in a task of its own and pipes the request and response bodies through in-memory streams, which cost about a
    fifth of a lifecycle command's CPU (profiled). A request that fails without a response (an unhandled exception,
    answered 500 by the server error middleware outside this one) is not measured, as before."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def measured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")  # set by the router on this same scope once a route matched
                HTTP_LATENCY.labels(self.service, scope["method"], getattr(route, "path", "unmatched"),
                                    message["status"]).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, measured_send)


def document_models(app: FastAPI, *models: type[Any]) -> None:
    """Put models into the OpenAPI components (routes whose bodies are raw JSON or another media type refer to them
    as ``#/components/schemas/<name>``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[model.__name__] = body
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


def _chinese_validation_message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "缺少必填项"
    if kind.startswith("string_too_long"):
        return "内容过长"
    if kind.startswith("string_too_short"):
        return "内容过短或为空"
    if kind.startswith("string_pattern"):
        return "格式不正确"
    if kind in ("literal_error", "enum"):
        return "取值不在允许范围内"
    if kind == "extra_forbidden":
        return "不认识的字段"
    return f"取值无效（{error.get('msg', kind)}）"


__all__ = ["CorrelationId", "CurrentPrincipal", "RequestMetrics", "correlation_id", "create_service_app",
           "current_principal", "document_models", "error_responses"]
