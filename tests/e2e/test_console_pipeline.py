"""The console's pipeline health (链路健康) and dead letters against the running suite: four processes, one broker.
A poison message is dead-lettered and shows on the page; an administrator replays and discards it, recorded with
who and why; operators may look but not act; the page still answers with a service stopped."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from shared.kafka import make_producer
from shixiang.suite import Suite


def headers(suite: Suite, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {suite.token(user)}"}


async def pipeline(http: httpx.AsyncClient, suite: Suite) -> dict[str, Any]:
    answer = await http.get("/sync/v1/console/pipeline", headers=headers(suite, "operator"))
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


async def test_a_poison_message_is_dead_lettered_shown_on_the_pipeline_and_replayed_and_discarded_by_an_admin(
    suite: Suite,
) -> None:
    assert suite.broker is not None
    producer = make_producer(suite.broker.bootstrap_servers)
    await producer.start()
    try:  # no CloudEvent at all, on the lifecycle's topic: every consumer of it refuses it at once
        await producer.send_and_wait(f"{suite.topic_prefix}.lifecycle.events", value=b"not json", key=b"poison",
                                     headers=[("x", b"y")])
    finally:
        await producer.stop()

    async with httpx.AsyncClient(base_url=suite.url("sync"), timeout=60) as http:
        letters: list[dict[str, Any]] = []
        for _ in range(300):
            listed = (await http.get("/sync/v1/console/dead-letters", params={"service": "coding"},
                                     headers=headers(suite, "operator"))).json()
            letters = listed["items"]
            if letters:
                break
            await asyncio.sleep(0.1)
        [letter] = letters
        assert (letter["service"], letter["kind"], letter["status"]) == ("coding", "malformed", "waiting")

        page = await pipeline(http, suite)
        assert [s["service"] for s in page["services"]] == ["registry", "coding", "lifecycle", "sync"]
        assert all(s["reachable"] for s in page["services"])
        coding = next(s for s in page["services"] if s["service"] == "coding")
        assert coding["dead_letters"]["waiting"] == 1
        reader = next(c for c in coding["consumers"] if c["topic"] == f"{suite.topic_prefix}.lifecycle.events")
        assert reader["dead_letters_waiting"] == 1
        # Kafka's numbers: the poison's partition holds it, and lag is high watermark less committed
        assert reader["partitions"] and all(p["lag"] == p["high_watermark"] - p["committed"]
                                            for p in reader["partitions"])
        assert sum(p["high_watermark"] for p in reader["partitions"]) >= 1

        path = f"/sync/v1/console/dead-letters/coding/{letter['id']}"
        refused = await http.post(f"{path}/replay", headers=headers(suite, "operator"), json={"reason": "重试"})
        assert (refused.status_code, refused.json()["code"]) == (403, "ROLE_FORBIDDEN")
        # A message that names no region is a nationwide administrator's: admin-gd (Guangdong) does not even see it.
        hidden = await http.post(f"{path}/discard", headers=headers(suite, "admin-gd"), json={"reason": "不是本省的"})
        assert (hidden.status_code, hidden.json()["code"]) == (404, "UPSTREAM_NOT_FOUND")  # coding answered 404
        no_reason = await http.post(f"{path}/discard", headers=headers(suite, "admin"), json={"reason": ""})
        assert (no_reason.status_code, no_reason.json()["code"]) == (422, "REASON_REQUIRED")
        national = await http.get("/sync/v1/console/pipeline", headers=headers(suite, "national"))
        assert (national.status_code, national.json()["code"]) == (403, "CONSOLE_ROLE_REQUIRED")

        replayed = await http.post(f"{path}/replay", headers=headers(suite, "admin"), json={"reason": "核实后重放"})
        assert replayed.status_code == 200 and replayed.json()["result"] == "failed"  # still no CloudEvent
        discarded = await http.post(f"{path}/discard", headers=headers(suite, "admin"),
                                    json={"reason": "伪造的消息"})
        assert discarded.status_code == 200
        shown = (await http.get(path, headers=headers(suite, "operator"))).json()
        assert shown["status"] == "discarded"
        assert [(a["action"], a["actor"], a["reason"], a["result"]) for a in shown["actions"]] == [
            ("replay", "admin", "核实后重放", "failed"), ("discard", "admin", "伪造的消息", "discarded")]


async def test_the_pipeline_answers_with_a_service_stopped_and_shows_it_unreachable(suite: Suite) -> None:
    suite.stop_service("lifecycle")
    try:
        async with httpx.AsyncClient(base_url=suite.url("sync"), timeout=60) as http:
            page = await pipeline(http, suite)
        lifecycle = next(s for s in page["services"] if s["service"] == "lifecycle")
        assert lifecycle["reachable"] is False and lifecycle["error"]
        assert all(s["reachable"] for s in page["services"] if s["service"] != "lifecycle")
    finally:
        suite.start_service("lifecycle")
        await asyncio.to_thread(suite.wait_ready, ["lifecycle"])
