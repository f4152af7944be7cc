"""A relay process killed with SIGKILL in the middle of publishing, and started again, loses nothing and doubles
nothing downstream (the Kafka topic may carry a batch twice; the consumer applies each event once)."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.eventstore import EventMetadata, EventStore, NewEvent, relay_checkpoints_table
from shared.infra import EmbeddedBroker, free_port
from shared.migrations import upgrade
from tests.integration.conftest import (
    assert_each_once_in_stream_order,
    make_runner,
    read_topic,
    received_rows,
    record_received,
    running,
    wait_until,
)

from lifecycle.adapters.migrations import HISTORY as LIFECYCLE_HISTORY

EVENTS = 3000
STREAMS = 50
KILLS = 3


def start_relay_process(database_url: str, bootstrap: str, prefix: str) -> subprocess.Popen[bytes]:
    """The lifecycle service as a relay-only process (SHIXIANG_ROLES=relay), exactly as deployed."""
    env = {**os.environ, "SHIXIANG_DATABASE_URL": database_url, "SHIXIANG_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "SHIXIANG_TOPIC_PREFIX": prefix, "SHIXIANG_ROLES": "relay", "SHIXIANG_RELAY_BATCH_SIZE": "100"}
    return subprocess.Popen([sys.executable, "-m", "shixiang.cli", "serve", "lifecycle", "--host", "127.0.0.1",
                             "--port", str(free_port())], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_a_killed_and_restarted_relay_loses_and_doubles_nothing_downstream(
    engine: AsyncEngine, database_url: str, downstream_engine: AsyncEngine, broker: EmbeddedBroker,
    topic_prefix: str,
) -> None:
    # The lifecycle's own database, as its migrations make it (the relay process checks it is theirs at start).
    await upgrade(engine, LIFECYCLE_HISTORY)
    store_engine = engine
    topic = f"{topic_prefix}.lifecycle.events"
    store = EventStore(store_engine)
    runner = make_runner(downstream_engine, broker.bootstrap_servers, topic, record_received,
                         source="/shixiang/lifecycle")  # the relay runs as the lifecycle service's

    async def write(numbers: range) -> list[str]:
        ids = []
        for n in numbers:
            stream = f"item-{n % STREAMS}"
            stored = await store.append(stream, n // STREAMS, [NewEvent("test.happened.v1", {"n": n})],
                                        EventMetadata(actor="writer"))
            ids.append(str(stored[0].event_id))
            if n % 100 == 0:
                await asyncio.sleep(0.01)  # spread the writes over the kill
        return ids

    async with running(runner.run):
        relay = start_relay_process(database_url, broker.bootstrap_servers, topic_prefix)
        kills, ids = 0, []
        per_round = EVENTS // (KILLS + 1)
        try:  # whatever fails, the relay process of the moment is stopped (it would outlive the test)
            for round_ in range(KILLS + 1):
                # Each round writes new events, so there is always something left for the relay to move on to:
                # kill it once it has moved its checkpoint (however fast it caught up with the round before).
                before = await _checkpoint(store_engine)
                writer = asyncio.create_task(write(range(round_ * per_round, (round_ + 1) * per_round)))
                if round_ < KILLS:
                    await wait_until(functools.partial(_moved_past, store_engine, before), what="relay publishing")
                    await asyncio.sleep(0.2)
                    relay.send_signal(signal.SIGKILL)
                    relay.wait()
                    kills += 1
                    relay = start_relay_process(database_url, broker.bootstrap_servers, topic_prefix)
                ids += await writer
            await wait_until(lambda: _count_at_least(downstream_engine, EVENTS), timeout_s=120,
                             what="all events downstream")
            await asyncio.sleep(1.0)  # let any late duplicate arrive before judging
        finally:
            relay.send_signal(signal.SIGTERM)
            relay.wait(15)

    assert kills == KILLS
    assert await _checkpoint(store_engine) >= EVENTS
    assert_each_once_in_stream_order(await received_rows(downstream_engine), set(ids))
    on_topic = await read_topic(broker.bootstrap_servers, topic, expect=EVENTS)
    assert len(on_topic) >= EVENTS  # duplicates on the wire are allowed; downstream saw each once


async def _checkpoint(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(relay_checkpoints_table.c.position)) or 0)


async def _moved_past(engine: AsyncEngine, position: int) -> bool:
    return await _checkpoint(engine) > position


async def _count_at_least(engine: AsyncEngine, n: int) -> bool:
    return len({r.event_id for r in await received_rows(engine)}) >= n
