"""The exchange database's layout and rows (``sync_gateway.domain.exchange``), pure: what a published record becomes
in the ``up_*`` tables, and docs/exchange.md as the contract generated from the same layout."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from shared.contracts import elements as spec
from shared.contracts.feed import PublishedElements, PublishedItemRecord
from shixiang import exchange_doc

from sync_gateway.config import SyncSettings
from sync_gateway.domain.exchange import (
    CHARGE_TABLE,
    ELEMENT_COLUMNS,
    GENERAL_TABLE,
    LAYOUTS,
    LEGAL_BASIS_TABLE,
    MATERIAL_TABLE,
    AuditAbnormal,
    RowSignature,
    canonical_row,
    exchange_rows,
    rejection_reason,
    row_signature,
    signed_rows,
)

AT = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
ELEMENTS = {"name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
            "service_category": "03", "region_code": "440115", "composition": "元事项", "tier": "主项",
            "planned_effective_date": "2027-01-01",
            "legal_basis": [{"rank": "法律", "title": "户口登记条例"}],
            "service_guide": {"place": "区政务服务中心", "materials": [{"name": "户口簿"}, {"name": "身份证"}],
                              "fees": {"free": False, "items": [{"item": "工本费", "standard": "5 元"}]}}}


def record(change: str = "published", operation: str = "insert", *, version: int = 7,
           elements: dict[str, Any] | None = ELEMENTS) -> dict[str, Any]:
    published = None if elements is None else PublishedElements.model_validate(elements)
    return PublishedItemRecord.model_validate({
        "item_id": "item-1", "item_version": version, "change": change, "change_label": "上线",
        "operation": operation, "state": "cancelled" if operation == "delete" else "online", "state_label": "在线期",
        "code": "014401150203HKQYSP000000", "region_code": "440115", "revision": None if elements is None else 2,
        "elements": published, "effective_at": AT}).model_dump(mode="json")


def test_a_published_record_becomes_a_directory_row_and_its_complete_child_lists() -> None:
    rows = exchange_rows(record(), cd_batch="000000000003", cd_time=AT, data_source="4400")
    [general] = rows[GENERAL_TABLE]
    assert {k: general[k] for k in ("cd_batch", "cd_operation", "cd_time", "data_source", "task_guid",
                                    "task_version", "task_state", "task_code")} == {
        "cd_batch": "000000000003", "cd_operation": "I", "cd_time": AT, "data_source": "4400",
        "task_guid": "item-1", "task_version": 7, "task_state": "online", "task_code": "014401150203HKQYSP000000"}
    assert (general["name"], general["place"], general["fees_free"], general["planned_effective_date"]) == (
        "户口迁移审批", "区政务服务中心", False, date(2027, 1, 1))
    assert [(m["seq"], m["name"], m["parent_row_guid"]) for m in rows[MATERIAL_TABLE]] == [
        (1, "户口簿", general["row_guid"]), (2, "身份证", general["row_guid"])]
    assert [c["item"] for c in rows[CHARGE_TABLE]] == ["工本费"]
    assert [b["title"] for b in rows[LEGAL_BASIS_TABLE]] == ["户口登记条例"]


def test_operations_map_to_the_exchange_codes_and_a_delete_writes_the_directory_row_only() -> None:
    assert exchange_rows(record("maintained", "update"), cd_batch="1", cd_time=AT,
                         data_source="x")[GENERAL_TABLE][0]["cd_operation"] == "U"
    deleted = exchange_rows(record("cancelled", "delete", elements=None), cd_batch="1", cd_time=AT, data_source="x")
    assert [r["cd_operation"] for r in deleted[GENERAL_TABLE]] == ["D"]
    assert (deleted[MATERIAL_TABLE], deleted[CHARGE_TABLE], deleted[LEGAL_BASIS_TABLE]) == ([], [], [])
    assert deleted[GENERAL_TABLE][0]["name"] is None


def test_row_keys_depend_on_the_change_only_so_writing_it_again_makes_the_same_keys() -> None:
    def keys(batch: str, version: int = 7) -> list[str]:
        rows = exchange_rows(record(version=version), cd_batch=batch, cd_time=datetime.now(UTC), data_source="x")
        return [r["row_guid"] for table_rows in rows.values() for r in table_rows]

    assert keys("000000000001") == keys("000000000009")
    assert set(keys("1")).isdisjoint(keys("1", version=8))
    assert all(uuid.UUID(k).version == 5 for k in keys("1"))


def test_every_published_element_has_a_column_or_child_table_and_each_table_starts_with_the_exchange_columns() -> None:
    columns = {column for _, column, _, _ in ELEMENT_COLUMNS}
    for field in spec.ITEM.fields:
        if isinstance(field.published, spec.Published) and field.key not in ("service_guide", "legal_basis"):
            assert field.key in columns
    assert "materials" not in columns and "legal_basis" not in columns
    for layout in LAYOUTS:
        assert [c[0] for c in layout.columns[:9]] == [
            "row_guid", "cd_batch", "cd_operation", "cd_time", "data_source", "task_guid", "task_version",
            "task_state", "task_code"]
        assert len({c[0] for c in layout.columns}) == len(layout.columns), layout.name


def test_a_rejection_row_gives_its_error_type_before_its_message() -> None:
    row = AuditAbnormal(1, "000000000001", "guid", "item-1", 7, "E101", "实施机关不一致")
    assert rejection_reason(row) == "[E101] 实施机关不一致"
    assert rejection_reason(AuditAbnormal(2, None, None, "item-1", 7, None, "名称不规范")) == "名称不规范"


def test_docs_exchange_md_shows_the_current_table_layouts() -> None:
    text = exchange_doc.DOCUMENT.read_text(encoding="utf-8")
    assert exchange_doc.updated(text) == text, "docs/exchange.md is out of date: run python -m shixiang.exchange_doc"


# ---- row signatures ----------------------------------------------------------------------------------------------
KEY = b"a shared key of at least 32 characters!!"


def test_a_signature_covers_every_column_of_its_table_but_its_own() -> None:
    rows = exchange_rows(record(), cd_batch="1", cd_time=AT, data_source="x")
    for layout in LAYOUTS:
        [row, *_] = rows[layout.name]
        assert set(row) == {c[0] for c in layout.columns} - {"row_signature", "signature_algorithm"}, layout.name
        assert [c[0] for c in layout.columns[-2:]] == ["row_signature", "signature_algorithm"]


def test_the_canonical_content_is_sorted_compact_utf8_json_with_utc_microsecond_times() -> None:
    row = {"b": "区政务服务中心", "a": 1, "t": datetime(2026, 12, 7, 16, 0, tzinfo=timezone(timedelta(hours=8))),
           "d": date(2027, 1, 1), "l": ["甲", "乙"], "j": {"z": None, "y": [True]}, "row_signature": "x",
           "signature_algorithm": "y"}
    assert canonical_row(row) == ('{"a":1,"b":"区政务服务中心","d":"2027-01-01","j":{"y":[true],"z":null},'
                                  '"l":["甲","乙"],"t":"2026-12-07T08:00:00.000000Z"}').encode()


def test_signed_rows_carry_the_hmac_of_their_canonical_content_in_the_algorithm_asked_for() -> None:
    rows = exchange_rows(record(), cd_batch="1", cd_time=AT, data_source="x")
    for algorithm, digest in ((RowSignature.hmac_sm3, "sm3"), (RowSignature.hmac_sha256, "sha256")):
        signed = signed_rows(rows, KEY, algorithm)
        for table, table_rows in signed.items():
            for row in table_rows:
                assert row["signature_algorithm"] == algorithm.value
                assert row["row_signature"] == _hmac_by_hand(KEY, canonical_row(row), digest).hex(), table
    [general] = signed_rows(rows, KEY, RowSignature.hmac_sm3)[GENERAL_TABLE]
    assert row_signature({**general, "name": "伪造"}, KEY, RowSignature.hmac_sm3) != general["row_signature"]
    assert signed_rows(rows, b"", RowSignature.none) == rows  # off: the rows as they were (both columns null)


def _hmac_by_hand(key: bytes, message: bytes, hash_name: str) -> bytes:
    import hashlib

    block = key.ljust(64, b"\0")
    inner = hashlib.new(hash_name, bytes(b ^ 0x36 for b in block) + message).digest()
    return hashlib.new(hash_name, bytes(b ^ 0x5C for b in block) + inner).digest()


def test_signing_exchange_rows_needs_a_shared_key_of_32_characters() -> None:
    assert SyncSettings().exchange_signing == (RowSignature.none, b"")
    for key in (None, "short"):
        with pytest.raises(ValueError, match="SHIXIANG_EXCHANGE_SIGNING_KEY"):
            SyncSettings(exchange_signature="hmac-sm3", exchange_signing_key=key)
    settings = SyncSettings(exchange_signature="hmac-sm3", exchange_signing_key=KEY.decode())
    assert settings.exchange_signing == (RowSignature.hmac_sm3, KEY)
