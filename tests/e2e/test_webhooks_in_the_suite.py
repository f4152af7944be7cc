"""Webhooks in the running suite: a local receiver subscribed through the gateway's API gets the published item,
signed per Standard Webhooks, as the feed has it (the delivery worker runs in the gateway's consuming process)."""

from __future__ import annotations

import asyncio

import pytest

from shixiang.client import SuiteClient
from tests.e2e.conftest import HUKOU, feed_entries_for
from tests.integration.webhook_receiver import receiving, verify

pytestmark = pytest.mark.e2e


async def test_a_local_receiver_gets_the_published_item_signed_and_never_its_draft(client: SuiteClient) -> None:
    async with receiving() as receiver:
        response = await client.call("POST", "sync", "/sync/v1/subscriptions", user="national", expect=201,
                                     json={"url": receiver.url("/national"), "description": "e2e"})
        secret = response.json()["secret"]
        draft = await client.create_item(HUKOU)
        item_id = draft["item_id"]
        await client.wait_for_state(item_id, lambda s: s["phase"] == "forming")
        await client.command(item_id, "submit", user="entry-gz")
        await client.command(item_id, "approve", user="reviewer-gz")
        await client.command(item_id, "record-test", user="tester-gz", body={"result": "pass", "notes": "测试通过"})
        await client.command(item_id, "register", user="publisher-gz")
        await client.wait_for_state(item_id, lambda s: s["code"] is not None)
        await client.command(item_id, "publish", user="publisher-gz")
        [fed] = await feed_entries_for(client, item_id, want=1)
        for _ in range(300):  # the delivery follows the feed entry closely; 30 s at most
            if any(r.entry["subject"] == item_id for r in receiver.at("/national")):
                break
            await asyncio.sleep(0.1)
    [delivery] = [r for r in receiver.at("/national") if r.entry["subject"] == item_id]
    assert delivery.entry == fed and delivery.entry["data"]["elements"] == draft["elements"]
    assert delivery.headers["webhook-id"] == fed["id"] and verify(secret, delivery.headers, delivery.body)
    assert "测试通过" not in delivery.body.decode()
