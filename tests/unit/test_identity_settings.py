"""The identity provider's settings (SHIXIANG_AUTH_*) and the pure claim mapping (shared/auth.py); the verifier
itself is tested against a second issuer in tests/integration/test_identity_provider.py."""

from __future__ import annotations

import pytest

from shared.auth import ClaimMapping, TokenVerifier, claim_at, principal_from_claims
from shared.errors import AuthenticationRequiredError
from shared.http_auth import token_verifier
from shared.identity import JwksTokenVerifier, keys_from_jwks, provider_config
from shared.settings import Environment, ServiceSettings

ISSUER = "https://idp.example.gov.cn/realms/shixiang"


def test_the_settings_are_read_from_their_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIXIANG_AUTH_ISSUER", ISSUER)
    monkeypatch.setenv("SHIXIANG_AUTH_AUDIENCE", "shixiang-suite")
    monkeypatch.setenv("SHIXIANG_AUTH_JWKS_URL", ISSUER + "/protocol/openid-connect/certs")
    monkeypatch.setenv("SHIXIANG_AUTH_ALGORITHMS", " RS256 , PS256")
    monkeypatch.setenv("SHIXIANG_AUTH_ROLES_CLAIM", "realm_access.roles")
    monkeypatch.setenv("SHIXIANG_AUTH_REGIONS_CLAIM", "org.regions")
    monkeypatch.setenv("SHIXIANG_AUTH_SUBJECT_CLAIM", "preferred_username")
    monkeypatch.setenv("SHIXIANG_AUTH_ROLE_MAP", '{"sx-entry": "entry", "受理员": "entry"}')
    config = provider_config(ServiceSettings())
    assert (config.issuer, config.audience, config.jwks_url) == (
        ISSUER, "shixiang-suite", ISSUER + "/protocol/openid-connect/certs")
    assert config.algorithms == ("RS256", "PS256")
    assert config.claims == ClaimMapping(subject="preferred_username", roles="realm_access.roles",
                                         regions="org.regions", role_map={"sx-entry": "entry", "受理员": "entry"})


def test_production_refuses_to_start_without_an_issuer_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="SHIXIANG_AUTH_ISSUER is required in production"):
        ServiceSettings(environment=Environment.production, kafka_allow_plaintext=True, jwt_secret="x" * 64)


def test_an_issuer_needs_an_audience() -> None:
    with pytest.raises(ValueError, match="SHIXIANG_AUTH_AUDIENCE is required"):
        ServiceSettings(auth_issuer=ISSUER)


@pytest.mark.parametrize("algorithms", ["none", "HS256", "RS256,HS512", "", "RS256,none"])
def test_only_asymmetric_algorithms_may_be_accepted_from_a_provider(algorithms: str) -> None:
    with pytest.raises(ValueError, match="SHIXIANG_AUTH_ALGORITHMS may name only"):
        ServiceSettings(auth_issuer=ISSUER, auth_audience="a", auth_algorithms=algorithms)


def test_a_role_map_may_map_only_to_the_suites_roles() -> None:
    with pytest.raises(ValueError, match="unknown roles"):
        ServiceSettings(auth_role_map={"sx-root": "root"})


def test_the_verifier_is_the_providers_when_an_issuer_is_set_and_hs256_only_without_one() -> None:
    configured = token_verifier(ServiceSettings(auth_issuer=ISSUER, auth_audience="a", environment=Environment.test))
    assert isinstance(configured, JwksTokenVerifier)  # built without connecting: the issuer does not exist
    assert isinstance(token_verifier(ServiceSettings(environment=Environment.test)), TokenVerifier)


# ---- the claim mapping (pure) ----------------------------------------------------------------------------------
def test_a_dotted_path_reads_nested_claims_and_a_claim_named_with_dots_wins() -> None:
    claims = {"realm_access": {"roles": ["a"]}, "https://gaj.gd.gov.cn/regions": ["44"], "x": "y"}
    assert claim_at(claims, "realm_access.roles") == ["a"]
    assert claim_at(claims, "https://gaj.gd.gov.cn/regions") == ["44"]
    assert claim_at(claims, "realm_access.missing") is None
    assert claim_at(claims, "x.y") is None


def test_roles_are_renamed_by_the_map_and_others_keep_their_names() -> None:
    mapping = ClaimMapping(roles="groups", role_map={"窗口受理": "entry"})
    principal = principal_from_claims({"sub": "a", "groups": ["窗口受理", "reviewer", "x"], "regions": ["44"]},
                                      mapping)
    assert principal.roles == {"entry", "reviewer", "x"}


@pytest.mark.parametrize("claims", [{"roles": ["entry"]}, {"sub": "\u200b"}, {"sub": ""}])
def test_a_missing_or_invisible_subject_is_refused(claims: dict[str, object]) -> None:
    with pytest.raises(AuthenticationRequiredError):
        principal_from_claims(claims)


def test_a_jwks_keeps_signing_keys_only() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    public = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), as_dict=True)
    keys = keys_from_jwks({"keys": [{**public, "kid": "sig"}, {**public, "kid": "enc", "use": "enc"},
                                    {"kty": "RSA", "kid": "broken"}, "junk"]})
    assert list(keys) == ["sig"] and keys["sig"].algorithm_name == "ES256"
