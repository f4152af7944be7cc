"""The whole suite as separate uvicorn processes on its own embedded PostgreSQL and broker (what `make dev` runs)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.cloudevents import CloudEvent
from shared.infra import free_port
from shared.kafka import make_producer
from shixiang.client import SuiteClient
from shixiang.examples import complete_item
from shixiang.services import SERVICES
from shixiang.suite import DEMO_USERS, Suite

# A complete item (every element review needs): the lifecycle refuses to submit an incomplete one.
HUKOU = complete_item()


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    running = Suite(root=tmp_path_factory.mktemp("suite"), ports={name: free_port() for name in SERVICES},
                    broker_port=free_port(), issuer_port=free_port())
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


async def send_forged_registration(suite: Suite) -> CloudEvent:
    """A well-formed registration request for an item nobody created (Guangzhou's Nansha district), produced straight
    to the lifecycle's topic: the coding service refuses it for good and dead-letters it (a poison message)."""
    assert suite.broker is not None
    forged = CloudEvent(id=str(uuid.uuid4()), type="lifecycle.item.registration_requested.v1",
                        source="/shixiang/lifecycle", subject=str(uuid.uuid4()), time=datetime.now(UTC),
                        data={"revision": 1, "at": datetime.now(UTC).isoformat(),
                              "elements": {"item_type": "01", "region_code": "440115", "police_type": "02",
                                           "service_category": "03", "short_name": "伪造事项"}}, sequence=3)
    key, value, headers = forged.to_kafka()
    producer = make_producer(suite.broker.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(f"{suite.topic_prefix}.lifecycle.events", value=value, key=key, headers=headers)
    finally:
        await producer.stop()
    return forged
