"""Bearer-token authentication (HS256 JWT) and the role / region rules every write obeys.

Claims: ``sub`` (user), ``roles`` (entry, reviewer, tester, publisher, admin, operator, national) and ``regions``
(GB/T 2260 prefixes such as ``44``, ``4401``, ``440115``, or ``*`` for the whole country). A caller may act on an
item only when the item's region code starts with one of its region prefixes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import jwt

from shared.errors import AuthenticationRequiredError, PermissionDeniedError, RegionDeniedError

ROLES = ("entry", "reviewer", "tester", "publisher", "admin", "operator", "national")
#: The roles by their Chinese names, for messages (the claims keep the English keys).
ROLE_LABELS = {"entry": "录入", "reviewer": "审核", "tester": "测试", "publisher": "发布", "admin": "管理员",
               "operator": "运维", "national": "国家平台"}
ALGORITHM = "HS256"
ALL_REGIONS = "*"  # the national platform and national operators: every region


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    regions: tuple[str, ...]

    def require_role(self, *allowed: str) -> None:
        """Pass when the caller holds any of ``allowed`` (admin holds every role)."""
        if "admin" in self.roles or self.roles.intersection(allowed):
            return
        raise PermissionDeniedError(required="/".join(allowed), roles=sorted(self.roles),
                                    required_labels="、".join(ROLE_LABELS.get(role, role) for role in allowed))

    def may_access_region(self, region_code: str) -> bool:
        return any(prefix == ALL_REGIONS or region_code.startswith(prefix) for prefix in self.regions)

    def require_region(self, region_code: str) -> None:
        if not self.may_access_region(region_code):
            raise RegionDeniedError(region_code=region_code, regions=list(self.regions))


def mint_token(
    secret: str,
    *,
    subject: str,
    roles: Iterable[str],
    regions: Iterable[str],
    issuer: str = "shixiang",
    ttl_s: int = 12 * 3600,
    now: float | None = None,
) -> str:
    issued = int(now if now is not None else time.time())
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    claims = {
        "sub": subject,
        "roles": list(roles),
        "regions": list(regions),
        "iss": issuer,
        "iat": issued,
        "exp": issued + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, secret: str, *, issuer: str = "shixiang") -> Principal:
    return _verify(token, secret, issuer)[0]


def _verify(token: str, secret: str, issuer: str) -> tuple[Principal, float]:
    """The token's principal and its expiry (epoch seconds)."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=issuer, options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationRequiredError(reason="令牌已过期") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthenticationRequiredError(reason="令牌无效") from exc
    roles = claims.get("roles") or []
    regions = claims.get("regions") or []
    if not isinstance(roles, list) or not isinstance(regions, list):
        raise AuthenticationRequiredError(reason="令牌声明格式错误")
    principal = Principal(subject=str(claims["sub"]), roles=frozenset(map(str, roles)),
                          regions=tuple(map(str, regions)))
    return principal, float(claims["exp"])


class TokenVerifier:
    """``verify_token`` for one secret and issuer, remembering the tokens it accepted until they expire.

    A client sends the same token with every request, and checking it (base64, JSON, HMAC, claims) cost about 6% of
    the CPU of a lifecycle command (profiled). The token string is the key, so a remembered answer is the one a full
    check would give: only the expiry can change it over time, and it is checked on every use. Refused tokens are
    never remembered. The memory is bounded: it is emptied when full."""

    def __init__(self, secret: str, *, issuer: str = "shixiang", max_tokens: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        self._secret, self._issuer, self._max_tokens, self._clock = secret, issuer, max_tokens, clock
        self._accepted: dict[str, tuple[Principal, float]] = {}

    def __call__(self, token: str) -> Principal:
        accepted = self._accepted.get(token)
        if accepted is not None:
            principal, expires = accepted
            if self._clock() < expires:  # PyJWT's rule: expired once now >= exp
                return principal
            del self._accepted[token]
            raise AuthenticationRequiredError(reason="令牌已过期")  # what the full check would answer now
        principal, expires = _verify(token, self._secret, self._issuer)
        if len(self._accepted) >= self._max_tokens:
            self._accepted.clear()
        self._accepted[token] = (principal, expires)
        return principal
