"""Auth, error rendering, the CloudEvents envelope and settings: pure, no I/O."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import infra
from shared.auth import Principal, TokenVerifier, mint_token, verify_token
from shared.cloudevents import CloudEvent, MalformedEventError
from shared.errors import (
    COMMON_ERRORS,
    AuthenticationRequiredError,
    ConcurrencyConflictError,
    ErrorTable,
    PermissionDeniedError,
    RegionDeniedError,
)
from shared.settings import DEVELOPMENT_JWT_SECRET, Environment, ServiceSettings

SECRET = "x" * 40


def test_a_token_round_trips_its_subject_roles_and_regions() -> None:
    principal = verify_token(mint_token(SECRET, subject="张三", roles=["entry", "reviewer"], regions=["4401"]), SECRET)
    assert principal == Principal("张三", frozenset({"entry", "reviewer"}), ("4401",))


@pytest.mark.parametrize("token", ["", "not-a-jwt",
                                   mint_token("another-secret" * 3, subject="a", roles=[], regions=[])])
def test_a_bad_token_is_refused_with_a_chinese_reason(token: str) -> None:
    with pytest.raises(AuthenticationRequiredError) as refused:
        verify_token(token, SECRET)
    assert "令牌" in refused.value.context["reason"]


def test_an_expired_token_is_refused() -> None:
    old = mint_token(SECRET, subject="a", roles=["entry"], regions=["44"], ttl_s=10, now=1_000_000)
    with pytest.raises(AuthenticationRequiredError) as refused:
        verify_token(old, SECRET)
    assert refused.value.context["reason"] == "令牌已过期"


def test_the_token_verifier_answers_like_verify_token_and_still_refuses_a_remembered_token_once_it_expires() -> None:
    now = time.time()
    clock = [now]
    verify = TokenVerifier(SECRET, clock=lambda: clock[0])
    token = mint_token(SECRET, subject="张三", roles=["entry"], regions=["4401"], ttl_s=60, now=now)
    assert verify(token) == verify(token) == verify_token(token, SECRET)
    clock[0] = now + 60
    with pytest.raises(AuthenticationRequiredError) as refused:
        verify(token)
    assert refused.value.context["reason"] == "令牌已过期"


@pytest.mark.parametrize("token", ["not-a-jwt", mint_token("another-secret" * 3, subject="a", roles=[], regions=[]),
                                   mint_token(SECRET, subject="a", roles=[], regions=[], issuer="elsewhere")])
def test_the_token_verifier_refuses_what_verify_token_refuses_every_time(token: str) -> None:
    verify = TokenVerifier(SECRET)
    for _ in range(2):
        with pytest.raises(AuthenticationRequiredError):
            verify(token)


def test_unknown_roles_cannot_be_minted() -> None:
    with pytest.raises(ValueError, match="unknown roles"):
        mint_token(SECRET, subject="a", roles=["superuser"], regions=["44"])


def test_regions_are_prefixes_and_star_means_every_region() -> None:
    guangzhou = Principal("a", frozenset({"entry"}), ("4401",))
    assert guangzhou.may_access_region("440115") and not guangzhou.may_access_region("440305")
    with pytest.raises(RegionDeniedError):
        guangzhou.require_region("310101")
    assert Principal("n", frozenset({"national"}), ("*",)).may_access_region("650102")


def test_roles_are_required_and_admin_holds_every_role() -> None:
    with pytest.raises(PermissionDeniedError):
        Principal("a", frozenset({"entry"}), ("44",)).require_role("reviewer")
    Principal("a", frozenset({"admin"}), ("44",)).require_role("reviewer")


def test_the_error_table_renders_status_stable_code_and_chinese_message() -> None:
    status, body = ErrorTable(COMMON_ERRORS).render(ConcurrencyConflictError(stream_id="s", expected=2, actual=3))
    assert status == 409 and body["code"] == "VERSION_CONFLICT"
    assert body["message"] == "事项已被其他操作修改（期望版本 2，当前版本 3），请刷新后重试"
    assert body["details"] == {"stream_id": "s", "expected": 2, "actual": 3}


def test_a_cloudevent_survives_the_kafka_binary_binding() -> None:
    event = CloudEvent(id=str(uuid.uuid4()), type="lifecycle.item.published.v1", source="/shixiang/lifecycle",
                       subject="item-1", time=datetime(2026, 11, 22, 8, 0, tzinfo=UTC), data={"名称": "户口迁移审批"},
                       sequence=7, position=42, correlation_id="c1", causation_id="c0", actor="publisher-gz")
    key, value, headers = event.to_kafka()
    names = dict(headers)
    assert key == b"item-1" and names["ce_specversion"] == b"1.0" and names["ce_type"] == event.type.encode()
    assert CloudEvent.from_kafka(key, value, headers) == event
    structured = event.to_structured()
    assert structured["subject"] == "item-1" and structured["data"] == {"名称": "户口迁移审批"}


@pytest.mark.parametrize("headers", [[], [("ce_id", b"1")], [("ce_id", b"1"), ("ce_type", b"t"), ("ce_source", b"s"),
                                                              ("ce_time", b"not a time"), ("ce_specversion", b"1.0")]])
def test_a_message_that_is_not_our_cloudevent_is_malformed(headers: list[tuple[str, bytes]]) -> None:
    with pytest.raises(MalformedEventError):
        CloudEvent.from_kafka(b"k", b"{}", headers)


def test_production_requires_an_identity_provider_and_never_verifies_hs256() -> None:
    # issue 18: production verifies the identity provider's tokens; a shared secret, however long, is not enough
    with pytest.raises(ValueError, match="SHIXIANG_AUTH_ISSUER is required in production"):
        ServiceSettings(environment=Environment.production, jwt_secret=SECRET, kafka_allow_plaintext=True)
    production = ServiceSettings(environment=Environment.production, kafka_allow_plaintext=True,
                                 auth_issuer="https://idp.example.gov.cn/realms/shixiang", auth_audience="shixiang")
    assert production.uses_identity_provider
    assert production.topic("coding") == "shixiang.coding.events"


def test_the_token_command_without_a_dev_suite_says_how_to_get_a_token_and_mints_hs256_only_when_asked() -> None:
    # issue 18: HS256 tokens are for tests; without a running dev suite (its issuer) the command explains
    env = {"PATH": "/usr/bin:/bin", "SHIXIANG_DEV_ROOT": "/nonexistent"}
    command = [sys.executable, "-m", "shixiang.cli", "token", "--sub", "李四", "--roles", "entry,reviewer",
               "--regions", "44,4401"]
    refused = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "make dev" in refused.stderr and "docs/identity.md" in refused.stderr
    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         env={**env, "SHIXIANG_JWT_SECRET": DEVELOPMENT_JWT_SECRET}).stdout.strip()
    principal = verify_token(out, DEVELOPMENT_JWT_SECRET)
    assert principal.subject == "李四" and principal.regions == ("44", "4401")


@given(st.dictionaries(st.text(max_size=8), st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20), max_size=6), st.text(max_size=8))
def test_splicing_a_value_already_encoded_gives_the_canonical_json_of_the_whole(value: dict, key: str) -> None:
    from shared import jsoncodec

    inner = value.get(key, {"名称": "户口迁移", "b": [1, None, True]})
    whole = {**value, key: inner}
    assert jsoncodec.canonical_with(whole, key, jsoncodec.canonical_bytes(inner)) == jsoncodec.canonical(whole)


def test_free_ports_lie_below_the_ephemeral_range_are_bindable_and_never_handed_out_twice() -> None:
    # An ephemeral port can be taken by any outgoing connection before the server binds it (a CI failure).
    low, _ = infra._ephemeral_range()
    ports = [infra.free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(infra._LOWEST_CHOSEN_PORT <= port < low for port in ports)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", ports[0]))
        listener.listen()
        assert not infra.port_is_free(ports[0])
