"""No input can stop a consumer: hostile messages produced straight to the real broker become dead letters at
once, with their reason, in the consuming service's database and on the dead-letter topic, while every partition
keeps moving; a transient failure is retried and applied once; an outage makes the partition wait (and the
service report it) without losing anything; operators replay and discard dead letters."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import dead_letters
from shared.cloudevents import CloudEvent
from shared.consumer import ConsumerRunner, replay_dead_letter
from shared.dead_letters import dead_letters_table
from shared.errors import DeadLetterResolvedError
from shared.infra import EmbeddedBroker
from shared.kafka import ensure_topics, make_consumer
from tests.integration.conftest import (
    TEST_SOURCE,
    make_runner,
    read_topic,
    received_rows,
    record_received,
    running,
    wait_until,
)

PARTITIONS = 4


def event(n: int, *, subject: str | None = None, **data: object) -> CloudEvent:
    return CloudEvent(id=str(uuid.uuid4()), type="test.happened.v1", source=TEST_SOURCE,
                      subject=subject or f"item-{n}", time=datetime.now(UTC), data={"n": n, **data}, sequence=1,
                      position=n)


def hostile_messages() -> dict[str, tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    """(key, value, headers) of each message that once stopped a partition for good, and a few more."""
    def headers(e: CloudEvent, **override: bytes) -> list[tuple[str, bytes]]:
        _, _, h = e.to_kafka()
        return [(k, v) for k, v in h if k not in override] + list(override.items())

    good = event(0)
    _, value, _ = good.to_kafka()
    deep = b"[" * 100_000 + b"]" * 100_000
    no_subject = [(k, v) for k, v in headers(good) if k != "ce_subject"]
    return {
        "header not UTF-8": (b"item-h", value, headers(event(1), ce_actor=b"\xff\xfe")),
        "key not UTF-8, no subject": (b"\xff\xfe\xfd", value, no_subject),
        "JSON nested 100,000 deep": (b"item-d", deep, headers(event(2))),
        "8 MiB value": (b"item-big", b"{" + b" " * (8 * 1024 * 1024) + b"x", headers(event(3))),
        "not a CloudEvent": (b"item-9", b"not json", [("x", b"y")]),
        "wrong source": (b"item-s", value, headers(event(4), ce_source=b"/shixiang/forger")),
        "data not an object": (b"item-o", b"[1,2,3]", headers(event(5))),
        "tombstone": (b"item-t", None, headers(event(6))),
    }


async def produce(bootstrap: str, topic: str,
                  messages: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=16 * 1024 * 1024, acks="all")
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def test_hostile_messages_are_dead_lettered_at_once_and_every_partition_keeps_moving(
    downstream_engine: AsyncEngine, broker: EmbeddedBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.events"
    await ensure_topics(broker.bootstrap_servers, [topic], PARTITIONS)
    attempts: list[int] = []

    async def handler(conn: AsyncConnection, events: list[CloudEvent]) -> None:
        attempts.append(len(events))
        await record_received(conn, events)

    runner = make_runner(downstream_engine, broker.bootstrap_servers, topic, handler)
    hostile = hostile_messages()
    before = [event(100 + n) for n in range(20)]
    after = [event(200 + n) for n in range(20)]
    async with running(runner.run):
        await produce(broker.bootstrap_servers, topic, [e.to_kafka() for e in before])
        await produce(broker.bootstrap_servers, topic, list(hostile.values()))
        await produce(broker.bootstrap_servers, topic, [e.to_kafka() for e in after])
        await wait_until(lambda: _received(downstream_engine, 40), what="every good event", timeout_s=90)
        await wait_until(lambda: _dead(downstream_engine, len(hostile)), what="every dead letter", timeout_s=90)
        assert runner.status() == "ok"

    assert sorted(r.event_id for r in await received_rows(downstream_engine)) == sorted(e.id for e in before + after)
    async with downstream_engine.connect() as conn:
        rows = (await conn.execute(select(dead_letters_table).order_by(dead_letters_table.c.id))).all()
    assert len(rows) == len(hostile) and all(r.attempts == 1 and r.status == "waiting" for r in rows)
    kinds = sorted(r.kind for r in rows)
    assert kinds == sorted(["malformed"] * 7 + ["wrong_source"]), kinds
    big = next(r for r in rows if r.size > 8 * 1024 * 1024)
    assert big.value is None and big.head.startswith(b"{") and len(big.head) == dead_letters.HEAD_BYTES
    deep = next(r for r in rows if r.size == 200_000)
    assert "JSON" in deep.reason
    assert any("UTF-8" in r.reason and "ce_actor" in r.reason for r in rows)
    assert any("键" in r.reason for r in rows)  # the key that is no text, with no subject
    assert all(r.sent_to_topic for r in rows)

    on_topic = await read_topic(broker.bootstrap_servers, f"{topic}.dlt", expect=len(hostile))
    assert len(on_topic) == len(hostile)
    reference = [r for r in on_topic if dict(r.headers).get("dlt_reference") == b"1"]
    assert len(reference) == 1
    body = orjson.loads(reference[0].value)
    assert body["size"] == big.size and body["offset"] == big.offset and body["reason"]

    # every partition's committed offset reached its end: nothing waits behind a poison message
    consumer = make_consumer(broker.bootstrap_servers, runner.spec.name, session_timeout_ms=2000)
    await consumer.start()
    try:
        for p in range(PARTITIONS):
            tp = TopicPartition(topic, p)
            committed = await consumer.committed(tp)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            records = await consumer.getmany(tp, timeout_ms=1000)
            ends = [rs[-1].offset + 1 for rs in records.values() if rs]
            assert (committed or 0) >= (max(ends) if ends else 0), f"partition {p} did not move past a message"
    finally:
        await consumer.stop()


async def test_a_transient_failure_is_retried_and_applied_once_and_an_exhausted_one_is_dead_lettered(
    downstream_engine: AsyncEngine, broker: EmbeddedBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.events"
    failures = {"flaky": 2, "broken": 99}

    async def handler(conn: AsyncConnection, events: list[CloudEvent]) -> None:
        for e in events:
            kind = e.data.get("kind")
            if kind in failures and failures[kind] > 0:
                failures[kind] -= 1
                raise RuntimeError(f"{kind} failure")
        await record_received(conn, events)

    runner = make_runner(downstream_engine, broker.bootstrap_servers, topic, handler, max_attempts=3)
    good, flaky, broken = event(1), event(2, kind="flaky"), event(3, kind="broken")
    async with running(runner.run):
        await produce(broker.bootstrap_servers, topic, [e.to_kafka() for e in (good, flaky, broken)])
        await wait_until(lambda: _dead(downstream_engine, 1), what="the broken event's dead letter")
        await wait_until(lambda: _received(downstream_engine, 2), what="good and flaky events")
    applied = [r.event_id for r in await received_rows(downstream_engine)]
    assert sorted(applied) == sorted([good.id, flaky.id])
    [row] = await dead_letters.listing(downstream_engine, dead_letters.Listing())
    assert (row["event_id"], row["kind"], row["attempts"]) == (broken.id, "exhausted", 3)
    assert "broken failure" in row["reason"]


async def test_an_outage_makes_the_partition_wait_and_report_itself_then_nothing_is_lost(
    downstream_engine: AsyncEngine, broker: EmbeddedBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.events"
    outage = asyncio.Event()
    outage.set()

    async def handler(conn: AsyncConnection, events: list[CloudEvent]) -> None:
        if outage.is_set():
            raise ConnectionRefusedError("database unreachable")
        await record_received(conn, events)

    runner = make_runner(downstream_engine, broker.bootstrap_servers, topic, handler, max_attempts=2,
                         stuck_after_s=1.0)
    waiting = event(1)
    async with running(runner.run):
        await produce(broker.bootstrap_servers, topic, [waiting.to_kafka()])
        await wait_until(lambda: _status_names(runner, f"{topic}["), what="a degraded partition", timeout_s=30)
        status = runner.status()
        assert status.startswith("degraded") and waiting.id in status and "database unreachable" in status
        outage.clear()
        await wait_until(lambda: _received(downstream_engine, 1), what="the event after the outage")
        await wait_until(lambda: _status_ok(runner), what="the status back to ok")
    assert [r.event_id for r in await received_rows(downstream_engine)] == [waiting.id]
    assert await dead_letters.listing(downstream_engine, dead_letters.Listing()) == []  # an outage is no poison


async def test_operators_replay_a_refused_event_once_it_can_apply_and_discard_what_never_will(
    downstream_engine: AsyncEngine, broker: EmbeddedBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.events"
    known_items = {"item-1"}

    async def handler(conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
        refused = {e.id: f"从未听说过事项 {e.subject}" for e in events if e.subject not in known_items}
        await record_received(conn, [e for e in events if e.id not in refused])
        return refused

    runner = make_runner(downstream_engine, broker.bootstrap_servers, topic, handler)
    known, early, stray = event(1, subject="item-1"), event(2, subject="item-2"), event(3, subject="item-3")
    async with running(runner.run):
        await produce(broker.bootstrap_servers, topic, [e.to_kafka() for e in (known, early, stray)])
        await wait_until(lambda: _dead(downstream_engine, 2), what="two refused events")
    listed = await dead_letters.listing(downstream_engine, dead_letters.Listing())
    by_event = {d["event_id"]: d for d in listed}
    assert {d["kind"] for d in listed} == {"refused"} and by_event[early.id]["attempts"] == 1
    assert "item-2" in by_event[early.id]["reason"]

    failed = await replay_dead_letter({runner.spec.name: runner}, by_event[early.id]["id"], actor="admin",
                                        reason="事项已补录")
    assert failed.result == "failed"  # still unknown: it stays waiting, tried once more
    known_items.add("item-2")
    replayed = await replay_dead_letter({runner.spec.name: runner}, by_event[early.id]["id"], actor="admin",
                                        reason="事项已补录")
    assert replayed.result == "applied"
    with pytest.raises(DeadLetterResolvedError):
        await replay_dead_letter({runner.spec.name: runner}, by_event[early.id]["id"], actor="admin",
                                        reason="事项已补录")
    assert [r.event_id for r in await received_rows(downstream_engine)].count(early.id) == 1

    discarded = await dead_letters.resolve(downstream_engine, by_event[stray.id]["id"], dead_letters.Status.discarded,
                                           by="operator", resolution="测试数据，无需处理")
    assert (discarded.status, discarded.resolved_by) == ("discarded", "operator")
    row = dead_letters.detail(await dead_letters.get(downstream_engine, by_event[early.id]["id"]))
    assert (row["status"], row["replays"], row["attempts"]) == ("replayed", 2, 2)
    assert row["headers"] and row["value"]["text"].startswith("{")
    assert await dead_letters.counts(downstream_engine) == {"replayed": 1, "discarded": 1}
    history = (await dead_letters.describe(downstream_engine, by_event[early.id]["id"]))["actions"]
    assert [(a["action"], a["actor"], a["reason"], a["result"]) for a in history] == [
        ("replay", "admin", "事项已补录", "failed"), ("replay", "admin", "事项已补录", "applied")]


async def _received(engine: AsyncEngine, n: int) -> bool:
    return len(await received_rows(engine)) >= n


async def _dead(engine: AsyncEngine, n: int) -> bool:
    return len(await dead_letters.listing(engine, dead_letters.Listing(status=None))) >= n


async def _status_names(runner: ConsumerRunner, partition: str) -> bool:
    return partition in runner.status()


async def _status_ok(runner: ConsumerRunner) -> bool:
    return runner.status() == "ok"
