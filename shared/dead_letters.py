"""Dead letters: messages a consumer gave up on, kept in the consuming service's own PostgreSQL database.

The dead-letter topic (``<prefix>.<service>.dlt``) is where operators' tools look first, but a broker may lose it
(the development broker keeps nothing across a restart), so every dead letter is first a row here, with the
message as it arrived (key, headers, value up to :data:`COPY_MAX_BYTES`; beyond that a reference: topic, partition,
offset, size and the first bytes), what could be read of it (event id, type, subject), why it failed and how often
it was tried. Operators list and inspect them; administrators replay and discard them, each with a reason that is
recorded, with who did it, when and the outcome, in the append-only ``dead_letter_actions`` (``shixiang dlt``,
``/<service>/v1/dead-letters``, the console). A replay runs the message through the consumer that gave up on it,
with the same tracking, so a replay applies an event at most once. One row per (consumer, topic, partition,
offset): meeting the same message again (after a crash, before its offset was committed) changes nothing."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import jsoncodec
from shared.auth import Principal
from shared.db import RegionOf
from shared.errors import DeadLetterNotFoundError, DeadLetterResolvedError

# A message up to this size is copied into the table and onto the dead-letter topic; a larger one is kept as a
# reference (the producer's request limit on the topic is 1 MiB, and a dead letter must always fit).
COPY_MAX_BYTES = 512 * 1024
HEAD_BYTES = 1024


class Kind(StrEnum):
    """Why a message became a dead letter (permanent kinds are dead-lettered at once, without retries)."""

    malformed = "malformed"  # not a CloudEvent of this suite: headers, key or JSON unreadable
    wrong_source = "wrong_source"  # its source is not the service that owns the topic
    contract = "contract"  # invalid against its type's published schema (after upcasting)
    refused = "refused"  # the consumer's domain refused it for good (e.g. an item it has never heard of)
    exhausted = "exhausted"  # an unexpected error, retried until the attempts ran out


KIND_LABELS: dict[str, str] = {
    Kind.malformed: "消息无法解析", Kind.wrong_source: "来源与主题不符", Kind.contract: "不符合事件契约",
    Kind.refused: "业务上拒收", Kind.exhausted: "多次重试仍失败"}


class Status(StrEnum):
    waiting = "waiting"  # 待处理
    replayed = "replayed"  # 已重放并生效（或早已生效）
    discarded = "discarded"  # 已丢弃（由运维人员决定）


STATUS_LABELS: dict[str, str] = {Status.waiting: "待处理", Status.replayed: "已重放", Status.discarded: "已丢弃"}

dead_letter_metadata = MetaData()
dead_letters_table = Table(
    "dead_letters",
    dead_letter_metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("consumer", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("event_id", Text),
    Column("event_type", Text),
    Column("subject", Text),
    Column("key", LargeBinary),
    Column("headers", JSONB, nullable=False),  # [[name, base64 value], …] as they arrived
    Column("value", LargeBinary),  # the message value; NULL when larger than COPY_MAX_BYTES (a reference)
    Column("size", Integer, nullable=False),
    Column("head", LargeBinary, nullable=False),  # its first HEAD_BYTES bytes
    Column("kind", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status", Text, nullable=False, server_default=Status.waiting.value),
    Column("first_failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("replays", Integer, nullable=False, server_default="0"),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_by", Text),
    Column("resolution", Text),
    Column("sent_to_topic", Boolean, nullable=False, server_default="false"),
    UniqueConstraint("consumer", "topic", "partition", "offset", name="dead_letters_message_uq"),
    Index("dead_letters_status", "status", "id"),
)

# What operators did to dead letters (replay, discard): who, why, when and with what outcome. Append-only: rows are
# inserted in the same transaction as the change they record and never updated or deleted (nothing here does), so a
# dead letter's detail shows every attempt, the failed replays too.
dead_letter_actions_table = Table(
    "dead_letter_actions",
    dead_letter_metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("dead_letter_id", BigInteger, nullable=False),
    Column("action", Text, nullable=False),  # replay, discard
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("result", Text, nullable=False),  # applied, duplicate, passed_over, failed (replay); discarded
    Column("detail", Text),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("dead_letter_actions_letter", "dead_letter_id", "id"),
)


class Action(StrEnum):
    replay = "replay"
    discard = "discard"


ACTION_LABELS: dict[str, str] = {Action.replay: "重放", Action.discard: "丢弃"}


@dataclass(frozen=True)
class Acted:
    """Who acts on a dead letter and why (recorded with the outcome in ``dead_letter_actions``)."""

    action: Action
    actor: str
    reason: str


@dataclass(frozen=True)
class DeadLetter:
    """A message to dead-letter, with what could be read of it."""

    consumer: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Sequence[tuple[str, bytes | None]]
    value: bytes | None
    kind: Kind
    reason: str
    attempts: int = 1
    event_id: str | None = None
    event_type: str | None = None
    subject: str | None = None
    first_failed_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def size(self) -> int:
        return len(self.value or b"")

    @property
    def copied(self) -> bool:
        return self.size <= COPY_MAX_BYTES

    def row(self) -> dict[str, Any]:
        return {
            "consumer": self.consumer, "topic": self.topic, "partition": self.partition, "offset": self.offset,
            "event_id": _text(self.event_id), "event_type": _text(self.event_type), "subject": _text(self.subject),
            "key": self.key, "headers": encode_headers(self.headers),
            "value": self.value if self.copied else None, "size": self.size,
            "head": (self.value or b"")[:HEAD_BYTES], "kind": self.kind.value, "reason": _text(self.reason)[:4000],
            "attempts": self.attempts, "first_failed_at": self.first_failed_at,
            "last_failed_at": self.first_failed_at,
        }


def _text(value: str | None) -> Any:
    # PostgreSQL text cannot hold NUL: what a hostile message carried is kept readable, never refused
    return value.replace("\x00", "\\x00") if isinstance(value, str) else value


def encode_headers(headers: Sequence[tuple[Any, bytes | None]]) -> list[list[str | None]]:
    return [[str(name).replace("\x00", "\\x00"),
             None if value is None else base64.b64encode(bytes(value)).decode()] for name, value in headers or ()]


def decode_headers(encoded: list[list[str | None]]) -> list[tuple[str, bytes | None]]:
    return [(str(name), None if value is None else base64.b64decode(value)) for name, value in encoded]


async def record(engine: AsyncEngine, letters: Sequence[DeadLetter]) -> dict[tuple[str, str, int, int], int]:
    """Store dead letters (one transaction); a message already recorded is left as it is. Returns each message's
    row id by (consumer, topic, partition, offset)."""
    if not letters:
        return {}
    t = dead_letters_table
    async with engine.begin() as conn:
        await conn.execute(pg_insert(t).values([dl.row() for dl in letters]).on_conflict_do_nothing(
            constraint="dead_letters_message_uq"))
        keys = {(dl.consumer, dl.topic, dl.partition, dl.offset) for dl in letters}
        rows = await conn.execute(select(t.c.id, t.c.consumer, t.c.topic, t.c.partition, t.c.offset).where(
            t.c.consumer.in_({k[0] for k in keys}), t.c.topic.in_({k[1] for k in keys}),
            t.c.offset.in_({k[3] for k in keys})))
        return {(r.consumer, r.topic, r.partition, r.offset): r.id for r in rows
                if (r.consumer, r.topic, r.partition, r.offset) in keys}


async def mark_sent(engine: AsyncEngine, ids: Sequence[int]) -> None:
    if ids:
        async with engine.begin() as conn:
            await conn.execute(update(dead_letters_table).where(dead_letters_table.c.id.in_(list(ids)))
                               .values(sent_to_topic=True))


# ---- reading and resolving (the operators' side) ----------------------------------------------------------------
@dataclass(frozen=True)
class Listing:
    status: str | None = None
    consumer: str | None = None
    kind: str | None = None
    after_id: int = 0
    limit: int = 100


async def listing(engine: AsyncEngine, query: Listing) -> list[dict[str, Any]]:
    t = dead_letters_table
    stmt = select(*_SUMMARY_COLUMNS).where(t.c.id > query.after_id).order_by(t.c.id).limit(query.limit)
    for column, value in ((t.c.status, query.status), (t.c.consumer, query.consumer), (t.c.kind, query.kind)):
        if value:
            stmt = stmt.where(column == value)
    async with engine.connect() as conn:
        return [summary(r) for r in await conn.execute(stmt)]


async def counts(engine: AsyncEngine) -> dict[str, int]:
    """Dead letters by status (for /readyz details and the console)."""
    t = dead_letters_table
    async with engine.connect() as conn:
        rows = await conn.execute(select(t.c.status, func.count()).group_by(t.c.status))
        return {r[0]: int(r[1]) for r in rows}


async def get(engine: AsyncEngine, dead_letter_id: int) -> Any:
    async with engine.connect() as conn:
        row = (await conn.execute(select(dead_letters_table).where(dead_letters_table.c.id == dead_letter_id))).first()
    if row is None:
        raise DeadLetterNotFoundError(id=dead_letter_id)
    return row


def summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "consumer": row.consumer, "topic": row.topic, "partition": row.partition, "offset": row.offset,
        "event_id": row.event_id, "event_type": row.event_type, "subject": row.subject,
        "kind": row.kind, "kind_label": KIND_LABELS.get(row.kind, row.kind), "reason": row.reason,
        "attempts": row.attempts, "size": row.size,
        "status": row.status, "status_label": STATUS_LABELS.get(row.status, row.status),
        "first_failed_at": row.first_failed_at.isoformat(), "last_failed_at": row.last_failed_at.isoformat(),
        "replays": row.replays, "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "resolved_by": row.resolved_by, "resolution": row.resolution,
    }


def detail(row: Any) -> dict[str, Any]:
    """Everything about one dead letter: the summary, the message as it arrived (text where it is UTF-8) and its
    value as JSON (``payload``, when it is JSON)."""
    return {**summary(row), "copied": row.value is not None, "key": _readable(row.key),
            "headers": [{"name": name, "value": _readable(value)} for name, value in decode_headers(row.headers)],
            "value": _readable(row.value) if row.value is not None else None, "head": _readable(row.head),
            "payload": _payload(row.value)}


def _payload(raw: bytes | None) -> Any:
    """The message value as the JSON it holds (what the console shows); None when it holds none (or too deep)."""
    if raw is None:
        return None
    try:
        return jsoncodec.loads(bytes(raw))
    except ValueError:  # not JSON, not UTF-8, or nested past the parser's limit
        return None


def payload_region(raw: bytes | None) -> str | None:
    """The region the message's own content names — its elements' or its own ``region_code``, else the region part of
    an item code (事项编码: type, region, …) — or None. For a dead letter whose item the service never heard of (a
    forged or early message): which region's operators may see it."""
    payload = _payload(raw)
    for part in (payload, payload.get("data") if isinstance(payload, dict) else None):
        if not isinstance(part, dict):
            continue
        elements = part.get("elements")
        for candidate in ((elements or {}).get("region_code") if isinstance(elements, dict) else None,
                          part.get("region_code")):
            if isinstance(candidate, str) and candidate.isdigit() and len(candidate) == 6:
                return candidate
        code = part.get("code")
        if isinstance(code, str) and len(code) == 24 and code[2:8].isdigit():
            return code[2:8]
    return None


