"""Append-only event store in PostgreSQL, one per service database.

Primary key ``(stream_id, version)`` is the optimistic-concurrency check: appending a version that exists is a
conflict (HTTP 409), never an overwrite. ``position`` (an identity) numbers the events; the global order readers
follow is ``(tx_id, position)``, where ``tx_id`` is the id of the transaction that wrote the event.

Why that order, and why appends take no table lock: positions come from a sequence, which hands out numbers at
INSERT time, but transactions commit in their own order. A writer could take position 41, another 42, and 42 commit
first; a reader that saw 42 and moved its checkpoint past it would never see 41 (the classic skipped-event bug of
Marten, Axon and prooph). Holding ``LOCK TABLE events`` from the insert through the commit prevents it, but then
commits never overlap: every writer waits for the one before it to reach the disk (fsync), and 16 writers are
barely faster than one. Instead, every event records ``pg_current_xact_id()`` and readers read only events of
transactions below ``pg_snapshot_xmin(pg_current_snapshot())``, the oldest transaction still running anywhere in
the cluster (PgQ's technique). Every transaction below it has ended, committed or rolled back, so that part of the
log is final: no event can later appear before a cursor a reader has moved past. Transactions of one store commit
freely in parallel and share fsyncs (group commit). The price: a reader sees an event only once every transaction
that began before its writer's has ended, so a long-running write transaction anywhere in the cluster delays the
relays (never their correctness); writers keep their transactions short and write last (see ``settled_after``)."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Identity,
    Index,
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
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import contracts, jsoncodec
from shared.cloudevents import CloudEvent
from shared.db import EVENT_HASH_OPTION, raw_driver
from shared.errors import ConcurrencyConflictError
from shared.hashing import HashAlgorithm, hex_digester

TOAST_TUPLE_TARGET = 8160  # the largest PostgreSQL accepts: rows up to a page are stored as they are

store_metadata = MetaData()

events_table = Table(
    "events",
    store_metadata,
    # An identity: unique without an index of its own (readers go by events_tx_order, which includes it).
    Column("position", BigInteger, Identity(always=True), nullable=False),
    Column("stream_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("type", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("actor", Text),
    Column("correlation_id", Text),
    Column("causation_id", Text),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    # H(previous event's hash ‖ this event's canonical content): editing or removing a stored event breaks
    # the chain of every later event of the stream (see event_hash / verify_chain).
    Column("hash", Text, nullable=False),
    # H above: the store's algorithm when the event was written (SHIXIANG_EVENT_HASH, shared.hashing), so that a
    # store switched from SHA-256 to SM3 keeps verifying its older events with SHA-256.
    Column("hash_alg", Text, nullable=False, server_default=HashAlgorithm.sha256.value),
    # The writing transaction (pg_current_xact_id(), a 64-bit id that never wraps): readers follow (tx_id, position)
    # and stop below the oldest transaction still running (see the module docstring and settled_after).
    Column("tx_id", BigInteger, nullable=False, server_default=text("pg_current_xact_id()::text::bigint")),
    PrimaryKeyConstraint("stream_id", "version", name="events_stream_version_pk"),
    Index("events_tx_order", "tx_id", "position"),
    # Rows stay whole and uncompressed up to a page: PostgreSQL's default (2 KB) pglz-compressed every event with a
    # full element set (≈2.6 KB) on write, ≈20 µs of CPU each to save a third of the space. (lz4 is not built
    # into the embedded PostgreSQL.)
    postgresql_with={"toast_tuple_target": TOAST_TUPLE_TARGET},
)
# No index on recorded_at: time travel (as_of) reads one stream by its primary key and filters on time, and an
# index nothing queries would cost every append of every service its upkeep.

relay_checkpoints_table = Table(
    "relay_checkpoints",  # a relay's cursor in the store's (tx_id, position) order
    store_metadata,
    Column("relay", Text, primary_key=True),
    Column("tx_id", BigInteger, nullable=False, server_default="0"),
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
    # who and why for this one event, when it differs from its stream's (a consumer applying several incoming
    # events to one item in one batch records each one's causation)
    metadata: EventMetadata | None = field(default=None, compare=False)


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
    hash_alg: str = HashAlgorithm.sha256.value

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
        hash_alg=row.hash_alg,
    )


def store_hash(conn: AsyncConnection | AsyncEngine) -> str:
    """The algorithm new events of this store are chained with: the engine's (``shared.db.make_engine``'s
    ``event_hash``, from SHIXIANG_EVENT_HASH), SHA-256 unless it says otherwise."""
    engine = conn.engine if isinstance(conn, AsyncConnection) else conn
    return str(engine.get_execution_options().get(EVENT_HASH_OPTION, HashAlgorithm.sha256.value))


class EventStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.hash_alg = store_hash(engine)

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: EventMetadata,
    ) -> list[StoredEvent]:
        """Append in its own transaction: one statement, one round trip. ``expected_version`` is the stream's
        current length (0 = new stream)."""
        async with self._autocommit.connect() as conn:
            driver = await raw_driver(conn)
            return await append_alone(driver, [StreamAppend(stream_id, expected_version, events)], metadata,
                                      hash_alg=self.hash_alg)

    async def load(
        self, stream_id: str, *, recorded_until: datetime | None = None, after_version: int = 0
    ) -> list[StoredEvent]:
        async with self.engine.connect() as conn:
            return await load_stream(conn, stream_id, recorded_until=recorded_until, after_version=after_version)

    async def version(self, stream_id: str) -> int:
        """The stream's current version (0 for a stream with no events)."""
        async with self.engine.connect() as conn:
            return await current_version(conn, stream_id)

    async def read_settled(self, after: Cursor, limit: int) -> Settled:
        """The next events after ``after`` in the store's order, only as far as the log is final (see
        :func:`settled_after`)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_SETTLED_AFTER, {"tx": after.tx_id, "pos": after.position,
                                                        "limit": limit})).all()
        return settled(rows, after, stored_event)

    async def read_all(self, *, from_position: int = 1, batch_size: int = 1000) -> AsyncIterator[list[StoredEvent]]:
        """Every settled event at or after ``from_position``, in the store's order, a batch at a time (republishing,
        tools and tests). Events still being written when it reaches the end are not waited for."""
        cursor = START
        while True:
            batch = await self.read_settled(cursor, batch_size)
            if batch.events:
                yield [e for e in batch.events if e.position >= from_position]
            if not batch.events:
                return
            cursor = batch.cursor


@dataclass(frozen=True, order=True)
class Cursor:
    """A place in the store's global order: after the event at ``position`` written by transaction ``tx_id``."""

    tx_id: int
    position: int


