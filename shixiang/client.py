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

    async def call(self, method: str, service: str, path: str, *, user: str | None,
                   expect: int | tuple[int, ...] = (200, 201), **kwargs: Any) -> httpx.Response:
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

    async def registry_item(self, item_id: str, *, user: str = "entry-gz") -> dict[str, Any]:
        return (await self.call("GET", "registry", f"/registry/v1/items/{item_id}", user=user)).json()

    async def revise_item(self, item_id: str, elements: dict[str, Any], revision: int, *, user: str = "entry-gz",
                          maintenance: bool = False) -> dict[str, Any]:
        """A new revision (PUT with If-Match: the revision the change is based on)."""
        return (await self.call("PUT", "registry", f"/registry/v1/items/{item_id}", user=user, json=elements,
                                headers={"If-Match": f'"{revision}"'},
                                params={"maintenance": "true"} if maintenance else None)).json()

    async def import_list(self, content: bytes, *, filename: str, user: str = "entry-gz") -> dict[str, Any]:
        """Start an import job (xlsx, csv or ndjson bytes); poll it with :meth:`import_job`."""
        return (await self.call("POST", "registry", "/registry/v1/imports", user=user, content=content,
                                params={"filename": filename}, expect=202)).json()

    async def import_job(self, job_id: str, *, user: str = "entry-gz") -> dict[str, Any]:
        return (await self.call("GET", "registry", f"/registry/v1/imports/{job_id}", user=user)).json()

    async def wait_for_import(self, job_id: str, *, user: str = "entry-gz", timeout_s: float = 600.0,
                              interval_s: float = 0.25,
                              progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Poll an import job until it leaves ``queued``/``running`` (completed, failed, interrupted …) and return
        its last view; ``progress`` is called with every view seen on the way."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = await self.import_job(job_id, user=user)
            if progress is not None:
                progress(job)
            if job["status"] not in ("queued", "running"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"import {job_id} still {job['status']} after {timeout_s} s: {job}")
            await asyncio.sleep(interval_s)

    async def command(self, item_id: str, command: str, *, user: str,
                      body: dict[str, Any] | None = None) -> dict[str, Any]:
        return (await self.call("POST", "lifecycle", f"/lifecycle/v1/items/{item_id}/commands/{command}", user=user,
                                json=body or {})).json()

    async def batch(self, command: str, item_ids: list[str], *, user: str,
                    body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One lifecycle command for many items; the report has one result per item."""
        return (await self.call("POST", "lifecycle", "/lifecycle/v1/batches", user=user,
                                json={"command": command, "item_ids": item_ids, "body": body or {}})).json()

    async def adjust(self, kind: str, predecessors: list[str], successors: list[str], reason: str, *,
                     user: str = "publisher-gz") -> dict[str, Any]:
        """Split or merge (事项调整): predecessors cancelled, lineage recorded on every item."""
        return (await self.call("POST", "lifecycle", "/lifecycle/v1/adjustments", user=user, json={
            "kind": kind, "predecessors": predecessors, "successors": successors, "reason": reason})).json()

    async def item_history(self, item_id: str, *, user: str = "publisher-gz") -> list[dict[str, Any]]:
        return (await self.call("GET", "lifecycle", f"/lifecycle/v1/items/{item_id}/events", user=user)).json()

    async def verify_item(self, item_id: str, *, user: str = "publisher-gz") -> dict[str, Any]:
        """The item's hash chain checked by the lifecycle service."""
        return (await self.call("GET", "lifecycle", f"/lifecycle/v1/items/{item_id}/verify", user=user)).json()

    async def national_feedback(self, item_id: str, item_version: int, result: str, *, reason: str | None = None,
                                user: str = "national") -> dict[str, Any]:
        """The national platform acknowledging (or rejecting) one fed item version."""
        return (await self.call("POST", "sync", "/sync/v1/national/feedback", user=user, json={
            "item_id": item_id, "item_version": item_version, "result": result, "reason": reason})).json()

    async def item_state(self, item_id: str, *, user: str = "publisher-gz", as_of: str | None = None) -> dict[str, Any]:
        params = {"as_of": as_of} if as_of else None
        return (await self.call("GET", "lifecycle", f"/lifecycle/v1/items/{item_id}", user=user, params=params)).json()

    async def list_items(self, *, user: str = "publisher-gz", cursor: str | None = None, limit: int = 100,
                         **filters: str | bool | None) -> dict[str, Any]:
        """One page of ``GET /lifecycle/v1/items`` (the lifecycle's list projection, ordered by item id):
        ``{"items": [...], "next_cursor": id or None}``. Filters as the endpoint takes them: phase, step, region
        (prefix), police_type, item_type, service_category, code (prefix), name (contains), pending_update, national
        (rejected / acknowledged); ``None`` leaves a filter out. ``limit`` is at most 1000."""
        params: dict[str, Any] = {k: (str(v).lower() if isinstance(v, bool) else v)
                                  for k, v in filters.items() if v is not None}
        params["limit"] = limit
        if cursor is not None:
            params["cursor"] = cursor
        return (await self.call("GET", "lifecycle", "/lifecycle/v1/items", user=user, params=params)).json()

    async def all_items(self, *, user: str = "publisher-gz", page_size: int = 1000,
                        **filters: str | bool | None) -> list[dict[str, Any]]:
        """Every item of the lifecycle's list that matches ``filters`` (see :meth:`list_items`), page after page.
        Pages are read by key (item id), so an item changing meanwhile is seen at most once, and maybe not at all
        if it stops matching before its page is read."""
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await self.list_items(user=user, cursor=cursor, limit=page_size, **filters)
            rows += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return rows

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

    async def feed(self, after: int = 0, *, limit: int = 100, wait: float = 0.0,
                   user: str = "national") -> tuple[list[dict[str, Any]], int]:
        response = await self.call("GET", "sync", "/sync/v1/feed", user=user,
                                   params={"after": after, "limit": limit, "wait": wait})
        return response.json(), int(response.headers["X-Next-Cursor"])

    async def item_code(self, item_id: str, *, user: str = "publisher-gz") -> dict[str, Any]:
        """The item's current code, code history, lineage and coding events."""
        return (await self.call("GET", "coding", f"/coding/v1/items/{item_id}/code", user=user)).json()

    async def decode_code(self, code: str, *, user: str = "publisher-gz") -> dict[str, Any]:
        """A 24-character item code or 27-character service code, decoded, with its holder."""
        return (await self.call("GET", "coding", f"/coding/v1/codes/{code}", user=user)).json()

    async def preview_code(self, elements: dict[str, Any], *, user: str = "entry-gz") -> dict[str, Any]:
        """The code these coded elements would get now (nothing is allocated)."""
        return (await self.call("POST", "coding", "/coding/v1/codes:preview", user=user, json=elements)).json()

    async def allocate_service_code(self, item_id: str, name: str, *, user: str = "publisher-gz") -> dict[str, Any]:
        """事项服务编码 for the item's service called ``name`` (the same name again returns the same code)."""
        return (await self.call("POST", "coding", f"/coding/v1/items/{item_id}/services", user=user,
                                json={"name": name})).json()

    async def set_pinyin_override(self, phrase: str, letters: str, reason: str, *,
                                  user: str = "admin-gd") -> dict[str, Any]:
        return (await self.call("POST", "coding", "/coding/v1/pinyin-overrides", user=user,
                                json={"phrase": phrase, "letters": letters, "reason": reason})).json()

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
