"""Nothing unpublished ever leaves the suite: a marker planted in a draft, in a pending revision, in a rejected
revision and in internal fields (rejection reasons, test notes; and who entered, reviewed and tested) is looked for
in every outward byte of every channel the national platform and the public read — the feed, the snapshot, the
catalogue (JSON, csv, and the xlsx's every part), the public guide (JSON and its page), every row of every table of
the exchange database (前置库) and every webhook delivery to a subscribed receiver.

A channel is one entry of :data:`CHANNELS`: a name and a function from what leaves the suite to the bytes it sends
out. Each channel must also show the published item planted beside the marker, so that a channel that answers
nothing cannot pass."""

from __future__ import annotations

import asyncio
import io
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from shared.db import make_engine
from shixiang.client import SuiteClient
from shixiang.suite import Suite
from tests.e2e.conftest import HUKOU, feed_entries_for
from tests.integration.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.e2e

TAG = "LKQZ"  # ASCII: no escaping (JSON, XML, csv) could hide it
MARKER = f"未发布标记{TAG}"
# Who entered, reviewed and tested (internal fields: the demo users' names) never leaves either.
INTERNAL = (TAG, "entry-gz", "reviewer-gz", "tester-gz")


@dataclass(frozen=True)
class Planted:
    """What the channels are read for: the published items (each channel must show them) and their codes."""

    published: list[str]
    codes: list[str]
    names: list[str]


@dataclass(frozen=True)
class Outward:
    """Where the suite's outward bytes are read: its HTTP API, its exchange database, a subscribed receiver."""

    client: SuiteClient
    exchange_url: str
    receiver: Receiver


Channel = Callable[[Outward, Planted], Awaitable[list[bytes]]]
OVER_HTTP = Callable[[SuiteClient, Planted], Awaitable[list[bytes]]]


def over_http(read: OVER_HTTP) -> Channel:
    async def channel(out: Outward, planted: Planted) -> list[bytes]:
        return await read(out.client, planted)
    return channel


async def until_every_name(read: Callable[[], Awaitable[list[bytes]]], planted: Planted) -> list[bytes]:
    """The channels the suite writes to in the background (exchange rows, webhook deliveries): read until the
    published items are there (30 s at most), then once more is what the scan looks at."""
    for _ in range(300):
        sent = await read()
        if all(any(n.encode() in chunk for chunk in sent) for n in planted.names):
            return sent
        await asyncio.sleep(0.1)
    return await read()


