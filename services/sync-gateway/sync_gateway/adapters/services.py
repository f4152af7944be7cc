"""The other services as the operators' console reads them: their HTTP APIs, called with the operator's own bearer
token and correlation id (each service checks the caller's roles and regions itself; the gateway never reads with
more rights than its caller). One pooled ``httpx.AsyncClient`` for all; opened and closed by the app's lifespan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from sync_gateway.domain.errors import (
    ServiceUnavailableError,
    UpstreamConflictError,
    UpstreamForbiddenError,
    UpstreamInvalidError,
    UpstreamNotFoundError,
    UpstreamRefusedError,
    UpstreamUnauthorizedError,
)

# What the console calls a service (the names are the suite's: shixiang.services.SERVICES).
SERVICE_LABELS = {"registry": "事项登记", "coding": "事项编码", "lifecycle": "生命周期", "sync": "同步网关"}


class ServiceClients:
    def __init__(self, urls: Mapping[str, str], *, timeout_s: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.timeout_s = timeout_s
        # None: the network. Tests that run the services in one process set one that hands each request to its app.
        self.transport = transport
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def call(self, service: str, method: str, path: str, *, authorization: str, correlation_id: str | None,
                   params: Mapping[str, Any] | None = None, json: Any = None) -> httpx.Response:
        """One call; a 4xx answer is returned for the caller to read (``refused`` turns it into an error), a
        service that cannot be reached or answers 5xx raises :class:`ServiceUnavailableError`."""
        if self._client is None:  # called outside the lifespan (a test building the gateway by hand)
            await self.start()
        assert self._client is not None
        headers = {"Authorization": authorization}
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        try:
            response = await self._client.request(method, self.urls[service] + path, headers=headers,
                                                  params={k: v for k, v in (params or {}).items() if v is not None},
                                                  json=json)
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(service=SERVICE_LABELS.get(service, service),
                                          reason=type(exc).__name__) from exc
        if response.status_code >= 500:
            raise ServiceUnavailableError(service=SERVICE_LABELS.get(service, service),
                                          reason=f"HTTP {response.status_code}")
        return response

    async def get_json(self, service: str, path: str, *, authorization: str, correlation_id: str | None,
                       params: Mapping[str, Any] | None = None) -> Any:
        """GET and the JSON body; a 4xx becomes :class:`UpstreamRefusedError` with the service's own code and
        message (a 403 of the lifecycle stays a 403 of the console)."""
        response = await self.call(service, "GET", path, authorization=authorization, correlation_id=correlation_id,
                                   params=params)
        return refused_or_json(service, response)


# The status another service refused with → the console's error of that status (the other's code and message kept).
_REFUSALS: dict[int, type[UpstreamRefusedError]] = {
    400: UpstreamInvalidError, 422: UpstreamInvalidError, 401: UpstreamUnauthorizedError,
    403: UpstreamForbiddenError, 404: UpstreamNotFoundError, 409: UpstreamConflictError}


def refused_or_json(service: str, response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {}
        error = _REFUSALS.get(response.status_code, UpstreamRefusedError)
        raise error(status=response.status_code, service=SERVICE_LABELS.get(service, service),
                    upstream_code=str(body.get("code", "HTTP_ERROR")), upstream_message=str(body.get("message", "")))
    return response.json()
