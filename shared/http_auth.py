"""Request dependencies every route uses: the caller (bearer token → Principal) and the correlation id."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from shared.auth import Principal, TokenVerifier
from shared.errors import AuthenticationRequiredError
from shared.identity import JwksTokenVerifier, provider_config
from shared.settings import ServiceSettings


def token_verifier(settings: ServiceSettings) -> TokenVerifier | JwksTokenVerifier:
    """The identity provider's JWKS when SHIXIANG_AUTH_ISSUER is set (production always: its settings require it);
    else HS256 with SHIXIANG_JWT_SECRET (tests, a development process without an issuer). Connects to nothing."""
    if settings.uses_identity_provider:
        return JwksTokenVerifier(provider_config(settings))
    return TokenVerifier(settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer)


async def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationRequiredError(reason="缺少 Authorization: Bearer 令牌")
    verify: TokenVerifier | JwksTokenVerifier = request.app.state.verify_token
    principal = await verify.verify(token.strip())
    request.state.subject = principal.subject  # for the request's log line (shared.http.RequestMetricsAndLog)
    request.state.principal = principal  # for the request's audit record (shared.audit.AuditMiddleware)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def correlation_id(request: Request) -> str:  # async: a sync dependency costs a thread hop per request
    """The caller's ``X-Correlation-ID`` (or a fresh one): carried on every event the request causes."""
    request.state.correlation_id = value = request.headers.get("x-correlation-id") or uuid.uuid4().hex
    return value


CorrelationId = Annotated[str, Depends(correlation_id)]
