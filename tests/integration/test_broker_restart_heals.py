"""The embedded broker keeps everything in memory: a restart is a brand-new empty cluster. The relay notices, re-creates
its topics and republishes from PostgreSQL; consumers drop what they already applied; every event still arrives,
once. The operator command `shixiang republish` does the same by hand."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.eventstore import EventMetadata, EventStore, NewEvent
from shared.infra import EmbeddedBroker
from tests.integration.conftest import (
    assert_each_once_in_stream_order,
    make_relay,
    make_runner,
    received_rows,
    record_received,
    running,
    wait_until,
)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test alone: restarting it must not disturb other tests."""
    server = EmbeddedBroker(log_path=tmp_path / "broker.log").start()
    try:
        yield server
    finally:
        server.stop()


async def append_events(store: EventStore, first: int, count: int, streams: int = 10) -> list[str]:
    ids = []
    for n in range(first, first + count):
        stream = f"item-{n % streams}"
        stored = await store.append(stream, await store.version(stream), [NewEvent("test.happened.v1", {"n": n})],
                                    EventMetadata(actor="writer"))
        ids.append(str(stored[0].event_id))
    return ids


async def distinct_received(engine: AsyncEngine) -> int:
    return len({r.event_id for r in await received_rows(engine)})


async def test_a_wiped_broker_heals_by_republishing_and_every_event_arrives_once(
    store_engine: AsyncEngine, downstream_engine: AsyncEngine, own_broker: EmbeddedBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.events"
    store = EventStore(store_engine)
    relay = make_relay(store_engine, own_broker.bootstrap_servers, topic, epoch_check_interval_s=0.5)
    runner = make_runner(downstream_engine, own_broker.bootstrap_servers, topic, record_received)
    async with running(relay.run), running(runner.run):
        before = await append_events(store, 0, 300)
        await wait_until(lambda: _at_least(downstream_engine, 300), what="events before the restart")

        own_broker.restart()  # every topic, message and committed offset is gone
        during = await append_events(store, 300, 100)  # written while the broker is empty
        await asyncio.sleep(1.5)  # a quiet system must heal too (the epoch check, not only new writes)
        after = await append_events(store, 400, 100)
        await wait_until(lambda: _at_least(downstream_engine, 500), timeout_s=90, what="every event after restart")
        await asyncio.sleep(1.0)  # republished duplicates would land now; they must change nothing

    assert_each_once_in_stream_order(await received_rows(downstream_engine), set(before + during + after))


async def test_the_republish_command_resends_the_store_and_consumers_drop_duplicates(
    store_engine: AsyncEngine, database_url: str, downstream_engine: AsyncEngine, own_broker: EmbeddedBroker,
    topic_prefix: str,
) -> None:
    store = EventStore(store_engine)
    ids = await append_events(store, 0, 200)
    topic = f"{topic_prefix}.lifecycle.events"
    runner = make_runner(downstream_engine, own_broker.bootstrap_servers, topic, record_received,
                         source="/shixiang/lifecycle")
    env = {**os.environ, "SHIXIANG_DATABASE_URL": database_url,
           "SHIXIANG_KAFKA_BOOTSTRAP_SERVERS": own_broker.bootstrap_servers, "SHIXIANG_TOPIC_PREFIX": topic_prefix}
    republish = [sys.executable, "-m", "shixiang.cli", "republish", "--service", "lifecycle", "--from", "1"]
    async with running(runner.run):
        for _ in range(2):  # twice: the second run only produces duplicates
            done = await asyncio.to_thread(subprocess.run, republish, env=env, capture_output=True, text=True,
                                           timeout=120, check=False)
            assert done.returncode == 0, done.stderr
            assert "republished 200 events of lifecycle" in done.stdout
        await wait_until(lambda: _at_least(downstream_engine, 200), what="republished events")
        await asyncio.sleep(1.0)
    assert_each_once_in_stream_order(await received_rows(downstream_engine), set(ids))


async def _at_least(engine: AsyncEngine, n: int) -> bool:
    return await distinct_received(engine) >= n
