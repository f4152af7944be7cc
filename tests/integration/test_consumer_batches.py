"""The consumer runner's batch mode: a partition's fetched events in one transaction, and the same outcome as one
at a time — including a poison event in the middle, which falls back to one-at-a-time and is dead-lettered alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.cloudevents import CloudEvent
from shared.consumer import ConsumerRunner, PermanentError
from shared.infra import EmbeddedBroker
from shared.kafka import make_producer
from tests.integration.conftest import (
    fast_kafka,
    make_runner,
    read_topic,
    received_rows,
    record_received,
    running,
    wait_until,
)


async def test_batches_apply_each_event_once_and_a_poison_event_falls_back_to_one_at_a_time(
    downstream_engine: AsyncEngine, broker: EmbeddedBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.events"
    batch_sizes: list[int] = []

    async def handler(conn: AsyncConnection, e: CloudEvent) -> None:
        if e.data.get("poison"):
            raise PermanentError("不可处理")
        await record_received(conn, e)

    async def batch_handler(conn: AsyncConnection, events: list[CloudEvent]) -> None:
        batch_sizes.append(len(events))
        for e in events:
            await handler(conn, e)

    base = make_runner(downstream_engine, broker.bootstrap_servers, topic, handler)
    runner = ConsumerRunner(spec=base.spec.__class__(**{**base.spec.__dict__, "batch_handler": batch_handler}),
                            engine=downstream_engine, kafka=fast_kafka(broker.bootstrap_servers), max_attempts=2,
                            retry_backoff_s=0.01)
    events = [CloudEvent(id=str(uuid.uuid4()), type="t.v1", source="/test", subject="item-1",
                         time=datetime.now(UTC), data={"n": n, "poison": n == 250}, sequence=n + 1)
              for n in range(500)]
    producer = make_producer(broker.bootstrap_servers)
    await producer.start()
    try:
        for e in events + events[:100]:  # the first hundred twice: duplicates change nothing
            key, value, headers = e.to_kafka()
            await producer.send(topic, value=value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()

    async with running(runner.run):
        await wait_until(lambda: _count(downstream_engine, 499), what="all good events")
        dead = await read_topic(broker.bootstrap_servers, f"{topic}.dlt", expect=1)

    rows = await received_rows(downstream_engine)
    assert [r.version for r in rows] == [n + 1 for n in range(500) if n != 250]  # once each, in order
    assert [dict(r.headers)["ce_id"] for r in dead] == [events[250].id.encode()]
    assert max(batch_sizes) > 1  # the batch path really ran


async def _count(engine: AsyncEngine, n: int) -> bool:
    return len(await received_rows(engine)) >= n
