"""The operations log and the console's live event stream on real PostgreSQL (and the broker): every event of
every service logged once, streamed as it is appended, resumable, filtered, and limited to the caller's regions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from shared import contracts
from shared.auth import ALL_REGIONS, mint_token
from shared.cloudevents import CloudEvent
from shared.db import ensure_database
from shared.infra import EmbeddedBroker, EmbeddedPostgres, free_port
from shared.settings import DEVELOPMENT_JWT_SECRET
from shixiang.cli import _server
from tests.integration.conftest import send, wait_until

from sync_gateway.adapters.tables import operations_log_table
from sync_gateway.bootstrap import create_app
from sync_gateway.config import SyncSettings


def token(roles: list[str], regions: list[str]) -> str:
    return mint_token(DEVELOPMENT_JWT_SECRET, subject=f"{roles[0]}-{regions[0]}", roles=roles, regions=regions)


OPERATOR = {"Authorization": f"Bearer {token(['operator'], [ALL_REGIONS])}"}
OPERATOR_11 = {"Authorization": f"Bearer {token(['operator'], ['11'])}"}
OPERATOR_44 = {"Authorization": f"Bearer {token(['operator'], ['44'])}"}


def elements(region: str, name: str = "户口迁移审批", police_type: str = "02") -> dict[str, Any]:
    return {"name": name, "short_name": name, "item_type": "01", "police_type": police_type,
            "service_category": "03", "region_code": region}


def drafted(item_id: str, region: str, **kw: Any) -> CloudEvent:
    return CloudEvent(id=str(uuid.uuid4()), type=contracts.REGISTRY_ITEM_DRAFTED, source="/shixiang/registry",
                      subject=item_id, time=datetime.now(UTC), sequence=1, actor="entry-x",
                      data={"item_id": item_id, "revision": 1, "region_code": region,
                            "elements": elements(region, **kw), "author": "entry-x", "complete": True,
                            "missing": []})


def approved(item_id: str, version: int = 3) -> CloudEvent:
    return CloudEvent(id=str(uuid.uuid4()), type=contracts.LIFECYCLE_APPROVED, source="/shixiang/lifecycle",
                      subject=item_id, time=datetime.now(UTC), sequence=version, actor="reviewer-x",
                      data={"revision": 1, "at": datetime.now(UTC).isoformat()})


def assigned(item_id: str, region: str) -> CloudEvent:
    code = f"01{region}0203HKQYSP000000"
    return CloudEvent(id=str(uuid.uuid4()), type=contracts.CODING_CODE_ASSIGNED, source="/shixiang/coding",
                      subject=item_id, time=datetime.now(UTC), sequence=1, actor="lifecycle",
                      data={"item_id": item_id, "code": code, "base_code": code, "parts": {},
                            "pinyin_letters": "HKQYSP", "overrides_version": "1",
                            "elements": {"item_type": "01", "region_code": region, "police_type": "02",
                                         "service_category": "03", "short_name": "户口迁移审批"}})


def acknowledged(item_id: str) -> CloudEvent:
    return CloudEvent(id=str(uuid.uuid4()), type=contracts.SYNC_NATIONAL_ACKNOWLEDGED, source="/shixiang/sync",
                      subject=item_id, time=datetime.now(UTC), sequence=1, actor="national",
                      data={"item_id": item_id, "item_version": 3, "code": None, "feed_sequence": 1})


SERVICE_OF = {"/shixiang/registry": "registry", "/shixiang/lifecycle": "lifecycle", "/shixiang/coding": "coding",
              "/shixiang/sync": "sync"}


@dataclass
class Console:
    app: Any
    http: httpx.AsyncClient
    server: Any
    serving: asyncio.Task[None]

    async def deliver(self, *events: CloudEvent) -> None:
        """Each event through the ops consumer (the path of a Kafka message, without Kafka)."""
        runtime = self.app.state.runtime
        runner = runtime.consumer_runners()[f"{runtime.settings.topic_prefix}.sync.ops"]
        for event in events:
            assert await runner.deliver(event) == "processed"

    async def page(self, headers: dict[str, str] = OPERATOR, expect: int = 200, **params: Any) -> Any:
        response = await self.http.get("/sync/v1/console/events", params=params, headers=headers)
        assert response.status_code == expect, response.text
        return response.json()


@contextlib.asynccontextmanager
async def serving(settings: SyncSettings) -> AsyncIterator[Console]:
    """The gateway under a real uvicorn (a stream is a long-lived response, as in production)."""
    app = create_app(settings)
    port = free_port()
    server = _server(app, uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: asyncio.sleep(0, result=server.started), 30, "server started")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield Console(app, http, server, task)
    finally:
        server.should_exit = True
        for callback in app.state.on_exit:
            callback()
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def console(postgres: EmbeddedPostgres, topic_prefix: str) -> AsyncIterator[Console]:
    url = postgres.url(f"ops_{uuid.uuid4().hex[:12]}")
    await ensure_database(url)
    async with serving(SyncSettings(database_url=url, topic_prefix=topic_prefix, roles="api",
                                    stream_keepalive_s=1.0)) as c:
        yield c


class Stream:
    """An open SSE stream: its messages, read in the background."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.ids: list[int] = []
        self.keepalives = 0
        self.status = 0
        self.body = ""
        self.changed = asyncio.Event()

    async def wait_for(self, condition: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 30) -> None:
        async def met() -> bool:
            return condition(self.events)
        await wait_until(met, timeout_s, "stream condition")