START = Cursor(0, 0)


@dataclass(frozen=True)
class Settled:
    """What a reader may take now: events in order, the cursor after the last one, and whether later events are
    committed but held back behind a transaction still running (read again shortly; no NOTIFY will say when)."""

    events: list[Any]
    cursor: Cursor
    held_back: bool


# Events after a cursor in (tx_id, position) order; ``settled`` says whether the writing transaction lies below the
# oldest one still running in the cluster (every transaction below it has ended, so nothing can appear before it
# any more). pg_current_snapshot() is the statement's own snapshot: the horizon and the rows agree.
SETTLED_AFTER_SQL = """
SELECT e.*, e.tx_id < h.xmin AS settled
FROM events e, (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin) h
WHERE (e.tx_id, e.position) > ({tx}, {pos})
ORDER BY e.tx_id, e.position
LIMIT {limit}"""
_SETTLED_AFTER = text(SETTLED_AFTER_SQL.format(tx=":tx", pos=":pos", limit=":limit"))


def settled(rows: Sequence[Any], after: Cursor, convert: Callable[[Any], Any]) -> Settled:
    """The settled prefix of rows read with SETTLED_AFTER_SQL (they come in order, the settled ones first)."""
    ready = []
    for row in rows:
        if not row.settled:
            break
        ready.append(row)
    cursor = Cursor(ready[-1].tx_id, ready[-1].position) if ready else after
    return Settled([convert(r) for r in ready], cursor, held_back=len(ready) < len(rows))