async def visible_to(engine: AsyncEngine, principal: Principal, region_of: RegionOf | None, dead_letter_id: int,
                     subject: str | None, value: bytes | None = None) -> bool:
    """Whether the caller may see the dead letter: nationwide callers see every one; a caller of some regions those
    whose region is within them — the region the service knows for the message's item (``region_of`` its subject),
    else the one the message itself names (:func:`payload_region`); a dead letter of no known region is for
    nationwide callers only. ``value``: the message, when already read."""
    if principal.nationwide:
        return True
    region = None
    if region_of is not None and subject:
        async with engine.connect() as conn:
            region = await region_of(conn, subject)
    if region is None:
        region = payload_region(value if value is not None else await message_value(engine, dead_letter_id))
    return region is not None and principal.may_access_region(region)


async def require_visible(engine: AsyncEngine, principal: Principal, region_of: RegionOf | None,
                          dead_letter_id: int) -> None:
    """404 DEAD_LETTER_NOT_FOUND for a dead letter the caller may not see, as for one that does not exist."""
    row = await get(engine, dead_letter_id)
    if not await visible_to(engine, principal, region_of, row.id, row.subject, row.value):
        raise DeadLetterNotFoundError(id=dead_letter_id)


async def message_value(engine: AsyncEngine, dead_letter_id: int) -> bytes | None:
    t = dead_letters_table
    async with engine.connect() as conn:
        value: bytes | None = await conn.scalar(select(t.c.value).where(t.c.id == dead_letter_id))
    return value


