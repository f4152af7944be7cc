"""National feedback (同步) on real PostgreSQL: the sync gateway records the national platform's answer to a fed
item version as an event in its own store, and the lifecycle records that event on the item (delivered through
its real consumer handler)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared import contracts
from shared.auth import ALL_REGIONS, mint_token
from shared.cloudevents import CloudEvent
from shared.db import ensure_database
from shared.eventstore import EventStore
from shared.infra import EmbeddedPostgres
from shared.settings import DEVELOPMENT_JWT_SECRET
from tests.integration.test_lifecycle_commands import Harness, lifecycle_harness

from sync_gateway.bootstrap import create_app
from sync_gateway.config import SyncSettings

ELEMENTS = {"name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
            "service_category": "03", "region_code": "440115", "composition": "元事项", "tier": "主项"}
TOKENS = {
    "national": mint_token(DEVELOPMENT_JWT_SECRET, subject="national", roles=["national"], regions=[ALL_REGIONS]),
    "operator": mint_token(DEVELOPMENT_JWT_SECRET, subject="operator", roles=["operator"], regions=[ALL_REGIONS]),
    "publisher-gz": mint_token(DEVELOPMENT_JWT_SECRET, subject="publisher-gz", roles=["publisher"],
                               regions=["4401"]),
}


@dataclass
class Gateway:
    app: Any
    http: httpx.AsyncClient

    @property
    def store(self) -> EventStore:
        return self.app.state.runtime.store

    async def feedback(self, user: str = "national", expect: int = 201, **body: Any) -> dict[str, Any]:
        response = await self.http.post("/sync/v1/national/feedback", json=body,
                                        headers={"Authorization": f"Bearer {TOKENS[user]}"})
        assert response.status_code == expect, response.text
        return response.json()

    async def fed(self, item_id: str, version: int, code: str = "014401150203HKQYSP000000") -> None:
        """The lifecycle's published event reaching the feed (through the gateway's consumer)."""
        event = CloudEvent(id=str(uuid.uuid4()), type=contracts.LIFECYCLE_PUBLISHED, source="/shixiang/lifecycle",
                           subject=item_id, time=datetime.now(UTC), sequence=version, actor="publisher-gz",
                           data={"item_id": item_id, "code": code, "revision": 1, "phase": "online",
                                 "phase_label": "在线期", "elements": ELEMENTS, "at": datetime.now(UTC).isoformat()})
        runtime = self.app.state.runtime
        runner = runtime.consumer_runners()[f"{runtime.settings.topic_prefix}.sync.lifecycle-feed"]
        assert await runner.deliver(event) == "processed"


@pytest.fixture
async def gateway(postgres: EmbeddedPostgres, topic_prefix: str) -> AsyncIterator[Gateway]:
    url = postgres.url(f"sync_{uuid.uuid4().hex[:12]}")
    await ensure_database(url)
    app = create_app(SyncSettings(database_url=url, topic_prefix=topic_prefix, roles="api"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sync") as http,
    ):
        yield Gateway(app, http)


async def test_an_acknowledgement_of_a_fed_version_is_appended_as_an_event(gateway: Gateway) -> None:
    item_id = str(uuid.uuid4())
    await gateway.fed(item_id, 7)
    recorded = await gateway.feedback(item_id=item_id, item_version=7, result="acknowledged", note="已入库")
    assert (recorded["result"], recorded["result_label"], recorded["code"]) == (
        "acknowledged", "已接收", "014401150203HKQYSP000000")
    [event] = await gateway.store.load(item_id)
    assert (event.type, event.actor) == (contracts.SYNC_NATIONAL_ACKNOWLEDGED, "national")
    assert event.data == {"item_id": item_id, "item_version": 7, "code": "014401150203HKQYSP000000",
                          "feed_sequence": recorded["feed_sequence"], "note": "已入库"}


async def test_the_same_answer_again_is_not_recorded_twice_but_a_new_answer_is(gateway: Gateway) -> None:
    item_id = str(uuid.uuid4())
    await gateway.fed(item_id, 7)
    await gateway.feedback(item_id=item_id, item_version=7, result="rejected", reason="实施机关与国家库不一致")
    again = await gateway.feedback(expect=200, item_id=item_id, item_version=7, result="rejected",
                                   reason="实施机关与国家库不一致")
    assert again["result"] == "rejected"
    await gateway.feedback(item_id=item_id, item_version=7, result="acknowledged")
    events = await gateway.store.load(item_id)
    assert [e.type for e in events] == [contracts.SYNC_NATIONAL_REJECTED, contracts.SYNC_NATIONAL_ACKNOWLEDGED]
    assert events[0].data["reason"] == "实施机关与国家库不一致"
    listed = (await gateway.http.get("/sync/v1/national/feedback", params={"item_id": item_id},
                                     headers={"Authorization": f"Bearer {TOKENS['operator']}"})).json()
    assert [(f["item_version"], f["result"]) for f in listed] == [(7, "acknowledged")]


async def test_feedback_is_refused_for_what_was_never_fed_without_a_reason_or_from_anyone_else(
        gateway: Gateway) -> None:
    item_id = str(uuid.uuid4())
    await gateway.fed(item_id, 7)
    unknown = await gateway.feedback(expect=404, item_id=item_id, item_version=6, result="acknowledged")
    assert unknown["code"] == "FEED_ENTRY_NOT_FOUND" and "第 6 版" in unknown["message"]
    no_reason = await gateway.feedback(expect=422, item_id=item_id, item_version=7, result="rejected")
    assert no_reason["code"] == "REASON_REQUIRED"
    not_national = await gateway.feedback(user="publisher-gz", expect=403, item_id=item_id, item_version=7,
                                          result="acknowledged")
    assert not_national["code"] == "ROLE_FORBIDDEN"
    assert await gateway.store.load(item_id) == []


@pytest.fixture
async def lifecycle(database_url: str, topic_prefix: str) -> AsyncIterator[Harness]:
    async with lifecycle_harness(database_url, topic_prefix) as harness:
        yield harness


async def test_the_lifecycle_records_the_national_answer_per_version(gateway: Gateway, lifecycle: Harness) -> None:
    item_id = await lifecycle.drafted()
    online = await lifecycle.to_online(item_id)
    await gateway.fed(item_id, online["version"])
    await gateway.feedback(item_id=item_id, item_version=online["version"], result="rejected", reason="名称不规范")
    await gateway.feedback(item_id=item_id, item_version=online["version"], result="acknowledged")
    for stored in await gateway.store.load(item_id):  # what the relay would publish, through the real handler
        assert await lifecycle.deliver("national-feedback", stored.to_cloudevent("/shixiang/sync")) == "processed"

    state = await lifecycle.state(item_id)
    assert state["national_sync"]["last"] | {"at": None, "feed_sequence": None} == {
        "item_version": online["version"], "result": "acknowledged", "result_label": "国家平台已接收",
        "reason": None, "feed_sequence": None, "at": None}
    assert list(state["national_sync"]["by_version"]) == [str(online["version"])]
    assert (state["phase"], state["version"]) == ("online", online["version"] + 2)
    history = await lifecycle.events(item_id)
    assert [(e["label"], e["data"]["result"], e["reason"]) for e in history[-2:]] == [
        ("记录国家平台同步结果", "rejected", "名称不规范"), ("记录国家平台同步结果", "acknowledged", None)]
    listed = (await lifecycle.call("GET", "/items", user="publisher-gz", params={"phase": "online"})).json()
    assert [r["national_sync"] for r in listed["items"] if r["item_id"] == item_id] == ["acknowledged"]


async def test_feedback_about_a_version_the_item_never_had_goes_to_the_dead_letters(lifecycle: Harness) -> None:
    item_id = await lifecycle.drafted()
    event = CloudEvent(id=str(uuid.uuid4()), type=contracts.SYNC_NATIONAL_ACKNOWLEDGED, source="/shixiang/sync",
                       subject=item_id, time=datetime.now(UTC), sequence=1, actor="national",
                       data={"item_id": item_id, "item_version": 40, "code": None, "feed_sequence": 1, "note": None})
    outcome = await lifecycle.deliver("national-feedback", event)
    assert outcome.startswith("refused") and "40" in outcome
    assert await lifecycle.count_events(item_id) == 1