async def current_version(conn: AsyncConnection, stream_id: str) -> int:
    version = await conn.scalar(
        select(func.coalesce(func.max(events_table.c.version), 0)).where(events_table.c.stream_id == stream_id))
    return int(version or 0)


GENESIS_HASH = "0" * 64


def canonical_json(data: dict[str, Any]) -> str:
    """What the ``data`` column stores and the hash covers: compact JSON, keys sorted."""
    return jsoncodec.canonical(data)


def event_hash(previous: str, stream_id: str, version: int, event_id: uuid.UUID | str, type_: str,
               data: dict[str, Any], actor: str | None, recorded_at: datetime, *, data_json: str | None = None,
               algorithm: str = HashAlgorithm.sha256.value) -> str:
    """The chain link of one event: H(previous ‖ canonical JSON of [stream, version, id, type, data, actor,
    UTC time]), H the event's own algorithm (whatever the previous event's was). Canonical (sorted keys, UTC
    microseconds) so that what PostgreSQL gives back hashes exactly as what was written. ``data_json``
    (= canonical_json(data)) lets a batch append serialise each event's data once. (``shixiang_append`` computes the
    same SHA-256 link in the database: sha256 of the UTF-8 of previous ‖ content; SM3 links come computed.)"""
    content = hash_content(stream_id, version, event_id, type_,
                           data_json if data_json is not None else canonical_json(data), actor, recorded_at)
    return hex_digester(algorithm)((previous + content).encode())


def hash_content(stream_id: str, version: int, event_id: uuid.UUID | str, type_: str, data_json: str,
                 actor: str | None, recorded_at: datetime) -> str:
    """What an event's chain link covers besides the previous hash."""
    return _content(jsoncodec.dumps(stream_id), version, event_id, jsoncodec.dumps(type_), data_json,
                    _actor_and_time(actor, recorded_at))


def _actor_and_time(actor: str | None, recorded_at: datetime) -> str:
    return f"{jsoncodec.dumps(actor)},{jsoncodec.dumps(recorded_at.astimezone(UTC).isoformat())}]"


def _content(stream_json: str, version: int, event_id: uuid.UUID | str, type_json: str, data_json: str,
             actor_and_time: str) -> str:
    # an event id's text (hex digits and hyphens) is its own JSON string body
    return f'[{stream_json},{version},"{event_id}",{type_json},{data_json},{actor_and_time}'


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    events: int
    head_hash: str
    broken_at_version: int | None = None
    reason: str | None = None
    algorithms: tuple[str, ...] = ()  # the algorithms the stream's events are chained with, in order of first use


def verify_chain(events: Sequence[StoredEvent]) -> ChainVerdict:
    """Recompute a stream's chain, each link with its event's recorded algorithm (a stream switched from SHA-256 to
    SM3 verifies): any edited, removed or reordered event shows as the first version that breaks."""
    previous = GENESIS_HASH
    algorithms = tuple(dict.fromkeys(e.hash_alg for e in events))
    for expected_version, e in enumerate(events, start=1):
        if e.version != expected_version:
            return ChainVerdict(False, len(events), previous, expected_version, f"第 {expected_version} 版事件缺失",
                                algorithms)
        if e.hash_alg not in HashAlgorithm.__members__:
            return ChainVerdict(False, len(events), previous, e.version,
                                f"第 {e.version} 版事件的哈希算法 {e.hash_alg} 无法识别", algorithms)
        if event_hash(previous, e.stream_id, e.version, e.event_id, e.type, e.data, e.actor, e.recorded_at,
                      algorithm=e.hash_alg) != e.hash:
            return ChainVerdict(False, len(events), previous, e.version, f"第 {e.version} 版事件内容与哈希链不符",
                                algorithms)
        previous = e.hash
    return ChainVerdict(True, len(events), previous, algorithms=algorithms)


