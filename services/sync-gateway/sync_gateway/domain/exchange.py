"""The exchange database (前置库) rows of a published change, pure: the national exchange's ``up_*`` layout made from
a published record (``shared.contracts.feed.PublishedItemRecord``, the feed entry's ``data``), never from internal
event data. ``docs/exchange.md`` is the contract a national integrator reads; this module is its one source.

- ``up_task_general`` (事项目录): one row per published change of an item — the exchange columns, the item's identity
  and state, and every published element as a column by its published name (the 办事指南's fields flattened
  beside them; lists as arrays, nested records as JSON).
- ``up_task_material`` (申请材料), ``up_task_charge`` (收费项目), ``up_task_legal_basis`` (设定依据): the item's
  complete set of each for that change, one row per entry (``seq`` from 1), under the directory row
  (``parent_row_guid``). A delete (注销) writes the directory row only.

Every row carries 批次号 ``cd_batch`` (one per sync round), 同步类型 ``cd_operation`` (I/U/D from the record's
``operation``), 同步时间 ``cd_time``, ``row_guid``, 数据来源 ``data_source``, 事项版本 ``task_version`` (the item's
lifecycle version, what feedback answers) and 事项状态 ``task_state``. ``row_guid`` is derived from the item, its
version, the table and the entry's place, so writing the same change again makes the same keys: the writer inserts
with ``ON CONFLICT DO NOTHING`` and a change is in the tables once however often it is written.

Where the national side asks for signed rows, every ``up_*`` row also carries ``row_signature``: HMAC-SHA256 or
HMAC-SM3 (国密), with a key both sides share, of the row's canonical content (:func:`canonical_row`: every other
column, as one JSON object), and ``signature_algorithm`` naming which; both are null when signing is off."""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from shared.contracts import elements as spec

# The national exchange's operation codes (同步类型) for the published record's operation.
OPERATION_CODES = {"insert": "I", "update": "U", "delete": "D"}
GENERAL_TABLE = "up_task_general"
MATERIAL_TABLE = "up_task_material"
CHARGE_TABLE = "up_task_charge"
LEGAL_BASIS_TABLE = "up_task_legal_basis"
FEEDBACK_TABLE = "dn_audit_abnormal"
# The namespace of row_guid (a fixed uuid: the same change gets the same row_guid in every process and year).
ROW_GUID_NAMESPACE = uuid.UUID("6f1d3c1e-5b0e-4d8e-9a4b-1e0c7a2f3b91")

# Column kinds (the adapter maps each to a SQL type).
TEXT, DATE, INTEGER, BOOLEAN, TEXTS, JSON, TIME = "text", "date", "integer", "boolean", "text[]", "jsonb", "timestamptz"
BIGINT = "bigint"

