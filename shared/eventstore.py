"""Append-only event store in PostgreSQL, one per service database.

Primary key ``(stream_id, version)`` is the optimistic-concurrency check: appending a version that exists is a
conflict (HTTP 409), never an overwrite. ``position`` is the global order the relay and projections read in.

Why appends take ``LOCK TABLE events IN EXCLUSIVE MODE``: positions come from a sequence, which hands out numbers
at INSERT time, but transactions commit in their own order. Without the lock a writer could take position 41,
another 42, and 42 commit first; a reader that saw 42 and moved its checkpoint past it would never see 41 (the
classic skipped-event bug of Marten, Axon and prooph). The lock is taken just before the INSERT and held until
commit, so positions become visible strictly in order: when a reader sees position N, every lower position is
either visible already or belongs to a transaction that rolled back. EXCLUSIVE mode still lets readers read.
The lock serialises only the final insert-and-commit of each writer; batch appends amortise it."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    select,
    text,
)
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import jsoncodec
from shared.cloudevents import CloudEvent
from shared.errors import ConcurrencyConflictError

NOTIFY_CHANNEL = "shixiang_events"
TOAST_TUPLE_TARGET = 8160  # the largest PostgreSQL accepts: rows up to a page are stored as they are

store_metadata = MetaData()

events_table = Table(
    "events",
    store_metadata,
    Column("position", BigInteger, Identity(always=True), nullable=False, unique=True),
    Column("stream_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("type", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("actor", Text),
    Column("correlation_id", Text),
    Column("causation_id", Text),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    # sha256(previous event's hash ‖ this event's canonical content): editing or removing a stored event breaks
    # the chain of every later event of the stream (see event_hash / verify_chain).
    Column("hash", Text, nullable=False),
    PrimaryKeyConstraint("stream_id", "version", name="events_stream_version_pk"),
    # Rows stay whole and uncompressed up to a page: PostgreSQL's default (2 KB) pglz-compressed every event with a
    # full element set (≈2.6 KB) on write, ≈20 µs of CPU each to save a third of the space. (lz4 is not built
    # into the embedded PostgreSQL.)
    postgresql_with={"toast_tuple_target": TOAST_TUPLE_TARGET},
)
# No index on recorded_at: time travel (as_of) reads one stream by its primary key and filters on time, and an
# index nothing queries would cost every append of every service its upkeep.

# Wake relays (LISTEN shixiang_events) after every committed append, whoever wrote it; NOTIFY is delivered at commit.
sa_event.listen(events_table, "after_create", DDL(f"""
CREATE OR REPLACE FUNCTION shixiang_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('{NOTIFY_CHANNEL}', ''); RETURN NULL; END $$"""))
sa_event.listen(events_table, "after_create", DDL(
    "CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION shixiang_notify_events()"))

relay_checkpoints_table = Table(
    "relay_checkpoints",
    store_metadata,
    Column("relay", Text, primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

processed_events_table = Table(
    "processed_events",
    store_metadata,
    Column("consumer", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "event_id", name="processed_events_pk"),
)


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended. ``type`` is a stable string with a schema version, e.g. ``item.drafted.v1``."""

    type: str
    data: dict[str, Any]
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    # canonical_json(data), when the writer has it already (the registry's import splices in the element set its
    # reader process serialised); it is what is stored and hashed, so it must be exactly that
    data_json: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class EventMetadata:
    actor: str
    correlation_id: str | None = None
    causation_id: str | None = None
    recorded_at: datetime | None = None  # the caller's clock; defaults to now


@dataclass(frozen=True)
class StoredEvent:
    position: int
    stream_id: str
    version: int
    event_id: uuid.UUID
    type: str
    data: dict[str, Any]
    actor: str | None
    correlation_id: str | None
    causation_id: str | None
    recorded_at: datetime
    hash: str = ""

    def to_cloudevent(self, source: str) -> CloudEvent:
        return CloudEvent(
            id=str(self.event_id),
            type=self.type,
            source=source,
            subject=self.stream_id,
            time=self.recorded_at,
            data=self.data,
            sequence=self.version,
            position=self.position,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            actor=self.actor,
        )


def stored_event(row: Any) -> StoredEvent:
    """A row of the events table (any select with its columns by name) as a :class:`StoredEvent`."""
    return StoredEvent(
        position=row.position,
        stream_id=row.stream_id,
        version=row.version,
        event_id=row.event_id,
        type=row.type,
        data=row.data,
        actor=row.actor,
        correlation_id=row.correlation_id,
        causation_id=row.causation_id,
        recorded_at=row.recorded_at,
        hash=row.hash,
    )


class EventStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: EventMetadata,
    ) -> list[StoredEvent]:
        """Append in its own transaction. ``expected_version`` is the stream's current length (0 = new stream)."""
        async with self.engine.begin() as conn:
            return await append_events(conn, stream_id, expected_version, events, metadata)

    async def load(
        self, stream_id: str, *, recorded_until: datetime | None = None, after_version: int = 0
    ) -> list[StoredEvent]:
        async with self.engine.connect() as conn:
            return await load_stream(conn, stream_id, recorded_until=recorded_until, after_version=after_version)

    async def version(self, stream_id: str) -> int:
        """The stream's current version (0 for a stream with no events)."""
        async with self.engine.connect() as conn:
            return await current_version(conn, stream_id)

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        """Events with a position above ``position``, in position order (the relay's and projections' read)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(events_table)
                .where(events_table.c.position > position)
                .order_by(events_table.c.position)
                .limit(limit)
            )
            return [stored_event(r) for r in rows]


async def current_version(conn: AsyncConnection, stream_id: str) -> int:
    return int(
        await conn.scalar(
            select(func.coalesce(func.max(events_table.c.version), 0)).where(events_table.c.stream_id == stream_id)
        )
    )


GENESIS_HASH = "0" * 64


def canonical_json(data: dict[str, Any]) -> str:
    """What the ``data`` column stores and the hash covers: compact JSON, keys sorted."""
    return jsoncodec.canonical(data)


def event_hash(previous: str, stream_id: str, version: int, event_id: uuid.UUID | str, type_: str,
               data: dict[str, Any], actor: str | None, recorded_at: datetime, *, data_json: str | None = None) -> str:
    """The chain link of one event: sha256(previous ‖ canonical JSON of [stream, version, id, type, data, actor,
    UTC time]). Canonical (sorted keys, UTC microseconds) so that what PostgreSQL gives back hashes exactly as what
    was written. ``data_json`` (= canonical_json(data)) lets a batch append serialise each event's data once."""
    dumps = jsoncodec.dumps
    content = (f"[{dumps(stream_id)},{version},{dumps(str(event_id))},{dumps(type_)},"
               f"{data_json if data_json is not None else canonical_json(data)},{dumps(actor)},"
               f"{dumps(recorded_at.astimezone(UTC).isoformat())}]")
    return hashlib.sha256((previous + content).encode()).hexdigest()


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    events: int
    head_hash: str
    broken_at_version: int | None = None
    reason: str | None = None


def verify_chain(events: Sequence[StoredEvent]) -> ChainVerdict:
    """Recompute a stream's chain: any edited, removed or reordered event shows as the first version that breaks."""
    previous = GENESIS_HASH
    for expected_version, e in enumerate(events, start=1):
        if e.version != expected_version:
            return ChainVerdict(False, len(events), previous, expected_version, f"第 {expected_version} 版事件缺失")
        if event_hash(previous, e.stream_id, e.version, e.event_id, e.type, e.data, e.actor, e.recorded_at) != e.hash:
            return ChainVerdict(False, len(events), previous, e.version, f"第 {e.version} 版事件内容与哈希链不符")
        previous = e.hash
    return ChainVerdict(True, len(events), previous)


@dataclass(frozen=True)
class StreamAppend:
    """Events for one stream, appended only if the stream is still at ``expected_version``."""

    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]
    metadata: EventMetadata | None = None  # who and why for this stream; defaults to the batch's metadata


_HEADS_SQL = text("""
SELECT DISTINCT ON (stream_id) stream_id, version, hash FROM events
WHERE stream_id = ANY(CAST(:ids AS text[])) ORDER BY stream_id, version DESC
""")

_INSERT_SQL = text("""
INSERT INTO events (stream_id, version, event_id, type, data, actor, correlation_id, causation_id, recorded_at, hash)
SELECT n.stream_id, n.version, n.event_id, n.type, n.data::jsonb, n.actor, n.correlation_id, n.causation_id,
       n.recorded_at, n.hash
FROM unnest(CAST(:stream_ids AS text[]), CAST(:versions AS int[]), CAST(:event_ids AS uuid[]),
            CAST(:types AS text[]), CAST(:datas AS text[]), CAST(:hashes AS text[]), CAST(:actors AS text[]),
            CAST(:correlation_ids AS text[]), CAST(:causation_ids AS text[]), CAST(:recorded_ats AS timestamptz[]))
     WITH ORDINALITY AS n(stream_id, version, event_id, type, data, hash, actor, correlation_id, causation_id,
                          recorded_at, ord)
ORDER BY n.ord
RETURNING position
""")


async def append_events(
    conn: AsyncConnection,
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    metadata: EventMetadata,
) -> list[StoredEvent]:
    """Append to one stream inside the caller's transaction (so a consumer can record its effect and its tracking
    row together). Call it last in the transaction: the events table stays locked until commit."""
    return await append_batch(conn, [StreamAppend(stream_id, expected_version, events)], metadata)


async def append_batch(conn: AsyncConnection, appends: Sequence[StreamAppend],
                       metadata: EventMetadata | None = None) -> list[StoredEvent]:
    """Append to many streams in one statement (imports of thousands of items, batched allocations): all or nothing.

    Under the table lock, the streams' current heads are read, every expected version checked, the hash chain
    extended and all rows inserted at once, so no other writer can slip in between check and insert. Each stream's
    events carry its own ``StreamAppend.metadata`` or, if it has none, the batch's ``metadata``."""
    appends = _checked(appends)
    if not appends:
        return []
    await conn.execute(_LOCK_SQL)
    heads = await _heads(conn, [a.stream_id for a in appends])
    return await _insert(conn, prepare_append(appends, metadata, heads))