@dataclass(frozen=True)
class StreamAppend:
    """Events for one stream, appended only if the stream is still at ``expected_version``."""

    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]
    metadata: EventMetadata | None = None  # who and why for this stream; defaults to the batch's metadata


_HEADS_QUERY = """
SELECT s.stream_id, h.version, h.hash FROM unnest(CAST({ids} AS text[])) AS s(stream_id)
CROSS JOIN LATERAL (SELECT e.version, e.hash FROM events e WHERE e.stream_id = s.stream_id
                    ORDER BY e.version DESC LIMIT 1) h
"""
_HEADS_SQL = text(_HEADS_QUERY.format(ids=":ids"))
_HEADS_DRIVER_SQL = _HEADS_QUERY.format(ids="$1")

# One round trip for an append: for each stream, its head is read (the last version, by the primary key) and checked
# against the expected version (else SQLSTATE SX409, the stream and its version in DETAIL and HINT), the chain is
# extended, and every row goes in with one INSERT. Created with the table (and by each service's revision 2 of the
# event store, shared/migrations/event_hash_v2.py).
#
# PostgreSQL computes SHA-256 links itself (p_hashes NULL). It has no SM3: then the writer sends the links, chained
# in Python onto the heads it read (p_heads, each stream's head hash), and the function checks that every stream is
# still at that head, version and hash, before it inserts. A writer that read a head another one has moved since
# fails the check (SX409), and one that slips in between the check and the insert takes a version the primary key
# refuses to the later of the two: a chain only ever grows from its real head, whoever computed the link.
APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION shixiang_append(
    p_streams text[], p_expected int[], p_counts int[], p_event_ids uuid[], p_types text[], p_datas text[],
    p_actors text[], p_correlations text[], p_causations text[], p_recorded_ats timestamptz[], p_contents text[],
    p_alg text, p_heads text[], p_hashes text[])
RETURNS TABLE (out_position bigint, out_hash text) LANGUAGE plpgsql AS $$
DECLARE
    total int := coalesce(array_length(p_event_ids, 1), 0);
    hashes text[] := coalesce(p_hashes, array_fill(NULL::text, ARRAY[total]));
    versions int[] := array_fill(NULL::int, ARRAY[total]);
    streams text[] := array_fill(NULL::text, ARRAY[total]);
    head_version int;
    head_hash text;
    previous text;
    j int := 0;
BEGIN
    IF p_hashes IS NULL AND p_alg <> 'sha256' THEN
        RAISE EXCEPTION 'shixiang_append computes sha256 links only; % links come computed (p_hashes)', p_alg;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_streams, 1), 0) LOOP
        head_version := NULL;
        head_hash := NULL;
        SELECT e.version, e.hash INTO head_version, head_hash FROM events e
        WHERE e.stream_id = p_streams[i] ORDER BY e.version DESC LIMIT 1;
        previous := coalesce(head_hash, repeat('0', 64));
        IF coalesce(head_version, 0) <> p_expected[i] OR (p_heads IS NOT NULL AND previous <> p_heads[i]) THEN
            RAISE EXCEPTION USING ERRCODE = 'SX409', MESSAGE = 'stream is not at the expected version',
                DETAIL = p_streams[i], HINT = coalesce(head_version, 0)::text;
        END IF;
        FOR k IN 1 .. p_counts[i] LOOP
            j := j + 1;
            IF p_hashes IS NULL THEN
                previous := encode(sha256(convert_to(previous || p_contents[j], 'UTF8')), 'hex');
                hashes[j] := previous;
            END IF;
            versions[j] := p_expected[i] + k;
            streams[j] := p_streams[i];
        END LOOP;
    END LOOP;
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO events (stream_id, version, event_id, type, data, actor, correlation_id, causation_id,
                            recorded_at, hash, hash_alg)
        SELECT n.stream_id, n.version, n.event_id, n.type, n.data::jsonb, n.actor, n.correlation_id,
               n.causation_id, n.recorded_at, n.hash, p_alg
        FROM unnest(streams, versions, p_event_ids, p_types, p_datas, p_actors, p_correlations, p_causations,
                    p_recorded_ats, hashes) WITH ORDINALITY
             AS n(stream_id, version, event_id, type, data, actor, correlation_id, causation_id, recorded_at, hash,
                  ord)
        ORDER BY n.ord
        RETURNING events.position, events.hash)
    SELECT inserted.position, inserted.hash FROM inserted ORDER BY inserted.position;
