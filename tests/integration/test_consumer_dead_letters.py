"""A poison message goes to the dead-letter topic while the consumer carries on; a transient failure is retried
with back-off and applied once; `shixiang dlt replay` feeds dead letters through the consumer again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.cloudevents import CloudEvent
from shared.consumer import PermanentError, replay_dead_letters
from shared.infra import EmbeddedBroker
from tests.integration.conftest import (
    make_runner,
    produce_raw,
    read_topic,
    received_rows,
    record_received,
    running,
    wait_until,
)


def event(n: int, **data: object) -> CloudEvent:
    return CloudEvent(id=str(uuid.uuid4()), type="test.happened.v1", source="/shixiang/test", subject=f"item-{n}",
                      time=datetime.now(UTC), data={"n": n, **data}, sequence=1, position=n)


async def send(bootstrap: str, topic: str, e: CloudEvent) -> None:
    key, value, headers = e.to_kafka()
    await produce_raw(bootstrap, topic, value, key, headers)


async def test_a_poison_message_is_dead_lettered_and_the_consumer_carries_on(
    downstream_engine: AsyncEngine, broker: EmbeddedBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.events"
    accept_poison = False
    flaky_failures = {"left": 2}

    async def handler(conn: AsyncConnection, e: CloudEvent) -> None:
        if e.data.get("poison") and not accept_poison:
            raise PermanentError("不可处理的事件")
        if e.data.get("flaky") and flaky_failures["left"] > 0:
            flaky_failures["left"] -= 1
            raise ConnectionError("transient outage")
        await record_received(conn, e)

    runner = make_runner(downstream_engine, broker.bootstrap_servers, topic, handler, max_attempts=4)
    good1, poison, flaky, good2 = event(1), event(2, poison=True), event(3, flaky=True), event(4)
    async with running(runner.run):
        await send(broker.bootstrap_servers, topic, good1)
        await produce_raw(broker.bootstrap_servers, topic, b"not json", b"item-9", [("x", b"y")])  # not a CloudEvent
        await send(broker.bootstrap_servers, topic, poison)
        await send(broker.bootstrap_servers, topic, flaky)
        await send(broker.bootstrap_servers, topic, good2)
        await wait_until(lambda: _received(downstream_engine, 3), what="good and flaky events")

    applied = [r.event_id for r in await received_rows(downstream_engine)]
    assert sorted(applied) == sorted([good1.id, flaky.id, good2.id])  # flaky once, after two failures
    assert flaky_failures["left"] == 0

    dead = await read_topic(broker.bootstrap_servers, f"{topic}.dlt", expect=2)
    assert len(dead) == 2
    headers = [dict(r.headers) for r in dead]
    assert {h.get("ce_id") for h in headers} == {None, poison.id.encode()}
    for h in headers:
        assert h["dlt_consumer"] == runner.spec.name.encode() and h["dlt_original_topic"] == topic.encode()
        assert h["dlt_error"]

    # The handler is fixed; the operator replays: the poison event is applied, the garbage fails again.
    accept_poison = True
    report = await replay_dead_letters({runner.spec.name: runner}, dead_letter_topic=f"{topic}.dlt",
                                       group_id=f"{topic}.replay", idle_s=2.0)
    assert (report.replayed, report.duplicates, report.failed_again) == (1, 0, 1)
    assert poison.id in [r.event_id for r in await received_rows(downstream_engine)]

    again = await replay_dead_letters({runner.spec.name: runner}, dead_letter_topic=f"{topic}.dlt",
                                      group_id=f"{topic}.replay", idle_s=2.0)
    assert (again.replayed, again.failed_again) == (0, 1)  # only the re-queued garbage is left
    assert len([r for r in await received_rows(downstream_engine) if r.event_id == poison.id]) == 1


async def _received(engine: AsyncEngine, n: int) -> bool:
    return len(await received_rows(engine)) >= n
