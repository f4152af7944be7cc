"""The development issuer (shixiang/dev_issuer.py), in process: its discovery document and JWKS are what the
services' verifier reads, its token endpoint's tokens verify like any provider's, its key is made once and kept."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from shared.errors import AuthenticationRequiredError
from shared.identity import JwksTokenVerifier, ProviderConfig
from shixiang.dev_issuer import AUDIENCE, KEY_FILE, DevIssuer, create_app, minter_for

URL = "http://127.0.0.1:8010"


@pytest.fixture
def issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path, URL)


def verifier(issuer: DevIssuer) -> JwksTokenVerifier:
    return JwksTokenVerifier(ProviderConfig(issuer=URL, audience=AUDIENCE),
                             transport=httpx.ASGITransport(app=create_app(issuer)))


async def test_the_token_endpoints_tokens_verify_like_a_providers_through_discovery(issuer: DevIssuer) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(issuer)), base_url=URL) as http:
        discovery = (await http.get("/.well-known/openid-configuration")).json()
        assert discovery["issuer"] == URL and discovery["jwks_uri"] == URL + "/jwks.json"
        [key] = (await http.get("/jwks.json")).json()["keys"]
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig") and "d" not in key
        answer = await http.post("/token", json={"sub": "李四", "roles": ["entry"], "regions": ["4401"], "ttl": 600})
    assert answer.status_code == 200 and answer.json()["expires_in"] == 600
    principal = await verifier(issuer).verify(answer.json()["access_token"])
    assert (principal.subject, principal.roles, principal.regions) == ("李四", frozenset({"entry"}), ("4401",))


@pytest.mark.parametrize("body", [{"sub": "a", "roles": ["root"], "regions": ["44"]},
                                  {"sub": "a", "roles": ["entry"], "regions": ["4"]},
                                  {"sub": "", "roles": ["entry"], "regions": ["44"]},
                                  {"sub": "a", "roles": ["entry"], "regions": ["44"], "ttl": 10**9}, [1]])
async def test_the_token_endpoint_refuses_what_is_not_the_suites_with_a_chinese_message(
        issuer: DevIssuer, body: object) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(issuer)), base_url=URL) as http:
        answer = await http.post("/token", json=body)
    assert answer.status_code == 400 and answer.json()["message"].startswith("无法签发令牌")


async def test_the_key_is_made_once_kept_private_and_reused_by_the_next_start(issuer: DevIssuer,
                                                                              tmp_path: Path) -> None:
    token = issuer.mint(subject="a", roles=["entry"], regions=["44"])
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    restarted = DevIssuer(tmp_path, URL)
    assert restarted.jwks() == issuer.jwks()
    assert (await verifier(restarted).verify(token)).subject == "a"
    elsewhere = DevIssuer(tmp_path / "other", URL)  # another suite: another key, another kid
    assert elsewhere.jwks()["keys"][0]["kid"] != issuer.jwks()["keys"][0]["kid"]
    with pytest.raises(AuthenticationRequiredError):
        await verifier(issuer).verify(elsewhere.mint(subject="a", roles=["entry"], regions=["44"]))


def test_the_tools_ask_the_issuer_of_a_suite_that_has_one_and_say_so_when_it_does_not_answer() -> None:
    mint = minter_for({"SHIXIANG_AUTH_ISSUER": "http://127.0.0.1:9"})  # discard port: nothing answers
    with pytest.raises(ConnectionError, match="make dev"):
        mint("a", ["entry"], ["44"])
