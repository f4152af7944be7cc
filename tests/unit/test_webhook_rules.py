"""The webhooks' pure rules (sync_gateway.domain.webhooks): signatures per Standard Webhooks, what an answer means,
the retry schedule, and which URLs and addresses the gateway may send to."""

from __future__ import annotations

import pytest

from shared.settings import Environment

from sync_gateway.config import SyncSettings
from sync_gateway.domain.errors import WebhookUrlNotAllowedError
from sync_gateway.domain.webhooks import (
    DEFAULT_RETRY_SCHEDULE_S,
    Outcome,
    SignatureAlgorithm,
    address_allowed,
    check_addresses,
    check_url,
    new_secret,
    outcome_of,
    retry_delay,
    signature,
    signature_header,
    signing_key,
)


def test_the_signature_is_the_specs_own_example() -> None:
    # The example of the Standard Webhooks specification and its reference libraries.
    assert signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                     b'{"test": 2432232314}') == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_secret_is_whsec_and_the_base64_of_its_random_bytes() -> None:
    secret = new_secret(bytes(range(32)))
    assert secret.startswith("whsec_") and signing_key(secret) == bytes(range(32))


def test_during_a_rotation_the_header_carries_one_signature_per_secret_separated_by_spaces() -> None:
    old, new = new_secret(b"o" * 32), new_secret(b"n" * 32)
    header = signature_header([new, old], "msg", 1, b"{}")
    assert header.split(" ") == [signature(new, "msg", 1, b"{}"), signature(old, "msg", 1, b"{}")]


@pytest.mark.parametrize(("status", "outcome"), [
    (200, Outcome.delivered), (204, Outcome.delivered), (410, Outcome.gone), (301, Outcome.failed),
    (307, Outcome.failed), (404, Outcome.failed), (500, Outcome.failed), (None, Outcome.failed)])
def test_a_2xx_advances_a_410_disables_anything_else_is_retried(status: int | None, outcome: Outcome) -> None:
    assert outcome_of(status) is outcome


def test_retries_wait_a_random_part_of_the_schedule_and_end_when_it_is_spent() -> None:
    assert retry_delay(DEFAULT_RETRY_SCHEDULE_S, 1, 0.5) == 2.5
    assert retry_delay(DEFAULT_RETRY_SCHEDULE_S, 9, 0.999) == pytest.approx(86400 * 0.999)
    assert retry_delay(DEFAULT_RETRY_SCHEDULE_S, 10, 0.5) is None
    assert 2.5 * 86400 < sum(DEFAULT_RETRY_SCHEDULE_S) < 3.5 * 86400  # about three days


@pytest.mark.parametrize("url", ["ftp://hooks.gov.cn/x", "javascript:alert(1)", "http:///x", "https://hooks.gov.cn.evil.com/x",
                                 "http://u:p@hooks.gov.cn/x", "https://evil.com/x", "gopher://hooks.gov.cn/"])
def test_only_http_urls_of_allowed_hosts_without_credentials_pass(url: str) -> None:
    with pytest.raises(WebhookUrlNotAllowedError):
        check_url(url, ["hooks.gov.cn", "*.example.gov.cn"])


def test_allowed_hosts_are_exact_names_or_subdomains_of_a_wildcard() -> None:
    assert check_url("https://HOOKS.gov.cn/x", ["hooks.gov.cn"]).port == 443
    assert check_url("http://a.b.example.gov.cn:8080/x", ["*.example.gov.cn"]).port == 8080
    with pytest.raises(WebhookUrlNotAllowedError):
        check_url("http://example.gov.cn/x", ["*.example.gov.cn"])


@pytest.mark.parametrize("address", ["10.0.0.1", "172.16.3.4", "192.168.1.1", "127.0.0.1", "169.254.169.254",
                                     "0.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "224.0.0.1",
                                     "100.64.0.1"])
def test_private_loopback_link_local_and_reserved_addresses_are_refused_unless_allowed(address: str) -> None:
    assert not address_allowed(address, [])
    assert address_allowed(address, ["0.0.0.0/0", "::/0"])


def test_public_addresses_pass_and_a_host_resolving_to_any_refused_address_is_refused() -> None:
    assert address_allowed("202.96.128.86", []) and address_allowed("2400:3200::1", [])
    check_addresses("https://h/x", "h", ["202.96.128.86"], [])
    with pytest.raises(WebhookUrlNotAllowedError) as refused:
        check_addresses("https://h/x", "h", ["202.96.128.86", "10.0.0.1"], [])
    assert "10.0.0.1" in refused.value.context["reason"]
    with pytest.raises(WebhookUrlNotAllowedError):
        check_addresses("https://h/x", "h", [], [])


PRODUCTION_IDENTITY = {"auth_issuer": "https://idp.example.gov.cn/realms/shixiang", "auth_audience": "shixiang"}


def test_development_allows_a_local_receiver_and_production_nothing_until_configured() -> None:
    development = SyncSettings(environment=Environment.development)
    assert "127.0.0.1" in development.webhook_hosts and "127.0.0.0/8" in development.webhook_networks
    production = SyncSettings(environment=Environment.production, **PRODUCTION_IDENTITY, kafka_allow_plaintext=True)
    assert (production.webhook_hosts, production.webhook_networks) == ((), ())
    configured = SyncSettings(environment=Environment.production, **PRODUCTION_IDENTITY, kafka_allow_plaintext=True,
                              webhook_allowed_hosts="hooks.gov.cn, *.example.gov.cn")
    assert configured.webhook_hosts == ("hooks.gov.cn", "*.example.gov.cn")


def test_a_lease_shorter_than_three_attempts_is_refused() -> None:
    with pytest.raises(ValueError, match="SHIXIANG_WEBHOOK_LEASE_S"):
        SyncSettings(webhook_timeout_s=10, webhook_lease_s=20)


def _hmac_by_hand(key: bytes, message: bytes, hash_name: str) -> bytes:
    """RFC 2104 / GB/T 15843.2's construction, written out: H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)), 64-byte blocks."""
    import hashlib

    block = key.ljust(64, b"\0")
    inner = hashlib.new(hash_name, bytes(b ^ 0x36 for b in block) + message).digest()
    return hashlib.new(hash_name, bytes(b ^ 0x5C for b in block) + inner).digest()


def test_a_subscriber_asking_for_hmac_sm3_gets_v1sm3_signatures_of_the_same_message_and_key() -> None:
    import base64

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    sm3 = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}',
                    SignatureAlgorithm.hmac_sm3)
    version, _, encoded = sm3.partition(",")
    assert version == "v1sm3"  # never "v1": a Standard Webhooks verifier skips it instead of checking it as SHA-256
    assert base64.b64decode(encoded) == _hmac_by_hand(
        signing_key(secret), b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}', "sm3")
    assert sm3 == "v1sm3,/HoSFIzweCy/UJPM50++HyVPa/54PFXtLisZ9sIFN1I="  # docs/webhooks.md's worked example
    # and the default stays the spec's example
    assert signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}',
                     SignatureAlgorithm.hmac_sha256) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_rotation_of_an_hmac_sm3_subscription_signs_with_both_secrets_in_sm3() -> None:
    old, new = new_secret(b"o" * 32), new_secret(b"n" * 32)
    header = signature_header([new, old], "msg", 1, b"{}", SignatureAlgorithm.hmac_sm3)
    assert header.split(" ") == [signature(new, "msg", 1, b"{}", SignatureAlgorithm.hmac_sm3),
                                 signature(old, "msg", 1, b"{}", SignatureAlgorithm.hmac_sm3)]
    assert all(s.startswith("v1sm3,") for s in header.split(" "))
