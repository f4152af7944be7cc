"""Webhooks (回调推送) on real PostgreSQL with a real local HTTP receiver: subscriptions, signed ordered delivery per
Standard Webhooks, retries, 410, redirects, SSRF protection, secret rotation, restarts, the delivery log, replay,
region filters, and that nothing unpublished leaves."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shared import contracts
from shared.auth import ALL_REGIONS, mint_token
from shared.cloudevents import CloudEvent
from shared.db import ensure_database
from shared.infra import EmbeddedPostgres
from shared.settings import DEVELOPMENT_JWT_SECRET
from tests.integration.conftest import wait_until
from tests.integration.webhook_receiver import Receiver, receiving, verify, verify_sm3

from sync_gateway.adapters.notify import NotifyListener
from sync_gateway.adapters.store import FEED_CHANNEL
from sync_gateway.adapters.webhook_sender import Resolve, WebhookSender, resolve
from sync_gateway.bootstrap import create_app
from sync_gateway.config import SyncSettings
from sync_gateway.service_layer.webhooks import WebhookDispatcher

MARKER = "内部标记-DO-NOT-LEAK-7f3a"
ELEMENTS = {"name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
            "service_category": "03", "region_code": "440115", "composition": "元事项", "tier": "主项"}


def token(subject: str, roles: Sequence[str], regions: Sequence[str]) -> str:
    return mint_token(DEVELOPMENT_JWT_SECRET, subject=subject, roles=roles, regions=regions)


TOKENS = {
    "national": token("national", ["national"], [ALL_REGIONS]),
    "national-2": token("national-2", ["national"], [ALL_REGIONS]),
    "operator-bj": token("operator-bj", ["operator"], ["11"]),
    "admin": token("admin", ["admin"], [ALL_REGIONS]),
    "publisher-gz": token("publisher-gz", ["publisher"], ["4401"]),
}


@dataclass
class Gateway:
    app: Any
    http: httpx.AsyncClient

    @property
    def settings(self) -> SyncSettings:
        settings: SyncSettings = self.app.state.runtime.settings
        return settings

    async def call(self, method: str, path: str, user: str = "national", expect: int = 200,
                   **kwargs: Any) -> Any:
        response = await self.http.request(method, f"/sync/v1/subscriptions{path}",
                                           headers={"Authorization": f"Bearer {TOKENS[user]}"}, **kwargs)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None

    async def subscribe(self, url: str, user: str = "national", expect: int = 201, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", "", user, expect, json={"url": url, **body})
        return result

    async def publish(self, item_id: str, version: int, *, region: str = "440115", event_type: str = "",
                      extra: dict[str, Any] | None = None) -> None:
        """A lifecycle event reaching the feed's consumer (published unless ``event_type`` says otherwise)."""
        data = {"item_id": item_id, "code": f"0144011502{version:02d}HKQYSP000000", "revision": 1, "phase": "online",
                "phase_label": "在线期", "elements": {**ELEMENTS, "region_code": region, **(extra or {})},
                "at": datetime.now(UTC).isoformat(), "update": version > 1}
        event = CloudEvent(id=str(uuid.uuid4()), type=event_type or contracts.LIFECYCLE_PUBLISHED,
                           source="/shixiang/lifecycle", subject=item_id, time=datetime.now(UTC), sequence=version,
                           actor="publisher-gz", data=data)
        runtime = self.app.state.runtime
        runner = runtime.consumer_runners()[f"{runtime.settings.topic_prefix}.sync.lifecycle-feed"]
        await runner.deliver(event)

    async def feed(self) -> list[dict[str, Any]]:
        response = await self.http.get("/sync/v1/feed", params={"limit": 1000},
                                       headers={"Authorization": f"Bearer {TOKENS['national']}"})
        feed: list[dict[str, Any]] = response.json()
        return feed

    def dispatcher(self, *, resolver: Resolve = resolve, worker: str | None = None) -> WebhookDispatcher:
        """A delivery worker as the consuming process builds it (a fresh one: a restarted process)."""
        s, engine = self.settings, self.app.state.runtime.engine
        return WebhookDispatcher(
            engine, WebhookSender(timeout_s=s.webhook_timeout_s,
                                  networks=lambda: s.webhook_networks, resolver=resolver),
            NotifyListener(engine, FEED_CHANNEL), allowed_hosts=lambda: s.webhook_hosts,
            schedule=s.webhook_retry_schedule_s, concurrency=8, poll_interval_s=s.webhook_poll_interval_s,
            lease_s=s.webhook_lease_s, log_days=s.webhook_log_days, worker=worker)

    @asynccontextmanager
    async def delivering(self, dispatcher: WebhookDispatcher | None = None) -> AsyncIterator[WebhookDispatcher]:
        dispatcher = dispatcher or self.dispatcher()
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run(stop))
        try:
            yield dispatcher
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


