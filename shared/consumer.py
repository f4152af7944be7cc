"""The consumer runner: Kafka → a service's effect, exactly once in effect, and no input can stop it.

A fetched batch (every partition's records of one poll) goes through three steps:

1. **Reading** (never raises): each record's headers are read; an event whose ``source`` is not the service that
   owns its topic, a type the consumer does not act on (passed over: its offset is simply committed), then its JSON
   data, upcast to the current version and validated against its contract (``shared.contracts``). Whatever bytes
   arrive — a header or key that is not UTF-8, JSON nested 100,000 deep, a value that is no object — a record that
   fails is a permanent dead letter at once, with the reason, and never retried.
2. **Applying**: the events of the whole batch in ONE transaction: the ids already processed are read, the handler
   applies the rest (it may refuse some for good: an item it has never heard of), then their tracking rows are
   written — last, so the transaction takes its id only for its writes, and a concurrent duplicate (a rebalance)
   rolls the batch back. If the batch fails, each event is applied on its own: an outage (database or broker
   unreachable) is retried with back-off for as long as it lasts, the partition simply waits; any other error
   ``max_attempts`` times, then the event becomes a dead letter.
3. **Committing** the offsets of every partition of the batch, in one request, after the effects committed.

Dead letters are rows in the service's database first (``shared.dead_letters``: they survive a broker restart and
are listed, replayed and discarded there), then messages on the dead-letter topic; a message too large to copy goes
there as a reference (topic, partition, offset, size, reason, first bytes). A partition whose oldest fetched
message has waited longer than ``stuck_after_s`` makes the runner degraded: ``/readyz`` names it, ``/metrics`` shows
how long every partition has waited and how far it lags."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import contracts, dead_letters, jsoncodec
from shared.cloudevents import CloudEvent, MalformedEventError, read_envelope
from shared.contracts import ContractViolationError
from shared.dead_letters import DeadLetter, Kind
from shared.errors import DeadLetterReasonRequiredError, DeadLetterResolvedError
from shared.kafka import KafkaConfig
from shared.metrics import (
    CONSUMED,
    CONSUMER_LAG,
    CONSUMER_STUCK,
    CONSUMER_WAITING,
    DEAD_LETTERED,
)
from shared.outages import is_outage

log = logging.getLogger(__name__)
batch_log = logging.getLogger("shixiang.consumed")  # one line per consumed batch (ConsumerRunner.finish)

# event id → why the handler refuses it for good (dead-lettered; never tracked, so a replay tries it again)
Rejections = Mapping[str, str]
Handler = Callable[[AsyncConnection, list[CloudEvent]], Awaitable[Rejections | None]]


class Record(Protocol):
    """What the runner reads of a Kafka message: an aiokafka ConsumerRecord, or a dead letter's stored message."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]]: ...


class PermanentError(Exception):
    """Raised by a handler for an event that can never succeed: no retries, straight to the dead letters. (A batch
    handler that can tell which event it refuses returns it in its rejections instead, and applies the others.)"""


class _ConcurrentDuplicate(Exception):
    """Another consumer applied an event of this batch meanwhile (during a rebalance): roll back, read again."""


class _Stopping(Exception):
    """The runner was asked to stop while it waited out an outage: leave without committing."""


@dataclass(frozen=True)
class ConsumerSpec:
    """What one consumer of a service listens to and does. ``name`` is also its consumer group and tracking key."""

    name: str
    sources: Mapping[str, str]  # topic → the CloudEvents source its events must carry (the owning service's)
    accepts: frozenset[str]  # current event types it acts on; others on its topics are passed over
    handler: Handler  # applies a list of events in the caller's transaction; returns the ones it refuses for good
    dead_letter_topic: str
    # After a fetch that did not fill a batch, wait this long for more before applying: fewer, larger transactions
    # for a consumer whose effect may trail by that much (the operations log), 0 for those on the critical path.
    linger_s: float = 0.0
    # An observer (the operations log) records what passes, whatever its content, and its handler ignores a repeat
    # by itself (a unique event id): then the runner neither validates the data against the contract nor tracks the
    # event in ``processed_events`` — two costs per event every consumer of the suite's busiest topics would pay.
    observer: bool = False

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(self.sources)