@dataclass(frozen=True)
class PreparedAppend:
    """Events already chained onto the stream heads a writer read: their rows, hashes and canonical data, ready to
    insert. Preparing is CPU work (serialising and hashing every event); a writer that knows its streams' heads does
    it before taking the table lock, or while its previous batch is being written (the registry's import), and
    :func:`append_prepared` then only checks, under the lock, that every head is still the one it chained onto."""

    heads: dict[str, tuple[int, str]]  # stream → (version, hash) the events were chained onto
    rows: list[tuple[Any, ...]]  # StoredEvent's fields but its position, which the insert returns
    datas: list[str]  # each row's canonical data JSON


def prepare_append(appends: Sequence[StreamAppend], metadata: EventMetadata | None,
                   heads: Mapping[str, tuple[int, str]], *, now: datetime | None = None) -> PreparedAppend:
    """Chain ``appends`` onto ``heads`` (stream → (version, hash); a stream missing from it is new). Raises
    ConcurrencyConflictError if a stream's head is not at its expected version."""
    now = now or datetime.now(UTC)
    chained: dict[str, tuple[int, str]] = {}
    rows: list[tuple[Any, ...]] = []
    datas: list[str] = []
    for a in _checked(appends):
        meta = a.metadata or metadata
        if meta is None:
            raise ValueError(f"no metadata for stream {a.stream_id}")
        recorded_at = meta.recorded_at or now
        version, previous = chained[a.stream_id] = heads.get(a.stream_id, (0, GENESIS_HASH))
        if version != a.expected_version:
            raise ConcurrencyConflictError(stream_id=a.stream_id, expected=a.expected_version, actual=version)
        for e in a.events:
            version += 1
            data_json = e.data_json if e.data_json is not None else canonical_json(e.data)
            previous = event_hash(previous, a.stream_id, version, e.event_id, e.type, e.data, meta.actor,
                                  recorded_at, data_json=data_json)
            rows.append((a.stream_id, version, e.event_id, e.type, e.data, meta.actor, meta.correlation_id,
                         meta.causation_id, recorded_at, previous))
            datas.append(data_json)
    return PreparedAppend(chained, rows, datas)


async def append_prepared(conn: AsyncConnection, prepared: PreparedAppend) -> list[StoredEvent]:
    """Insert prepared events if every stream is still at the head they were chained onto (else
    ConcurrencyConflictError, nothing written). Call it last in the transaction, like :func:`append_batch`."""
    if not prepared.rows:
        return []
    await conn.execute(_LOCK_SQL)
    heads = await _heads(conn, list(prepared.heads))
    for stream_id, chained_onto in prepared.heads.items():
        head = heads.get(stream_id, (0, GENESIS_HASH))
        if head != chained_onto:
            raise ConcurrencyConflictError(stream_id=stream_id, expected=chained_onto[0], actual=head[0])
    return await _insert(conn, prepared)


_LOCK_SQL = text("LOCK TABLE events IN EXCLUSIVE MODE")


def _checked(appends: Sequence[StreamAppend]) -> list[StreamAppend]:
    appends = [a for a in appends if a.events]
    ids = [a.stream_id for a in appends]
    if len(set(ids)) != len(ids):
        raise ValueError("one StreamAppend per stream in a batch")
    return appends


async def _heads(conn: AsyncConnection, stream_ids: list[str]) -> dict[str, tuple[int, str]]:
    return {r.stream_id: (r.version, r.hash) for r in await conn.execute(_HEADS_SQL, {"ids": stream_ids})}


async def _insert(conn: AsyncConnection, prepared: PreparedAppend) -> list[StoredEvent]:
    rows = prepared.rows
    if not rows:
        return []
    try:
        columns = list(zip(*rows, strict=True))
        positions = (await conn.execute(_INSERT_SQL, {
            "stream_ids": columns[0], "versions": columns[1], "event_ids": columns[2], "types": columns[3],
            "datas": prepared.datas, "actors": columns[5], "correlation_ids": columns[6],
            "causation_ids": columns[7], "recorded_ats": columns[8], "hashes": columns[9],
        })).scalars().all()
    except IntegrityError as exc:  # versions were checked under the lock: only a reused event id gets here
        first = rows[0]
        raise ConcurrencyConflictError(stream_id=first[0], expected=first[1] - 1, actual="?") from exc
    return [StoredEvent(position, *row) for position, row in zip(positions, rows, strict=True)]


async def load_stream(
    conn: AsyncConnection, stream_id: str, *, recorded_until: datetime | None = None, after_version: int = 0
) -> list[StoredEvent]:
    query = select(events_table).where(events_table.c.stream_id == stream_id, events_table.c.version > after_version)
    if recorded_until is not None:
        query = query.where(events_table.c.recorded_at <= recorded_until)
    rows = await conn.execute(query.order_by(events_table.c.version))
    return [stored_event(r) for r in rows]
