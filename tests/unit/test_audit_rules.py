"""The audit trail's pure rules (shared.audit_rules): which reads are recorded, the flags, the chain and its check."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from shared.audit import require_auditor
from shared.audit_rules import (
    GENESIS_HASH,
    MAX_QUERY_CHARS,
    AuditPolicy,
    AuditRecord,
    ChainCheck,
    StoredRecord,
    bounded_query,
    chain,
    flags_for,
    spans_many_provinces,
)
from shared.auth import ROLE_LABELS, ROLES, Principal
from shared.errors import AuditorRequiredError

POLICY = AuditPolicy(exports=frozenset({"/r/v1/exports/items.csv"}), lists=frozenset({"/r/v1/items"}),
                     api_prefix="/r/v1")
T0 = datetime(2026, 12, 8, tzinfo=UTC)


def record(n: int = 0, **changes: object) -> AuditRecord:
    base = AuditRecord(at=T0 + timedelta(seconds=n), subject="alice", roles=("entry",), regions=("4401",),
                       client="10.0.0.1", method="GET", route="/r/v1/items/{item_id}", path=f"/r/v1/items/i{n}",
                       query="", status=200)
    return dataclasses.replace(base, **changes)


def stored(records: list[AuditRecord], previous: str = GENESIS_HASH) -> list[StoredRecord]:
    return [StoredRecord(seq, r, p, h)
            for seq, (r, (p, h)) in enumerate(zip(records, chain(previous, records), strict=True), start=1)]


def test_only_reads_of_the_service_api_are_recorded() -> None:
    assert POLICY.records("GET", "/r/v1/items")
    assert POLICY.records("HEAD", "/r/v1/nothing-here")  # a probe of a wrong path is a read too
    assert not POLICY.records("POST", "/r/v1/items")  # writes are in the event store with their actor
    assert not POLICY.records("GET", "/healthz")
    assert not POLICY.records("GET", "/metrics")


def test_an_export_of_a_whole_list_is_flagged_export() -> None:
    assert "export" in flags_for(POLICY, "/r/v1/exports/items.csv", {"region": ["4401"]}, ("4401",))
    assert flags_for(POLICY, "/r/v1/items", {}, ("4401",)) == ()


def test_a_caller_of_many_provinces_reading_a_list_without_narrowing_it_to_one_is_flagged_many_regions() -> None:
    for regions in (("*",), ("44", "45"), ("4401", "4501")):
        assert spans_many_provinces(regions)
        assert flags_for(POLICY, "/r/v1/items", {}, regions) == ("many_regions",)
        assert flags_for(POLICY, "/r/v1/exports/items.csv", {}, regions) == ("export", "many_regions")
        assert flags_for(POLICY, "/r/v1/items", {"region": ["4"]}, regions) == ("many_regions",)  # not a province
        assert flags_for(POLICY, "/r/v1/items", {"region": ["44", "45"]}, regions) == ("many_regions",)
        # narrowed to one province: no flag
        assert flags_for(POLICY, "/r/v1/items", {"region": ["4401"]}, regions) == ()
        # one item is never a list
        assert flags_for(POLICY, "/r/v1/items/{item_id}", {}, regions) == ()


def test_a_caller_of_one_province_is_never_flagged_many_regions() -> None:
    for regions in (("44",), ("4401", "4403"), ("440115",)):
        assert not spans_many_provinces(regions)
        assert flags_for(POLICY, "/r/v1/items", {}, regions) == ()


def test_a_long_query_string_is_cut_and_flagged() -> None:
    query, cut = bounded_query("q=" + "护" * 2000)
    assert cut and len(query) == MAX_QUERY_CHARS
    assert bounded_query("q=护照") == ("q=护照", False)
    assert "query_truncated" in flags_for(POLICY, "/r/v1/items/{item_id}", {}, ("4401",), query_truncated=True)


def test_an_intact_chain_verifies_from_its_anchor() -> None:
    rows = stored([record(n) for n in range(5)])
    check = ChainCheck()
    check.feed(rows[:2])
    check.feed(rows[2:])  # in pages
    assert check.ok and check.records == 5 and check.anchor == GENESIS_HASH and check.head == rows[-1].hash
    pruned = ChainCheck()
    pruned.feed(rows[3:])  # the oldest rows pruned: the first kept row's previous hash is the anchor
    assert pruned.ok and pruned.anchor == rows[2].hash and pruned.records == 2


def test_an_edited_removed_or_swapped_row_breaks_the_chain_where_it_is() -> None:
    rows = stored([record(n) for n in range(5)])
    edited = [*rows[:2], dataclasses.replace(rows[2], record=record(2, subject="mallory")), *rows[3:]]
    removed = [*rows[:2], *rows[3:]]
    swapped = [rows[0], rows[2], rows[1], *rows[3:]]
    for broken, at in ((edited, 3), (removed, 4), (swapped, 3)):
        check = ChainCheck()
        check.feed(broken)
        assert not check.ok and check.broken_at == at and check.reason


def test_every_field_of_a_record_is_covered_by_its_hash() -> None:
    original = record(1, flags=("export",))
    for name, value in (("at", T0), ("subject", "bob"), ("roles", ("admin",)), ("regions", ("*",)),
                        ("client", "10.0.0.2"), ("method", "HEAD"), ("route", "/r"), ("path", "/r/v1/items/x"),
                        ("query", "q=1"), ("status", 403), ("flags", ())):
        changed = dataclasses.replace(original, **{name: value})
        assert chain(GENESIS_HASH, [original]) != chain(GENESIS_HASH, [changed]), name


def test_the_auditor_role_exists_with_its_chinese_label_and_admin_does_not_hold_it_by_being_admin() -> None:
    assert "auditor" in ROLES and ROLE_LABELS["auditor"] == "审计员"
    require_auditor(Principal("a", frozenset({"auditor"}), ("*",)))
    for roles in ({"admin"}, {"operator"}, {"national"}):
        with pytest.raises(AuditorRequiredError):
            require_auditor(Principal("x", frozenset(roles), ("*",)))