@dataclass
class _Waiting:
    """A partition's oldest fetched message that is not committed yet."""

    offset: int
    since: float
    event_id: str | None = None
    error: str | None = None


@dataclass
class _Fetched:
    events: list[tuple[Record, CloudEvent]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    passed_over: int = 0


class ConsumerRunner:
    def __init__(
        self,
        *,
        spec: ConsumerSpec,
        engine: AsyncEngine,
        kafka: KafkaConfig,
        max_attempts: int = 5,
        retry_backoff_s: float = 0.2,
        max_batch: int = 500,
        stuck_after_s: float = 60.0,
    ) -> None:
        self.spec = spec
        self.engine = engine
        self.kafka = kafka
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.max_batch = max_batch
        self.stuck_after_s = stuck_after_s
        self._stop = asyncio.Event()
        self._waiting: dict[TopicPartition, _Waiting] = {}
        self._positions: dict[TopicPartition, int] = {}
        self._last_poll = time.monotonic()
        self._connection_error: str | None = None

    # ---- the loop -------------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        backoff = 0.2
        while not stop.is_set():
            consumer: AIOKafkaConsumer | None = None
            producer: AIOKafkaProducer | None = None
            try:
                await self.kafka.ensure_topics([*self.spec.topics, self.spec.dead_letter_topic])
                consumer = self.kafka.consumer(self.spec.name, *self.spec.topics)
                producer = self.kafka.producer()
                await consumer.start()
                await producer.start()
                backoff = 0.2
                self._connection_error = None
                self._last_poll = time.monotonic()
                await self._consume(consumer, producer, stop)
            except _Stopping:
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._connection_error = f"{type(exc).__name__}: {exc}"
                log.exception("consumer %s failed; reconnecting in %.1fs", self.spec.name, backoff)
                self._waiting.clear()  # what was fetched is fetched again from the committed offsets
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                for client in (consumer, producer):
                    if client is not None:
                        try:
                            await client.stop()
                        except Exception:
                            log.debug("consumer %s: close failed", self.spec.name, exc_info=True)

    async def _consume(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, stop: asyncio.Event) -> None:
        """Batch after batch, one step ahead: while a batch is applied (mostly waiting for PostgreSQL), the next is
        fetched and read (CPU), so the two overlap. Offsets are committed in order, each after its batch applied."""
        upcoming = asyncio.create_task(self._fetch(consumer))
        try:
            while not stop.is_set():
                fetched, batch = await upcoming
                upcoming = asyncio.create_task(self._fetch(consumer))
                if fetched:
                    await self.finish(batch, producer)
                    offsets = {tp: records[-1].offset + 1 for tp, records in fetched.items()}
                    await consumer.commit(offsets)
                    self._positions.update(offsets)
                    for tp in fetched:
                        self._waiting.pop(tp, None)
                self._observe_lag(consumer)
        finally:
            upcoming.cancel()
            await asyncio.gather(upcoming, return_exceptions=True)

    async def _fetch(self, consumer: AIOKafkaConsumer) -> tuple[Mapping[TopicPartition, Sequence[Record]],
                                                                 _Fetched]:
        fetched = await consumer.getmany(timeout_ms=200, max_records=self.max_batch)
        count = sum(len(records) for records in fetched.values())
        if fetched and self.spec.linger_s and count < self.max_batch:
            await asyncio.sleep(self.spec.linger_s)
            more = await consumer.getmany(timeout_ms=0, max_records=self.max_batch - count)
            if more:  # later records of a partition come after its earlier ones
                fetched = {tp: [*fetched.get(tp, ()), *more.get(tp, ())] for tp in {*fetched, *more}}
        self._last_poll = time.monotonic()
        return fetched, self.prepare(fetched)

    async def process(self, fetched: Mapping[TopicPartition, Sequence[Record]],
                      producer: AIOKafkaProducer | None) -> None:
        """Read, apply and dead-letter one fetched batch (everything but committing its offsets)."""
        await self.finish(self.prepare(fetched), producer)

    def prepare(self, fetched: Mapping[TopicPartition, Sequence[Record]]) -> _Fetched:
        """Step 1, reading (no I/O): note when each partition started waiting, and read every record."""
        now = time.monotonic()
        for tp, records in fetched.items():
            self._waiting.setdefault(tp, _Waiting(records[0].offset, now))
        return self.read([r for records in fetched.values() for r in records])

    async def finish(self, batch: _Fetched, producer: AIOKafkaProducer | None) -> None:
        """Steps 2 and 3 but the offsets: apply the read events, dead-letter what failed; one log line per batch."""
        started = time.perf_counter()
        if batch.passed_over:
            CONSUMED.labels(self.spec.name, "passed_over").inc(batch.passed_over)
        dead = list(batch.dead)
        if batch.events:
            dead += await self._apply_batch(batch.events)
        if dead:
            await self.dead_letter(dead, producer)
        if batch_log.isEnabledFor(logging.INFO) and (batch.events or dead or batch.passed_over):
            batch_log.info("%s", jsoncodec.dumps({
                "consumer": self.spec.name, "events": len(batch.events) + len(batch.dead),
                "applied": len(batch.events) - (len(dead) - len(batch.dead)), "dead_lettered": len(dead),
                "passed_over": batch.passed_over, "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }))

    # ---- 1. reading ------------------------------------------------------------------------------------------------
    def read(self, records: Sequence[Record]) -> _Fetched:
        out = _Fetched()
        for record in records:
            try:
                event = self._read_one(record)
            except _Refused as refused:
                out.dead.append(self._dead(record, refused.kind, refused.reason, envelope=refused.envelope))
                continue
            except Exception as exc:  # noqa: BLE001 - reading must never stop the consumer
                out.dead.append(self._dead(record, Kind.malformed, f"{type(exc).__name__}: {exc}"))
                continue
            if event is None:
                out.passed_over += 1
            else:
                out.events.append((record, event))
        return out

    def _read_one(self, record: Record) -> CloudEvent | None:
        try:
            envelope = read_envelope(record.key, record.value, record.headers)
        except MalformedEventError as exc:
            raise _Refused(Kind.malformed, str(exc)) from exc
        expected = self.spec.sources.get(record.topic)
        if envelope.source != expected:
            raise _Refused(Kind.wrong_source, f"来源 {envelope.source!r} 不是主题 {record.topic} 的所属服务 "
                                              f"{expected!r}", envelope)
        event_type = contracts.current_type(envelope.type)
        if event_type not in self.spec.accepts:
            return None
        try:
            event = envelope.event()
            if self.spec.observer:
                return event
            event_type, data = contracts.read_incoming(envelope.type, event.data)
        except MalformedEventError as exc:
            raise _Refused(Kind.malformed, str(exc), envelope) from exc
        except ContractViolationError as exc:
            raise _Refused(Kind.contract, f"不符合事件契约：{exc}", envelope) from exc
        if data is not event.data or event_type != event.type:
            event = CloudEvent(id=event.id, type=event_type, source=event.source, subject=event.subject,
                               time=event.time, data=data, sequence=event.sequence, position=event.position,
                               correlation_id=event.correlation_id, causation_id=event.causation_id,
                               actor=event.actor, extensions=event.extensions)
        return event

    # ---- 2. applying -----------------------------------------------------------------------------------------------
    async def _apply_batch(self, items: list[tuple[Record, CloudEvent]]) -> list[DeadLetter]:
        """All in one transaction; on failure each event on its own. Returns the dead letters."""
        try:
            rejected = await self.apply([e for _, e in items])
        except Exception as exc:  # noqa: BLE001 - nothing was committed; each event gets its own chance below
            if len(items) > 1:
                log.warning("consumer %s: batch of %d failed (%s: %s); applying one at a time", self.spec.name,
                            len(items), type(exc).__name__, exc)
            dead = []
            for record, event in items:
                letter = await self._apply_one(record, event, first_error=exc if len(items) == 1 else None)
                if letter is not None:
                    dead.append(letter)
            return dead
        return [self._dead(record, Kind.refused, rejected[event.id], event=event)
                for record, event in items if event.id in rejected]

    async def _apply_one(self, record: Record, event: CloudEvent, *,
                         first_error: Exception | None) -> DeadLetter | None:
        attempt = 0
        backoff = self.retry_backoff_s
        error = first_error
        while True:
            if error is None:
                try:
                    rejected = await self.apply([event])
                except Exception as exc:  # noqa: BLE001 - classified below
                    error = exc
                else:
                    if event.id in rejected:
                        return self._dead(record, Kind.refused, rejected[event.id], event=event)
                    return None
            if isinstance(error, (PermanentError, ContractViolationError)):
                return self._dead(record, Kind.refused, str(error), event=event)
            reason = f"{type(error).__name__}: {error}"
            self._note_error(record, event, reason)
            if is_outage(error):
                log.warning("consumer %s: outage on %s (%s); waiting", self.spec.name, event.id, reason)
            elif isinstance(error, _ConcurrentDuplicate):
                pass  # read again at once: the other consumer's commit makes it a duplicate
            else:
                attempt += 1
                if attempt >= self.max_attempts:
                    return self._dead(record, Kind.exhausted, reason, event=event, attempts=attempt)
                log.warning("consumer %s: %s on %s (attempt %d); retrying", self.spec.name, reason, event.id,
                            attempt)
            await self._pause(backoff)
            backoff = min(backoff * 2, 5.0)
            error = None

    async def apply(self, events: list[CloudEvent]) -> Rejections:
        """The effect of ``events`` and their tracking rows, in one transaction; events already processed are left
        out. Returns the events the handler refused (not tracked)."""
        ids = list(dict.fromkeys(e.id for e in events))
        if self.spec.observer:  # its handler ignores repeats itself: nothing to track
            async with self.engine.begin() as conn:
                rejected = dict(await self.spec.handler(conn, events) or {})
            CONSUMED.labels(self.spec.name, "processed").inc(len(events) - len(rejected))
            return rejected
        async with self.engine.begin() as conn:
            done = set((await conn.execute(_PROCESSED, {"consumer": self.spec.name, "ids": ids})).scalars())
            fresh: list[CloudEvent] = []
            for e in events:
                if e.id not in done:
                    done.add(e.id)  # a repeat inside the batch is a duplicate too
                    fresh.append(e)
            rejected = dict(await self.spec.handler(conn, fresh) or {}) if fresh else {}
            applied = [e.id for e in fresh if e.id not in rejected]
            if applied:
                tracked = (await conn.execute(_TRACK, {"consumer": self.spec.name, "ids": applied})).scalars().all()
                if len(tracked) != len(applied):
                    raise _ConcurrentDuplicate(f"{len(applied) - len(tracked)} events applied by another consumer")
        CONSUMED.labels(self.spec.name, "processed").inc(len(applied))
        if len(events) > len(fresh):
            CONSUMED.labels(self.spec.name, "duplicate").inc(len(events) - len(fresh))
        return rejected

    async def deliver(self, event: CloudEvent, *, topic: str | None = None) -> str:
        """One event through the whole path but Kafka (reading its binary-mode form, source and contract checks,
        applying), without retries or dead letters: tests and tools. Returns processed, duplicate, passed_over or
        ``refused: <reason>``."""
        key, value, headers = event.to_kafka()
        # On the topic of its source (a consumer of several topics), as its producer would have sent it.
        topic = topic or next((t for t, source in self.spec.sources.items() if source == event.source),
                              self.spec.topics[0])
        message = _Message(topic, 0, 0, key, value, headers)
        read = self.read([message])
        if read.dead:
            return f"refused: {read.dead[0].reason}"
        if not read.events:
            return "passed_over"
        event = read.events[0][1]
        async with self.engine.connect() as conn:
            already = (await conn.execute(_PROCESSED, {"consumer": self.spec.name, "ids": [event.id]})).first()
        rejected = await self.apply([event])
        if event.id in rejected:
            return f"refused: {rejected[event.id]}"
        return "duplicate" if already else "processed"

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return
        raise _Stopping

    # ---- dead letters ----------------------------------------------------------------------------------------------
    def _dead(self, record: Record, kind: Kind, reason: str, *, envelope: Any = None,
              event: CloudEvent | None = None, attempts: int = 1) -> DeadLetter:
        known = event or envelope
        return DeadLetter(
            consumer=self.spec.name, topic=record.topic, partition=record.partition, offset=record.offset,
            key=record.key, headers=list(record.headers or ()), value=record.value, kind=kind, reason=reason,
            attempts=attempts, event_id=getattr(known, "id", None), event_type=getattr(known, "type", None),
            subject=getattr(known, "subject", None))

    async def dead_letter(self, letters: list[DeadLetter], producer: AIOKafkaProducer | None) -> None:
        """Record dead letters in the database (waiting out an outage), then put them on the dead-letter topic."""
        while True:
            try:
                ids = await dead_letters.record(self.engine, letters)
                break
            except Exception as exc:
                if not is_outage(exc):
                    raise
                log.warning("consumer %s: cannot record %d dead letters (%s); waiting", self.spec.name,
                            len(letters), exc)
                await self._pause(1.0)
        for letter in letters:
            DEAD_LETTERED.labels(self.spec.name, letter.kind.value).inc()
            CONSUMED.labels(self.spec.name, "dead_lettered").inc()
            log.error("consumer %s: %s:%d@%d dead-lettered (%s): %s", self.spec.name, letter.topic,
                      letter.partition, letter.offset, letter.kind.value, letter.reason)
        if producer is None:
            return
        futures = []
        for letter in letters:
            row_id = ids.get((letter.consumer, letter.topic, letter.partition, letter.offset))
            futures.append(self._send_dead_letter(producer, letter, row_id))
        sent = await asyncio.gather(*futures)
        await dead_letters.mark_sent(self.engine, [i for i in sent if i is not None])

    async def _send_dead_letter(self, producer: AIOKafkaProducer, letter: DeadLetter, row_id: int | None) -> int | None:
        headers = [(k, v) for k, v in letter.headers if not str(k).startswith("dlt_")]
        headers += [
            ("dlt_consumer", letter.consumer.encode()),
            ("dlt_kind", letter.kind.value.encode()),
            ("dlt_error", letter.reason[:2000].encode()),
            ("dlt_original_topic", letter.topic.encode()),
            ("dlt_partition", str(letter.partition).encode()),
            ("dlt_offset", str(letter.offset).encode()),
            ("dlt_attempts", str(letter.attempts).encode()),
        ]
        if row_id is not None:
            headers.append(("dlt_id", str(row_id).encode()))
        if letter.copied:
            try:
                await producer.send_and_wait(self.spec.dead_letter_topic, value=letter.value, key=letter.key,
                                             headers=headers)
                return row_id
            except MessageSizeTooLargeError:
                pass  # the headers made it too large after all: send the reference
        reference = {"reference": True, "topic": letter.topic, "partition": letter.partition,
                     "offset": letter.offset, "size": letter.size, "reason": letter.reason[:2000],
                     "first_bytes_base64": base64.b64encode((letter.value or b"")[:dead_letters.HEAD_BYTES]).decode()}
        await producer.send_and_wait(
            self.spec.dead_letter_topic, value=jsoncodec.dumps(reference).encode(), key=letter.key,
            headers=[(k, v) for k, v in headers if k.startswith("dlt_")] + [("dlt_reference", b"1")])
        return row_id

    # ---- health ----------------------------------------------------------------------------------------------------
    def _note_error(self, record: Record, event: CloudEvent, reason: str) -> None:
        waiting = self._waiting.get(TopicPartition(record.topic, record.partition))
        if waiting is not None:
            waiting.event_id, waiting.error, waiting.offset = event.id, reason, record.offset

    def _observe_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Gauges: each partition's lag (the broker's high watermark, as of the last fetch, less what this consumer
        has taken) and how long its oldest uncommitted message has waited."""
        now = time.monotonic()
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            position = self._positions.get(tp)
            if highwater is not None and position is not None:
                CONSUMER_LAG.labels(self.spec.name, tp.topic, tp.partition).set(max(0, highwater - position))
            waiting = self._waiting.get(tp)
            waited = now - waiting.since if waiting else 0
            CONSUMER_WAITING.labels(self.spec.name, tp.topic, tp.partition).set(waited)
            CONSUMER_STUCK.labels(self.spec.name, tp.topic, tp.partition).set(int(waited > self.stuck_after_s))

    def status(self) -> str:
        """"ok", or what is stuck: a partition waiting past ``stuck_after_s`` (named, with its message and the last
        error), or no poll for that long (the broker unreachable)."""
        for waiting in self.waiting():
            if waiting.stuck:
                return (f"degraded: {waiting.topic}[{waiting.partition}] 停在 offset {waiting.offset} 已 "
                        f"{waiting.waited_s:.0f} 秒" + (f"（事件 {waiting.event_id}）" if waiting.event_id else "")
                        + (f"：{waiting.error}" if waiting.error else ""))
        silent = self.silent_s()
        if not self._waiting and silent > self.stuck_after_s:
            return (f"degraded: {silent:.0f} 秒未能从 Kafka 拉取"
                    + (f"：{self._connection_error}" if self._connection_error else ""))
        return "ok"

    def waiting(self) -> list[PartitionWait]:
        """Every partition with a fetched message not committed yet, the longest-waiting first: which message it
        waits on, since when, with which error (the pipeline view reads this; :meth:`status` words it)."""
        now = time.monotonic()
        return [PartitionWait(topic=tp.topic, partition=tp.partition, offset=w.offset, event_id=w.event_id,
                              error=w.error, waited_s=now - w.since, stuck=now - w.since > self.stuck_after_s)
                for tp, w in sorted(self._waiting.items(), key=lambda kv: kv[1].since)]

    def committed(self) -> dict[tuple[str, int], int]:
        """The offsets this runner committed last, per (topic, partition) (what it has taken, as far as it knows)."""
        return {(tp.topic, tp.partition): offset for tp, offset in self._positions.items()}

    def silent_s(self) -> float:
        """Seconds since the last poll of Kafka returned."""
        return time.monotonic() - self._last_poll

    def waiting_partitions(self) -> dict[str, float]:
        return {f"{w.topic}[{w.partition}]": w.waited_s for w in self.waiting()}


@dataclass(frozen=True)
class PartitionWait:
    """A partition waiting on a message (:meth:`ConsumerRunner.waiting`)."""

    topic: str
    partition: int
    offset: int
    event_id: str | None
    error: str | None
    waited_s: float
    stuck: bool  # waited past the runner's stuck_after_s


class _Refused(Exception):
    def __init__(self, kind: Kind, reason: str, envelope: Any = None) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.envelope = kind, reason, envelope


_PROCESSED = text("SELECT event_id FROM processed_events WHERE consumer = :consumer "
                  "AND event_id = ANY(CAST(:ids AS text[]))")
_TRACK = text("INSERT INTO processed_events (consumer, event_id) SELECT :consumer, unnest(CAST(:ids AS text[])) "
              "ON CONFLICT DO NOTHING RETURNING event_id")


# ---- replaying dead letters (shixiang dlt replay; administrators: POST …/dead-letters/{id}/replay) -----------------
@dataclass(frozen=True)
class ReplayOutcome:
    id: int
    result: str  # applied, duplicate, passed_over, failed
    detail: str


@dataclass(frozen=True)
class _Message:
    """A dead letter's message, rebuilt from its row (a :class:`Record`)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]


async def replay_dead_letter(runners: Mapping[str, ConsumerRunner], dead_letter_id: int, *, actor: str, reason: str,
                             kafka: KafkaConfig | None = None) -> ReplayOutcome:
    """Run one waiting dead letter through the consumer that gave up on it, with the same reading, contract checks
    and tracking as normal consumption: it is applied at most once. It is closed (replayed) when it applied or
    had been applied already; otherwise it stays waiting with the new reason. A message kept only as a reference
    is fetched from Kafka by its offset. The attempt (``actor``, ``reason``, outcome) is recorded in the dead
    letter's actions, in the transaction that changes it."""
    engine = next(iter(runners.values())).engine
    row = await dead_letters.get(engine, dead_letter_id)
    if row.status != dead_letters.Status.waiting:
        raise DeadLetterResolvedError(id=dead_letter_id, status=row.status,
                                      status_label=dead_letters.STATUS_LABELS.get(row.status))
    if not reason.strip():
        raise DeadLetterReasonRequiredError(id=dead_letter_id, action=dead_letters.ACTION_LABELS["replay"])
    acted = dead_letters.Acted(dead_letters.Action.replay, actor, reason.strip())
    runner = runners.get(row.consumer)
    if runner is None:
        return await _failed(engine, dead_letter_id, f"本服务没有名为 {row.consumer} 的消费者", acted)
    message = _Message(row.topic, row.partition, row.offset, row.key, row.value,
                       dead_letters.decode_headers(row.headers))
    if message.value is None:
        fetched = await _fetch_original(kafka or runner.kafka, row.topic, row.partition, row.offset)
        if fetched is None:
            return await _failed(engine, dead_letter_id, "原消息只保留了引用，且已不在 Kafka 中，无法重放", acted)
        message = fetched
    read = runner.read([message])
    if read.dead:
        return await _failed(engine, dead_letter_id, read.dead[0].reason, acted)
    if not read.events:
        await dead_letters.resolve(engine, dead_letter_id, dead_letters.Status.replayed, by=actor,
                                   resolution="该消费者不处理此类事件，无需重放", acted=acted, result="passed_over")
        return ReplayOutcome(dead_letter_id, "passed_over", "该消费者不处理此类事件")
    _, event = read.events[0]
    async with engine.connect() as conn:
        already = (await conn.execute(_PROCESSED, {"consumer": runner.spec.name, "ids": [event.id]})).first()
    try:
        rejected = await runner.apply([event])
    except Exception as exc:  # noqa: BLE001 - reported and kept waiting, never lost
        return await _failed(engine, dead_letter_id, f"{type(exc).__name__}: {exc}", acted)
    if event.id in rejected:
        return await _failed(engine, dead_letter_id, rejected[event.id], acted)
    result, detail = ("duplicate", "此前已生效（重复）") if already else ("applied", "已生效")
    await dead_letters.resolve(engine, dead_letter_id, dead_letters.Status.replayed, by=actor, resolution=detail,
                               acted=acted, result=result)
    return ReplayOutcome(dead_letter_id, result, detail)


async def discard_dead_letter(engine: AsyncEngine, dead_letter_id: int, *, actor: str, reason: str) -> Any:
    """Close a waiting dead letter without applying it; ``reason`` (required, not blank) is its resolution and,
    with ``actor``, its recorded action."""
    if not reason.strip():
        raise DeadLetterReasonRequiredError(id=dead_letter_id, action=dead_letters.ACTION_LABELS["discard"])
    return await dead_letters.resolve(engine, dead_letter_id, dead_letters.Status.discarded, by=actor,
                                      resolution=reason.strip(),
                                      acted=dead_letters.Acted(dead_letters.Action.discard, actor, reason.strip()))


async def _failed(engine: AsyncEngine, dead_letter_id: int, reason: str,
                  acted: dead_letters.Acted) -> ReplayOutcome:
    await dead_letters.failed_again(engine, dead_letter_id, reason, acted=acted)
    return ReplayOutcome(dead_letter_id, "failed", reason)


async def _fetch_original(kafka: KafkaConfig, topic: str, partition: int, offset: int) -> _Message | None:
    consumer = AIOKafkaConsumer(**kafka.security.client_options(),
                                bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False,
                                group_id=None, max_partition_fetch_bytes=16 * 1024 * 1024,
                                fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(tp, timeout_ms=500)).values():
                for record in records:
                    if record.offset == offset:
                        return _Message(topic, partition, offset, record.key, record.value,
                                        list(record.headers or ()))
                    if record.offset > offset:
                        return None
        return None
    except KafkaError:
        return None
    finally:
        await consumer.stop()