# (column, kind, meaning in Chinese, in English) of the exchange columns every up_* row starts with.
EXCHANGE_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("row_guid", TEXT, "行标识（主键；同一变更重复写入时不变）",
     "row key (primary key; the same when a change is written again)"),
    ("cd_batch", TEXT, "批次号：同一同步轮次写入的行相同", "batch number: the same for every row of one sync round"),
    ("cd_operation", TEXT, "同步类型：I 新增 / U 更新 / D 删除", "operation: I insert / U update / D delete"),
    ("cd_time", TIME, "同步时间（写入前置库的时间）", "sync time (when the round was written)"),
    ("data_source", TEXT, "数据来源", "data source (the writing province's setting)"),
    ("task_guid", TEXT, "事项 ID", "item id"),
    ("task_version", INTEGER, "事项版本（事项生命周期版本；国家平台退回时引用）",
     "item version (its lifecycle version; a rejection names it)"),
    ("task_state", TEXT, "事项状态：online 在线期 / offline 离线期 / cancelled 注销期",
     "item state: online / offline / cancelled"),
    ("task_code", TEXT, "事项编码（24 位）", "item code (24 characters)"),
)
# The directory row's own columns besides the elements (from the published record).
GENERAL_RECORD_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("change", TEXT, ("变更：published 上线 / updated 更新上线 / maintained 维护 / unpublished 下线 / "
                      "resumed 重新上线 / cancelled 注销"),
     "the change: published / updated / maintained / unpublished / resumed / cancelled"),
    ("change_label", TEXT, "变更中文名", "the change's Chinese name"),
    ("state_label", TEXT, "事项状态中文名", "the state's Chinese name"),
    ("previous_code", TEXT, "更新后重新赋码时的原编码", "the former code when an update re-coded the item"),
    ("revision", INTEGER, "对外内容的版本号（注销时为空）", "published content revision (null on delete)"),
    ("offline_kind", TEXT, "下线类型：suspension 暂停 / maintenance 维护", "offline kind: suspension / maintenance"),
    ("reason", TEXT, "下线或注销原因", "why it went offline or was cancelled"),
    ("successors", TEXTS, "拆分 / 合并后接替它的事项 ID", "item ids succeeding it after a split / merge"),
    ("effective_at", TIME, "变更生效时间", "when the change took effect"),
)
# The last columns of every up_* row: its signature, when the national side asked for signed rows.
SIGNATURE_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("row_signature", TEXT,
     "行签名（启用时）：以共享密钥对本行其余各列规范化内容（见“行签名”一节）计算的 HMAC，十六进制小写；未启用为空",
     ("row signature (when enabled): the HMAC, with the shared key, of the row's other columns in canonical form "
      "(see Row signatures), lowercase hex; null when off")),
    ("signature_algorithm", TEXT, "行签名算法：hmac-sha256 / hmac-sm3（国密）；未启用为空",
     "the signature's algorithm: hmac-sha256 / hmac-sm3 (national SM3); null when off"),
)
CHILD_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("parent_row_guid", TEXT, "所属事项目录行的 row_guid", "row_guid of its directory row"),
    ("seq", INTEGER, "序号（从 1 开始）", "position in the item's list (from 1)"),
)
# Where each child table's entries are in the published elements, and the published shape of one entry.
_GUIDE = "service_guide"
_CHILDREN: dict[str, tuple[tuple[str, ...], str]] = {
    MATERIAL_TABLE: ((_GUIDE, "materials"), "申请材料"),
    CHARGE_TABLE: ((_GUIDE, "fees", "items"), "收费项目"),
    LEGAL_BASIS_TABLE: (("legal_basis",), "设定依据"),
}


def _kind(kind: spec.Kind) -> str:
    match kind:
        case spec.IsoDate():
            return DATE
        case spec.Integer():
            return INTEGER
        case spec.Flag():
            return BOOLEAN
        case spec.Codes() | spec.Choices() | spec.Texts() | spec.References():
            return TEXTS
        case spec.Entries() | spec.Record() | spec.Section():
            return JSON
    return TEXT


def _published(shape: spec.Shape) -> list[spec.Field]:
    return [f for f in shape.fields if isinstance(f.published, spec.Published)]


def _field(shape: spec.Shape, key: str) -> spec.Field:
    return next(f for f in shape.fields if f.key == key)


def _entry_shape(path: tuple[str, ...]) -> spec.Shape:
    shape = spec.ITEM
    for key in path:
        kind = _field(shape, key).kind
        assert isinstance(kind, spec.Entries | spec.Record | spec.Section), key
        shape = kind.shape
    return shape


def _element_columns() -> tuple[tuple[tuple[str, ...], str, str, str], ...]:
    """(path in the published elements, column, kind, Chinese label) of every element column of the directory:
    the item's published fields, the 办事指南's flattened beside them, the fees' ``free`` flag as ``fees_free``;
    the entries that have a child table are not columns."""
    children = {path for path, _ in _CHILDREN.values()}
    columns: list[tuple[tuple[str, ...], str, str, str]] = []
    for f in _published(spec.ITEM):
        if (f.key,) in children:
            continue
        if f.key == _GUIDE:
            assert isinstance(f.kind, spec.Section)
            for g in _published(f.kind.shape):
                if (_GUIDE, g.key) in children:
                    continue
                if g.key == "fees":
                    assert isinstance(g.kind, spec.Record)
                    columns.extend(((_GUIDE, "fees", h.key), f"fees_{h.key}", _kind(h.kind),
                                    f"{g.label}：{h.label}")
                                   for h in _published(g.kind.shape) if (_GUIDE, "fees", h.key) not in children)
                    continue
                columns.append(((_GUIDE, g.key), g.key, _kind(g.kind), g.label))
            continue
        columns.append(((f.key,), f.key, _kind(f.kind), f.label))
    return tuple(columns)


