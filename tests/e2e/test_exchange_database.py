"""The exchange database (前置库) in the running suite: `make dev`'s cluster has a database shixiang_exchange; the
sync gateway's consume role writes each published change into it and reads the national side's rejections from
it, which the lifecycle records on the item (over HTTP, Kafka between the four processes)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import make_engine
from shixiang.client import SuiteClient
from shixiang.suite import Suite
from tests.e2e.conftest import HUKOU, feed_entries_for

from sync_gateway.adapters.exchange_db import UP_TABLES, dn_audit_abnormal_table

pytestmark = pytest.mark.e2e


@pytest.fixture
async def exchange_db(suite: Suite) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(suite.exchange_url, pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()


async def eventually(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], timeout_s: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await read()
        if done(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


async def test_a_published_item_reaches_the_exchange_database_and_a_rejection_there_lists_it(
        client: SuiteClient, exchange_db: AsyncEngine) -> None:
    tag = uuid.uuid4().hex[:4].upper()
    item_id = (await client.create_item({**HUKOU, "name": f"户口迁移审批{tag}", "short_name": f"户口迁移{tag}"}))[
        "item_id"]
    await client.drive_to_online(item_id)
    [entry] = await feed_entries_for(client, item_id, want=1)

    general = UP_TABLES["up_task_general"]

    async def rows() -> list[dict[str, Any]]:
        async with exchange_db.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(
                select(general).where(general.c.task_guid == item_id))]

    [row] = await eventually(rows, bool)
    assert (row["cd_operation"], row["task_version"], row["task_state"], row["task_code"], row["name"]) == (
        "I", entry["itemversion"], "online", entry["data"]["code"], f"户口迁移审批{tag}")

    async with exchange_db.begin() as conn:
        await conn.execute(dn_audit_abnormal_table.insert().values(
            cd_batch=row["cd_batch"], row_guid=row["row_guid"], task_guid=item_id, task_version=row["task_version"],
            error_type="E201", error_message="实施机关与国家库不一致"))

    async def rejected() -> list[str]:
        listed = await client.list_items(national="rejected", limit=1000)
        return [r["item_id"] for r in listed["items"]]

    assert item_id in await eventually(rejected, lambda ids: item_id in ids)
    state = await client.item_state(item_id)
    assert (state["national_sync"]["last"]["result"], state["national_sync"]["last"]["reason"]) == (
        "rejected", "[E201] 实施机关与国家库不一致")