def _readable(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        return {"text": bytes(raw).decode(), "base64": None}
    except UnicodeDecodeError:
        return {"text": None, "base64": base64.b64encode(bytes(raw)).decode()}


_SUMMARY_COLUMNS = [c for c in dead_letters_table.c if c.name not in ("key", "headers", "value", "head")]


async def resolve(engine: AsyncEngine, dead_letter_id: int, status: Status, *, by: str, resolution: str,
                  acted: Acted | None = None, result: str | None = None) -> Any:
    """Close a waiting dead letter (replayed or discarded); raises if it is not waiting any more. ``acted`` is
    recorded (with ``result``, or the new status) in the same transaction."""
    t = dead_letters_table
    async with engine.begin() as conn:
        row = (await conn.execute(select(t.c.status).where(t.c.id == dead_letter_id).with_for_update())).first()
        if row is None:
            raise DeadLetterNotFoundError(id=dead_letter_id)
        if row.status != Status.waiting:
            raise DeadLetterResolvedError(id=dead_letter_id, status=row.status,
                                          status_label=STATUS_LABELS.get(row.status, row.status))
        await conn.execute(update(t).where(t.c.id == dead_letter_id).values(
            status=status.value, resolved_at=func.now(), resolved_by=_text(by), resolution=_text(resolution)[:4000],
            replays=t.c.replays + (1 if status is Status.replayed else 0)))
        if acted is not None:
            await _record_action(conn, dead_letter_id, acted, result or status.value, resolution)
    return await get(engine, dead_letter_id)


async def failed_again(engine: AsyncEngine, dead_letter_id: int, reason: str, *, acted: Acted | None = None) -> Any:
    t = dead_letters_table
    async with engine.begin() as conn:
        await conn.execute(update(t).where(t.c.id == dead_letter_id).values(
            reason=_text(reason)[:4000], attempts=t.c.attempts + 1, replays=t.c.replays + 1,
            last_failed_at=func.now()))
        if acted is not None:
            await _record_action(conn, dead_letter_id, acted, "failed", reason)
    return await get(engine, dead_letter_id)


async def _record_action(conn: AsyncConnection, dead_letter_id: int, acted: Acted, result: str, detail: str) -> None:
    await conn.execute(dead_letter_actions_table.insert().values(
        dead_letter_id=dead_letter_id, action=acted.action.value, actor=_text(acted.actor),
        reason=_text(acted.reason)[:2000], result=result, detail=_text(detail)[:4000]))


async def actions(engine: AsyncEngine, dead_letter_id: int) -> list[dict[str, Any]]:
    """What was done to a dead letter, oldest first."""
    t = dead_letter_actions_table
    async with engine.connect() as conn:
        rows = await conn.execute(select(t).where(t.c.dead_letter_id == dead_letter_id).order_by(t.c.id))
        return [{"action": r.action, "action_label": ACTION_LABELS.get(r.action, r.action), "actor": r.actor,
                 "reason": r.reason, "at": r.at.isoformat(), "result": r.result, "detail": r.detail} for r in rows]


async def describe(engine: AsyncEngine, dead_letter_id: int) -> dict[str, Any]:
    """:func:`detail` of one dead letter and its recorded :func:`actions`."""
    return {**detail(await get(engine, dead_letter_id)), "actions": await actions(engine, dead_letter_id)}


async def waiting_by_consumer(engine: AsyncEngine) -> dict[str, int]:
    """Waiting dead letters per consumer (the pipeline view and the dead-letter gauge)."""
    t = dead_letters_table
    async with engine.connect() as conn:
        rows = await conn.execute(select(t.c.consumer, func.count()).where(t.c.status == Status.waiting.value)
                                  .group_by(t.c.consumer))
        return {r[0]: int(r[1]) for r in rows}
