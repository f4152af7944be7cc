"""A small async HTTP client for the suite's v1 API, shared by the end-to-end tests, the benchmarks and scripts.
It speaks only the public HTTP contract (architecture.md), never the services' internals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        try:
            self.body: dict[str, Any] = response.json()
        except ValueError:
            self.body = {"code": "NON_JSON", "message": response.text}
        self.code = self.body.get("code")
        super().__init__(f"{response.request.method} {response.request.url} → {self.status} {self.body}")


@dataclass
class SuiteClient:
    urls: dict[str, str]  # service name → base URL (registry, coding, lifecycle, sync)
    tokens: dict[str, str]  # user → bearer token
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=30))

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, service: str, path: str, *, user: str | None, expect: int | tuple[int, ...] = (200, 201),
                   **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if user is not None:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        response = await self.http.request(method, f"{self.urls[service]}{path}", headers=headers, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise ApiError(response)
        return response

    async def create_item(self, elements: dict[str, Any], *, user: str = "entry-gz", **kwargs: Any) -> dict[str, Any]:
        return (await self.call("POST", "registry", "/registry/v1/items", user=user, json=elements, **kwargs)).json()

    async def command(self, item_id: str, command: str, *, user: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return (await self.call("POST", "lifecycle", f"/lifecycle/v1/items/{item_id}/commands/{command}", user=user,
                                json=body or {})).json()

    async def item_state(self, item_id: str, *, user: str = "publisher-gz", as_of: str | None = None) -> dict[str, Any]:
        params = {"as_of": as_of} if as_of else None
        return (await self.call("GET", "lifecycle", f"/lifecycle/v1/items/{item_id}", user=user, params=params)).json()

    async def wait_for_state(self, item_id: str, done: Callable[[dict[str, Any]], bool], *, user: str = "publisher-gz",
                             timeout_s: float = 30.0) -> dict[str, Any]:
        """Poll the item's state until ``done`` holds: quickly at first, backing off to 250 ms so that many waiting
        clients do not flood the lifecycle service."""
        deadline = time.monotonic() + timeout_s
        interval_s = 0.01
        while True:
            try:
                state = await self.item_state(item_id, user=user)
                if done(state):
                    return state
            except ApiError as exc:
                if exc.status != 404:
                    raise
                state = {}
            if time.monotonic() > deadline:
                raise TimeoutError(f"item {item_id} did not reach the expected state; last: {state}")
            await asyncio.sleep(interval_s)
            interval_s = min(interval_s * 1.5, 0.25)

    async def feed(self, after: int = 0, *, limit: int = 100, wait: float = 0.0, user: str = "national") -> tuple[list[dict[str, Any]], int]:
        response = await self.call("GET", "sync", "/sync/v1/feed", user=user,
                                   params={"after": after, "limit": limit, "wait": wait})
        return response.json(), int(response.headers["X-Next-Cursor"])

    async def drive_to_online(self, item_id: str) -> dict[str, Any]:
        """(draft arrives) → submit → approve → record-test pass → register → (code arrives) → publish, by the demo
        users. The waits are the eventual consistency between services, normally milliseconds."""
        await self.wait_for_state(item_id, lambda s: s.get("phase") is not None)
        await self.command(item_id, "submit", user="entry-gz")
        await self.command(item_id, "approve", user="reviewer-gz")
        await self.command(item_id, "record-test", user="tester-gz", body={"result": "pass", "notes": "联调通过"})
        await self.command(item_id, "register", user="publisher-gz")
        await self.wait_for_state(item_id, lambda s: s.get("code") is not None)
        return await self.command(item_id, "publish", user="publisher-gz")