END $$"""
_APPEND_ARGUMENTS = ("streams", "expected", "counts", "event_ids", "types", "datas", "actors", "correlations",
                     "causations", "recorded_ats", "contents", "alg", "heads", "hashes")
_APPEND_SQL = text("SELECT out_position, out_hash FROM shixiang_append("
                   + ", ".join(f":{a}" for a in _APPEND_ARGUMENTS) + ")")
CONFLICT_SQLSTATE = "SX409"

_INSERT_SQL = text("""
INSERT INTO events (stream_id, version, event_id, type, data, actor, correlation_id, causation_id, recorded_at, hash,
                    hash_alg)
SELECT n.stream_id, n.version, n.event_id, n.type, n.data::jsonb, n.actor, n.correlation_id, n.causation_id,
       n.recorded_at, n.hash, n.hash_alg
FROM unnest(CAST(:stream_ids AS text[]), CAST(:versions AS int[]), CAST(:event_ids AS uuid[]),
            CAST(:types AS text[]), CAST(:datas AS text[]), CAST(:hashes AS text[]), CAST(:actors AS text[]),
            CAST(:correlation_ids AS text[]), CAST(:causation_ids AS text[]), CAST(:recorded_ats AS timestamptz[]),
            CAST(:hash_algs AS text[]))
     WITH ORDINALITY AS n(stream_id, version, event_id, type, data, hash, actor, correlation_id, causation_id,
                          recorded_at, hash_alg, ord)
ORDER BY n.ord
RETURNING position
""")


@dataclass(frozen=True)
class _Planned:
    """An append ready for shixiang_append: its arguments, and the rows it will store (but positions and hashes)."""

    arguments: tuple[list[Any], ...]
    rows: list[tuple[Any, ...]]  # (stream, version, event id, type, data, actor, correlation, causation, time)

    def stored(self, returned: Sequence[Any], algorithm: str) -> list[StoredEvent]:
        return [_stored(r[0], row, r[1], algorithm) for r, row in zip(returned, self.rows, strict=True)]

    @property
    def streams(self) -> list[str]:
        return self.arguments[0]

    def chain(self, heads: Mapping[str, tuple[int, str]],
              algorithm: str) -> tuple[dict[str, tuple[int, str]], list[str]]:
        """Each stream's events chained with ``algorithm`` onto its head in ``heads`` (stream → (version, hash); a
        stream missing from it is new): the heads chained onto and every event's link. ConcurrencyConflictError if a
        head is not at its stream's expected version."""
        streams, expected, counts, *_, contents = self.arguments
        digest = hex_digester(algorithm)
        chained: dict[str, tuple[int, str]] = {}
        hashes: list[str] = []
        j = 0
        for stream_id, expected_version, count in zip(streams, expected, counts, strict=True):
            version, previous = chained[stream_id] = heads.get(stream_id, (0, GENESIS_HASH))
            if version != expected_version:
                raise ConcurrencyConflictError(stream_id=stream_id, expected=expected_version, actual=version)
            for _ in range(count):
                previous = digest((previous + contents[j]).encode())
                hashes.append(previous)
                j += 1
        return chained, hashes

    def call(self, algorithm: str, heads: Mapping[str, tuple[int, str]] | None = None) -> tuple[Any, ...]:
        """shixiang_append's arguments: PostgreSQL computes SHA-256 links itself; any other algorithm's links are
        chained here onto ``heads`` (the streams' heads, read by the caller) and sent with the heads they extend."""
        if algorithm == HashAlgorithm.sha256:
            return (*self.arguments, algorithm, None, None)
        chained, hashes = self.chain(heads or {}, algorithm)
        return (*self.arguments, algorithm, [chained[s][1] for s in self.streams], hashes)


