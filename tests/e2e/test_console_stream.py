"""The console's live events in the running suite: an item created through the registry's API appears in the sync
gateway's stream (through the relays, the broker and the operations-log consumers), for an operator of its region
and never for one of another; and the gateway stops with a stream open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shixiang.client import SuiteClient
from shixiang.suite import Suite
from tests.e2e.conftest import HUKOU

pytestmark = pytest.mark.e2e


@contextlib.asynccontextmanager
async def stream(suite: Suite, token: str) -> AsyncIterator[list[dict[str, Any]]]:
    """The events an open stream has delivered so far (read in the background)."""
    events: list[dict[str, Any]] = []
    opened = asyncio.Event()

    async def read() -> None:
        async with httpx.AsyncClient(timeout=60) as http, http.stream(
                "GET", f"{suite.url('sync')}/sync/v1/stream",
                headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status_code == 200, await response.aread()
            opened.set()
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    events.extend(json.loads(line.removeprefix("data: ")))

    task = asyncio.create_task(read())
    waiting = asyncio.ensure_future(opened.wait())
    await asyncio.wait([task, waiting], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # the stream was refused: say why
    try:
        yield events
    finally:
        waiting.cancel()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_an_item_created_through_the_registry_appears_in_the_live_stream_of_its_regions_operators(
        suite: Suite, client: SuiteClient) -> None:
    beijing = suite.mint("operator-bj", ["operator"], ["11"])
    async with stream(suite, suite.token("operator")) as nationwide, stream(suite, beijing) as bj:
        item_id = (await client.create_item(HUKOU))["item_id"]
        deadline = asyncio.get_running_loop().time() + 60
        while not {"registry.item.drafted.v2", "lifecycle.item.entered.v1"} <= {
                e["type"] for e in nationwide if e["item_id"] == item_id}:
            assert asyncio.get_running_loop().time() < deadline, f"not in the stream: {nationwide[-5:]}"
            await asyncio.sleep(0.1)
    drafted = next(e for e in nationwide if e["item_id"] == item_id and e["service"] == "registry")
    assert (drafted["label"], drafted["item_name"], drafted["region_code"], drafted["actor"]) == (
        "录入", HUKOU["name"], HUKOU["region_code"], "entry-gz")
    assert not [e for e in bj if e["item_id"] == item_id]
    assert all((e["region_code"] or "").startswith("11") for e in bj)


async def test_the_sync_gateway_stops_with_a_stream_open(suite: Suite) -> None:
    async with stream(suite, suite.token("operator")):
        process = suite.processes["sync"]
        suite.stop_service("sync")  # SIGTERM, and SIGKILL only if it has not ended after 15 s
    assert process.returncode != -signal.SIGKILL, "the gateway had to be killed: the open stream held it"
    suite.start_service("sync")
    suite.wait_ready(["sync"])
