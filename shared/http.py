"""HTTP pieces every service uses: the app factory (health, readiness, metrics, error rendering, the dead-letter
routes), and — from shared.http_auth — the bearer-token dependency and request-metadata helpers."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import jsoncodec
from shared.audit import install_audit
from shared.audit_rules import AuditPolicy
from shared.db import RegionOf
from shared.dead_letter_routes import dead_letter_router, pipeline_router
from shared.errors import (
    COMMON_ERRORS,
    DomainError,
    ErrorSpec,
    ErrorTable,
    JsonTooDeepError,
    MalformedJsonError,
    NulCharacterError,
    UnsupportedMediaTypeError,
)
from shared.http_auth import CorrelationId, CurrentPrincipal, correlation_id, current_principal, token_verifier
from shared.http_docs import serve_docs_offline
from shared.http_params import UtcDatetime
from shared.metrics import HTTP_LATENCY
from shared.outages import OUTAGE_TYPES, is_outage
from shared.pipeline import service_pipeline
from shared.service import ServiceRuntime, runtime_lifespan
from shared.settings import ServiceSettings

access_log = logging.getLogger("shixiang.access")  # one line per request (RequestMetricsAndLog)

# What any route may answer: no or a bad token, a role or region not the caller's, something not found, a conflict
# with the state of things, input that breaks a rule. Statuses only some routes answer (a missing If-Match, a file
# too large) are added by those routes with ``error_responses(ERRORS, statuses=(…))``.
EVERY_ROUTE_STATUSES = (401, 403, 404, 409, 422)

# The largest values of PostgreSQL's integer (versions, revisions, row numbers) and bigint (positions) columns:
# every integer a route passes to the database is bounded by its column's, so a larger one is a validation error.
INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1

# The body of every error response (documented on each error status, so clients and schemathesis can check it).
ERROR_BODY_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["code", "message", "details"],
    "properties": {
        "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$", "description": "稳定的错误代码"},
        "message": {"type": "string", "description": "中文说明"},
        "details": {"anyOf": [{"type": "object"}, {"type": "null"}], "description": "说明中引用的上下文"},
    },
}
ERROR_CONTENT = {"application/json": {"schema": ERROR_BODY_SCHEMA}}


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
        status: {"description": _status_description(status, list(listed[status])), "content": ERROR_CONTENT}
        for status in sorted(listed)}
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
    item_region: RegionOf | None = None,
    audit_policy: AuditPolicy | None = None,
) -> FastAPI:
    """The service's app with what every service serves; ``item_region`` is how the service knows an item's region
    (its dead letters are shown to a caller of some regions by it); ``audit_policy`` names its exports and lists
    (the flags of its audit trail of reads, ``shared.audit``)."""
    app = FastAPI(title=title, description=description, version="1.0.0", docs_url=None, redoc_url=None,
                  lifespan=runtime_lifespan(runtime, on_start=on_start, on_stop=on_stop))
    serve_docs_offline(app)  # /docs and /redoc without a CDN
    app.state.errors = errors
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.verify_token = token_verifier(settings)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        status, body = errors.render(exc)
        return JSONResponse(body, status_code=status, headers=errors.headers(exc))

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
        spec = FRAMEWORK_ERRORS.get(exc.status_code)
        code, message = (spec.code, spec.message) if spec else ("HTTP_ERROR", f"请求未能处理（HTTP {exc.status_code}）")
        headers = exc.headers
        if exc.status_code == 405:  # RFC 9110: a 405 names every method the path allows (the router names one route's)
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return JSONResponse({"code": code, "message": message, "details": None}, status_code=exc.status_code,
                            headers=headers)

    answer_outages(app)

    app.router.route_class = ServiceRoute  # the routes below (health, readiness, metrics)
    app.add_middleware(RequestMetricsAndLog, service=service, log_requests=settings.access_log)
    install_audit(app, service=service, api_prefix=api_prefix, policy=audit_policy, route_class=ServiceRoute,
                  responses=error_responses(ErrorTable(COMMON_ERRORS), statuses=(401, 403, 422)))
    # The dead-letter routes raise only the shared errors (auth, roles, the dead letter's own).
    app.include_router(dead_letter_router(api_prefix, route_class=ServiceRoute,
                                          responses=error_responses(ErrorTable(COMMON_ERRORS)),
                                          region_of=item_region))
    app.include_router(pipeline_router(api_prefix, route_class=ServiceRoute,
                                       responses=error_responses(ErrorTable(COMMON_ERRORS), statuses=(401, 403))))

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
        try:  # the store head, relay position and waiting dead letters are read from the database when scraped
            await service_pipeline(runtime)
        except Exception:  # the other metrics are still worth serving when the database is down
            logging.getLogger(__name__).warning("metrics: the pipeline gauges could not be read", exc_info=True)
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    return app


class RequestMetricsAndLog:
    """Every HTTP request measured, and logged if asked. Its latency by service, method, route template and status
    (``HTTP_LATENCY``), from the request's arrival to the start of its response; and, with ``log_requests``
    (SHIXIANG_ACCESS_LOG), one structured line on the ``shixiang.access`` logger (INFO) once its response is sent:
    method, path, route, status, duration, correlation id and subject (the caller the bearer token named, when a
    route read it). The query string is not logged: it may carry search text.

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` (BaseHTTPMiddleware) runs the rest of the app
    in a task of its own and pipes the request and response bodies through in-memory streams, which cost about a
    fifth of a lifecycle command's CPU (profiled). A request that fails without a response (an unhandled exception,
    answered 500 by the server error middleware outside this one) is logged with status 500 but not measured."""

    def __init__(self, app: ASGIApp, service: str, *, log_requests: bool = True) -> None:
        self.app = app
        self.service = service
        self.log_requests = log_requests  # SHIXIANG_ACCESS_LOG (ServiceSettings.access_log): see its cost there

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def measured_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                HTTP_LATENCY.labels(self.service, scope["method"], _route_template(scope),
                                    status).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, measured_send)
        finally:
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                access_log.info("%s", self._line(scope, status, time.perf_counter() - started))

    def _line(self, scope: Scope, status: int, seconds: float) -> str:
        state = scope.get("state") or {}
        headers = dict(scope.get("headers") or ())
        correlation = state.get("correlation_id") or headers.get(b"x-correlation-id", b"").decode("latin-1")
        return jsoncodec.dumps({
            "service": self.service, "method": scope["method"], "path": scope["path"],
            "route": _route_template(scope), "status": status, "duration_ms": round(seconds * 1000, 2),
            "correlation_id": correlation or None, "subject": state.get("subject")})


def _route_template(scope: Scope) -> str:
    route = scope.get("route")  # set by the router on this same scope once a route matched
    return getattr(route, "path", "unmatched")


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


def _allowed_methods(request: Request) -> str:
    allowed = [method for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
               if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
                      for route in request.app.router.routes)]
    return ", ".join(allowed)


# What the framework itself answers, before any route runs (no error table has them: no DomainError is raised).
FRAMEWORK_ERRORS: dict[int, ErrorSpec] = {
    404: ErrorSpec(404, "NOT_FOUND", "请求的路径不存在"),
    405: ErrorSpec(405, "METHOD_NOT_ALLOWED", "不支持该请求方法（Allow 响应头列出允许的方法）"),
}


# What a request cut short by an outage answers (the database unreachable or starting up, a connection lost: seen
# when PostgreSQL crashed under bench/chaos.py). A 503 a client retries after ``Retry-After``, not the 500 of a bug.
OUTAGE = ErrorSpec(503, "TEMPORARILY_UNAVAILABLE", "服务暂时不可用（数据库等基础设施暂时无法访问），请稍后重试",
                   headers=(("Retry-After", "1"),))


def answer_outages(app: FastAPI) -> None:
    """Every request that fails because of an outage (``shared.outages``) is answered ``OUTAGE``; any other error
    of those classes (a file the code looks for and does not find, a constraint PostgreSQL enforces) stays a 500,
    logged with its traceback."""

    async def outage(request: Request, exc: Exception) -> Response:
        if not is_outage(exc):
            raise exc  # to the server error middleware: 500, traceback logged
        logging.getLogger(__name__).warning("%s %s answered 503: %s: %s", request.method, request.url.path,
                                            type(exc).__name__, exc)
        return JSONResponse({"code": OUTAGE.code, "message": OUTAGE.message, "details": None},
                            status_code=OUTAGE.status, headers=dict(OUTAGE.headers))

    for kind in OUTAGE_TYPES:
        app.add_exception_handler(kind, outage)


# ---- what every route checks before its own code: NUL characters, JSON bodies ------------------------------------
MAX_JSON_DEPTH = 32
"""Deeper than any request body of the API (an item is nested five levels): a body nested deeper is refused before
anything walks it (a parser or validator recursing 100,000 levels deep ends in RecursionError)."""

# An escaped NUL (\u0000) in JSON text: an odd run of backslashes before u0000. An even run is an escaped backslash
# followed by the text "u0000", which is no NUL.
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_JSON_ROUTE_ERRORS = (NulCharacterError, MalformedJsonError, JsonTooDeepError, UnsupportedMediaTypeError)


def refuse_nul_in_url(scope: Scope) -> None:
    """A NUL in the path, the query string (raw or percent-encoded) or a header is refused: PostgreSQL text cannot
    hold it, and no identifier, search term or key of the suite contains one. (HTTP/1 servers refuse a NUL in a
    header themselves; an ASGI caller or a proxy may not.)"""
    if "\x00" in scope["path"]:
        raise NulCharacterError(where="路径")
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        raise NulCharacterError(where="查询参数")
    if any(b"\x00" in value for _, value in scope.get("headers", ())):
        raise NulCharacterError(where="请求头")


def parse_json_body(body: bytes) -> Any:
    """The body of a JSON route as a value, or the client error that says why it is none: a NUL character anywhere
    (raw, or escaped as \\u0000), text that is not JSON (syntax, invalid UTF-8, a lone surrogate, NaN), or nesting
    deeper than :data:`MAX_JSON_DEPTH`. The checks cost a substring search on ordinary bodies."""
    if b"\x00" in body or (b"\\u0000" in body and _ESCAPED_NUL.search(body)):
        raise NulCharacterError(where="请求体")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if exc.msg.startswith("depth limit"):
            raise JsonTooDeepError(limit=MAX_JSON_DEPTH) from exc
        where = f"第 {exc.lineno} 行第 {exc.colno} 列有误" if body.strip() else "请求体为空"
        raise MalformedJsonError(reason=where, error=exc.msg) from exc
    # Fewer brackets than the limit cannot nest deeper than it: most bodies are never walked.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _deeper_than(value, MAX_JSON_DEPTH):
        raise JsonTooDeepError(limit=MAX_JSON_DEPTH)
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def is_json_media_type(content_type: str) -> bool:
    """application/json or application/<anything>+json, with or without parameters (charset=…)."""
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class _JsonRequest(Request):
    """A request whose JSON body was parsed (and checked) once, by :func:`parse_json_body`: FastAPI's body reading
    and a route's own ``await request.json()`` get that value."""

    _parsed: Any
    _has_parsed = False

    async def json(self) -> Any:
        if not self._has_parsed:
            self._parsed = parse_json_body(await self.body())
            self._has_parsed = True
        return self._parsed


class ServiceRoute(APIRoute):
    """The route class of every service (its routers are built with ``route_class=ServiceRoute``): before a route's
    own code runs, a NUL character in the path or query is refused (400 NUL_CHARACTER) and, on a route that takes a
    JSON body, a non-empty body must be sent as JSON (415 UNSUPPORTED_MEDIA_TYPE) and be JSON free of NUL characters
    and not absurdly deep (400). Routes whose body is a file or a form (the registry's import) keep their own rules
    and their bodies are never read here. The statuses are documented on each route."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        errors = _JSON_ROUTE_ERRORS if self.takes_json else (NulCharacterError,)
        for error in errors:
            spec = COMMON_ERRORS[error]
            # A copy: the router's responses are shared by its routes.
            response = dict(self.responses.get(spec.status) or {
                "description": _status_description(spec.status, []).rstrip(), "content": ERROR_CONTENT})
            line = f"- `{spec.code}`：{spec.message}"
            if line not in response["description"]:
                response["description"] += f"\n{line}"
            self.responses[spec.status] = response

    @property
    def takes_json(self) -> bool:
        """Whether the route's body is JSON (a pydantic body, or a JSON request body its OpenAPI extra documents)."""
        if self.body_field is not None:
            return not isinstance(self.body_field.field_info, params.Form)
        content = ((self.openapi_extra or {}).get("requestBody") or {}).get("content") or {}
        return any(is_json_media_type(media) for media in content)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_json = self.takes_json

        async def checked(request: Request) -> Response:
            refuse_nul_in_url(request.scope)
            if takes_json:
                request = _JsonRequest(request.scope, request.receive)
                body = await request.body()
                if body:
                    content_type = request.headers.get("content-type")
                    if not content_type or not is_json_media_type(content_type):
                        raise UnsupportedMediaTypeError(content_type=content_type or "（未给出）")
                    await request.json()  # parsed and checked here, where its errors render as themselves
            return await handler(request)

        return checked


def _chinese_validation_message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    if kind == "missing":
        return "缺少必填项"
    if kind == "value_error" and "error" in context:
        return str(context["error"])
    bounds = {"less_than_equal": ("不能大于", "le"), "less_than": ("须小于", "lt"),
              "greater_than_equal": ("不能小于", "ge"), "greater_than": ("须大于", "gt")}
    if kind in bounds:
        words, key = bounds[kind]
        return f"取值超出允许范围：{words} {context.get(key)}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "应为整数"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return "应为有限的数字"
    if kind in ("bool_parsing", "bool_type"):
        return "应为 true 或 false"
    if kind.startswith(("datetime_", "date_", "timezone_")):
        return "应为 ISO 8601 日期或时间"
    if kind in ("string_type", "str_type"):
        return "应为文本"
    if kind in ("list_type", "too_short", "too_long"):
        return {"list_type": "应为数组", "too_short": "条目过少", "too_long": "条目过多"}[kind]
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "应为 JSON 对象"
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


__all__ = ["FRAMEWORK_ERRORS", "INT4_MAX", "INT8_MAX", "MAX_JSON_DEPTH", "OUTAGE", "CorrelationId",
           "CurrentPrincipal", "RequestMetricsAndLog", "ServiceRoute", "UtcDatetime", "answer_outages",
           "correlation_id", "create_service_app", "current_principal", "document_models", "error_responses",
           "is_json_media_type", "parse_json_body", "refuse_nul_in_url"]
