"""Webhooks (回调推送) per Standard Webhooks (https://www.standardwebhooks.com), pure: signing secrets and
signatures, which callback URLs and addresses are allowed (SSRF protection), what a receiver's answer means and
when a failed delivery is tried again. Randomness and the clock are passed in.

The signature of a message is ``v1,<base64 of HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>``, the
key being the base64-decoded part of the secret ``whsec_<base64>``; during a rotation's overlap the
``webhook-signature`` header carries one such signature per secret, separated by spaces.

A subscriber may ask for HMAC-SM3 (GB/T 32905's hash, 国密) instead: the same message, key and header, signed
``v1sm3,<base64 of HMAC-SM3(...)>``. The spec names each signature's scheme by the part before the comma and has a
verifier skip every scheme but the ones it knows (it reserves ``v1a`` for ed25519 the same way), so a Standard
Webhooks verifier never takes an SM3 signature for a ``v1`` one: it finds no ``v1`` signature and refuses."""

from __future__ import annotations

import base64
import hmac
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from sync_gateway.domain.errors import WebhookUrlNotAllowedError

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix of every secret, not a secret
SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes
SIGNATURE_VERSION = "v1"


class SignatureAlgorithm(StrEnum):
    """How a subscription's deliveries are signed (chosen when it is created)."""

    hmac_sha256 = "hmac-sha256"  # Standard Webhooks' own v1
    hmac_sm3 = "hmac-sm3"  # 国密 SM3 in HMAC (GB/T 32905, GB/T 15843's HMAC construction)


# The scheme named before the comma of each signature: what a verifier tells them apart by.
SIGNATURE_VERSIONS = {SignatureAlgorithm.hmac_sha256: SIGNATURE_VERSION, SignatureAlgorithm.hmac_sm3: "v1sm3"}
_DIGESTS = {SignatureAlgorithm.hmac_sha256: "sha256", SignatureAlgorithm.hmac_sm3: "sm3"}
# Retries of one message, seconds after the failed attempt before them: each wait is drawn uniformly between 0 and
# its entry (full jitter). About three days in all (3.15 days at most), then the subscription is disabled.
DEFAULT_RETRY_SCHEDULE_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0)
URL_MAX_LENGTH = 2000


# ---- secrets and signatures ---------------------------------------------------------------------------------------
def new_secret(random_bytes: bytes) -> str:
    """A signing secret in the spec's form ``whsec_<base64>`` (``random_bytes`` from a CSPRNG)."""
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: its base64 part decoded."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes,
              algorithm: SignatureAlgorithm = SignatureAlgorithm.hmac_sha256) -> str:
    """One ``v1,<base64>`` signature of the message (``v1sm3,<base64>`` with HMAC-SM3)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, _DIGESTS[algorithm]).digest()
    return f"{SIGNATURE_VERSIONS[algorithm]},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets: Iterable[str], message_id: str, timestamp: int, body: bytes,
                     algorithm: SignatureAlgorithm = SignatureAlgorithm.hmac_sha256) -> str:
    """The ``webhook-signature`` header: one signature per secret still signing, space-separated."""
    return " ".join(signature(s, message_id, timestamp, body, algorithm) for s in secrets)


# ---- what is delivered and what the answer means ------------------------------------------------------------------
def matches(event_types: Sequence[str] | None, regions: Sequence[str] | None, entry_type: str,
            region_code: str) -> bool:
    """Whether a feed entry is for a subscription: of one of its event types (``None``: any) and of an item whose
    region starts with one of its region prefixes (``None``: any region)."""
    return ((event_types is None or entry_type in event_types)
            and (regions is None or any(region_code.startswith(prefix) for prefix in regions)))


class Outcome(StrEnum):
    """What one delivery attempt came to."""

    delivered = "delivered"  # a 2xx: the subscription moves on to its next message
    failed = "failed"  # anything else (3xx included: redirects are never followed), or no answer: tried again
    gone = "gone"  # a 410: the receiver asks for no more, the subscription is disabled


OUTCOME_LABELS = {Outcome.delivered: "已送达", Outcome.failed: "失败，将重试", Outcome.gone: "接收方已停用（410）"}


def outcome_of(status: int | None) -> Outcome:
    """The outcome of an answer's status (``None``: no answer: timeout, refused connection, disallowed address)."""
    if status is not None and 200 <= status < 300:
        return Outcome.delivered
    if status == 410:
        return Outcome.gone
    return Outcome.failed


def retry_delay(schedule: Sequence[float], failures: int, uniform: float) -> float | None:
    """Seconds before the next attempt after ``failures`` failed attempts of one message, with full jitter
    (``uniform`` drawn from [0, 1)); ``None`` once the schedule is spent (the subscription is then disabled, so
    that a later message never overtakes the one that could not be delivered)."""
    if failures > len(schedule):
        return None
    return schedule[failures - 1] * uniform


# ---- SSRF protection ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A callback URL that passed the allow-list: its host (lower case, IPv6 without brackets) and port."""

    url: str
    host: str
    port: int


def host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Whether ``host`` is on the allow-list: an entry is a host name or address, or ``*.suffix`` for the
    suffix's subdomains."""
    host = host.lower().rstrip(".")
    for allowed in allowed_hosts:
        entry = allowed.strip().lower().rstrip(".")
        if (entry.startswith("*.") and host.endswith(entry[1:])) or host == entry:
            return True
    return False


def check_url(url: str, allowed_hosts: Iterable[str]) -> Target:
    """A callback URL the gateway may send to: http(s) only, no credentials in it, its host on the allow-list.
    Its addresses are checked when it is resolved (:func:`address_allowed`), at subscription and at each
    connection."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlNotAllowedError(url=url, reason=f"不是合法的网址（{exc}）") from exc
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlNotAllowedError(url=url, reason="只允许 http 或 https 地址")
    if not parts.hostname:
        raise WebhookUrlNotAllowedError(url=url, reason="缺少主机名")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlNotAllowedError(url=url, reason="地址中不得包含用户名或密码")
    if not host_allowed(parts.hostname, allowed_hosts):
        raise WebhookUrlNotAllowedError(
            url=url, reason=f"主机“{parts.hostname}”不在回调主机允许列表中（配置项 SHIXIANG_WEBHOOK_ALLOWED_HOSTS）")
    return Target(url, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80))


def address_allowed(address: str, allowed_networks: Iterable[str]) -> bool:
    """Whether the gateway may connect to ``address``: a public (globally routable) one, or one within the
    configured networks (loopback in development). A name of an allowed host resolving to a private, loopback,
    link-local or reserved address (DNS rebinding) is refused otherwise."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in ipaddress.ip_network(n, strict=False) for n in allowed_networks):
        return True
    return ip.is_global and not ip.is_multicast


def check_addresses(url: str, host: str, addresses: Sequence[str], allowed_networks: Iterable[str]) -> None:
    """Refuse a host that resolved to nothing or to any address the gateway may not connect to."""
    networks = list(allowed_networks)
    if not addresses:
        raise WebhookUrlNotAllowedError(url=url, reason=f"主机“{host}”无法解析")
    refused = [a for a in addresses if not address_allowed(a, networks)]
    if refused:
        raise WebhookUrlNotAllowedError(
            url=url, reason=f"主机“{host}”解析到不允许的地址 {'、'.join(refused)}"
                            "（内网、回环或保留地址；配置项 SHIXIANG_WEBHOOK_ALLOWED_NETWORKS）")