_STORED_FIELDS = tuple(f.name for f in dataclasses.fields(StoredEvent))


def _stored(position: int, row: tuple[Any, ...], hash_: str, algorithm: str) -> StoredEvent:
    # A frozen dataclass's __init__ sets each field through object.__setattr__: a batch of appended events paid
    # more for building them than for hashing them. The fields go in at once; nothing assigns to them afterwards.
    event = object.__new__(StoredEvent)
    event.__dict__.update(zip(_STORED_FIELDS, (position, *row, hash_, algorithm), strict=True))
    return event


def _plan(appends: Sequence[StreamAppend], metadata: EventMetadata | None,
          now: datetime | None = None) -> _Planned | None:
    appends = _checked(appends)
    if not appends:
        return None
    now = now or datetime.now(UTC)
    streams, expected, counts = [], [], []
    event_ids, types, datas, actors, correlations, causations, recorded_ats, contents = ([] for _ in range(8))
    rows: list[tuple[Any, ...]] = []
    dumps = jsoncodec.dumps
    type_json: dict[str, str] = {}  # what repeats across events is serialised once
    tail: dict[tuple[str | None, datetime], str] = {}
    for a in appends:
        streams.append(a.stream_id)
        expected.append(a.expected_version)
        counts.append(len(a.events))
        version = a.expected_version
        stream_json = dumps(a.stream_id)
        for e in a.events:  # nothing that breaks a published contract is ever stored (and so never sent)
            contracts.check_outgoing(e.type, e.data)
            meta = e.metadata or a.metadata or metadata
            if meta is None:
                raise ValueError(f"no metadata for stream {a.stream_id}")
            recorded_at = meta.recorded_at or now
            version += 1
            data_json = e.data_json if e.data_json is not None else canonical_json(e.data)
            event_ids.append(e.event_id)
            types.append(e.type)
            datas.append(data_json)
            actors.append(meta.actor)
            correlations.append(meta.correlation_id)
            causations.append(meta.causation_id)
            recorded_ats.append(recorded_at)
            if e.type not in type_json:
                type_json[e.type] = dumps(e.type)
            key = (meta.actor, recorded_at)
            if key not in tail:
                tail[key] = _actor_and_time(meta.actor, recorded_at)
            contents.append(_content(stream_json, version, e.event_id, type_json[e.type], data_json, tail[key]))
            rows.append((a.stream_id, version, e.event_id, e.type, e.data, meta.actor, meta.correlation_id,
                         meta.causation_id, recorded_at))
    return _Planned((streams, expected, counts, event_ids, types, datas, actors, correlations, causations,
                     recorded_ats, contents), rows)


def _conflict(exc: Exception, planned: _Planned) -> Exception:
    """The ConcurrencyConflictError an append failure stands for (else the failure itself): a stream not at its
    expected version (SX409), or a version another writer inserted after the check (the primary key)."""
    pg: Any = getattr(getattr(exc, "orig", None), "__cause__", None) or exc  # asyncpg's error, when there is one
    if getattr(pg, "sqlstate", None) == CONFLICT_SQLSTATE:
        stream_id = pg.detail
        expected = next((e for s, e in zip(planned.arguments[0], planned.arguments[1], strict=True)
                         if s == stream_id), None)
        return ConcurrencyConflictError(stream_id=stream_id, expected=expected, actual=int(pg.hint))
    if getattr(pg, "sqlstate", None) == "23505":  # unique violation: a version or an event id taken meanwhile
        match = _DUPLICATE_KEY.match(getattr(pg, "detail", None) or "")
        stream_id, version = (match.group(1), int(match.group(2))) if match else planned.rows[0][:2]
        return ConcurrencyConflictError(stream_id=stream_id, expected=version - 1, actual="?")
    return exc


