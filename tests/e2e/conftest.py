"""The whole suite as separate uvicorn processes on its own embedded PostgreSQL and broker (what `make dev` runs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from shared.infra import free_port
from shixiang.client import SuiteClient
from shixiang.examples import complete_item
from shixiang.services import SERVICES
from shixiang.suite import DEMO_USERS, Suite

# A complete item (every element review needs): the lifecycle refuses to submit an incomplete one.
HUKOU = complete_item()


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    running = Suite(root=tmp_path_factory.mktemp("suite"), ports={name: free_port() for name in SERVICES},
                    broker_port=free_port())
    try:
        running.start()
    except Exception:
        running.stop()
        raise
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def client(suite: Suite) -> AsyncIterator[SuiteClient]:
    c = SuiteClient(urls={name: suite.url(name) for name in suite.ports},
                    tokens={user: suite.token(user) for user in DEMO_USERS})
    try:
        yield c
    finally:
        await c.close()


async def feed_entries_for(client: SuiteClient, item_id: str, *, want: int,
                           timeout_s: float = 20) -> list[dict[str, Any]]:
    """Read the whole feed (with long-poll) until ``want`` entries for the item have appeared."""
    found: list[dict[str, Any]] = []
    cursor = 0
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        batch, cursor = await client.feed(cursor, wait=1.0)
        found += [e for e in batch if e["subject"] == item_id]
        if len(found) >= want:
            return found
    return found