ELEMENT_COLUMNS = _element_columns()


def _child_columns(table: str) -> tuple[tuple[str, str, str, str], ...]:
    path, _ = _CHILDREN[table]
    return tuple((f.key, _kind(f.kind), f.label, _english((*path, f.key)))
                 for f in _published(_entry_shape(path)))


def _english(path: tuple[str, ...]) -> str:
    """A published element's meaning in English: its published path (the feed's ``elements``)."""
    return "published element " + ".".join(path)


@dataclass(frozen=True)
class TableLayout:
    """One exchange table: its name, Chinese name and columns, in order."""

    name: str
    label: str
    columns: tuple[tuple[str, str, str, str], ...]


LAYOUTS: tuple[TableLayout, ...] = (
    TableLayout(GENERAL_TABLE, "事项目录", EXCHANGE_COLUMNS + GENERAL_RECORD_COLUMNS
                + tuple((column, kind, label, _english(path)) for path, column, kind, label in ELEMENT_COLUMNS)
                + SIGNATURE_COLUMNS),
    *(TableLayout(table, label, EXCHANGE_COLUMNS + CHILD_COLUMNS + _child_columns(table) + SIGNATURE_COLUMNS)
      for table, (_, label) in _CHILDREN.items()),
)


# dn_audit_abnormal (国家平台校验异常), written by the national side: one row per rejected change.
FEEDBACK_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("id", BIGINT, "自增序号（国家平台写入时省略，由数据库生成）；网关按它的顺序读取",
     "serial (left out by the writer, generated); the gateway reads in its order"),
    ("cd_batch", TEXT, "被退回行的批次号（可空）", "batch of the rejected row (optional)"),
    ("row_guid", TEXT, "被退回行的 row_guid（可空）", "row_guid of the rejected row (optional)"),
    ("task_guid", TEXT, "事项 ID（必填）", "item id (required)"),
    ("task_version", INTEGER, "被退回的事项版本（必填，即 up_task_general.task_version）",
     "the rejected item version (required: up_task_general.task_version)"),
    ("error_type", TEXT, "错误类型（可空）", "error type (optional)"),
    ("error_message", TEXT, "错误信息（必填，即退回原因）", "error message (required: the reason)"),
    ("cd_time", TIME, "退回时间（可省略，默认写入时间）", "when rejected (defaults to the time written)"),
)


def row_guid(table: str, item_id: str, task_version: int, seq: int = 0) -> str:
    """The row key of one change's row: the same for the same change, in every process (idempotent writes)."""
    return str(uuid.uuid5(ROW_GUID_NAMESPACE, f"{table}/{item_id}/{task_version}/{seq}"))


def _at(elements: Mapping[str, Any] | None, path: tuple[str, ...]) -> Any:
    value: Any = elements
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _typed(kind: str, value: Any) -> Any:
    """A published value as its column holds it (a date is an ISO string in the record)."""
    return date.fromisoformat(value) if kind == DATE and isinstance(value, str) else value


