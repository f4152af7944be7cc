"""Bearer tokens and the role / region rules every request obeys.

Tokens come from an identity provider (RS256/ES256, verified against its JWKS by ``shared.identity``); HS256 with a
shared secret (``mint_token``, ``verify_token``, ``TokenVerifier``) remains for tests and for a development process
configured without an issuer. Either way the claims become a :class:`Principal` by one rule,
:func:`principal_from_claims`, through a :class:`ClaimMapping` (a provider's claim names differ; docs/identity.md).

Claims (our names; the mapping says where a provider keeps them): ``sub`` (user), ``roles`` (entry, reviewer, tester,
publisher, admin, operator, national) and ``regions`` (GB/T 2260 prefixes such as ``44``, ``4401``, ``440115``, or
``*`` for the whole country). A caller may act on, or
read, an item only when the item's region code starts with one of its region prefixes. Only the ``regions`` claim
scopes a caller: roles never widen it (the national platform sees every region because its token carries ``*``,
not because of its role).

Who may read what: the staff roles (``STAFF_ROLES``) read the services' internal content — drafts, pending
revisions, histories, codes of items not yet published — each service naming which of them in its service layer's
role table (``service_layer/roles.py``). Outside consumers (``OUTSIDE_ROLES``: the national platform) read only what
was published, through the sync gateway's feed, snapshot and feedback.

Identities: a subject is compared only in its normal form (``normalise_subject``), so that one user is one subject
however a token spells it."""

from __future__ import annotations

import re
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from shared.errors import AuthenticationRequiredError, PermissionDeniedError, RegionDeniedError

STAFF_ROLES = ("entry", "reviewer", "tester", "publisher", "admin", "operator")
OUTSIDE_ROLES = ("national",)
# Who reads the audit log of reads (shared.audit), and nothing else: not a staff role (no internal content), and
# admin does not hold it (三员分立: administrators are not their own auditors).
OVERSIGHT_ROLES = ("auditor",)
ROLES = STAFF_ROLES + OUTSIDE_ROLES + OVERSIGHT_ROLES
#: The roles by their Chinese names, for messages (the claims keep the English keys).
ROLE_LABELS = {"entry": "录入", "reviewer": "审核", "tester": "测试", "publisher": "发布", "admin": "管理员",
               "operator": "运维", "national": "国家平台", "auditor": "审计员"}
ALGORITHM = "HS256"  # tests' and unconfigured development processes' tokens only (shared.settings)
#: What an identity provider's token may be signed with: asymmetric algorithms only. ``none`` and HS* are never
#: accepted with a JWKS: an HS* token "signed" with the provider's public key would verify with a key everyone has.
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
ALL_REGIONS = "*"  # the national platform and national operators: every region
# A region claim: ``*`` or a GB/T 2260 prefix of 2, 4 or 6 digits. Anything else is refused: an empty prefix would
# match every region code, and characters PostgreSQL cannot store would fail the query that filters by it.
_REGION_CLAIM = re.compile(r"\*|[0-9]{2}(?:[0-9]{2}){0,2}")
# Characters no subject may hold (Unicode categories): controls (NUL included: PostgreSQL cannot store it), invisible
# format characters (zero-width, bidi overrides: "alice\u200b" would look like "alice" yet be another user),
# surrogates, private-use and unassigned code points, and line or paragraph separators.
_REFUSED_IN_SUBJECT = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def normalise_subject(subject: str) -> str:
    """The one form a subject is compared and recorded in: Unicode NFKC, surrounding whitespace removed.

    NFKC folds compatibility variants — full-width ``ａｌｉｃｅ``, the ideographic space, ligatures — into the
    characters they stand for, so a subject typed through another input method is the same user; stripping removes
    the spaces an identity provider or a copied user name may carry. Case is kept on purpose: identity providers
    treat subjects as case-sensitive (OpenID Connect Core §2: ``sub`` is a case-sensitive string), so ``Alice`` and
    ``alice`` may be two people, and folding them together would let one read the other's import jobs or replay the
    other's idempotency keys. Raises ``ValueError`` for a subject that is empty once normalised or that holds a
    control, invisible or unassigned character."""
    normal = unicodedata.normalize("NFKC", subject).strip()
    if not normal:
        raise ValueError("empty subject")
    if any(unicodedata.category(c) in _REFUSED_IN_SUBJECT for c in normal):
        raise ValueError("subject holds a control or invisible character")
    return normal


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

    @property
    def nationwide(self) -> bool:
        """Whether the caller's regions are the whole country (``*``)."""
        return ALL_REGIONS in self.regions

    def may_access_region(self, region_code: str) -> bool:
        return any(prefix == ALL_REGIONS or region_code.startswith(prefix) for prefix in self.regions)

    def covers(self, regions: Iterable[str]) -> bool:
        """Whether all of ``regions`` (codes, prefixes or ``*``) lie within the caller's: ``*`` only within ``*``;
        an empty list within nobody's."""
        wanted = list(regions)
        return bool(wanted) and all(self.nationwide or (r != ALL_REGIONS and self.may_access_region(r))
                                    for r in wanted)

    def require_region(self, region_code: str) -> None:
        if not self.may_access_region(region_code):
            raise RegionDeniedError(region_code=region_code, regions=list(self.regions))