async def exchange_database(out: Outward, planted: Planted) -> list[bytes]:
    """Every row of every table of the exchange database, as JSON text."""
    engine = make_engine(out.exchange_url)

    async def read() -> list[bytes]:
        async with engine.connect() as conn:
            tables = (await conn.execute(text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"))).scalars().all()
            return [row.encode() for table in tables for row in (await conn.execute(text(
                f'SELECT row_to_json(t)::text FROM "{table}" t'))).scalars()]  # noqa: S608 - names from the catalog

    try:
        return await until_every_name(read, planted)
    finally:
        await engine.dispose()


async def webhook_deliveries(out: Outward, planted: Planted) -> list[bytes]:
    async def read() -> list[bytes]:
        return [r.body for r in out.receiver.at("/leaks")]

    return await until_every_name(read, planted)


async def _get(client: SuiteClient, path: str, **params: Any) -> bytes:
    return (await client.call("GET", "sync", path, user="national", params=params)).content


async def feed(client: SuiteClient, planted: Planted) -> list[bytes]:
    pages, cursor = [], 0
    while True:
        response = await client.call("GET", "sync", "/sync/v1/feed", user="national",
                                     params={"after": cursor, "limit": 1000})
        pages.append(response.content)
        if response.content == b"[]":
            return pages
        cursor = int(response.headers["X-Next-Cursor"])


async def snapshot(client: SuiteClient, planted: Planted) -> list[bytes]:
    pages, after = [], None
    while True:
        response = await client.call("GET", "sync", "/sync/v1/snapshot", user="national",
                                     params={"limit": 1000, **({"after_item": after} if after else {})})
        pages.append(response.content)
        after = response.json()["next_item"]
        if after is None:
            return pages


ALL_STATES = {"state": ["online", "offline", "cancelled"]}


async def catalogue(client: SuiteClient, planted: Planted) -> list[bytes]:
    pages, cursor = [], None
    while True:
        response = await client.call("GET", "sync", "/sync/v1/catalog", user="national",
                                     params={"limit": 1000, **ALL_STATES, **({"cursor": cursor} if cursor else {})})
        pages.append(response.content)
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


async def catalogue_csv(client: SuiteClient, planted: Planted) -> list[bytes]:
    return [await _get(client, "/sync/v1/catalog.csv", **ALL_STATES)]


async def catalogue_xlsx(client: SuiteClient, planted: Planted) -> list[bytes]:
    """Every part of the workbook, unzipped (shared strings, sheets, properties)."""
    with zipfile.ZipFile(io.BytesIO(await _get(client, "/sync/v1/catalog.xlsx", **ALL_STATES))) as book:
        return [book.read(name) for name in book.namelist()]


async def public_guide(client: SuiteClient, planted: Planted) -> list[bytes]:
    return [(await client.http.get(f"{client.urls['sync']}/sync/v1/public/items/{code}")).content
            for code in planted.codes]


async def public_guide_page(client: SuiteClient, planted: Planted) -> list[bytes]:
    return [(await client.http.get(f"{client.urls['sync']}/sync/v1/public/items/{code}.html")).content
            for code in planted.codes]


# Every outward channel. Another channel is one more entry.
CHANNELS: list[tuple[str, Channel]] = [
    ("feed", over_http(feed)),
    ("snapshot", over_http(snapshot)),
    ("catalogue", over_http(catalogue)),
    ("catalogue.csv", over_http(catalogue_csv)),
    ("catalogue.xlsx", over_http(catalogue_xlsx)),
    ("public guide", over_http(public_guide)),
    ("public guide page", over_http(public_guide_page)),
    ("exchange database", exchange_database),
    ("webhooks", webhook_deliveries),
]


def unique(name: str) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:4].upper()
    return {**HUKOU, "name": f"{name}{tag}", "short_name": f"{name}{tag}"}


async def plant(client: SuiteClient) -> Planted:
    """The marker in a draft, a pending revision, a rejected revision, a rejection reason, review and test notes;
    beside them, items whose published content every channel shows."""
    await client.create_item(unique(f"草稿{MARKER}"))  # a draft, never submitted
    rejected_draft = (await client.create_item(unique(f"被退回{MARKER}")))["item_id"]
    await client.wait_for_state(rejected_draft, lambda s: s.get("phase") is not None)
    await client.command(rejected_draft, "submit", user="entry-gz")
    await client.command(rejected_draft, "reject", user="reviewer-gz", body={"reason": f"退回原因{MARKER}"})

    pending = (await client.create_item(unique("户口迁移审批")))["item_id"]
    rejected = (await client.create_item(unique("普通护照签发")))["item_id"]
    noted = (await client.create_item(unique("居民身份证办理")))["item_id"]
    for item_id in (pending, rejected):
        await client.drive_to_online(item_id)
    # Internal notes on the way online: the test notes carry the marker.
    await client.wait_for_state(noted, lambda s: s.get("phase") is not None)
    await client.command(noted, "submit", user="entry-gz")
    await client.command(noted, "approve", user="reviewer-gz")
    await client.command(noted, "record-test", user="tester-gz", body={"result": "pass", "notes": f"测试说明{MARKER}"})
    await client.command(noted, "register", user="publisher-gz")
    await client.wait_for_state(noted, lambda s: s.get("code") is not None)
    await client.command(noted, "publish", user="publisher-gz")

    # A pending revision (entered, not reviewed) and a rejected one (submitted, refused with a reason).
    for item_id in (pending, rejected):
        current = await client.registry_item(item_id)
        await client.revise_item(item_id, {**current["elements"], "competent_department": f"主管部门{MARKER}"},
                                 current["revision"])
        await client.wait_for_state(item_id, lambda s: s["step"] == "update_entry")
    await client.command(rejected, "submit", user="entry-gz")
    await client.command(rejected, "reject", user="reviewer-gz", body={"reason": f"审核意见{MARKER}"})

    published = [pending, rejected, noted]
    states = [await client.wait_for_state(i, lambda s: s.get("code") is not None) for i in published]
    for item_id in published:
        await feed_entries_for(client, item_id, want=1)
    names = [(await client.registry_item(i))["elements"]["name"] for i in published]
    for item_id in (rejected, noted, rejected_draft):  # planted: the staff read the notes in the histories
        history = await client.call("GET", "lifecycle", f"/lifecycle/v1/items/{item_id}/events", user="publisher-gz")
        assert TAG in history.text
    return Planted(published, [s["code"] for s in states], names)


async def test_no_outward_byte_of_any_channel_carries_unpublished_content(suite: Suite, client: SuiteClient) -> None:
    async with receiving() as receiver:
        # Subscribed before anything is planted: every feed entry from now on is delivered to it.
        await client.call("POST", "sync", "/sync/v1/subscriptions", user="national", expect=201,
                          json={"url": receiver.url("/leaks"), "description": "leak scan"})
        planted = await plant(client)
        out = Outward(client, suite.exchange_url, receiver)
        sent_by = {name: await channel(out, planted) for name, channel in CHANNELS}
    leaks, empty = [], []
    for name, sent in sent_by.items():
        leaks += [f"{name}: {word}" for word in INTERNAL if any(word.encode() in chunk for chunk in sent)]
        if not all(any(n.encode() in chunk for chunk in sent) for n in planted.names):
            empty.append(name)  # the scan must have read the published items, or it proves nothing
    assert leaks == [], f"unpublished content left through: {leaks}"
    assert empty == [], f"these channels did not show the published items: {empty}"
