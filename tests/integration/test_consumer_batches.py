"""The consumer runner applies a fetched batch in one transaction, with the same outcome as one at a time: each
event once, in order, duplicates dropped — and an event that breaks the batch falls back to one at a time, where
it is dead-lettered alone while the others apply."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import dead_letters
from shared.cloudevents import CloudEvent
from shared.consumer import PermanentError
from shared.infra import EmbeddedBroker
from shared.kafka import make_producer
from tests.integration.conftest import (
    TEST_SOURCE,
    make_runner,
    read_topic,
    received_rows,
    record_received,
    running,
    wait_until,
)


async def test_batches_apply_each_event_once_and_a_poison_event_falls_back_to_one_at_a_time(
    downstream_engine: AsyncEngine, broker: EmbeddedBroker, topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shixiang.consumed")
    topic = f"{topic_prefix}.events"
    batch_sizes: list[int] = []

    async def handler(conn: AsyncConnection, events: list[CloudEvent]) -> None:
        batch_sizes.append(len(events))
        if any(e.data.get("poison") for e in events):
            raise PermanentError("不可处理")
        await record_received(conn, events)

    runner = make_runner(downstream_engine, broker.bootstrap_servers, topic, handler, max_attempts=2)
    events = [CloudEvent(id=str(uuid.uuid4()), type="t.v1", source=TEST_SOURCE, subject="item-1",
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
    # One structured log line per consumed batch, which together account for every record read.
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "shixiang.consumed"]
    assert lines and all(line["consumer"] == runner.spec.name for line in lines)
    assert sum(line["events"] + line["passed_over"] for line in lines) == 600
    assert sum(line["dead_lettered"] for line in lines) == 1
    [letter] = await dead_letters.listing(downstream_engine, dead_letters.Listing())
    assert (letter["event_id"], letter["kind"], letter["attempts"]) == (events[250].id, "refused", 1)
    assert max(batch_sizes) > 1  # the batch path really ran


async def _count(engine: AsyncEngine, n: int) -> bool:
    return len(await received_rows(engine)) >= n
