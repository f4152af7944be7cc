"""The relay under concurrent writers: every stored event reaches Kafka exactly once, in per-stream order, even
though transactions commit in a different order than they took their positions."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.cloudevents import CloudEvent
from shared.errors import ConcurrencyConflictError
from shared.eventstore import EventMetadata, EventStore, NewEvent
from shared.infra import EmbeddedBroker
from shared.kafka import ensure_topics
from tests.integration.conftest import make_relay, read_topic, running

WRITERS = 16
EVENTS_PER_WRITER = 500
STREAMS = 40


async def write_concurrently(store: EventStore, writer: int) -> int:
    """One writer: 500 single-event appends to random shared streams, retrying on version conflicts."""
    rng = random.Random(writer)
    conflicts = 0
    for n in range(EVENTS_PER_WRITER):
        stream = f"item-{rng.randrange(STREAMS)}"
        while True:
            version = await store.version(stream)
            try:
                await store.append(stream, version, [NewEvent("test.happened.v1", {"writer": writer, "n": n})],
                                   EventMetadata(actor=f"writer-{writer}"))
                break
            except ConcurrencyConflictError:
                conflicts += 1
    return conflicts


async def test_sixteen_concurrent_writers_every_event_published_exactly_once_in_stream_order(
    store_engine: AsyncEngine, broker: EmbeddedBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.events"
    await ensure_topics(broker.bootstrap_servers, [topic], 4)
    store = EventStore(store_engine)
    relay = make_relay(store_engine, broker.bootstrap_servers, topic, batch_size=200)
    async with running(relay.run):  # the relay publishes WHILE the writers commit
        conflicts = await asyncio.gather(*(write_concurrently(store, w) for w in range(WRITERS)))
        total = WRITERS * EVENTS_PER_WRITER
        records = await read_topic(broker.bootstrap_servers, topic, expect=total)

    events = [CloudEvent.from_kafka(r.key, r.value, list(r.headers)) for r in records]
    ids = [e.id for e in events]
    assert len(ids) == total, f"expected {total} messages, got {len(ids)}"
    assert len(set(ids)) == total, "an event was published twice"
    stored_ids = {str(e.event_id) async for batch in store.read_all() for e in batch}
    assert set(ids) == stored_ids, "an event was skipped"

    by_stream: dict[str, list[int]] = defaultdict(list)
    for record, event in zip(records, events, strict=True):
        assert record.key.decode() == event.subject  # key = stream (item) id
        by_stream[event.subject].append(event.sequence)
    for stream, versions in by_stream.items():
        assert versions == list(range(1, len(versions) + 1)), f"{stream} out of order: {versions[:20]}…"
    assert sum(conflicts) > 0, "the writers never raced; the test would not show anything"