@pytest.fixture
async def gateway(postgres: EmbeddedPostgres, topic_prefix: str) -> AsyncIterator[Gateway]:
    url = postgres.url(f"sync_{uuid.uuid4().hex[:12]}")
    await ensure_database(url)
    app = create_app(SyncSettings(database_url=url, topic_prefix=topic_prefix, roles="api", environment="test",
                                  webhook_retry_schedule_s=(0.05, 0.05, 0.05), webhook_poll_interval_s=0.05,
                                  webhook_lease_s=30.0))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sync") as http,
    ):
        yield Gateway(app, http)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


async def received(receiver: Receiver, path: str, count: int) -> list[Any]:
    await wait_until(lambda: _at_least(receiver, path, count), timeout_s=30, what=f"{count} requests at {path}")
    return receiver.at(path)


async def _at_least(receiver: Receiver, path: str, count: int) -> bool:
    return len(receiver.at(path)) >= count


async def test_a_subscription_shows_its_secret_once_and_each_delivery_is_the_feed_entry_signed_per_the_spec(
        gateway: Gateway, receiver: Receiver) -> None:
    item_id = str(uuid.uuid4())
    await gateway.publish(item_id, 1)  # before the subscription: not delivered (it starts at the feed's end)
    sub = await gateway.subscribe(receiver.url("/hook"), description="国家平台测试接收端")
    assert sub["secret"].startswith("whsec_") and sub["status"] == "active" and sub["regions"] is None
    shown = await gateway.call("GET", f"/{sub['id']}")
    assert "secret" not in shown and shown["url"] == receiver.url("/hook")
    assert all("secret" not in s for s in await gateway.call("GET", ""))
    await gateway.publish(item_id, 2)
    async with gateway.delivering():
        [delivery] = await received(receiver, "/hook", 1)
    [_, fed] = await gateway.feed()
    assert delivery.entry == fed and delivery.headers["webhook-id"] == fed["id"]
    assert delivery.headers["content-type"] == "application/json"
    assert verify(sub["secret"], delivery.headers, delivery.body)
    assert not verify(sub["secret"], delivery.headers, delivery.body.replace(b"2", b"3", 1))


async def test_entries_are_delivered_in_feed_order_one_at_a_time_per_subscription(
        gateway: Gateway, receiver: Receiver) -> None:
    await gateway.subscribe(receiver.url("/a"))
    await gateway.subscribe(receiver.url("/b"), event_types=["shixiang.item.published.v1"])
    items = [str(uuid.uuid4()) for _ in range(5)]
    for version in (1, 2, 3):
        for item_id in items:
            await gateway.publish(item_id, version)
    async with gateway.delivering():
        a = await received(receiver, "/a", 15)
        b = await received(receiver, "/b", 5)
    assert [r.sequence for r in a] == sorted(r.sequence for r in a) and len({r.sequence for r in a}) == 15
    assert receiver.most_in_flight["/a"] == 1
    # The type filter: the first version of each item is "published", the later ones "updated".
    assert {r.entry["type"] for r in b} == {"shixiang.item.published.v1"} and len(b) == 5


