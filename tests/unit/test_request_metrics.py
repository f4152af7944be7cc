"""The request-latency middleware of every service app, driven in memory (no server, no database)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from shared.http import RequestMetrics


def _count(service: str, method: str, route: str, status: int) -> float:
    labels = {"service": service, "method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("shixiang_http_request_seconds_count", labels) or 0.0


async def test_requests_are_counted_by_route_template_and_status() -> None:
    app = FastAPI()
    app.add_middleware(RequestMetrics, service="metrics-test")

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
