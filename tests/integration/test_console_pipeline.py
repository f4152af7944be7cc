"""Pipeline health and dead letters for the operators' console, on the real PostgreSQL and broker: a poison message
shows as stuck with the message it waits on; lag is read from Kafka (high watermark less the group's committed
offset); every service reports its own pipeline; replay and discard are the administrators', need a reason, and are
recorded with who, why and the outcome; the console answers with the other services down."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import dead_letters
from shared.auth import ALL_REGIONS, mint_token
from shared.cloudevents import CloudEvent
from shared.dead_letters import DeadLetter, Kind
from shared.infra import EmbeddedBroker, EmbeddedPostgres
from shared.kafka import ensure_topics, make_consumer, make_producer
from shared.pipeline import consumer_report
from shared.settings import DEVELOPMENT_JWT_SECRET
from tests.integration.conftest import (
    TEST_SOURCE,
    InProcessService,
    make_runner,
    record_received,
    running,
    send,
    services_in_process,
    wait_until,
)

from sync_gateway.adapters.kafka_lag import KafkaOffsets
from sync_gateway.adapters.tables import feed_entries_table, national_feedback_table
from sync_gateway.domain.pipeline import partition_state, waiting_by_partition


def bearer(subject: str, *roles: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(DEVELOPMENT_JWT_SECRET, subject=subject, roles=list(roles),
                                                    regions=[ALL_REGIONS])}


ADMIN, OPERATOR = bearer("admin-wang", "admin"), bearer("operator-li", "operator")
NATIONAL, ENTRY = bearer("national", "national"), bearer("entry-gz", "entry")


def event(n: int) -> CloudEvent:
    return CloudEvent(id=str(uuid.uuid4()), type="test.happened.v1", source=TEST_SOURCE, subject=f"item-{n}",
                      time=datetime.now(UTC), data={"n": n}, sequence=1, position=n)


# ---- stuck partitions and Kafka's lag --------------------------------------------------------------------------------
async def test_a_poison_message_shows_stuck_with_the_message_it_waits_on_and_the_lag_kafka_reports(
    downstream_engine: AsyncEngine, broker: EmbeddedBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.events"
    await ensure_topics(broker.bootstrap_servers, [topic], 1)
    good, poison, after = event(1), event(2), event(3)

    async def handler(conn: AsyncConnection, events: list[CloudEvent]) -> None:
        if any(e.id == poison.id for e in events):
            raise RuntimeError("数据库约束冲突")  # not an outage: retried, and the partition waits meanwhile
        await record_received(conn, events)

    runner = make_runner(downstream_engine, broker.bootstrap_servers, topic, handler, max_attempts=1_000_000,
                         stuck_after_s=0.5)
    async with running(runner.run):
        await send(broker.bootstrap_servers, topic, good)
        await wait_until(lambda: _committed(runner, 1), what="the good event committed")
        for e in (poison, after):
            await send(broker.bootstrap_servers, topic, e)

        async def stuck() -> bool:
            return any(w["stuck"] for w in consumer_report(runner, runner.spec.name, [topic], 0)["waiting"])

        await wait_until(stuck, what="the partition reported stuck")
        report = consumer_report(runner, runner.spec.name, [topic], 0)
        offsets = await KafkaOffsets(broker.bootstrap_servers).read({runner.spec.name: [topic]})

    [waiting] = report["waiting"]
    assert (waiting["topic"], waiting["partition"], waiting["offset"], waiting["event_id"]) == (topic, 0, 1, poison.id)
    assert "数据库约束冲突" in waiting["error"] and report["status"].startswith("degraded")
    group = offsets[runner.spec.name]
    # Kafka's own numbers: three messages, the group committed past the first only
    assert (group.committed[(topic, 0)], group.high_watermarks[(topic, 0)]) == (1, 3)
    state, stuck_on = partition_state(committed=1, high_watermark=3, previous=None, now=0.0, stuck_after_s=60,
                                      waiting=waiting_by_partition(report["waiting"]).get((topic, 0)))
    assert state == "stuck" and stuck_on is not None
    assert (stuck_on["offset"], stuck_on["event_id"]) == (1, poison.id)


async def test_lag_is_the_high_watermark_less_the_committed_offset_per_partition_read_from_kafka(
    broker: EmbeddedBroker, topic_prefix: str
) -> None:
    """Sent in batches, as the relays send: Tansu's ListOffsets answers wrong for those, the Fetch's high
    watermark does not."""
    topic, group = f"{topic_prefix}.lag", f"{topic_prefix}.svc.reader"
    await ensure_topics(broker.bootstrap_servers, [topic], 2)
    producer = make_producer(broker.bootstrap_servers)
    await producer.start()
    try:
        sent = [await producer.send(topic, value=b"{}", key=b"k", partition=i % 2) for i in range(50)]
        for future in sent:
            await future
    finally:
        await producer.stop()
    consumer = make_consumer(broker.bootstrap_servers, group, topic, session_timeout_ms=2000)
    await consumer.start()
    try:
        taken: dict[Any, int] = {}
        while sum(taken.values()) < 10:
            for tp, records in (await consumer.getmany(timeout_ms=500, max_records=10)).items():
                taken[tp] = taken.get(tp, 0) + len(records)
        await consumer.commit(dict(taken))
    finally:
        await consumer.stop()
    offsets = (await KafkaOffsets(broker.bootstrap_servers).read({group: [topic]}))[group]
    assert offsets.high_watermarks == {(topic, 0): 25, (topic, 1): 25}
    assert {k: v for k, v in offsets.committed.items() if v >= 0} == {(tp.topic, tp.partition): n
                                                                      for tp, n in taken.items()}
    assert group in await KafkaOffsets(broker.bootstrap_servers).groups(f"{topic_prefix}.")


async def _committed(runner: Any, n: int) -> bool:
    return sum(runner.committed().values()) >= n


# ---- a service's own pipeline and dead letters over HTTP ------------------------------------------------------------
@pytest.fixture
async def suite_in_process(postgres: EmbeddedPostgres, broker: EmbeddedBroker,
                           topic_prefix: str) -> AsyncIterator[dict[str, InProcessService]]:
    """The four apps (api role), the gateway reading the other three in-process with the caller's token."""
    async with services_in_process(postgres, broker, topic_prefix) as services:
        yield services