async def test_a_failed_delivery_is_retried_with_the_same_webhook_id_and_a_later_entry_waits_for_it(
        gateway: Gateway, receiver: Receiver) -> None:
    sub = await gateway.subscribe(receiver.url("/flaky"))
    receiver.answers["/flaky"] = [500, 503]
    await gateway.publish(str(uuid.uuid4()), 1)
    await gateway.publish(str(uuid.uuid4()), 1)
    async with gateway.delivering():
        got = await received(receiver, "/flaky", 4)
    ids = [r.headers["webhook-id"] for r in got]
    assert ids[0] == ids[1] == ids[2] != ids[3]
    log = await gateway.call("GET", f"/{sub['id']}/deliveries")
    assert [(d["attempt"], d["status"], d["outcome"]) for d in reversed(log)] == [
        (1, 500, "failed"), (2, 503, "failed"), (3, 200, "delivered"), (1, 200, "delivered")]
    assert all(d["duration_ms"] >= 0 and d["attempted_at"] for d in log)


async def test_a_receivers_410_disables_the_subscription(gateway: Gateway, receiver: Receiver) -> None:
    sub = await gateway.subscribe(receiver.url("/gone"))
    receiver.answers["/gone"] = [410]
    await gateway.publish(str(uuid.uuid4()), 1)
    await gateway.publish(str(uuid.uuid4()), 1)
    async with gateway.delivering():
        await received(receiver, "/gone", 1)
        await wait_until(lambda: _status(gateway, sub["id"], "disabled"), what="subscription disabled")
        await gateway.publish(str(uuid.uuid4()), 1)
    shown = await gateway.call("GET", f"/{sub['id']}")
    assert shown["status_label"] == "已停用" and "410" in shown["disabled_reason"]
    assert len(receiver.at("/gone")) == 1


async def _status(gateway: Gateway, subscription_id: str, status: str) -> bool:
    return bool((await gateway.call("GET", f"/{subscription_id}"))["status"] == status)


async def test_retries_spent_disable_the_subscription_so_that_no_later_entry_overtakes(
        gateway: Gateway, receiver: Receiver) -> None:
    sub = await gateway.subscribe(receiver.url("/down"))
    receiver.answers["/down"] = [500, 500, 500, 500]
    await gateway.publish(str(uuid.uuid4()), 1)
    await gateway.publish(str(uuid.uuid4()), 1)
    async with gateway.delivering():
        await wait_until(lambda: _status(gateway, sub["id"], "disabled"), what="subscription disabled")
    assert len(receiver.at("/down")) == 4 and len({r.headers["webhook-id"] for r in receiver.at("/down")}) == 1


async def test_a_redirect_is_not_followed_but_counts_as_a_failed_attempt(gateway: Gateway, receiver: Receiver) -> None:
    sub = await gateway.subscribe(receiver.url("/redirect"))
    await gateway.publish(str(uuid.uuid4()), 1)
    async with gateway.delivering():
        await received(receiver, "/redirect", 2)
    assert receiver.at("/redirected") == []
    [first, *_] = reversed(await gateway.call("GET", f"/{sub['id']}/deliveries"))
    assert (first["status"], first["outcome"]) == (307, "failed") and "重定向" in first["error"]


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://127.0.0.1/hook", "只允许 http 或 https"),
    ("https://example.com/hook", "不在回调主机允许列表中"),
    ("http://user:pw@127.0.0.1/hook", "用户名或密码"),
    ("http://127.0.0.1:99999/hook", "不是合法的网址"),
    ("file:///etc/passwd", "只允许 http 或 https"),
])
async def test_a_url_that_is_not_http_or_off_the_allow_list_is_refused_and_nothing_is_stored(
        gateway: Gateway, url: str, reason: str) -> None:
    refused = await gateway.subscribe(url, expect=422)
    assert refused["code"] == "WEBHOOK_URL_NOT_ALLOWED" and reason in refused["message"]
    assert await gateway.call("GET", "") == []


