"""The consumer runner: Kafka → a service's effect, exactly once in effect.

For every message: parse the CloudEvent, then in ONE database transaction insert the event id into
``processed_events`` and run the handler. A duplicate (already processed) id skips the handler, so redelivery after a
crash, a rebalance or a republish changes nothing. Kafka offsets are committed manually, only after the effect has
committed. A failing message is retried with exponential back-off; after ``max_attempts`` it goes to the
dead-letter topic (with the error in headers) and the consumer carries on. Malformed messages go there at once.
``replay_dead_letters`` feeds dead letters through the same handler again."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.cloudevents import CloudEvent, MalformedEventError
from shared.eventstore import processed_events_table
from shared.kafka import KafkaConfig
from shared.metrics import CONSUMED, DEAD_LETTERED

log = logging.getLogger(__name__)

Handler = Callable[[AsyncConnection, CloudEvent], Awaitable[None]]
BatchHandler = Callable[[AsyncConnection, list[CloudEvent]], Awaitable[None]]


# The tracking row of one message, built once: SQLAlchemy would otherwise build the statement and its cache key
# anew for every message.
_TRACK = (pg_insert(processed_events_table).on_conflict_do_nothing()
          .returning(processed_events_table.c.event_id))


class PermanentError(Exception):
    """Raised by a handler for a message that can never succeed: no retries, straight to the dead-letter topic."""


@dataclass(frozen=True)
class ConsumerSpec:
    """What one consumer of a service listens to and does. ``name`` is also its consumer group and tracking key."""

    name: str
    topics: tuple[str, ...]
    handler: Handler
    dead_letter_topic: str
    # Optional: the effect of several events of one partition in ONE transaction (e.g. batched code allocation).
    # It must give the same result as ``handler`` applied to each in order; if it raises, the runner falls back to
    # ``handler`` one event at a time (with retries and dead letters), so one bad event never blocks the others.
    batch_handler: BatchHandler | None = None


class ConsumerRunner:
    def __init__(
        self,
        *,
        spec: ConsumerSpec,
        engine: AsyncEngine,
        kafka: KafkaConfig,
        max_attempts: int = 5,
        retry_backoff_s: float = 0.2,
    ) -> None:
        self.spec = spec
        self.engine = engine
        self.kafka = kafka
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s

    async def run(self, stop: asyncio.Event) -> None:
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
                while not stop.is_set():
                    batches = await consumer.getmany(timeout_ms=200)
                    for tp, records in batches.items():
                        if self.spec.batch_handler is not None and len(records) > 1:
                            await self.process_batch(records, producer)
                        else:
                            for record in records:
                                await self.process(record, producer)
                        await consumer.commit({tp: records[-1].offset + 1})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("consumer %s failed; reconnecting in %.1fs", self.spec.name, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                for client in (consumer, producer):
                    if client is not None:
                        try:
                            await client.stop()
                        except Exception:
                            log.debug("consumer %s: close failed", self.spec.name, exc_info=True)

    async def process(self, record: ConsumerRecord, producer: AIOKafkaProducer) -> str:
        """Handle one record; returns the outcome (processed, duplicate, dead-lettered)."""
        try:
            event = CloudEvent.from_kafka(record.key, record.value, list(record.headers or []))
        except MalformedEventError as exc:
            await self.dead_letter(producer, record, exc, attempts=1)
            return "dead-lettered"
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome = await self.apply(event)
                CONSUMED.labels(self.spec.name, outcome).inc()
                return outcome
            except PermanentError as exc:
                await self.dead_letter(producer, record, exc, attempts=attempt)
                return "dead-lettered"
            except Exception as exc:
                if attempt >= self.max_attempts:
                    await self.dead_letter(producer, record, exc, attempts=attempt)
                    return "dead-lettered"
                delay = self.retry_backoff_s * 2 ** (attempt - 1)
                log.warning("consumer %s: %s on %s (attempt %d); retrying in %.2fs",
                            self.spec.name, exc, event.id, attempt, delay)
                await asyncio.sleep(delay)

    async def process_batch(self, records: list[ConsumerRecord], producer: AIOKafkaProducer) -> None:
        """Apply a partition's fetched records in one transaction (tracking rows + batch effect together); on any
        failure, roll back and process them one at a time instead."""
        assert self.spec.batch_handler is not None
        events: list[CloudEvent] = []
        parsed: list[ConsumerRecord] = []
        for record in records:
            try:
                events.append(CloudEvent.from_kafka(record.key, record.value, list(record.headers or [])))
                parsed.append(record)
            except MalformedEventError as exc:
                await self.dead_letter(producer, record, exc, attempts=1)
        if not events:
            return
        try:
            async with self.engine.begin() as conn:
                ids = list(dict.fromkeys(e.id for e in events))
                inserted = await conn.execute(
                    pg_insert(processed_events_table)
                    .values([{"consumer": self.spec.name, "event_id": i} for i in ids])
                    .on_conflict_do_nothing()
                    .returning(processed_events_table.c.event_id)
                )
                fresh_ids = set(inserted.scalars())
                seen: set[str] = set()
                fresh = [e for e in events if e.id in fresh_ids and not (e.id in seen or seen.add(e.id))]
                if fresh:
                    await self.spec.batch_handler(conn, fresh)
        except Exception as exc:  # noqa: BLE001 - nothing was committed; each record gets its own chance below
            log.warning("consumer %s: batch of %d failed (%s); processing one at a time", self.spec.name,
                        len(parsed), exc)
            for record in parsed:
                await self.process(record, producer)
            return
        CONSUMED.labels(self.spec.name, "processed").inc(len(fresh))
        CONSUMED.labels(self.spec.name, "duplicate").inc(len(events) - len(fresh))

    async def apply(self, event: CloudEvent) -> str:
        """The tracking row and the effect commit together, or not at all."""
        async with self.engine.begin() as conn:
            inserted = await conn.execute(_TRACK, {"consumer": self.spec.name, "event_id": event.id})
            if inserted.first() is None:
                return "duplicate"
            await self.spec.handler(conn, event)
        return "processed"

    async def dead_letter(self, producer: AIOKafkaProducer, record: ConsumerRecord, error: Exception, *, attempts: int) -> None:
        headers = [(k, v) for k, v in (record.headers or []) if not k.startswith("dlt_")]
        headers += [
            ("dlt_consumer", self.spec.name.encode()),
            ("dlt_error", f"{type(error).__name__}: {error}"[:2000].encode()),
            ("dlt_original_topic", record.topic.encode()),
            ("dlt_partition", str(record.partition).encode()),
            ("dlt_offset", str(record.offset).encode()),
            ("dlt_attempts", str(attempts).encode()),
        ]
        await producer.send_and_wait(self.spec.dead_letter_topic, value=record.value, key=record.key, headers=headers)
        DEAD_LETTERED.labels(self.spec.name).inc()
        log.error("consumer %s: %s:%d@%d sent to %s after %d attempt(s): %s", self.spec.name, record.topic,
                  record.partition, record.offset, self.spec.dead_letter_topic, attempts, error)


@dataclass(frozen=True)
class ReplayReport:
    replayed: int
    duplicates: int
    failed_again: int


async def replay_dead_letters(
    runners: dict[str, ConsumerRunner], *, dead_letter_topic: str, group_id: str, idle_s: float = 3.0
) -> ReplayReport:
    """Feed every dead letter of a service once more through the consumer that gave up on it (named in the
    ``dlt_consumer`` header), with the same tracking and transaction as normal consumption.

    Messages that fail again are appended to the dead-letter topic anew, tagged with this run's id, so the run ends
    when it meets its own re-queued messages or when the topic stays idle for ``idle_s``."""
    run_id = uuid.uuid4().hex.encode()
    kafka = next(iter(runners.values())).kafka
    await kafka.ensure_topics([dead_letter_topic])
    consumer = kafka.consumer(group_id, dead_letter_topic)
    producer = kafka.producer()
    await consumer.start()
    await producer.start()
    replayed = duplicates = failed = 0
    try:
        done: set[TopicPartition] = set()
        idle = 0.0
        while idle < idle_s:
            batches = await consumer.getmany(timeout_ms=500)
            if not batches:
                idle += 0.5
                continue
            idle = 0.0
            for tp, records in batches.items():
                if tp in done:
                    continue
                last = None
                for record in records:
                    headers = dict(record.headers or [])
                    if headers.get("dlt_replay_run") == run_id:
                        done.add(tp)
                        break
                    last = record
                    try:
                        runner = runners[headers.get("dlt_consumer", b"").decode()]
                        event = CloudEvent.from_kafka(record.key, record.value, list(record.headers or []))
                        if await runner.apply(event) == "duplicate":
                            duplicates += 1
                        else:
                            replayed += 1
                    except Exception as exc:  # noqa: BLE001 - re-queued with the error, never dropped
                        failed += 1
                        requeue = [(k, v) for k, v in (record.headers or []) if k not in ("dlt_error", "dlt_replay_run")]
                        requeue += [("dlt_error", f"{type(exc).__name__}: {exc}"[:2000].encode()),
                                    ("dlt_replay_run", run_id)]
                        await producer.send_and_wait(dead_letter_topic, value=record.value, key=record.key,
                                                     headers=requeue)
                if last is not None:
                    await consumer.commit({tp: last.offset + 1})
    finally:
        await consumer.stop()
        await producer.stop()
    return ReplayReport(replayed=replayed, duplicates=duplicates, failed_again=failed)