@contextlib.asynccontextmanager
async def open_stream(http: httpx.AsyncClient, headers: dict[str, str] = OPERATOR,
                      **params: Any) -> AsyncIterator[Stream]:
    stream = Stream()
    opened = asyncio.Event()

    async def read() -> None:
        async with http.stream("GET", "/sync/v1/stream", params=params, headers=headers) as response:
            stream.status = response.status_code
            if response.status_code != 200:
                stream.body = (await response.aread()).decode()
                opened.set()
                return
            opened.set()
            message: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line.startswith(": keepalive"):
                    stream.keepalives += 1
                elif line == "":
                    if message.get("event") == "events":
                        stream.ids.append(int(message["id"]))
                        stream.events += json.loads(message["data"])
                    message = {}
                elif not line.startswith(":"):
                    field, _, value = line.partition(": ")
                    message[field] = value

    task = asyncio.create_task(read())
    await asyncio.wait_for(opened.wait(), 30)
    try:
        yield stream
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def of(events: list[dict[str, Any]], item_id: str) -> list[str]:
    return [e["type"] for e in events if e["item_id"] == item_id]


# ---- the log -------------------------------------------------------------------------------------------------------
async def test_every_event_of_each_service_reaches_the_log_exactly_once_even_when_the_broker_redelivers_it(
        postgres: EmbeddedPostgres, broker: EmbeddedBroker, topic_prefix: str) -> None:
    url = postgres.url(f"ops_{uuid.uuid4().hex[:12]}")
    await ensure_database(url)
    settings = SyncSettings(database_url=url, topic_prefix=topic_prefix, roles="api,consume",
                            kafka_bootstrap_servers=broker.bootstrap_servers, kafka_session_timeout_ms=2000)
    item = f"item-{uuid.uuid4().hex[:8]}"
    events = [drafted(item, "440115"), approved(item), assigned(item, "440115"), acknowledged(item)]
    async with serving(settings) as console:
        for event in events + events:  # each message twice: a redelivery
            await send(broker.bootstrap_servers, settings.topic(SERVICE_OF[event.source]), event)

        async def logged() -> int:
            async with console.app.state.runtime.engine.connect() as conn:
                return int((await conn.execute(select(func.count()).select_from(operations_log_table))).scalar_one())
        await wait_until(lambda: _at_least(logged, 4), 90, "four events logged")
        await asyncio.sleep(1)  # the redelivered copies had their chance too
        assert await logged() == 4
        page = await console.page(item_id=item, order="asc")
        assert sorted(e["id"] for e in page["events"]) == sorted(e.id for e in events)
        assert {e["service"] for e in page["events"]} == {"registry", "lifecycle", "coding", "sync"}
        by_type = {e["type"]: e for e in page["events"]}
        shown = by_type[contracts.LIFECYCLE_APPROVED]
        assert (shown["label"], shown["service_label"], shown["actor"]) == ("审核通过", "生命周期", "reviewer-x")
        assert (shown["item_name"], shown["item_code"], shown["region_code"], shown["region_name"]) == (
            "户口迁移审批", "014401150203HKQYSP000000", "440115", "南沙区")


async def _at_least(count: Callable[[], Any], n: int) -> bool:
    return bool(await count() >= n)


