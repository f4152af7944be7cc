"""A webhook receiver for tests, as an integrator would write one: a real HTTP server (uvicorn on a free port) that
records every request and verifies signatures per Standard Webhooks, written from the spec
(https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md), not from the
gateway's code (and, for a subscription that asked for HMAC-SM3, from docs/webhooks.md's verification example)."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from shared.infra import free_port

TOLERANCE_S = 5 * 60  # the spec's suggested tolerance of webhook-timestamp


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None,
           scheme: str = "v1", digest: str = "sha256") -> bool:
    """Whether one of the ``v1`` signatures of ``webhook-signature`` is HMAC-SHA256 of ``{id}.{timestamp}.{body}``
    with the base64-decoded part of ``whsec_…`` as key, and the timestamp within the tolerance. (``scheme="v1sm3",
    digest="sm3"``: the HMAC-SM3 signatures of docs/webhooks.md instead.)"""
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs((now if now is not None else time.time()) - int(timestamp)) > TOLERANCE_S:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, digest).digest()).decode()
    for versioned in headers["webhook-signature"].split(" "):
        version, _, sig = versioned.partition(",")
        if version == scheme and hmac.compare_digest(sig, expected):
            return True
    return False


def verify_sm3(secret: str, headers: dict[str, str], body: bytes) -> bool:
    return verify(secret, headers, body, scheme="v1sm3", digest="sm3")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def entry(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def sequence(self) -> int:
        return int(self.entry["sequence"])


@dataclass
class Receiver:
    """Records requests by path. ``answers[path]``: statuses to answer in turn (then 200); ``redirect`` paths answer
    307 to ``/redirected``; ``gate``: a request numbered ``gate_at`` (1-based, all paths) waits for it."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    most_in_flight: dict[str, int] = field(default_factory=dict)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    gate_at: int | None = None

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        self.received.append(Received(path, {k.decode(): v.decode() for k, v in scope["headers"]}, body))
        self.in_flight[path] = self.in_flight.get(path, 0) + 1
        self.most_in_flight[path] = max(self.most_in_flight.get(path, 0), self.in_flight[path])
        try:
            if self.gate_at is not None and len(self.received) == self.gate_at:
                await self.gate.wait()
            await asyncio.sleep(0.001)  # a concurrent second request to this path would overlap this one
            queued = self.answers.get(path)
            status = queued.pop(0) if queued else 200
            headers = [(b"location", self.url("/redirected").encode())] if path == "/redirect" else []
            await send({"type": "http.response.start", "status": 307 if path == "/redirect" else status,
                        "headers": headers})
            await send({"type": "http.response.body", "body": b""})
        finally:
            self.in_flight[path] -= 1


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = uvicorn.Server(uvicorn.Config(receiver, host="127.0.0.1", port=receiver.port, log_level="warning",
                                           lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        receiver.gate.set()
        server.should_exit = True
        await task
