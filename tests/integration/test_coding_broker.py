"""The coding service through the real broker: lifecycle events in on the lifecycle topic, the coding consumer
allocates, re-codes and retires, the relay publishes the coding events (CloudEvents, key = item id), and a message
that can never be coded goes to the dead-letter topic while the consumer carries on."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

import httpx
from fastapi import FastAPI

from shared.infra import EmbeddedBroker
from tests.integration.conftest import read_topic, send, wait_until
from tests.integration.test_coding_support import HUKOU_CODE, cancellation, entered, new_item_id, registration, token

from coding.bootstrap import create_app
from coding.config import CodingSettings

READER = {"Authorization": f"Bearer {token('publisher', regions=('44',))}"}


async def test_lifecycle_events_through_the_broker_allocate_recode_and_retire(
    database_url: str, broker: EmbeddedBroker, topic_prefix: str
) -> None:
    settings = CodingSettings(database_url=database_url, kafka_bootstrap_servers=broker.bootstrap_servers,
                              topic_prefix=topic_prefix, roles="api,relay,consume", kafka_session_timeout_ms=2000,
                              relay_poll_interval_s=0.1, consumer_retry_backoff_s=0.05)
    lifecycle_topic = settings.topic("lifecycle")
    app: FastAPI = create_app(settings)
    item, poisoned = new_item_id(), new_item_id()
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://coding"
    ) as http:

        async def code_of(item_id: str) -> dict:
            response = await http.get(f"/coding/v1/items/{item_id}/code", headers=READER)
            return response.json() if response.status_code == 200 else {}

        for known in (poisoned, item):
            await send(broker.bootstrap_servers, lifecycle_topic, entered(known))
        await send(broker.bootstrap_servers, lifecycle_topic, registration(poisoned, item_type="77"))
        await send(broker.bootstrap_servers, lifecycle_topic, registration(item))
        await wait_until(lambda: _has(code_of(item), HUKOU_CODE), what="the code allocated")

        await send(broker.bootstrap_servers, lifecycle_topic, registration(item, police_type="01"))
        await send(broker.bootstrap_servers, lifecycle_topic, cancellation(item))
        await wait_until(lambda: _status(code_of(item), "retired"), what="the code retired")

        records = await read_topic(broker.bootstrap_servers, settings.topic("coding"), expect=3)
        dead = await read_topic(broker.bootstrap_servers, settings.topic("coding", "dlt"), expect=1)

    mine = [r for r in records if r.key == item.encode()]
    types = [dict(r.headers)["ce_type"].decode() for r in mine]
    assert types == ["coding.code.assigned.v1", "coding.code.retired.v1", "coding.code.assigned.v1",
                     "coding.code.retired.v1"]
    payloads = [json.loads(r.value) for r in mine]
    assert payloads[0]["code"] == HUKOU_CODE
    assert payloads[1] == {"item_id": item, "code": HUKOU_CODE, "reason": "recoded",
                           "replaced_by": "014401150103HKQYSP000000"}
    assert payloads[2]["replaces"] == HUKOU_CODE
    assert payloads[3]["reason"] == "cancelled"
    assert [r.key for r in dead] == [poisoned.encode()]
    assert b"CodeElementsInvalidError" in dict(dead[0].headers)["dlt_error"]


async def _has(view: Awaitable[dict[str, Any]], code: str) -> bool:
    return (await view).get("code") == code


async def _status(view: Awaitable[dict[str, Any]], status: str) -> bool:
    return (await view).get("status") == status