async def append_events(
    conn: AsyncConnection,
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    metadata: EventMetadata,
) -> list[StoredEvent]:
    """Append to one stream inside the caller's transaction (so a consumer can record its effect and its tracking
    row together). Commit soon after: readers wait for every transaction that began before a later writer's."""
    return await append_batch(conn, [StreamAppend(stream_id, expected_version, events)], metadata)


async def append_batch(conn: AsyncConnection, appends: Sequence[StreamAppend],
                       metadata: EventMetadata | None = None) -> list[StoredEvent]:
    """Append to many streams in one statement (imports of thousands of items, batched allocations): all or nothing.

    The streams' current heads are read, every expected version checked, the hash chain extended and all rows
    inserted at once. A writer that slips in between the read and the insert takes a version this insert also
    takes: the primary key refuses one of the two (the later one waits for the earlier to commit, then gets the
    conflict), so a chain is only ever extended from its real head. Each event carries its own
    ``NewEvent.metadata``, else its stream's ``StreamAppend.metadata``, else the batch's ``metadata``."""
    planned = _plan(appends, metadata)
    if planned is None:
        return []
    algorithm = store_hash(conn)
    # SM3: one round trip more, for the heads its links are chained onto (PostgreSQL cannot compute them)
    heads = await _heads(conn, planned.streams) if algorithm != HashAlgorithm.sha256 else None
    arguments = planned.call(algorithm, heads)
    try:
        rows = (await conn.execute(_APPEND_SQL, dict(zip(_APPEND_ARGUMENTS, arguments, strict=True)))).all()
    except DBAPIError as exc:
        raise _conflict(exc, planned) from exc
    return planned.stored(rows, algorithm)


async def append_alone(driver: Any, appends: Sequence[StreamAppend], metadata: EventMetadata | None = None, *,
                       alongside: str = "", args: Sequence[Any] = (),
                       hash_alg: str = HashAlgorithm.sha256.value) -> list[StoredEvent]:
    """:func:`append_batch` as a statement of its own on an asyncpg connection outside any transaction, together
    with ``alongside``: a data-modifying statement (its parameters ``$1`` … ``$len(args)``), typically the read-model
    row of the appended events. One statement is one transaction: the row and the events commit together or not at
    all (a stream not at its expected version fails both), in one round trip instead of five (BEGIN, row, events,
    COMMIT, and the load before). The hot path of a single command. ``hash_alg``: the store's (:func:`store_hash`);
    an SM3 store reads the heads first, one round trip more."""
    planned = _plan(appends, metadata)
    if planned is None:
        return []
    heads = None
    if hash_alg != HashAlgorithm.sha256:
        heads = {r["stream_id"]: (r["version"], r["hash"])
                 for r in await driver.fetch(_HEADS_DRIVER_SQL, planned.streams)}
    arguments = planned.call(hash_alg, heads)
    first = len(args) + 1
    params = [f"${n}" for n in range(first, first + len(_APPEND_ARGUMENTS))]
    if alongside:
        # The statements of a WITH run in no defined order; every writer takes the read-model row before the
        # events' keys (repository lock order), so the first argument waits for the row's statement to finish.
        params[0] = f"CASE WHEN (SELECT count(*) FROM alongside) >= 0 THEN {params[0]}::text[] END"
    call = f"SELECT out_position, out_hash FROM shixiang_append({', '.join(params)})"
    sql = f"WITH alongside AS ({alongside} RETURNING 1) {call}" if alongside else call
    try:
        rows = await driver.fetch(sql, *args, *arguments)
    except Exception as exc:
        raise _conflict(exc, planned) from exc
    return planned.stored(rows, hash_alg)