async def test_a_redelivered_event_is_logged_once(console: Console) -> None:
    """The log is an observer: it does not track events in processed_events, its unique event id keeps a
    redelivery out."""
    item = f"item-{uuid.uuid4().hex[:8]}"
    event = drafted(item, "440115")
    await console.deliver(event)
    runtime = console.app.state.runtime
    runner = runtime.consumer_runners()[f"{runtime.settings.topic_prefix}.sync.ops"]
    assert await runner.deliver(event) == "processed"  # applied again: the log ignores it
    assert [e["id"] for e in (await console.page(item_id=item))["events"]] == [event.id]


# ---- the stream ----------------------------------------------------------------------------------------------------
async def test_the_stream_delivers_an_event_appended_after_it_opened_and_not_the_ones_before(
        console: Console) -> None:
    before, after = f"before-{uuid.uuid4().hex[:8]}", f"after-{uuid.uuid4().hex[:8]}"
    await console.deliver(drafted(before, "440115"))
    async with open_stream(console.http) as stream:
        assert stream.status == 200
        await console.deliver(drafted(after, "440115"))
        await stream.wait_for(lambda events: bool(of(events, after)))
        assert of(stream.events, before) == []
        [event] = stream.events
        assert (event["label"], event["service"], event["item_name"], event["region_name"]) == (
            "录入", "registry", "户口迁移审批", "南沙区")
        assert stream.ids == [event["position"]]
        await stream.wait_for(lambda _: stream.keepalives > 0)


async def test_the_stream_resumes_after_last_event_id_without_gaps_or_repeats(console: Console) -> None:
    items = [f"item-{i}-{uuid.uuid4().hex[:6]}" for i in range(6)]
    await console.deliver(*(drafted(i, "440115") for i in items[:3]))
    async with open_stream(console.http, after=0) as first:
        await first.wait_for(lambda events: len(events) == 3)
        last_id = first.ids[-1]
    await console.deliver(*(drafted(i, "440115") for i in items[3:]))
    async with open_stream(console.http, headers={**OPERATOR, "Last-Event-ID": str(last_id)}) as resumed:
        await resumed.wait_for(lambda events: len(events) >= 3)
        await console.deliver(drafted(items[0], "440115"))  # a new event of an old item: after the others
        await resumed.wait_for(lambda events: len(events) >= 4)
    seen = [e["item_id"] for e in first.events + resumed.events]
    assert seen == [*items, items[0]]
    positions = [e["position"] for e in first.events + resumed.events]
    assert positions == sorted(set(positions))


async def test_the_stream_and_the_pages_filter_by_service_type_police_type_and_code_or_name(
        console: Console) -> None:
    a, b = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    await console.deliver(drafted(a, "440115", name="居民身份证申领"), approved(a), assigned(a, "440115"),
                          drafted(b, "440115", name="机动车登记", police_type="05"), approved(b))
    assert of((await console.page(service="lifecycle"))["events"], a) == [contracts.LIFECYCLE_APPROVED]
    assert of((await console.page(type="registry.*,coding.code.assigned.v1", order="asc"))["events"], a) == [
        contracts.REGISTRY_ITEM_DRAFTED, contracts.CODING_CODE_ASSIGNED]
    assert {e["item_id"] for e in (await console.page(police_type="05"))["events"]} == {b}
    assert {e["item_id"] for e in (await console.page(q="身份证"))["events"]} == {a}
    by_code = {e["item_id"] for e in (await console.page(q="0144011502"))["events"]}  # a's code; b has none yet
    assert a in by_code and b not in by_code
    async with open_stream(console.http, after=0, service="lifecycle", q="机动车") as stream:
        await stream.wait_for(bool)
        await console.deliver(approved(a, 4), approved(b, 4))
        await stream.wait_for(lambda events: len(events) >= 2)
    assert [(e["item_id"], e["item_version"]) for e in stream.events] == [(b, 3), (b, 4)]
    invalid = await console.page(expect=422, service="kafka")
    assert invalid["code"]


