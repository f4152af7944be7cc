"""The national algorithms (国密) the suite can chain and sign with, pinned by their standards' test vectors, and the
per-event algorithm of a hash chain (verify_chain, pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared.db import make_engine
from shared.eventstore import GENESIS_HASH, StoredEvent, event_hash, store_hash, verify_chain
from shared.hashing import HashAlgorithm, hex_digester
from shared.settings import ServiceSettings


def test_sm3_is_the_gb_t_32905_function() -> None:
    # GB/T 32905-2016, appendix A: example 1 ("abc") and example 2 ("abcd" × 16)
    assert hex_digester("sm3")(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert hex_digester("sm3")(b"abcd" * 16) == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    assert hex_digester("sha256")(b"abc").startswith("ba7816bf")


def test_an_unknown_algorithm_is_refused_not_replaced() -> None:
    with pytest.raises(ValueError, match="md5"):
        hex_digester("md5")


def _chain(algorithms: list[str]) -> list[StoredEvent]:
    events, previous = [], GENESIS_HASH
    at = datetime(2026, 12, 7, tzinfo=UTC)
    for version, algorithm in enumerate(algorithms, start=1):
        event_id = uuid.UUID(int=version)
        link = event_hash(previous, "s", version, event_id, "a.v1", {"n": version}, "alice", at, algorithm=algorithm)
        events.append(StoredEvent(version, "s", version, event_id, "a.v1", {"n": version}, "alice", None, None, at,
                                  link, algorithm))
        previous = link
    return events


def test_a_mixed_chain_verifies_each_link_with_its_events_algorithm() -> None:
    verdict = verify_chain(_chain(["sha256", "sha256", "sm3", "sm3"]))
    assert verdict.ok and verdict.algorithms == ("sha256", "sm3")


def test_a_link_checked_with_another_algorithm_than_its_own_breaks_there() -> None:
    events = _chain(["sha256", "sm3", "sm3"])
    events[1] = StoredEvent(**{**events[1].__dict__, "hash_alg": "sha256"})
    assert verify_chain(events).broken_at_version == 2
    events[1] = StoredEvent(**{**events[1].__dict__, "hash_alg": "md5"})
    verdict = verify_chain(events)
    assert verdict.broken_at_version == 2 and "md5" in (verdict.reason or "")


def test_the_store_algorithm_is_a_setting_carried_by_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().event_hash is HashAlgorithm.sha256
    monkeypatch.setenv("SHIXIANG_EVENT_HASH", "sm3")
    settings = ServiceSettings()
    assert settings.event_hash is HashAlgorithm.sm3
    assert store_hash(make_engine(settings.database_url, event_hash=settings.event_hash)) == "sm3"
    assert store_hash(make_engine(settings.database_url)) == "sha256"
    monkeypatch.setenv("SHIXIANG_EVENT_HASH", "sm2")
    with pytest.raises(ValueError, match="event_hash"):
        ServiceSettings()