class Unreachable(httpx.AsyncBaseTransport):
    """A service whose port answers nothing."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


async def waiting_dead_letter(engine: AsyncEngine, consumer: str = "nobody.consumer") -> int:
    """A dead letter of a consumer the service does not run: a replay can only fail (and is recorded)."""
    e = event(9)
    key, value, headers = e.to_kafka()
    ids = await dead_letters.record(engine, [DeadLetter(
        consumer=consumer, topic="some.topic", partition=0, offset=7, key=key, headers=headers, value=value,
        kind=Kind.refused, reason="从未听说过事项 item-9", event_id=e.id, event_type=e.type, subject=e.subject)])
    return next(iter(ids.values()))


async def test_every_service_reports_its_own_pipeline_to_operators_and_says_which_roles_its_process_runs(
    suite_in_process: dict[str, InProcessService]
) -> None:
    lifecycle = suite_in_process["lifecycle"]
    await waiting_dead_letter(lifecycle.app.state.runtime.engine)
    answer = await lifecycle.http.get("/lifecycle/v1/pipeline", headers=OPERATOR)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["roles"] == ["api"] and report["store_head"] >= 0 and report["relay_lag"] >= 0
    assert report["consumers"] and not any(c["runs_here"] for c in report["consumers"])
    assert report["dead_letters"] == {"waiting": 1, "replayed": 0, "discarded": 0}
    refused = await lifecycle.http.get("/lifecycle/v1/pipeline", headers=NATIONAL)
    assert refused.status_code == 403


async def test_only_an_administrator_replays_or_discards_a_dead_letter_with_a_reason_and_each_action_is_recorded(
    suite_in_process: dict[str, InProcessService]
) -> None:
    coding = suite_in_process["coding"]
    engine = coding.app.state.runtime.engine
    letter = await waiting_dead_letter(engine)
    base = f"/coding/v1/dead-letters/{letter}"
    by_operator = await coding.http.post(f"{base}/replay", headers=OPERATOR, json={"reason": "重试"})
    assert (by_operator.status_code, by_operator.json()["code"]) == (403, "ROLE_FORBIDDEN")
    no_reason = await coding.http.post(f"{base}/discard", headers=ADMIN, json={})
    assert no_reason.status_code == 422
    blank = await coding.http.post(f"{base}/discard", headers=ADMIN, json={"reason": "  "})
    assert (blank.status_code, blank.json()["code"]) == (422, "REASON_REQUIRED")
    assert "丢弃死信" in blank.json()["message"]

    replayed = await coding.http.post(f"{base}/replay", headers=ADMIN, json={"reason": "事项已补录"})
    assert replayed.status_code == 200 and replayed.json()["result"] == "failed"  # no such consumer: kept waiting
    discarded = await coding.http.post(f"{base}/discard", headers=ADMIN, json={"reason": "测试数据"})
    assert discarded.status_code == 200 and discarded.json()["status"] == "discarded"
    shown = (await coding.http.get(base, headers=OPERATOR)).json()
    assert [(a["action"], a["actor"], a["reason"], a["result"]) for a in shown["actions"]] == [
        ("replay", "admin-wang", "事项已补录", "failed"), ("discard", "admin-wang", "测试数据", "discarded")]
    assert all(a["at"] for a in shown["actions"])


# ---- the console ----------------------------------------------------------------------------------------------------
async def test_the_console_pipeline_shows_every_service_and_answers_when_one_is_down(
    suite_in_process: dict[str, InProcessService]
) -> None:
    sync = suite_in_process["sync"]
    page = await sync.http.get("/sync/v1/console/pipeline", headers=OPERATOR)
    assert page.status_code == 200, page.text
    body = page.json()
    assert [s["service"] for s in body["services"]] == ["registry", "coding", "lifecycle", "sync"]
    assert all(s["reachable"] for s in body["services"]), body["services"]
    lifecycle = next(s for s in body["services"] if s["service"] == "lifecycle")
    assert lifecycle["label"] == "生命周期" and lifecycle["consumers"]
    assert set(body["national"]) >= {"feed_head", "acknowledged_through", "unacknowledged", "rejected"}

    sync.app.state.sync.services.transport.transports["lifecycle"] = Unreachable()  # the lifecycle stops
    degraded = await sync.http.get("/sync/v1/console/pipeline", headers=OPERATOR)
    assert degraded.status_code == 200
    lifecycle = next(s for s in degraded.json()["services"] if s["service"] == "lifecycle")
    assert lifecycle["reachable"] is False and "ConnectError" in lifecycle["error"]
    assert lifecycle["error"].startswith("生命周期服务暂时无法访问")
    assert all(s["reachable"] for s in degraded.json()["services"] if s["service"] != "lifecycle")


@pytest.mark.parametrize("token", [NATIONAL, ENTRY], ids=["national", "entry"])
async def test_the_console_refuses_anyone_but_operators_and_administrators(
    suite_in_process: dict[str, InProcessService], token: dict[str, str]
) -> None:
    sync = suite_in_process["sync"]
    for method, path in (("GET", "/sync/v1/console/pipeline"), ("GET", "/sync/v1/console/dead-letters"),
                         ("GET", "/sync/v1/console/dead-letters/coding/1"),
                         ("POST", "/sync/v1/console/dead-letters/coding/1/replay")):
        body = {"reason": "x"} if method == "POST" else None
        answer = await sync.http.request(method, path, headers=token, json=body)
        assert (answer.status_code, answer.json()["code"]) == (403, "CONSOLE_ROLE_REQUIRED"), path


async def test_the_console_lists_dead_letters_of_every_service_and_replays_them_for_administrators_only(
    suite_in_process: dict[str, InProcessService]
) -> None:
    sync = suite_in_process["sync"]
    coding_letter = await waiting_dead_letter(suite_in_process["coding"].app.state.runtime.engine)
    sync_letter = await waiting_dead_letter(sync.app.state.runtime.engine)
    listed = (await sync.http.get("/sync/v1/console/dead-letters", headers=OPERATOR)).json()
    assert {(d["service"], d["id"]) for d in listed["items"]} == {("coding", coding_letter), ("sync", sync_letter)}
    assert listed["counts"]["coding"]["waiting"] == 1 and listed["counts"]["registry"]["waiting"] == 0

    path = f"/sync/v1/console/dead-letters/coding/{coding_letter}"
    by_operator = await sync.http.post(f"{path}/replay", headers=OPERATOR, json={"reason": "重试"})
    assert (by_operator.status_code, by_operator.json()["code"]) == (403, "ROLE_FORBIDDEN")
    blank = await sync.http.post(f"{path}/discard", headers=ADMIN, json={"reason": " "})
    assert (blank.status_code, blank.json()["code"]) == (422, "REASON_REQUIRED")
    missing = await sync.http.post(f"{path}/discard", headers=ADMIN, json={})
    assert missing.status_code == 422

    replayed = await sync.http.post(f"{path}/replay", headers=ADMIN, json={"reason": "核实后重放"})
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["result"] == "failed"
    assert [(a["action"], a["actor"], a["reason"]) for a in replayed.json()["dead_letter"]["actions"]] == [
        ("replay", "admin-wang", "核实后重放")]
    own = await sync.http.post(f"/sync/v1/console/dead-letters/sync/{sync_letter}/discard", headers=ADMIN,
                               json={"reason": "测试数据"})
    assert own.status_code == 200 and own.json()["dead_letter"]["status"] == "discarded"
    shown = (await sync.http.get(f"/sync/v1/console/dead-letters/sync/{sync_letter}", headers=OPERATOR)).json()
    assert shown["service"] == "sync" and [a["actor"] for a in shown["actions"]] == ["admin-wang"]
    assert shown["payload"] == {"n": 9} and {h["name"] for h in shown["headers"]} >= {"ce_id", "ce_type"}


async def test_the_national_platform_s_progress_shows_what_it_has_not_answered_and_what_it_rejected_last(
    suite_in_process: dict[str, InProcessService]
) -> None:
    sync = suite_in_process["sync"]
    fed = [("a", 1, "440100", "户口迁移审批"), ("b", 1, "440100", "居民身份证申领"), ("d", 1, "440100", "护照签发"),
           ("d", 2, "440100", "护照签发"), ("c", 1, "110100", "驾驶证补领")]
    positions: dict[tuple[str, int], int] = {}
    async with sync.app.state.runtime.engine.begin() as conn:
        for item_id, version, region, name in fed:
            positions[(item_id, version)] = await conn.scalar(feed_entries_table.insert().values(
                event_id=str(uuid.uuid4()), item_id=item_id, item_version=version, type="t", region_code=region,
                entry={"data": {"name": name, "region_code": region}}).returning(feed_entries_table.c.position))
        answers = [("a", 1, "acknowledged", None), ("b", 1, "rejected", "名称不规范"), ("d", 1, "rejected", "缺材料"),
                   ("d", 2, "acknowledged", None)]
        for item_id, version, result, reason in answers:
            await conn.execute(national_feedback_table.insert().values(
                item_id=item_id, item_version=version, result=result, reason=reason, code=f"CODE-{item_id}",
                feed_sequence=positions[(item_id, version)], event_id=str(uuid.uuid4()), actor="national",
                recorded_at=datetime.now(UTC)))

    national = (await sync.http.get("/sync/v1/console/pipeline", headers=OPERATOR)).json()["national"]
    assert national["feed_head"] == positions[("c", 1)]
    assert national["acknowledged_through"] == positions[("d", 2)] and national["last_acknowledged_at"]
    assert national["unacknowledged"] == 1  # c: never answered
    assert [(r["item_id"], r["item_version"], r["code"], r["name"], r["reason"]) for r in national["rejected"]] == [
        ("b", 1, "CODE-b", "居民身份证申领", "名称不规范")]  # d's rejection was answered again, accepted
    beijing = {"Authorization": "Bearer " + mint_token(DEVELOPMENT_JWT_SECRET, subject="operator-bj",
                                                       roles=["operator"], regions=["11"])}
    theirs = (await sync.http.get("/sync/v1/console/pipeline", headers=beijing)).json()["national"]
    assert (theirs["feed_head"], theirs["acknowledged_through"], theirs["unacknowledged"], theirs["rejected"]) == (
        positions[("c", 1)], 0, 1, [])


async def test_a_partition_whose_consumer_runs_elsewhere_is_stuck_once_its_lag_has_not_moved_past_the_threshold(
    suite_in_process: dict[str, InProcessService], broker: EmbeddedBroker, topic_prefix: str
) -> None:
    """No process of these apps consumes (api role only), so nobody reports what waits: the gateway falls back on
    Kafka's offsets, sampled twice (its clock is moved on, not waited for)."""
    sync = suite_in_process["sync"]
    console = sync.app.state.console_pipeline
    clock = [1000.0]
    console.clock = lambda: clock[0]
    topic = f"{topic_prefix}.lifecycle.events"
    await ensure_topics(broker.bootstrap_servers, [topic], 4)
    await send(broker.bootstrap_servers, topic, event(1))

    def feed_reader(page: dict[str, Any]) -> dict[str, Any]:
        gateway = next(s for s in page["services"] if s["service"] == "sync")
        consumer: dict[str, Any] = next(c for c in gateway["consumers"] if c["topic"] == topic)
        return consumer

    first = feed_reader((await sync.http.get("/sync/v1/console/pipeline", headers=OPERATOR)).json())
    [waiting] = [p for p in first["partitions"] if p["lag"]]
    assert (waiting["committed"], waiting["high_watermark"], waiting["lag"]) == (0, 1, 1)
    assert (waiting["state"], first["status"], first["runs_here"]) == ("lagging", "lagging", False)
    clock[0] += console.stuck_after_s + 1
    second = feed_reader((await sync.http.get("/sync/v1/console/pipeline", headers=OPERATOR)).json())
    [stuck] = [p for p in second["partitions"] if p["lag"]]
    assert (stuck["state"], second["status"]) == ("stuck", "stuck")
    assert stuck["stuck_on"]["offset"] == 0