async def test_pages_go_back_and_forth_with_next(console: Console) -> None:
    item = f"item-{uuid.uuid4().hex[:8]}"
    await console.deliver(drafted(item, "440115"), *(approved(item, v) for v in range(2, 7)))
    first = await console.page(item_id=item, limit=4)
    second = await console.page(item_id=item, limit=4, before=first["next"])
    assert [e["item_version"] for e in first["events"] + second["events"]] == [6, 5, 4, 3, 2, 1]
    assert second["next"] is None
    asc = await console.page(item_id=item, limit=3, order="asc")
    rest = await console.page(item_id=item, limit=3, order="asc", after=asc["next"])
    assert [e["item_version"] for e in asc["events"] + rest["events"]] == [1, 2, 3, 4, 5, 6]


# ---- regions and roles ---------------------------------------------------------------------------------------------
async def test_an_operator_of_region_11_never_sees_an_event_of_a_guangdong_item(console: Console) -> None:
    gd, bj, unknown = (f"{p}-{uuid.uuid4().hex[:8]}" for p in ("gd", "bj", "unknown"))
    # The lifecycle's event of the Guangdong item arrives before the registry's that tells its region.
    await console.deliver(approved(gd), approved(unknown))
    async with open_stream(console.http, OPERATOR_11, after=0) as beijing, \
            open_stream(console.http, OPERATOR_44, after=0) as guangdong, \
            open_stream(console.http, OPERATOR, after=0) as nationwide:
        await nationwide.wait_for(lambda events: bool(of(events, unknown)))
        await console.deliver(drafted(gd, "440115"), drafted(bj, "110101"), approved(bj))
        await beijing.wait_for(lambda events: len(of(events, bj)) == 2)
        await guangdong.wait_for(lambda events: bool(of(events, gd)))
        await nationwide.wait_for(lambda events: len(of(events, bj)) == 2)
    assert all(e["region_code"] and e["region_code"].startswith("11") for e in beijing.events)
    assert of(guangdong.events, unknown) == [] and of(guangdong.events, bj) == []
    # In the pages, the earlier event of the Guangdong item shows to 44 now that its region is known; never to 11.
    assert of((await console.page(OPERATOR_44, item_id=gd, order="asc"))["events"], gd) == [
        contracts.LIFECYCLE_APPROVED, contracts.REGISTRY_ITEM_DRAFTED]
    assert (await console.page(OPERATOR_11, item_id=gd))["events"] == []
    assert (await console.page(OPERATOR_44, item_id=unknown))["events"] == []
    assert of((await console.page(OPERATOR, item_id=unknown))["events"], unknown) == [contracts.LIFECYCLE_APPROVED]
    activity = (await console.http.get("/sync/v1/console/activity", params={"minutes": 5},
                                       headers=OPERATOR_11)).json()
    assert len(activity["minutes"]) == 5 and sum(activity["series"]["registry"]) == 1
    assert sum(activity["series"]["lifecycle"]) == 1 and sum(activity["series"]["coding"]) == 0
    refused = await console.page(OPERATOR_11, expect=403, region="44")
    assert refused["code"] == "REGION_FORBIDDEN"
    assert (await console.page(OPERATOR, region="4401", item_id=gd))["events"]


@pytest.mark.parametrize("roles", [["national"], ["entry"]])
async def test_callers_without_a_console_role_are_refused(console: Console, roles: list[str]) -> None:
    headers = {"Authorization": f"Bearer {token(roles, [ALL_REGIONS])}"}
    for path in ("/sync/v1/console/events", "/sync/v1/console/activity"):
        response = await console.http.get(path, headers=headers)
        assert (response.status_code, response.json()["code"]) == (403, "CONSOLE_ROLE_REQUIRED")
    async with open_stream(console.http, headers) as stream:
        assert (stream.status, json.loads(stream.body)["code"]) == (403, "CONSOLE_ROLE_REQUIRED")


async def test_the_server_stops_with_a_stream_open(postgres: EmbeddedPostgres, topic_prefix: str) -> None:
    url = postgres.url(f"ops_{uuid.uuid4().hex[:12]}")
    await ensure_database(url)
    settings = SyncSettings(database_url=url, topic_prefix=topic_prefix, roles="api")
    async with serving(settings) as console, open_stream(console.http) as stream:
        assert stream.status == 200
        console.server.handle_exit(signal.SIGTERM, None)  # what the signal does (shixiang.cli._server) …
        console.server._captured_signals.clear()  # … but uvicorn must not raise it again in the test process
        await asyncio.wait_for(asyncio.shield(console.serving), 30)
        assert console.serving.done() and not console.server.force_exit