@dataclass(frozen=True)
class PreparedAppend:
    """Events already chained onto the stream heads a writer read: their rows, hashes and canonical data, ready to
    insert. Preparing is CPU work (serialising and hashing every event); a writer that knows its streams' heads does
    it before its transaction, or while its previous batch is being written (the registry's import), and
    :func:`append_prepared` then only checks that every head is still the one it chained onto."""

    heads: dict[str, tuple[int, str]]  # stream → (version, hash) the events were chained onto
    rows: list[tuple[Any, ...]]  # StoredEvent's fields (hash_alg last) but its position, which the insert returns
    datas: list[str]  # each row's canonical data JSON


def prepare_append(appends: Sequence[StreamAppend], metadata: EventMetadata | None,
                   heads: Mapping[str, tuple[int, str]], *, now: datetime | None = None,
                   hash_alg: str = HashAlgorithm.sha256.value) -> PreparedAppend:
    """Chain ``appends`` with ``hash_alg`` (the store's: :func:`store_hash`) onto ``heads`` (stream → (version,
    hash); a stream missing from it is new). Raises ConcurrencyConflictError if a stream's head is not at its
    expected version, ContractViolationError if an event breaks the schema of its type (shared.contracts)."""
    planned = _plan(appends, metadata, now)
    if planned is None:
        return PreparedAppend({}, [], [])
    chained, hashes = planned.chain(heads, hash_alg)
    rows = [(*row, link, hash_alg) for row, link in zip(planned.rows, hashes, strict=True)]
    return PreparedAppend(chained, rows, planned.arguments[5])


async def append_prepared(conn: AsyncConnection, prepared: PreparedAppend) -> list[StoredEvent]:
    """Insert prepared events if every stream is still at the head they were chained onto (else
    ConcurrencyConflictError, nothing written; a head that moves after the check is caught by the primary key, as
    in :func:`append_batch`)."""
    if not prepared.rows:
        return []
    heads = await _heads(conn, list(prepared.heads))
    for stream_id, chained_onto in prepared.heads.items():
        head = heads.get(stream_id, (0, GENESIS_HASH))
        if head != chained_onto:
            raise ConcurrencyConflictError(stream_id=stream_id, expected=chained_onto[0], actual=head[0])
    return await _insert(conn, prepared)


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
            "causation_ids": columns[7], "recorded_ats": columns[8], "hashes": columns[9], "hash_algs": columns[10],
        })).scalars().all()
    except IntegrityError as exc:
        # A concurrent writer took a version between our head read and this insert (or an event id was reused):
        # name the stream that lost, so that a batch can tell which of its items to decide again.
        stream_id, version = _conflicting_key(exc) or (rows[0][0], rows[0][1])
        raise ConcurrencyConflictError(stream_id=stream_id, expected=version - 1, actual="?") from exc
    return [StoredEvent(position, *row) for position, row in zip(positions, rows, strict=True)]


_DUPLICATE_KEY = re.compile(r"^Key \(stream_id, version\)=\((.*), (\d+)\) already exists")


def _conflicting_key(exc: IntegrityError) -> tuple[str, int] | None:
    """(stream, version) from PostgreSQL's unique-violation detail of the primary key, if that is what it was."""
    detail = getattr(getattr(exc.orig, "__cause__", None), "detail", None) or ""
    match = _DUPLICATE_KEY.match(detail)
    return (match.group(1), int(match.group(2))) if match else None


async def load_stream(
    conn: AsyncConnection, stream_id: str, *, recorded_until: datetime | None = None, after_version: int = 0
) -> list[StoredEvent]:
    query = select(events_table).where(events_table.c.stream_id == stream_id, events_table.c.version > after_version)
    if recorded_until is not None:
        query = query.where(events_table.c.recorded_at <= recorded_until)
    rows = await conn.execute(query.order_by(events_table.c.version))
    return [stored_event(r) for r in rows]


@sa_event.listens_for(events_table, "after_create")
def _create_append_function(target: Table, connection: Connection, **_: Any) -> None:
    """The append function comes with the events table (``metadata.create_all``), sent to the server as it is."""
    connection.exec_driver_sql(APPEND_FUNCTION)