def token_claims(*, subject: str, roles: Iterable[str], regions: Iterable[str], issuer: str, ttl_s: int,
                 now: float | None = None) -> dict[str, Any]:
    """The claims of a token the suite mints (HS256 for tests, the development issuer's): refuses roles that are
    not ours and regions that are not ``*`` or GB/T 2260 prefixes (``ValueError``)."""
    issued = int(now if now is not None else time.time())
    roles, regions = list(roles), list(regions)
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    malformed = [r for r in regions if not _REGION_CLAIM.fullmatch(r)]
    if malformed:
        raise ValueError(f"regions must be * or GB/T 2260 prefixes of 2, 4 or 6 digits: {malformed}")
    return {
        "sub": subject,
        "roles": list(roles),
        "regions": list(regions),
        "iss": issuer,
        "iat": issued,
        "exp": issued + ttl_s,
        "jti": uuid.uuid4().hex,
    }


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
    """An HS256 token (tests; services verify these only without SHIXIANG_AUTH_ISSUER, never in production)."""
    claims = token_claims(subject=subject, roles=roles, regions=regions, issuer=issuer, ttl_s=ttl_s, now=now)
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
    return principal_from_claims(claims, DEFAULT_CLAIMS), float(claims["exp"])


@dataclass(frozen=True)
class ClaimMapping:
    """Where a provider's token keeps the subject, roles and regions: dotted paths into the claims (Keycloak keeps
    realm roles at ``realm_access.roles``), and ``role_map`` from the provider's role names to ours (a role that is
    not in it keeps its name; names that are none of ours grant nothing)."""

    subject: str = "sub"
    roles: str = "roles"
    regions: str = "regions"
    role_map: Mapping[str, str] = field(default_factory=dict)


DEFAULT_CLAIMS = ClaimMapping()
_ABSENT = object()


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The claim at a dotted ``path`` (``realm_access.roles``), or ``None`` when any step is missing. A claim whose
    own name holds a dot (``https://example.gov.cn/regions``) is found by its whole name first."""
    whole = claims.get(path, _ABSENT)
    if whole is not _ABSENT:
        return whole
    value: Any = claims
    for step in path.split("."):
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


def principal_from_claims(claims: Mapping[str, Any], mapping: ClaimMapping = DEFAULT_CLAIMS) -> Principal:
    """The caller a verified token's claims describe, by ``mapping``; a refusal (401) for claims of the wrong shape:
    roles and regions must be lists (absent: none), regions ``*`` or GB/T 2260 prefixes, the subject a non-empty
    string without control or invisible characters."""
    roles = claim_at(claims, mapping.roles) or []
    regions = claim_at(claims, mapping.regions) or []
    if not isinstance(roles, list) or not isinstance(regions, list):
        raise AuthenticationRequiredError(reason="令牌声明格式错误")
    if not all(isinstance(r, str) and _REGION_CLAIM.fullmatch(r) for r in regions):
        raise AuthenticationRequiredError(reason="令牌的区划声明（regions）应为 * 或 2、4、6 位区划代码")
    subject = claim_at(claims, mapping.subject)
    try:
        if subject is None:
            raise ValueError("no subject")
        subject = normalise_subject(str(subject))
    except ValueError as exc:
        raise AuthenticationRequiredError(reason="令牌的用户标识（sub）为空或含控制字符、不可见字符") from exc
    mapped = frozenset(mapping.role_map.get(str(role), str(role)) for role in roles)
    return Principal(subject=subject, roles=mapped, regions=tuple(regions))


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

    async def verify(self, token: str) -> Principal:
        """What every request calls (``shared.http_auth``); the JWKS verifier's is the same, and may fetch keys."""
        return self(token)
