"""Tokens of an identity provider, verified against its JWKS (shared/identity.py), tested against a second,
independently generated issuer (tests/integration/identity_issuer.py: its own RSA keys, served over HTTP on
127.0.0.1): rotation, audience, issuer, expiry, `alg` confusion, unknown keys, the development issuer's tokens, claim
mapping — and, through a service's app, that each refusal is a 401 with a stable code and a Chinese message.

Refresh intervals run on a clock the test moves (``monotonic=``): nothing here waits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import ClaimMapping, Principal
from shared.errors import (
    COMMON_ERRORS,
    AuthenticationRequiredError,
    IdentityProviderUnreachableError,
    TokenKeyUnknownError,
)
from shared.identity import JwksTokenVerifier, ProviderConfig
from shared.infra import free_port
from shixiang.dev_issuer import DevIssuer
from tests.integration.identity_issuer import SecondIssuer

from coding.bootstrap import create_app as create_coding_app
from coding.config import CodingSettings

REFRESH_S, MIN_INTERVAL_S = 300.0, 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def issuer() -> Iterator[SecondIssuer]:
    with SecondIssuer() as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock()


def verifier_for(provider: SecondIssuer, clock: Clock, **config: Any) -> JwksTokenVerifier:
    settings: dict[str, Any] = {"issuer": provider.url, "audience": provider.audience, "refresh_s": REFRESH_S,
                                "min_interval_s": MIN_INTERVAL_S, **config}
    return JwksTokenVerifier(ProviderConfig(**settings), monotonic=clock)


async def refused(verifier: JwksTokenVerifier, token: str) -> AuthenticationRequiredError:
    with pytest.raises(AuthenticationRequiredError) as refusal:
        await verifier.verify(token)
    return refusal.value


def code_of(error: AuthenticationRequiredError) -> str:
    return COMMON_ERRORS[type(error)].code


# ---- the verifier -------------------------------------------------------------------------------------------------
async def test_a_good_token_of_the_provider_is_accepted_its_keys_found_through_discovery(
        issuer: SecondIssuer, clock: Clock) -> None:
    verifier = verifier_for(issuer, clock)
    assert issuer.jwks_fetches == 0  # nothing connects before the first token
    principal = await verifier.verify(issuer.token())
    assert principal == Principal("zhang.san", frozenset({"reviewer"}), ("4401",))
    await verifier.verify(issuer.token(sub="li.si"))
    assert issuer.jwks_fetches == 1  # cached


async def test_the_first_tokens_arriving_together_wait_for_one_fetch_of_the_keys(
        issuer: SecondIssuer, clock: Clock) -> None:
    import asyncio

    verifier = verifier_for(issuer, clock)
    principals = await asyncio.gather(*(verifier.verify(issuer.token(sub=f"user-{n}")) for n in range(10)))
    assert [p.subject for p in principals] == [f"user-{n}" for n in range(10)]
    assert issuer.jwks_fetches == 1


async def test_a_rotated_key_is_accepted_after_the_refresh_and_a_removed_one_refused_after_the_next(
        issuer: SecondIssuer, clock: Clock) -> None:
    verifier = verifier_for(issuer, clock)
    old_kid = issuer.current_kid
    old_token = issuer.token()
    await verifier.verify(old_token)
    new_kid = issuer.add_key()  # the provider publishes a new key and signs with it
    clock.now += MIN_INTERVAL_S
    assert (await verifier.verify(issuer.token(kid=new_kid))).subject == "zhang.san"  # its kid made it refresh
    assert issuer.jwks_fetches == 2
    issuer.remove_key(old_kid)
    assert (await verifier.verify(old_token)).subject == "zhang.san"  # until the next refresh
    clock.now += REFRESH_S
    error = await refused(verifier, old_token)  # remembered once, refused now: the key is gone
    assert code_of(error) == "TOKEN_KEY_UNKNOWN" and error.context == {"kid": old_kid}
    assert code_of(await refused(verifier, issuer.token(kid=old_kid, sub="wang.wu"))) == "TOKEN_KEY_UNKNOWN"
    assert (await verifier.verify(issuer.token(kid=new_kid))).subject == "zhang.san"


async def test_unknown_kids_are_refused_and_fetch_the_keys_at_most_once_per_interval(
        issuer: SecondIssuer, clock: Clock) -> None:
    verifier = verifier_for(issuer, clock)
    await verifier.verify(issuer.token())
    stranger = SecondIssuer()  # keys nobody publishes
    for _ in range(20):
        error = await refused(verifier, stranger.token(kid=stranger.current_kid))
        assert isinstance(error, TokenKeyUnknownError)
    assert issuer.jwks_fetches == 1  # every junk kid came within the interval of the first fetch
    clock.now += MIN_INTERVAL_S
    await refused(verifier, stranger.token(kid=stranger.current_kid))
    await refused(verifier, stranger.token(kid=stranger.current_kid))
    assert issuer.jwks_fetches == 2


@pytest.mark.parametrize(("claims", "reason"), [
    ({"aud": "another-application"}, "令牌的受众（aud）不是本系统"),
    ({"aud": None}, "令牌缺少必需的声明"),
    ({"iss": "http://127.0.0.1:1/realms/other"}, "令牌的签发者（iss）不是所配置的身份认证服务"),
    ({"exp": 1_000_000_000}, "令牌已过期"),
    ({"nbf": 4_000_000_000}, "令牌尚未生效（nbf/iat 晚于当前时间）"),
], ids=["wrong-audience", "no-audience", "wrong-issuer", "expired", "not-yet-valid"])
async def test_a_token_for_another_audience_of_another_issuer_or_out_of_its_time_is_refused(
        issuer: SecondIssuer, clock: Clock, claims: dict[str, Any], reason: str) -> None:
    error = await refused(verifier_for(issuer, clock), issuer.token(**claims))
    assert (code_of(error), error.context) == ("AUTHENTICATION_REQUIRED", {"reason": reason})


async def test_expiry_allows_the_configured_leeway_only(issuer: SecondIssuer, clock: Clock) -> None:
    import time

    verifier = verifier_for(issuer, clock, leeway_s=30)
    await verifier.verify(issuer.token(exp=int(time.time()) - 5))
    await refused(verifier, issuer.token(exp=int(time.time()) - 120))


@pytest.mark.parametrize("attack", ["hs256_with_public_key", "unsigned"])
async def test_alg_confusion_is_refused(issuer: SecondIssuer, clock: Clock, attack: str) -> None:
    verifier = verifier_for(issuer, clock)
    await verifier.verify(issuer.token())  # the keys are known: the refusal is about the algorithm
    error = await refused(verifier, getattr(issuer, attack)())
    assert code_of(error) == "AUTHENTICATION_REQUIRED"
    assert "签名算法" in error.context["reason"]


async def test_a_token_signed_with_an_algorithm_other_than_its_keys_is_refused(
        issuer: SecondIssuer, clock: Clock) -> None:
    import jwt

    # PS256 is accepted by this verifier, but the key is published for RS256 only
    verifier = verifier_for(issuer, clock, algorithms=("RS256", "PS256"))
    token = jwt.encode(issuer.claims(), issuer.private[issuer.current_kid], algorithm="PS256",
                       headers={"kid": issuer.current_kid})
    assert "不符" in (await refused(verifier, token)).context["reason"]


async def test_a_forged_signature_under_a_published_kid_is_refused(issuer: SecondIssuer, clock: Clock) -> None:
    forger = SecondIssuer()
    token = forger.token(kid=forger.current_kid)
    header, payload, _ = token.split(".")
    genuine_kid_header = issuer.token().split(".")[0]
    forged = f"{genuine_kid_header}.{payload}.{token.split('.')[2]}"
    assert header != genuine_kid_header
    error = await refused(verifier_for(issuer, clock), forged)
    assert error.context == {"reason": "令牌签名无效"}


async def test_a_token_of_the_development_issuer_is_refused_by_a_service_configured_for_another(
        issuer: SecondIssuer, clock: Clock, tmp_path: Path) -> None:
    dev = DevIssuer(tmp_path, "http://127.0.0.1:8010")
    token = dev.mint(subject="admin", roles=["admin"], regions=["*"])
    verifier = verifier_for(issuer, clock, algorithms=("RS256", "ES256"))
    await verifier.verify(issuer.token())
    assert isinstance(await refused(verifier, token), TokenKeyUnknownError)
    # even by a service expecting the development suite's audience: the key is not the provider's
    same_audience = verifier_for(issuer, clock, algorithms=("RS256", "ES256"), audience="shixiang")
    assert code_of(await refused(same_audience, token)) == "TOKEN_KEY_UNKNOWN"


async def test_keycloak_shaped_claims_are_mapped_by_configuration(issuer: SecondIssuer, clock: Clock) -> None:
    mapping = ClaimMapping(subject="preferred_username", roles="realm_access.roles",
                           regions="https://gaj.gd.gov.cn/regions",
                           role_map={"sx-entry": "entry", "sx-review": "reviewer"})
    verifier = verifier_for(issuer, clock, claims=mapping)
    token = issuer.token(sub="f:3c1e:12", preferred_username="zhang.san", roles=None, regions=None,
                         realm_access={"roles": ["offline_access", "sx-entry", "sx-review"]},
                         **{"https://gaj.gd.gov.cn/regions": ["4401", "4403"]})
    principal = await verifier.verify(token)
    assert principal.subject == "zhang.san"
    assert principal.roles == {"offline_access", "entry", "reviewer"}  # an unmapped role keeps its name: grants nothing
    assert principal.regions == ("4401", "4403")
    # the default mapping reads none of them: no roles, no regions
    plain = await verifier_for(issuer, clock).verify(token)
    assert (plain.subject, plain.roles, plain.regions) == ("f:3c1e:12", frozenset(), ())


async def test_a_mapped_regions_claim_of_the_wrong_shape_is_refused(issuer: SecondIssuer, clock: Clock) -> None:
    verifier = verifier_for(issuer, clock, claims=ClaimMapping(regions="org.regions"))
    assert "区划" in (await refused(verifier, issuer.token(org={"regions": ["44x"]}))).context["reason"]
    assert "格式" in (await refused(verifier, issuer.token(org={"regions": "4401"}))).context["reason"]


async def test_an_unreachable_provider_with_no_key_cached_refuses_naming_the_cause_and_cached_keys_outlive_it(
        clock: Clock) -> None:
    with SecondIssuer() as issuer:
        verifier = verifier_for(issuer, clock)
        await verifier.verify(issuer.token())
        token = issuer.token(sub="li.si")
    clock.now += REFRESH_S  # due for a refresh, which fails: the keys fetched before stay in use
    assert (await verifier.verify(token)).subject == "li.si"
    nowhere = verifier_for(issuer, clock, issuer=f"http://127.0.0.1:{free_port()}/realms/gone")
    error = await refused(nowhere, issuer.token())
    assert isinstance(error, IdentityProviderUnreachableError)
    assert "无法访问" in error.context["reason"]


async def test_a_discovery_document_naming_another_issuer_is_not_trusted(issuer: SecondIssuer, clock: Clock) -> None:
    verifier = verifier_for(issuer, clock, issuer=issuer.url + "/")  # the document says issuer.url
    error = await refused(verifier, issuer.token(iss=issuer.url + "/"))
    assert isinstance(error, IdentityProviderUnreachableError)
    assert "issuer" in error.context["reason"]


# ---- through a service ----------------------------------------------------------------------------------------------
@pytest.fixture
async def coding_http(database_url: str, topic_prefix: str, issuer: SecondIssuer) -> AsyncIterator[httpx.AsyncClient]:
    """The coding service configured for the second issuer, Keycloak-style (realm roles, a role map)."""
    settings = CodingSettings(database_url=database_url, topic_prefix=topic_prefix, roles="api", environment="test",
                              auth_issuer=issuer.url, auth_audience=issuer.audience,
                              auth_roles_claim="realm_access.roles", auth_role_map={"sx-admin": "admin"})
    app = create_coding_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://coding") as http,
    ):
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_service_configured_for_a_provider_accepts_its_tokens_and_refuses_others_with_a_stable_code(
        coding_http: httpx.AsyncClient, issuer: SecondIssuer, tmp_path: Path) -> None:
    from shared.auth import mint_token
    from shared.settings import DEVELOPMENT_JWT_SECRET

    stranger = SecondIssuer()  # keys of its own, never served
    admin = issuer.token(roles=None, realm_access={"roles": ["sx-admin"]}, regions=["*"])
    assert (await coding_http.get("/coding/v1/pinyin-overrides", headers=bearer(admin))).status_code == 200
    reviewer = issuer.token(roles=None, realm_access={"roles": ["reviewer"]})
    response = await coding_http.get("/coding/v1/pinyin-overrides", headers=bearer(reviewer))
    assert (response.status_code, response.json()["code"]) == (403, "ROLE_FORBIDDEN")
    refusals = {
        "wrong audience": (issuer.token(aud="other"), "AUTHENTICATION_REQUIRED"),
        "HS256 of the test secret": (mint_token(DEVELOPMENT_JWT_SECRET, subject="a", roles=["admin"], regions=["*"],
                                                issuer=issuer.url), "AUTHENTICATION_REQUIRED"),
        "alg confusion": (issuer.hs256_with_public_key(), "AUTHENTICATION_REQUIRED"),
        "alg none": (issuer.unsigned(), "AUTHENTICATION_REQUIRED"),
        "the development issuer's": (DevIssuer(tmp_path, issuer.url).mint(subject="a", roles=["admin"],
                                                                          regions=["*"]), "TOKEN_KEY_UNKNOWN"),
        "unknown kid": (stranger.token(), "TOKEN_KEY_UNKNOWN"),
    }
    for what, (token, code) in refusals.items():
        response = await coding_http.get("/coding/v1/pinyin-overrides", headers=bearer(token))
        assert (response.status_code, response.json()["code"]) == (401, code), what
        assert response.json()["message"].startswith(("需要有效的身份令牌", "令牌的签名密钥")), what