async def letter_about(engine: AsyncEngine, subject: str, data: dict[str, Any], offset: int) -> int:
    """A dead letter of a message about ``subject`` whose content is ``data`` (the region it names, or none)."""
    e = CloudEvent(id=str(uuid.uuid4()), type="test.happened.v1", source=TEST_SOURCE, subject=subject,
                   time=datetime.now(UTC), data=data, sequence=1, position=offset)
    key, value, headers = e.to_kafka()
    ids = await dead_letters.record(engine, [DeadLetter(
        consumer="nobody.consumer", topic="some.topic", partition=0, offset=offset, key=key, headers=headers,
        value=value, kind=Kind.refused, reason="测试", event_id=e.id, event_type=e.type, subject=e.subject)])
    return next(iter(ids.values()))


async def test_a_caller_of_some_regions_sees_only_the_dead_letters_of_its_regions(
    suite_in_process: dict[str, InProcessService]
) -> None:
    """A dead letter holds an item's content: a region-limited operator sees those of its regions (the region the
    message names, when the service never heard of the item), a dead letter of no known region only nationwide
    callers see — in the service's own routes and in the console; another's is a 404 as if it did not exist."""
    coding = suite_in_process["coding"]
    engine = coding.app.state.runtime.engine
    guangdong = await letter_about(engine, "gd-item", {"elements": {"region_code": "440115"}}, 101)
    beijing = await letter_about(engine, "bj-item", {"code": "011101050201HKQYSP000000"}, 102)
    nowhere = await letter_about(engine, "unknown-item", {"n": 1}, 103)
    beijing_operator = {"Authorization": "Bearer " + mint_token(
        DEVELOPMENT_JWT_SECRET, subject="operator-bj", roles=["operator"], regions=["11"])}
    beijing_admin = {"Authorization": "Bearer " + mint_token(
        DEVELOPMENT_JWT_SECRET, subject="admin-bj", roles=["admin"], regions=["11"])}

    everything = (await coding.http.get("/coding/v1/dead-letters", headers=OPERATOR)).json()
    assert {d["id"] for d in everything["items"]} >= {guangdong, beijing, nowhere}
    own = (await coding.http.get("/coding/v1/dead-letters", headers=beijing_operator)).json()
    assert [d["id"] for d in own["items"]] == [beijing]
    hidden = await coding.http.get(f"/coding/v1/dead-letters/{guangdong}", headers=beijing_operator)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "DEAD_LETTER_NOT_FOUND")
    unknown = await coding.http.post(f"/coding/v1/dead-letters/{nowhere}/discard", headers=beijing_admin,
                                     json={"reason": "不是本区的"})
    assert unknown.status_code == 404
    assert (await coding.http.get(f"/coding/v1/dead-letters/{nowhere}", headers=OPERATOR)).json()["status"] == "waiting"

    sync = suite_in_process["sync"]
    console = (await sync.http.get("/sync/v1/console/dead-letters", headers=beijing_operator,
                                   params={"service": "coding"})).json()
    assert [d["id"] for d in console["items"]] == [beijing]
    refused = await sync.http.get(f"/sync/v1/console/dead-letters/coding/{guangdong}", headers=beijing_operator)
    assert refused.status_code == 404
