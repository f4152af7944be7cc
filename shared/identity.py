"""Tokens of an identity provider (统一身份认证, Keycloak, the development issuer): verified against its JWKS.

The keys are fetched lazily — nothing connects at import or construction — on the first token, then again every
``refresh_s`` and when a token names a key (``kid``) not yet known, at most once per ``min_interval_s`` so that tokens
with junk kids cannot make every request a call to the provider. Each fetch replaces the key set: a key the provider
removed stops verifying at the next fetch. When a fetch fails the keys fetched before stay in use (the provider may be
restarting); with none yet, the request is refused with ``IDENTITY_PROVIDER_UNREACHABLE``, naming the cause.

What is checked (docs/identity.md): the header's ``alg`` is one of the accepted asymmetric algorithms and the one the
key is for (no ``none``, no HS*: an HS256 token "signed" with the provider's public key verifies with nothing here),
the signature, ``iss``, ``aud``, ``exp`` and ``nbf``/``iat`` with a small leeway; then the claims become a Principal
through the configured :class:`~shared.auth.ClaimMapping`. Accepted tokens are remembered like
:class:`~shared.auth.TokenVerifier` does (the memory is emptied at every fetch of the keys, so that a token of a
key that disappeared is checked again)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from shared.auth import DEFAULT_CLAIMS, ClaimMapping, Principal, principal_from_claims
from shared.errors import AuthenticationRequiredError, IdentityProviderUnreachableError, TokenKeyUnknownError
from shared.settings import ServiceSettings

log = logging.getLogger("shixiang.identity")
DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class ProviderConfig:
    issuer: str
    audience: str
    jwks_url: str | None = None  # None: the discovery document's jwks_uri
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    claims: ClaimMapping = DEFAULT_CLAIMS
    leeway_s: float = 30.0
    refresh_s: float = 300.0
    min_interval_s: float = 5.0
    http_timeout_s: float = 5.0


class KeyFetchError(Exception):
    """The JWKS (or the discovery document naming it) could not be fetched or read; the message says why."""


def keys_from_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document by ``kid`` (a key without a kid under ``""``). Keys for encryption
    (``use: enc``) and keys PyJWT cannot use are left out; a document that is not a JWKS is a :class:`KeyFetchError`."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise KeyFetchError("JWKS 不是 {\"keys\": [...]} 格式")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, Mapping) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK.from_dict(dict(entry))
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            log.warning("JWKS key %r skipped: %s", entry.get("kid"), exc)
            continue
        keys[str(entry.get("kid") or "")] = key
    return keys


def refusal(exc: jwt.InvalidTokenError) -> AuthenticationRequiredError:
    """A PyJWT refusal as the client's 401, saying which check failed (in Chinese)."""
    reasons: list[tuple[type[jwt.InvalidTokenError], str]] = [
        (jwt.ExpiredSignatureError, "令牌已过期"),
        (jwt.ImmatureSignatureError, "令牌尚未生效（nbf/iat 晚于当前时间）"),
        (jwt.InvalidAudienceError, "令牌的受众（aud）不是本系统"),
        (jwt.InvalidIssuerError, "令牌的签发者（iss）不是所配置的身份认证服务"),
        (jwt.MissingRequiredClaimError, "令牌缺少必需的声明"),
        (jwt.InvalidSignatureError, "令牌签名无效"),
        (jwt.InvalidAlgorithmError, "令牌的签名算法不被接受"),
    ]
    for kind, reason in reasons:
        if isinstance(exc, kind):
            return AuthenticationRequiredError(reason=reason)
    return AuthenticationRequiredError(reason="令牌无效")


