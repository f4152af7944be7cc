"""Identities and read rights as the tokens carry them: one user is one subject however a token spells it, a subject
PostgreSQL could not store or a reader could not see is refused (401), region claims are prefixes or ``*``, and the
services' read tables leave the national platform out. Pure: no I/O."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from shared.auth import (
    ALGORITHM,
    OUTSIDE_ROLES,
    OVERSIGHT_ROLES,
    STAFF_ROLES,
    Principal,
    TokenVerifier,
    mint_token,
    normalise_subject,
    verify_token,
)
from shared.errors import COMMON_ERRORS, AuthenticationRequiredError, ErrorTable
from shared.identity import JwksTokenVerifier, ProviderConfig
from shixiang.dev_issuer import AUDIENCE
from shixiang.dev_issuer import create_app as create_issuer_app
from shixiang.suite import DEMO_USERS, Suite

SECRET = "x" * 40


def subject_of(sub: str) -> str:
    return verify_token(mint_token(SECRET, subject=sub, roles=["reviewer"], regions=["4401"]), SECRET).subject


@pytest.mark.parametrize("spelling", ["alice", "alice ", " alice", "\talice\n", "ａｌｉｃｅ", "alice\u3000",
                                      "\u3000ａｌｉｃｅ ", "alice\u00a0"])
def test_every_spelling_of_one_user_is_one_subject(spelling: str) -> None:
    assert subject_of(spelling) == "alice"
    assert TokenVerifier(SECRET)(mint_token(SECRET, subject=spelling, roles=["entry"], regions=["44"])).subject \
        == "alice"


def test_case_and_inner_spaces_are_kept_because_identity_providers_treat_subjects_as_case_sensitive() -> None:
    assert subject_of("Alice") == "Alice" != subject_of("alice")
    assert subject_of(" 张 三 ") == "张 三"
    assert normalise_subject("ﬁona") == "fiona"  # a ligature is a compatibility variant: NFKC folds it


@pytest.mark.parametrize("sub", ["", "   ", "\u3000", "\x00", "alice\x00", "ali\x00ce", "a\x07b", "a\nb", "a\x7fb",
                                 "a\u0085b", "alice\u200b", "\u202eecila", "a\ufeffb", "a\u2028b", "a\ue000b",
                                 "a\ud800b", "a\U000e0001b"])
def test_a_subject_empty_or_holding_a_control_or_invisible_character_is_refused_with_401(sub: str) -> None:
    token = mint_token(SECRET, subject=sub, roles=["entry"], regions=["44"])
    with pytest.raises(AuthenticationRequiredError) as refused:
        verify_token(token, SECRET)
    with pytest.raises(AuthenticationRequiredError):
        TokenVerifier(SECRET)(token)
    status, body = ErrorTable(COMMON_ERRORS).render(refused.value)
    assert (status, body["code"]) == (401, "AUTHENTICATION_REQUIRED")
    assert body["message"] == "需要有效的身份令牌：令牌的用户标识（sub）为空或含控制字符、不可见字符"


@pytest.mark.parametrize("regions", [[""], ["44", ""], ["4"], ["441"], ["44 "], ["4401\x00"], ["4401%"], ["**"],
                                     [44], ["4401011"]])
def test_a_region_claim_is_star_or_a_prefix_of_2_4_or_6_digits(regions: list[Any]) -> None:
    # An empty prefix would match every region code: a token of [""] used to read the whole country.
    forged = jwt.encode({"sub": "a", "roles": ["entry"], "regions": regions, "iss": "shixiang",
                         "exp": int(time.time()) + 60}, SECRET, algorithm=ALGORITHM)
    with pytest.raises(AuthenticationRequiredError) as refused:
        verify_token(forged, SECRET)
    assert "区划声明" in refused.value.context["reason"]
    if all(isinstance(r, str) for r in regions):
        with pytest.raises(ValueError, match="regions must be"):  # and nobody mints one by mistake
            mint_token(SECRET, subject="a", roles=["entry"], regions=regions)


def test_well_formed_region_claims_are_accepted() -> None:
    token = mint_token(SECRET, subject="a", roles=["entry"], regions=["*", "44", "4401", "440115"])
    assert verify_token(token, SECRET).regions == ("*", "44", "4401", "440115")


def test_a_caller_covers_regions_that_all_lie_within_its_own_and_only_star_covers_star() -> None:
    guangdong = Principal("a", frozenset({"admin"}), ("44",))
    beijing = Principal("b", frozenset({"admin"}), ("11",))
    nationwide = Principal("n", frozenset({"admin"}), ("*",))
    assert guangdong.covers(["4401"]) and guangdong.covers(["4401", "440305"]) and guangdong.covers(["44"])
    assert not beijing.covers(["4401"]) and not guangdong.covers(["4401", "11"])
    assert not guangdong.covers(["*"]) and nationwide.covers(["*"]) and nationwide.covers(["4401"])
    assert not nationwide.covers([])
    assert nationwide.nationwide and not guangdong.nationwide


def test_the_national_platform_is_an_outside_consumer_and_no_service_lets_it_read_internal_content() -> None:
    from coding.service_layer import roles as coding_roles
    from lifecycle.service_layer import roles as lifecycle_roles
    from registry.service_layer import roles as registry_roles
    from sync_gateway.service_layer import roles as sync_roles

    assert OUTSIDE_ROLES == ("national",) and "national" not in STAFF_ROLES
    internal_reads = {"lifecycle": lifecycle_roles.READ_ROLES, "registry": registry_roles.READ_ROLES,
                      "registry imports": registry_roles.IMPORT_JOB_READ_ROLES, "coding": coding_roles.READ_ROLES}
    for service, roles in internal_reads.items():
        assert not set(roles) & set(OUTSIDE_ROLES), service
    assert "national" in sync_roles.FEED_ROLES and "national" in sync_roles.FEEDBACK_READ_ROLES


async def test_the_demo_national_token_is_nationwide_and_regional_demo_staff_are_not(tmp_path: Path) -> None:
    suite = Suite(root=tmp_path)  # never started: it only mints the demo tokens, with its issuer's key
    # verified as the services of the dev suite verify them: against the development issuer's discovery and JWKS
    verifier = JwksTokenVerifier(ProviderConfig(issuer=suite.issuer.url, audience=AUDIENCE),
                                 transport=httpx.ASGITransport(app=create_issuer_app(suite.issuer)))
    national = await verifier.verify(suite.token("national"))
    assert national.nationwide and national.roles == frozenset(OUTSIDE_ROLES)
    assert not (await verifier.verify(suite.token("admin-gd"))).nationwide
    assert all(set(roles) <= set(STAFF_ROLES) for user, (roles, _) in DEMO_USERS.items()
               if user not in ("national", "auditor"))
    # The auditor reads the audit log and nothing else: no staff role, nationwide (every region's reads).
    auditor = await verifier.verify(suite.token("auditor"))
    assert auditor.nationwide and auditor.roles == frozenset(OVERSIGHT_ROLES)
