"""The relay: publishes a service's stored events to Kafka, in position order, as binary-mode CloudEvents.

Command handlers only write to PostgreSQL; the relay carries events on (no dual writes). It reads the events after
its checkpoint, sends the batch with acks=all, and moves the checkpoint only after every send is acknowledged: a
crash in between re-sends a batch (consumers drop duplicates by event id) but never loses one. Events never become
read beyond the settled part of the log (see :mod:`shared.eventstore`), so a checkpoint can never pass a late
commit; when committed events are held back behind a transaction still running, the relay reads again after
``settle_poll_s`` (no NOTIFY tells it when that transaction ends). The stored data goes out as the message value
exactly as PostgreSQL returns its text: the relay never parses or re-encodes it.

The embedded broker keeps everything in memory, so a broker restart is a brand-new, empty cluster. The relay notices
in two ways and then re-creates its topics and republishes from the start of the store (consumers drop what they
already applied): (1) an epoch marker topic that only this relay creates has vanished (checked at start and every
``epoch_check_interval_s`` while idle, so a quiet system heals too); (2) an acknowledged offset of a partition is not
above the last one it saw. A durable Kafka keeps the marker, so production never republishes by accident."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.cloudevents import binary_headers
from shared.eventstore import (
    SETTLED_AFTER_SQL,
    START,
    Cursor,
    EventStore,
    StoredEvent,
    relay_checkpoints_table,
    settled,
)
from shared.kafka import KafkaConfig
from shared.metrics import RELAY_LAG, RELAY_PUBLISHED

log = logging.getLogger(__name__)

# The relay's statements, built once (SQLAlchemy would otherwise build and look up a statement per batch). They
# run in autocommit: each is one round trip, with no BEGIN before it and no ROLLBACK when its connection goes
# back to the pool. A read needs no transaction, and the checkpoint upsert is a single atomic statement. The read
# takes the data as text (sent on as it is) and the store's newest position (for the lag gauge).
_READ_AFTER = text(SETTLED_AFTER_SQL.replace("SELECT e.*,", """SELECT e.position, e.tx_id, e.stream_id, e.version,
  e.event_id, e.type, e.data::text AS data_json, e.actor, e.correlation_id, e.causation_id, e.recorded_at,
  (SELECT last_value FROM events_position_seq) AS head,""").format(tx=":tx", pos=":pos", limit=":limit"))
_CHECKPOINT = select(relay_checkpoints_table.c.tx_id, relay_checkpoints_table.c.position).where(
    relay_checkpoints_table.c.relay == bindparam("relay"))
_upsert = pg_insert(relay_checkpoints_table)
_SET_CHECKPOINT = _upsert.on_conflict_do_update(
    index_elements=["relay"], set_={"tx_id": _upsert.excluded.tx_id, "position": _upsert.excluded.position,
                                    "updated_at": _upsert.excluded.updated_at})


class Relay:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        kafka: KafkaConfig,
        topic: str,
        source: str,
        batch_size: int = 500,
        poll_interval_s: float = 0.05,
        min_poll_interval_s: float = 0.002,
        epoch_check_interval_s: float = 5.0,
        linger_s: float = 0.02,
        settle_poll_s: float = 0.005,
        name: str = "kafka",
    ) -> None:
        self.engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.kafka = kafka
        self.topic = topic
        self.source = source
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.min_poll_interval_s = min(min_poll_interval_s, poll_interval_s)
        self.linger_s = linger_s
        self.settle_poll_s = settle_poll_s
        self.name = name
        self.marker_topic = f"{topic}.relay-epoch"
        self.epoch_check_interval_s = epoch_check_interval_s
        self._next_epoch_check = 0.0
        self._last_offsets: dict[int, int] = {}
        self._checkpoint: Cursor | None = None
        self._held_back = False
        self._producer: AIOKafkaProducer | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set; survives broker and database outages by retrying with back-off."""
        leading = asyncio.Event()
        leader = asyncio.create_task(self._lead(stop, leading))
        backoff = 0.1
        idle = self.min_poll_interval_s
        try:
            while not stop.is_set():
                try:
                    if not leading.is_set():
                        self._checkpoint = None  # another relay may have moved it meanwhile
                        await self._close_producer()
                        await self._sleep_until(stop, leading)
                        continue
                    if self._producer is None:
                        self._producer = self.kafka.producer()
                        await self._producer.start()
                        self._next_epoch_check = 0.0
                    if asyncio.get_running_loop().time() >= self._next_epoch_check:
                        await self.check_broker_epoch()
                    sent = await self.publish_pending()
                    backoff = 0.1
                    if sent >= self.batch_size:
                        continue  # a full batch: more are waiting
                    if self._held_back:
                        # committed events wait behind an older transaction still running (anywhere in the
                        # cluster); it will end soon
                        await self._sleep(stop, self.settle_poll_s)
                        continue
                    if sent > 1 and self.linger_s:
                        # Events arrive faster than one per round: linger a moment so that the next batch gathers
                        # more of them. A round (read, send, acks, checkpoint) costs about the same CPU for one
                        # event as for twenty. Single events (a quiet system, a trickle) are never held back.
                        await self._sleep(stop, self.linger_s)
                    # Poll soon after activity, then less and less often up to poll_interval_s while idle. (No
                    # LISTEN/NOTIFY: PostgreSQL serialises the commits of every notifying transaction, which would
                    # undo what the store's ordering buys.)
                    idle = self.min_poll_interval_s if sent else min(idle * 2, self.poll_interval_s)
                    await self._sleep(stop, idle)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("relay %s: publishing failed; retrying in %.1fs", self.source, backoff)
                    await self._close_producer()
                    await self._sleep(stop, backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            leader.cancel()
            await self._close_producer()

    async def publish_pending(self) -> int:
        """Publish one batch after the checkpoint; returns how many events were sent."""
        assert self._producer is not None
        if self._checkpoint is None:  # read once per leadership: only the leader moves it
            self._checkpoint = await self.checkpoint()
        after = self._checkpoint
        async with self._autocommit.connect() as conn:
            rows = (await conn.execute(_READ_AFTER, {"tx": after.tx_id, "pos": after.position,
                                                     "limit": self.batch_size})).all()
        batch = settled(rows, after, lambda row: row)
        self._held_back = batch.held_back
        if not batch.events:
            RELAY_LAG.labels(self.source).set(len(rows))
            return 0
        wiped = await send_rows(self._producer, self.topic, self.source, batch.events, self._last_offsets)
        if wiped:
            await self._rewind("an acknowledged offset went backwards")
            return len(batch.events)  # republish from the start without waiting
        await self.set_checkpoint(batch.cursor)
        RELAY_PUBLISHED.labels(self.source).inc(len(batch.events))
        # the last position the store handed out as the read saw it, less the newest one sent: no query of its own
        # for a gauge (approximate: events are sent in transaction order, and rolled-back inserts use positions too)
        RELAY_LAG.labels(self.source).set(max(0, rows[-1].head - max(r.position for r in batch.events)))
        return len(batch.events)

    async def check_broker_epoch(self) -> None:
        """Republish everything if the broker is not the one we published to (its marker topic is gone)."""
        assert self._producer is not None
        self._next_epoch_check = asyncio.get_running_loop().time() + self.epoch_check_interval_s
        metadata = await self._producer.client.fetch_all_metadata()  # all topics: never auto-creates one
        if self.marker_topic in metadata.topics() and self.topic in metadata.topics():
            return
        await self._rewind("its epoch marker topic is missing")

    async def _rewind(self, why: str) -> None:
        await self.kafka.ensure_topics([self.topic])
        await self.kafka.ensure_topics([self.marker_topic], partitions=1)
        self._last_offsets.clear()
        if await self.checkpoint() > START:
            log.warning("relay %s: the broker lost %s (%s); republishing from the start of the store",
                        self.source, self.topic, why)
            await self.set_checkpoint(START)

    async def checkpoint(self) -> Cursor:
        async with self._autocommit.connect() as conn:
            row = (await conn.execute(_CHECKPOINT, {"relay": self.name})).first()
            return Cursor(int(row.tx_id), int(row.position)) if row else START

    async def set_checkpoint(self, cursor: Cursor) -> None:
        self._checkpoint = None  # re-read after the write commits
        async with self._autocommit.connect() as conn:
            await conn.execute(_SET_CHECKPOINT, {"relay": self.name, "tx_id": cursor.tx_id,
                                                 "position": cursor.position})
        self._checkpoint = cursor

    async def _lead(self, stop: asyncio.Event, leading: asyncio.Event) -> None:
        """Only one relay per store publishes: the holder of a session advisory lock. A replica that starts later
        waits; if the leader's connection dies, PostgreSQL releases the lock and a waiting replica takes over."""
        key = _advisory_key(f"relay:{self.name}")
        while not stop.is_set():
            try:
                async with self.engine.connect() as conn:
                    while not stop.is_set():
                        if await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}):
                            await conn.commit()
                            leading.set()
                            while not stop.is_set():
                                await asyncio.sleep(1)
                                await conn.execute(text("SELECT 1"))  # notice a lost connection
                        await conn.commit()
                        await asyncio.sleep(1)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("relay %s: leadership connection lost", self.source, exc_info=True)
            leading.clear()
            await asyncio.sleep(1)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        """Until ``seconds`` pass or the relay stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    async def _sleep_until(self, stop: asyncio.Event, event: asyncio.Event) -> None:
        waiters = [asyncio.create_task(event.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _close_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                await producer.stop()
            except Exception:  # closing a producer to a dead broker may fail; a new one is built next round
                log.debug("relay %s: producer close failed", self.source, exc_info=True)


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg advisory locks (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


async def send_rows(
    producer: AIOKafkaProducer,
    topic: str,
    source: str,
    rows: list[Any],
    last_offsets: dict[int, int] | None = None,
) -> bool:
    """Send stored events (rows with the events table's columns and ``data_json``, their data as text) in order
    and wait for every acknowledgement.

    Returns True when an acknowledged offset shows the broker lost the partition's earlier log (see module doc)."""
    futures = []
    for row in rows:
        headers = binary_headers(id=str(row.event_id), type=row.type, source=source, subject=row.stream_id,
                                 time=row.recorded_at, sequence=row.version, position=row.position,
                                 correlation_id=row.correlation_id, causation_id=row.causation_id, actor=row.actor)
        futures.append(await producer.send(topic, value=row.data_json.encode(), key=row.stream_id.encode(),
                                           headers=headers))
    return _offsets_went_back(await asyncio.gather(*futures), last_offsets)


async def send_events(
    producer: AIOKafkaProducer,
    topic: str,
    source: str,
    events: list[StoredEvent],
    last_offsets: dict[int, int] | None = None,
) -> bool:
    """:func:`send_rows` for events already read as :class:`StoredEvent` (their data as dicts)."""
    futures = []
    for event in events:
        key, value, headers = event.to_cloudevent(source).to_kafka()
        futures.append(await producer.send(topic, value=value, key=key, headers=headers))
    return _offsets_went_back(await asyncio.gather(*futures), last_offsets)


def _offsets_went_back(acknowledged: list[Any], last_offsets: dict[int, int] | None) -> bool:
    wiped = False
    for metadata in acknowledged:
        if last_offsets is not None:
            previous = last_offsets.get(metadata.partition)
            if previous is not None and metadata.offset <= previous:
                wiped = True
            last_offsets[metadata.partition] = metadata.offset
    return wiped


async def republish(
    *, engine: AsyncEngine, producer: AIOKafkaProducer, topic: str, source: str, from_position: int = 1,
    batch_size: int = 1000,
) -> int:
    """Re-send every stored event at or after ``from_position``, in the store's order (operator command); the
    running relay is untouched."""
    total = 0
    async for events in EventStore(engine).read_all(from_position=from_position, batch_size=batch_size):
        await send_events(producer, topic, source, events)
        total += len(events)
    return total