class JwksTokenVerifier:
    """Verifies the provider's tokens (see the module's description). ``transport`` is httpx's (tests may hand one
    in); ``clock`` is wall time for token expiry, ``monotonic`` for refresh intervals."""

    def __init__(self, config: ProviderConfig, *, max_tokens: int = 10_000,
                 transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._max_tokens, self._transport, self._clock, self._monotonic = max_tokens, transport, clock, monotonic
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch (monotonic)
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._jwks_url = config.jwks_url
        self._last_failure: str | None = None  # why the last fetch failed (named by the refusal while no key is known)
        self._lock = asyncio.Lock()
        self._accepted: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        await self._refresh_if_due()
        accepted = self._accepted.get(token)
        if accepted is not None:
            principal, expires = accepted
            if self._clock() < expires + self.config.leeway_s:
                return principal
            del self._accepted[token]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise AuthenticationRequiredError(reason="令牌无效") from exc
        algorithm = header.get("alg")
        if algorithm not in self.config.algorithms:
            raise AuthenticationRequiredError(reason=f"令牌的签名算法“{algorithm}”不被接受")
        kid = str(header.get("kid") or "")
        key = await self._key(kid)
        if key.algorithm_name != algorithm:  # the key says what it signs with; a token may not pick another
            raise AuthenticationRequiredError(reason=f"令牌的签名算法“{algorithm}”与密钥“{kid}”不符")
        try:
            claims = jwt.decode(token, key.key, algorithms=[algorithm], issuer=self.config.issuer,
                                audience=self.config.audience, leeway=self.config.leeway_s,
                                options={"require": ["exp", "iss", "aud"]})
        except jwt.InvalidTokenError as exc:
            raise refusal(exc) from exc
        principal = principal_from_claims(claims, self.config.claims)
        if len(self._accepted) >= self._max_tokens:
            self._accepted.clear()
        self._accepted[token] = (principal, float(claims["exp"]))
        return principal

    async def _key(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid) or self._only_key(kid)
        if key is None:
            await self._refresh()  # or wait for the fetch under way; none when one was made a moment ago
            key = self._keys.get(kid) or self._only_key(kid)
        if key is None:
            if self._fetched_at is None:  # nothing was ever fetched: say why, not "unknown key"
                raise IdentityProviderUnreachableError(reason=self._last_failure or "尚未取得密钥")
            raise TokenKeyUnknownError(kid=kid)
        return key

    def _only_key(self, kid: str) -> jwt.PyJWK | None:
        """A token without a kid is checked against the provider's one key, when it publishes exactly one."""
        return next(iter(self._keys.values())) if not kid and len(self._keys) == 1 else None

    def _may_fetch_now(self) -> bool:
        return self._attempted_at is None or self._monotonic() - self._attempted_at >= self.config.min_interval_s

    async def _refresh_if_due(self) -> None:
        if self._fetched_at is not None and self._monotonic() - self._fetched_at >= self.config.refresh_s:
            await self._refresh()

    async def _refresh(self) -> None:
        """Fetch the keys, unless one was attempted less than ``min_interval_s`` ago. Requests that arrive during a
        fetch wait for it and use its result (the first tokens after a start come together: the console's reads)."""
        attempted = self._attempted_at
        async with self._lock:
            if self._attempted_at != attempted or not self._may_fetch_now():
                return  # fetched while this request waited, or a moment ago: use what is there
            self._attempted_at = self._monotonic()
            try:
                keys = await self._fetch()
            except KeyFetchError as exc:
                self._last_failure = str(exc)
                log.warning("identity provider %s: keys not fetched (%s); %d cached keys stay in use",
                            self.config.issuer, exc, len(self._keys))
                return
            if keys.keys() != self._keys.keys():
                log.info("identity provider %s: signing keys now %s", self.config.issuer, sorted(keys))
            self._keys, self._fetched_at, self._last_failure = keys, self._monotonic(), None
            self._accepted.clear()  # a token accepted under a key now gone must be checked again

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        async with httpx.AsyncClient(timeout=self.config.http_timeout_s, transport=self._transport,
                                     follow_redirects=False) as client:
            if self._jwks_url is None:
                discovery = await _get_json(client, self.config.issuer.rstrip("/") + DISCOVERY_PATH)
                # OpenID Connect Discovery §4.3: the document's issuer must be the one asked for
                if not isinstance(discovery, Mapping) or discovery.get("issuer") != self.config.issuer:
                    raise KeyFetchError("发现文档的 issuer 与配置不符")
                if not isinstance(discovery.get("jwks_uri"), str):
                    raise KeyFetchError("发现文档没有 jwks_uri")
                self._jwks_url = discovery["jwks_uri"]
            return keys_from_jwks(await _get_json(client, self._jwks_url))


async def _get_json(client: httpx.AsyncClient, url: str) -> Any:
    try:
        response = await client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise KeyFetchError(f"{url} 无法访问：{type(exc).__name__}") from exc
    if response.status_code != 200:
        raise KeyFetchError(f"{url} 答复 HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError as exc:
        raise KeyFetchError(f"{url} 的答复不是 JSON") from exc


def provider_config(settings: ServiceSettings) -> ProviderConfig:
    """The provider of a service's settings (SHIXIANG_AUTH_*; the issuer and audience set)."""
    assert settings.auth_issuer and settings.auth_audience  # ServiceSettings refuses an issuer alone
    return ProviderConfig(
        issuer=settings.auth_issuer, audience=settings.auth_audience, jwks_url=settings.auth_jwks_url,
        algorithms=settings.accepted_algorithms, claims=settings.claim_mapping, leeway_s=settings.auth_leeway_s,
        refresh_s=settings.auth_jwks_refresh_s, min_interval_s=settings.auth_jwks_min_interval_s,
        http_timeout_s=settings.auth_http_timeout_s)