def exchange_rows(record: Mapping[str, Any], *, cd_batch: str, cd_time: datetime,
                  data_source: str) -> dict[str, list[dict[str, Any]]]:
    """The exchange rows (table → rows) of one published record (the feed entry's ``data``)."""
    item_id, version = record["item_id"], record["item_version"]
    guid = row_guid(GENERAL_TABLE, item_id, version)
    common = {"cd_batch": cd_batch, "cd_operation": OPERATION_CODES[record["operation"]], "cd_time": cd_time,
              "data_source": data_source, "task_guid": item_id, "task_version": version,
              "task_state": record["state"], "task_code": record["code"]}
    elements = record.get("elements")
    general = {"row_guid": guid, **common,
               **{column: record.get(column) for column, _, _, _ in GENERAL_RECORD_COLUMNS},
               **{column: _typed(kind, _at(elements, path)) for path, column, kind, _ in ELEMENT_COLUMNS}}
    general["effective_at"] = datetime.fromisoformat(record["effective_at"])
    rows: dict[str, list[dict[str, Any]]] = {GENERAL_TABLE: [general]}
    for table, (path, _) in _CHILDREN.items():
        keys = [column for column, _, _, _ in _child_columns(table)]
        rows[table] = [{"row_guid": row_guid(table, item_id, version, seq), **common, "parent_row_guid": guid,
                        "seq": seq, **{k: entry.get(k) for k in keys}}
                       for seq, entry in enumerate(_at(elements, path) or [], start=1)]
    return rows


# ---- row signatures -----------------------------------------------------------------------------------------------
class RowSignature(StrEnum):
    """How exchange rows are signed, if at all (SHIXIANG_EXCHANGE_SIGNATURE)."""

    none = "none"
    hmac_sha256 = "hmac-sha256"
    hmac_sm3 = "hmac-sm3"  # 国密 SM3 (GB/T 32905) in HMAC


_ROW_DIGESTS = {RowSignature.hmac_sha256: "sha256", RowSignature.hmac_sm3: "sm3"}
_SIGNATURE_NAMES = frozenset(name for name, _, _, _ in SIGNATURE_COLUMNS)


def _canonical_value(value: Any) -> Any:
    """A column's value as the canonical JSON holds it: a time in UTC with microseconds (``…T…:…:….ffffffZ``), a
    date as ``YYYY-MM-DD``, everything else as JSON has it (text, integers, booleans, null, arrays, jsonb)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_canonical_value(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _canonical_value(v) for k, v in value.items()}
    return value


def canonical_row(row: Mapping[str, Any]) -> bytes:
    """What a row's signature covers: every column but the signature's own, as one JSON object — keys sorted
    (nested objects too), no whitespace, UTF-8 without escapes — so that the national side, reading the row back
    from its table, makes the same bytes."""
    content = {k: _canonical_value(v) for k, v in row.items() if k not in _SIGNATURE_NAMES}
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def row_signature(row: Mapping[str, Any], key: bytes, algorithm: RowSignature) -> str:
    """The HMAC of the row's canonical content, lowercase hex."""
    return hmac.new(key, canonical_row(row), _ROW_DIGESTS[algorithm]).hexdigest()


def signed_rows(rows: Mapping[str, list[dict[str, Any]]], key: bytes,
                algorithm: RowSignature) -> dict[str, list[dict[str, Any]]]:
    """``rows`` (table → rows) with each row's signature and its algorithm (as they are when signing is off)."""
    if algorithm is RowSignature.none:
        return dict(rows)
    return {table: [{**row, "row_signature": row_signature(row, key, algorithm),
                     "signature_algorithm": algorithm.value} for row in table_rows]
            for table, table_rows in rows.items()}


@dataclass(frozen=True)
class AuditAbnormal:
    """One rejection the national side wrote into ``dn_audit_abnormal`` (国家平台校验异常)."""

    position: int
    cd_batch: str | None
    row_guid: str | None
    task_guid: str
    task_version: int
    error_type: str | None
    error_message: str


def rejection_reason(row: AuditAbnormal) -> str:
    """The reason recorded on the item: the national side's message, after its error type when it gave one."""
    return f"[{row.error_type}] {row.error_message}" if row.error_type else row.error_message


def rejection_note(row: AuditAbnormal) -> str:
    """Where the rejection came from (the note beside it)."""
    return f"前置库 {FEEDBACK_TABLE}：批次 {row.cd_batch or '-'}，行 {row.row_guid or '-'}"