class Hosts:
    """A resolver answering from a table that the test changes (a DNS record changing under the gateway)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def __call__(self, host: str, port: int) -> list[str]:
        return list(self.table.get(host, []))


async def test_an_allowed_host_resolving_to_a_disallowed_address_is_refused_at_subscription_and_at_delivery(
        gateway: Gateway, receiver: Receiver) -> None:
    hosts = Hosts({"hooks.example": ["10.1.2.3"]})
    gateway.settings.webhook_allowed_hosts = "hooks.example,127.0.0.1"
    gateway.app.state.webhook_subscriptions.resolver = hosts
    refused = await gateway.subscribe(f"http://hooks.example:{receiver.port}/hook", expect=422)
    assert refused["code"] == "WEBHOOK_URL_NOT_ALLOWED" and "10.1.2.3" in refused["message"]
    hosts.table["hooks.example"] = ["127.0.0.1"]
    sub = await gateway.subscribe(f"http://hooks.example:{receiver.port}/hook")
    hosts.table["hooks.example"] = ["169.254.169.254"]  # rebound to the metadata address after subscribing
    await gateway.publish(str(uuid.uuid4()), 1)
    async with gateway.delivering(gateway.dispatcher(resolver=hosts)):
        await wait_until(lambda: _status(gateway, sub["id"], "disabled"), what="retries spent")
    assert receiver.received == []
    log = await gateway.call("GET", f"/{sub['id']}/deliveries")
    assert all(d["status"] is None and "169.254.169.254" in d["error"] for d in log) and len(log) == 4


async def test_a_rotated_secret_signs_beside_the_old_one_during_the_overlap_and_alone_after(
        gateway: Gateway, receiver: Receiver) -> None:
    sub = await gateway.subscribe(receiver.url("/rotating"))
    rotated = await gateway.call("POST", f"/{sub['id']}/rotate-secret")
    assert rotated["secret"] != sub["secret"] and rotated["previous_secret_until"]
    await gateway.publish(str(uuid.uuid4()), 1)
    async with gateway.delivering():
        [during] = await received(receiver, "/rotating", 1)
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        assert verify(sub["secret"], during.headers, during.body)
        assert verify(rotated["secret"], during.headers, during.body)
        async with gateway.app.state.runtime.engine.begin() as conn:  # the overlap is over
            await conn.execute(text("UPDATE webhook_subscriptions SET previous_secret_until = now()"))
        await gateway.publish(str(uuid.uuid4()), 1)
        [_, after] = await received(receiver, "/rotating", 2)
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert verify(rotated["secret"], after.headers, after.body)
    assert not verify(sub["secret"], after.headers, after.body)


async def test_a_subscriber_asking_for_hmac_sm3_gets_v1sm3_signatures_a_v1_verifier_refuses_and_the_log_says_so(
        gateway: Gateway, receiver: Receiver) -> None:
    sub = await gateway.subscribe(receiver.url("/sm3"), signature_algorithm="hmac-sm3")
    assert (sub["signature_algorithm"], sub["signature_scheme"]) == ("hmac-sm3", "v1sm3")
    plain = await gateway.subscribe(receiver.url("/sha"))
    assert (plain["signature_algorithm"], plain["signature_scheme"]) == ("hmac-sha256", "v1")
    await gateway.publish(str(uuid.uuid4()), 1)
    async with gateway.delivering():
        [delivery] = await received(receiver, "/sm3", 1)
        [sha_delivery] = await received(receiver, "/sha", 1)
    assert delivery.body == sha_delivery.body and delivery.headers["webhook-signature"].startswith("v1sm3,")
    assert verify_sm3(sub["secret"], delivery.headers, delivery.body)
    assert not verify_sm3(sub["secret"], delivery.headers, delivery.body.replace(b"1", b"2", 1))
    assert not verify(sub["secret"], delivery.headers, delivery.body)  # a Standard Webhooks v1 verifier: no v1 here
    [logged] = await gateway.call("GET", f"/{sub['id']}/deliveries")
    assert (logged["signature_algorithm"], logged["signature_scheme"], logged["outcome"]) == (
        "hmac-sm3", "v1sm3", "delivered")
    [sha_logged] = await gateway.call("GET", f"/{plain['id']}/deliveries")
    assert sha_logged["signature_algorithm"] == "hmac-sha256"
    refused = await gateway.subscribe(receiver.url("/md5"), signature_algorithm="hmac-md5", expect=422)
    assert refused["code"] == "VALIDATION_FAILED"


async def test_a_rotated_hmac_sm3_secret_signs_in_sm3_beside_the_old_one(gateway: Gateway, receiver: Receiver) -> None:
    sub = await gateway.subscribe(receiver.url("/sm3-rotating"), signature_algorithm="hmac-sm3")
    rotated = await gateway.call("POST", f"/{sub['id']}/rotate-secret")
    assert rotated["signature_algorithm"] == "hmac-sm3"
    await gateway.publish(str(uuid.uuid4()), 1)
    async with gateway.delivering():
        [during] = await received(receiver, "/sm3-rotating", 1)
    signatures = during.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1sm3,") for s in signatures)
    assert verify_sm3(sub["secret"], during.headers, during.body)
    assert verify_sm3(rotated["secret"], during.headers, during.body)


@pytest.mark.parametrize("crash", [False, True])
async def test_a_restarted_worker_resumes_without_losing_an_entry(
        gateway: Gateway, receiver: Receiver, crash: bool) -> None:
    await gateway.subscribe(receiver.url("/restart"))
    for _ in range(30):
        await gateway.publish(str(uuid.uuid4()), 1)
    receiver.gate_at = 10  # the tenth request waits until the test lets it go
    stop = asyncio.Event()
    first = asyncio.create_task(gateway.dispatcher(worker="first").run(stop))
    await received(receiver, "/restart", 10)
    if crash:  # the process dies mid-delivery: nothing of its unwritten progress is kept
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
    else:  # the process is stopped: its attempt under way ends, its progress is written
        stop.set()
        receiver.gate.set()
        await first
    receiver.gate.set()
    async with gateway.delivering(gateway.dispatcher(worker="second")):
        await wait_until(lambda: _all_sequences(receiver, 30), what="all 30 entries")
    sequences = [r.sequence for r in receiver.at("/restart")]
    firsts = list(dict.fromkeys(sequences))
    assert firsts == sorted(firsts) and len(firsts) == 30
    if not crash:
        assert len(sequences) == 30  # a clean stop delivers nothing twice
    ids = {r.sequence: r.headers["webhook-id"] for r in receiver.at("/restart")}
    assert all(r.headers["webhook-id"] == ids[r.sequence] for r in receiver.at("/restart"))


async def _all_sequences(receiver: Receiver, count: int) -> bool:
    return len({r.sequence for r in receiver.at("/restart")}) >= count


async def test_the_delivery_log_and_a_replay_from_a_cursor(gateway: Gateway, receiver: Receiver) -> None:
    sub = await gateway.subscribe(receiver.url("/replay"))
    for _ in range(4):
        await gateway.publish(str(uuid.uuid4()), 1)
    async with gateway.delivering():
        first = await received(receiver, "/replay", 4)
        cursor = first[1].sequence
        replayed = await gateway.call("POST", f"/{sub['id']}/replay", json={"after": cursor})
        assert replayed["cursor"] == str(cursor)
        again = (await received(receiver, "/replay", 6))[4:]
    assert [r.headers["webhook-id"] for r in again] == [r.headers["webhook-id"] for r in first[2:]]
    log = await gateway.call("GET", f"/{sub['id']}/deliveries", params={"limit": 2})
    assert [d["sequence"] for d in log] == [str(first[3].sequence), str(first[2].sequence)]
    older = await gateway.call("GET", f"/{sub['id']}/deliveries", params={"before": log[-1]["id"]})
    assert len(older) == 4 and all(d["outcome_label"] == "已送达" for d in older)
    ahead = await gateway.call("POST", f"/{sub['id']}/replay", json={"after": first[3].sequence + 1}, expect=422)
    assert ahead["code"] == "REPLAY_CURSOR_AHEAD"


async def test_a_subscriber_of_region_11_gets_no_item_of_region_44_and_cannot_ask_for_it(
        gateway: Gateway, receiver: Receiver) -> None:
    refused = await gateway.subscribe(receiver.url("/bj"), user="operator-bj", expect=403, regions=["44"])
    assert refused["code"] == "REGION_FORBIDDEN"
    sub = await gateway.subscribe(receiver.url("/bj"), user="operator-bj")
    assert sub["regions"] == ["11"]
    await gateway.subscribe(receiver.url("/gz"), regions=["4401"])
    assert (await gateway.subscribe(receiver.url("/all"), regions=["*"]))["regions"] is None
    gz, bj = str(uuid.uuid4()), str(uuid.uuid4())
    await gateway.publish(gz, 1, region="440115")
    await gateway.publish(bj, 1, region="110105")
    await gateway.publish(bj, 2, region="110105")
    async with gateway.delivering():
        got = await received(receiver, "/bj", 2)
        await received(receiver, "/gz", 1)
    assert {r.entry["subject"] for r in got} == {bj}
    assert {r.entry["subject"] for r in receiver.at("/gz")} == {gz}


async def test_subscribers_see_only_their_own_subscriptions_and_only_feed_readers_subscribe(
        gateway: Gateway, receiver: Receiver) -> None:
    mine = await gateway.subscribe(receiver.url("/mine"))
    theirs = await gateway.subscribe(receiver.url("/theirs"), user="national-2")
    assert [s["id"] for s in await gateway.call("GET", "")] == [mine["id"]]
    assert {s["id"] for s in await gateway.call("GET", "", user="admin")} == {mine["id"], theirs["id"]}
    missing = await gateway.call("GET", f"/{theirs['id']}", expect=404)
    assert missing["code"] == "SUBSCRIPTION_NOT_FOUND"
    await gateway.call("DELETE", f"/{theirs['id']}", expect=404)
    await gateway.call("POST", f"/{theirs['id']}/rotate-secret", expect=404)
    denied = await gateway.subscribe(receiver.url("/x"), user="publisher-gz", expect=403)
    assert denied["code"] == "ROLE_FORBIDDEN"
    await gateway.call("DELETE", f"/{mine['id']}", expect=204)
    assert await gateway.call("GET", "") == []
    unknown = await gateway.subscribe(receiver.url("/x"), expect=422, event_types=["lifecycle.item.published.v1"])
    assert unknown["code"] != "WEBHOOK_URL_NOT_ALLOWED"


async def test_nothing_unpublished_is_ever_delivered(gateway: Gateway, receiver: Receiver) -> None:
    await gateway.subscribe(receiver.url("/all"))
    item_id = str(uuid.uuid4())
    # An internal event (an approval) and internal fields of a published one carry the marker.
    await gateway.publish(item_id, 1, event_type=contracts.LIFECYCLE_APPROVED, extra={"review_note": MARKER})
    await gateway.publish(item_id, 2, extra={"review_note": MARKER, "test_note": MARKER, "reviewed_by": MARKER})
    async with gateway.delivering():
        [delivery] = await received(receiver, "/all", 1)
    assert delivery.entry["subject"] == item_id and delivery.entry["itemversion"] == 2
    assert all(MARKER.encode() not in r.body and MARKER not in str(r.headers) for r in receiver.received)


async def test_the_delivery_log_keeps_its_configured_days(gateway: Gateway, receiver: Receiver) -> None:
    sub = await gateway.subscribe(receiver.url("/kept"))
    await gateway.publish(str(uuid.uuid4()), 1)
    await gateway.publish(str(uuid.uuid4()), 1)
    async with gateway.delivering():
        await received(receiver, "/kept", 2)
    async with gateway.app.state.runtime.engine.begin() as conn:  # the first attempt is 15 days old
        await conn.execute(text("UPDATE webhook_deliveries SET attempted_at = now() - interval '15 days' "
                                "WHERE id = (SELECT min(id) FROM webhook_deliveries)"))
    async with gateway.delivering():
        await wait_until(lambda: _logged(gateway, sub["id"], 1), what="the old attempt pruned")


async def _logged(gateway: Gateway, subscription_id: str, count: int) -> bool:
    return len(await gateway.call("GET", f"/{subscription_id}/deliveries")) == count


async def test_the_openapi_document_describes_the_request_sent_to_subscribers(gateway: Gateway) -> None:
    spec = (await gateway.http.get("/openapi.json")).json()
    sent = spec["webhooks"]["feed-entry"]["post"]
    assert {p["name"] for p in sent["parameters"]} == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert sent["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/FeedEntry")
    assert "410" in sent["responses"] and "Standard Webhooks" in sent["summary"]
