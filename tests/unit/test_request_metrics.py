"""The request middleware of every service app (latency metrics and one log line per request), driven in memory
(no server, no database)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY

from shared.auth import TokenVerifier, mint_token
from shared.errors import AuthenticationRequiredError
from shared.http import RequestMetricsAndLog
from shared.http_auth import CorrelationId, CurrentPrincipal

SECRET = "a-test-secret-of-thirty-two-chars!!"


def _count(service: str, method: str, route: str, status: int) -> float:
    labels = {"service": service, "method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("shixiang_http_request_seconds_count", labels) or 0.0


async def test_requests_are_counted_by_route_template_and_status() -> None:
    app = FastAPI()
    app.add_middleware(RequestMetricsAndLog, service="metrics-test")

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @app.post("/things", status_code=201)
    async def create(body: dict[str, str]) -> dict[str, str]:
        return body

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        assert (await http.get("/things/a")).json() == {"id": "a"}
        assert (await http.get("/things/b")).status_code == 200
        assert (await http.post("/things", json={"name": "x"})).json() == {"name": "x"}
        assert (await http.get("/nowhere")).status_code == 404

    assert _count("metrics-test", "GET", "/things/{thing_id}", 200) == 2
    assert _count("metrics-test", "POST", "/things", 201) == 1
    assert _count("metrics-test", "GET", "unmatched", 404) == 1


async def test_every_request_is_one_structured_log_line_with_its_caller_and_correlation_id(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shixiang.access")
    app = FastAPI()
    app.add_middleware(RequestMetricsAndLog, service="log-test")
    app.state.verify_token = TokenVerifier(SECRET)

    @app.exception_handler(AuthenticationRequiredError)
    async def refused(request: Request, exc: AuthenticationRequiredError) -> JSONResponse:  # as every service's app
        return JSONResponse({"code": "AUTHENTICATION_REQUIRED"}, status_code=401)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str, principal: CurrentPrincipal, correlation: CorrelationId) -> dict[str, str]:
        return {"id": thing_id}

    token = mint_token(SECRET, subject="alice", roles=["entry"], regions=["4401"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        await http.get("/things/a?q=secret", headers={"Authorization": f"Bearer {token}", "X-Correlation-ID": "c-1"})
        await http.get("/things/b")  # no token: 401, no subject; a correlation id of its own is not made
        await http.get("/nowhere")

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "shixiang.access"]
    assert [(line["method"], line["path"], line["route"], line["status"]) for line in lines] == [
        ("GET", "/things/a", "/things/{thing_id}", 200), ("GET", "/things/b", "/things/{thing_id}", 401),
        ("GET", "/nowhere", "unmatched", 404)]
    assert (lines[0]["subject"], lines[0]["correlation_id"]) == ("alice", "c-1")
    assert lines[1]["subject"] is None and lines[2]["correlation_id"] is None
    assert all(line["service"] == "log-test" and line["duration_ms"] >= 0 for line in lines)
    assert "secret" not in caplog.text  # the query string may carry search text: never logged
