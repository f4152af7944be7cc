"""Sending webhooks: one pooled HTTP client whose every connection is checked where it is made (SSRF protection).

The host name is resolved, every address it resolves to is checked (``domain.webhooks.check_addresses``) and the
connection goes to a checked address: a name that was public when subscribed and now resolves to a private one
(DNS rebinding) is refused at the connection itself, with no window between the check and the connect. Redirects
are never followed (a 3xx is a failed attempt) and no proxy from the environment is used."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from sync_gateway.domain.errors import WebhookUrlNotAllowedError
from sync_gateway.domain.webhooks import check_addresses

Resolve = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` as the system resolves them (none: it does not resolve)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):  # no such name, or one that cannot be a DNS name
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the gateway may reach (see the module's docstring)."""

    def __init__(self, resolver: Resolve, networks: Callable[[], Iterable[str]]) -> None:
        self.resolver = resolver
        self.networks = networks
        self._inner = httpcore.AnyIOBackend()

    # httpcore's interface names these parameters (the timeout is httpcore's, passed on).
    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolver(host, port)
        check_addresses(f"{host}:{port}", host, addresses, self.networks())
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                     socket_options=socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"{host} has no address")

    async def connect_unix_socket(self, path: str, timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _remember_sniffio_is_missing() -> None:
    """httpcore imports ``sniffio`` on every request (to tell asyncio from trio) and falls back to asyncio when it is
    missing, as it is here; a failed import is not cached, so each request searched the whole import path again (a
    third of a delivery's CPU, bench.webhook_bench). Recording the absence makes that import fail at once."""
    if importlib.util.find_spec("sniffio") is None:
        sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]  # None: "known missing" to the import system


@dataclass(frozen=True)
class Answer:
    """What one attempt got: the status (``None``: no answer), the error (Chinese or the client's), the time taken."""

    status: int | None
    error: str | None
    duration_ms: int


# Connections of one lane: one message is in flight per subscription, a second connection only covers a retry
# racing a connection the receiver is closing.
LANE_CONNECTIONS = 2


class WebhookSender:
    """The process's webhook client (:meth:`start`/:meth:`stop`): one small ``httpx.AsyncClient`` per *lane* (a
    subscription: one message in flight each), each keeping its connection alive between deliveries.

    Why not one pool for all: httpcore looks at every connection of its pool for each request (is it idle, has it
    expired — a poll of its socket each), so with 64 subscriptions in flight a request cost ≈ 1.3 ms of CPU, most of
    it in that scan (profiled, bench.webhook_bench); a pool of one connection per lane makes the scan one check."""

    def __init__(self, *, timeout_s: float, networks: Callable[[], Iterable[str]],
                 resolver: Resolve = resolve) -> None:
        self.timeout_s = timeout_s
        self.resolver = resolver
        self.networks = networks
        self._started = False
        self._clients: dict[str, httpx.AsyncClient] = {}

    def _transport(self) -> httpx.AsyncHTTPTransport:
        limits = httpx.Limits(max_connections=LANE_CONNECTIONS, max_keepalive_connections=LANE_CONNECTIONS)
        transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
        # httpx has no parameter for the network backend: its pool is rebuilt around ours, with the same settings.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckedBackend(self.resolver, self.networks))
        return transport

    async def start(self) -> None:
        _remember_sniffio_is_missing()
        self._started = True

    async def stop(self) -> None:
        self._started = False
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def _client(self, lane: str) -> httpx.AsyncClient:
        client = self._clients.get(lane)
        if client is None:
            client = self._clients[lane] = httpx.AsyncClient(transport=self._transport(), timeout=self.timeout_s,
                                                             follow_redirects=False, trust_env=False)
        return client

    async def send(self, url: str, headers: Mapping[str, str], body: bytes, *, lane: str | None = None) -> Answer:
        """POST ``body`` to ``url``; ``lane``: whose delivery it is (a subscription id; default the URL)."""
        if not self._started:
            raise RuntimeError("WebhookSender.start() was not called")
        started = time.perf_counter()
        try:
            response = await self._client(lane or url).post(url, content=body, headers=dict(headers))
            status, error = response.status_code, None
            if 300 <= status < 400:
                error = f"重定向不被跟随（Location: {response.headers.get('location', '')}）"
        except WebhookUrlNotAllowedError as exc:
            status, error = None, str(exc.context.get("reason"))
        except httpx.TimeoutException as exc:
            status, error = None, f"超时（{type(exc).__name__}）"
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        return Answer(status, error, round((time.perf_counter() - started) * 1000))
