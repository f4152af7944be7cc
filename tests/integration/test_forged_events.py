"""Well-formed events are not taken as fact: each service's real consumers (started as in production, on the real
broker) dead-letter a forged event — wrong source, data that breaks its contract, an item the service has never
heard of — with the reason, while the genuine events beside them go through and nothing else changes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import contracts, dead_letters
from shared.cloudevents import CloudEvent
from shared.db import ensure_database
from shared.eventstore import events_table
from shared.infra import EmbeddedBroker, EmbeddedPostgres
from tests.integration.conftest import read_topic, send, wait_until
from tests.integration.test_registry_helpers import lifecycle_data

CODE = "014401150203HKQYSP000000"
ELEMENTS = {"name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
            "service_category": "03", "region_code": "440115", "composition": "元事项", "tier": "主项"}


def event(event_type: str, subject: str, data: dict[str, Any], *, source: str | None = None,
          sequence: int = 1) -> CloudEvent:
    producer = event_type.split(".")[0]
    return CloudEvent(id=str(uuid.uuid4()), type=event_type, source=source or contracts.source_of(producer),
                      subject=subject, time=datetime.now(UTC), data=data, sequence=sequence, actor="entry-gz")


@asynccontextmanager
async def consuming(service: str, postgres: EmbeddedPostgres, broker: EmbeddedBroker,
                    topic_prefix: str) -> AsyncIterator[FastAPI]:
    """One service with its consumers running, as a consume-role process in production."""
    from shixiang.services import SERVICES

    url = postgres.url(f"{service}_{uuid.uuid4().hex[:10]}")
    await ensure_database(url)
    module = SERVICES[service].bootstrap()
    app = module.create_app(module.SETTINGS(
        database_url=url, kafka_bootstrap_servers=broker.bootstrap_servers, topic_prefix=topic_prefix,
        roles="consume", kafka_session_timeout_ms=2000, consumer_retry_backoff_s=0.05))
    async with app.router.lifespan_context(app):
        yield app


async def dead(app: FastAPI) -> list[dict[str, Any]]:
    return await dead_letters.listing(app.state.runtime.engine, dead_letters.Listing())


async def at_least(app: FastAPI, n: int) -> bool:
    return len(await dead(app)) >= n


async def test_the_feed_refuses_a_published_event_with_empty_data_and_feeds_the_genuine_one(
        postgres: EmbeddedPostgres, broker: EmbeddedBroker, topic_prefix: str) -> None:
    nobody, real = str(uuid.uuid4()), str(uuid.uuid4())
    forged_empty = event(contracts.LIFECYCLE_PUBLISHED, nobody, {})
    forged_unpublish = event(contracts.LIFECYCLE_UNPUBLISHED, nobody,
                             {**lifecycle_data(nobody, contracts.LIFECYCLE_UNPUBLISHED), "elements": ELEMENTS})
    genuine = event(contracts.LIFECYCLE_PUBLISHED, real,
                    {**lifecycle_data(real, contracts.LIFECYCLE_PUBLISHED), "elements": ELEMENTS}, sequence=7)
    async with consuming("sync", postgres, broker, topic_prefix) as sync:
        topic = f"{topic_prefix}.lifecycle.events"
        for e in (forged_empty, forged_unpublish, genuine):
            await send(broker.bootstrap_servers, topic, e)
        await wait_until(lambda: at_least(sync, 2), what="two dead letters")
        await wait_until(lambda: _feed_subjects(sync.state.runtime.engine, 1), what="the genuine entry")
        subjects = await _feed(sync.state.runtime.engine)
        letters = {d["event_id"]: d for d in await dead(sync)}
    assert subjects == [real]
    assert letters[forged_empty.id]["kind"] == "contract" and "code" in letters[forged_empty.id]["reason"]
    assert letters[forged_unpublish.id]["kind"] == "refused" and "从未发布" in letters[forged_unpublish.id]["reason"]
    on_topic = await read_topic(broker.bootstrap_servers, f"{topic_prefix}.sync.dlt", expect=2)
    assert {dict(r.headers)["ce_id"].decode() for r in on_topic} == {forged_empty.id, forged_unpublish.id}


async def test_coding_refuses_a_registration_for_an_item_nobody_created_and_codes_the_real_one(
        postgres: EmbeddedPostgres, broker: EmbeddedBroker, topic_prefix: str) -> None:
    nobody, real = str(uuid.uuid4()), str(uuid.uuid4())
    registration = lifecycle_data("-", contracts.LIFECYCLE_REGISTRATION_REQUESTED)
    forged = event(contracts.LIFECYCLE_REGISTRATION_REQUESTED, nobody, registration)
    async with consuming("coding", postgres, broker, topic_prefix) as coding:
        topic = f"{topic_prefix}.lifecycle.events"
        await send(broker.bootstrap_servers, topic, forged)
        await send(broker.bootstrap_servers, topic, event(contracts.LIFECYCLE_ENTERED, real, {
            **lifecycle_data(real, contracts.LIFECYCLE_ENTERED), "elements": ELEMENTS}))
        await send(broker.bootstrap_servers, topic, event(contracts.LIFECYCLE_REGISTRATION_REQUESTED, real,
                                                          registration, sequence=5))
        await wait_until(lambda: at_least(coding, 1), what="the forged registration's dead letter")
        engine = coding.state.runtime.engine
        await wait_until(lambda: _has_events(engine, real), what="the real item's code")
        [letter] = await dead(coding)
        coded = await _streams(engine)
    assert (letter["event_id"], letter["kind"]) == (forged.id, "refused")
    assert "从未收到事项" in letter["reason"]
    assert coded == [real]  # no code, no event for the item nobody created


async def test_the_lifecycle_refuses_forged_drafts_and_revisions_and_takes_the_genuine_draft(
        postgres: EmbeddedPostgres, broker: EmbeddedBroker, topic_prefix: str) -> None:
    def draft(item_id: str) -> dict[str, Any]:
        return {"item_id": item_id, "revision": 1, "region_code": "440115", "elements": ELEMENTS,
                "author": "entry-gz", "complete": True, "missing": []}

    real = str(uuid.uuid4())
    wrong_source = event(contracts.REGISTRY_ITEM_DRAFTED, (a := str(uuid.uuid4())), draft(a),
                         source="/shixiang/lifecycle")
    empty = event(contracts.REGISTRY_ITEM_DRAFTED, str(uuid.uuid4()), {})
    stray_revision = event(contracts.REGISTRY_ITEM_REVISED, (b := str(uuid.uuid4())), {
        **draft(b), "revision": 2, "changed_fields": ["name"]}, sequence=2)
    mismatched = event(contracts.REGISTRY_ITEM_DRAFTED, str(uuid.uuid4()), draft(str(uuid.uuid4())))
    async with consuming("lifecycle", postgres, broker, topic_prefix) as lifecycle:
        topic = f"{topic_prefix}.registry.events"
        for e in (wrong_source, empty, stray_revision, mismatched,
                  event(contracts.REGISTRY_ITEM_DRAFTED, real, draft(real))):
            await send(broker.bootstrap_servers, topic, e)
        await wait_until(lambda: at_least(lifecycle, 4), what="four dead letters")
        engine = lifecycle.state.runtime.engine
        await wait_until(lambda: _has_events(engine, real), what="the genuine draft")
        letters = {d["event_id"]: d for d in await dead(lifecycle)}
        streams = await _streams(engine)
    assert {i: d["kind"] for i, d in letters.items()} == {
        wrong_source.id: "wrong_source", empty.id: "contract", stray_revision.id: "refused", mismatched.id: "refused"}
    assert streams == [real]


async def _feed(engine: AsyncEngine) -> list[str]:
    from sync_gateway.adapters.tables import feed_entries_table

    async with engine.connect() as conn:
        return list((await conn.execute(select(feed_entries_table.c.item_id))).scalars())


async def _feed_subjects(engine: AsyncEngine, n: int) -> bool:
    return len(await _feed(engine)) >= n


async def _streams(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(events_table.c.stream_id).distinct())).scalars())


async def _has_events(engine: AsyncEngine, stream_id: str) -> bool:
    async with engine.connect() as conn:
        return bool(await conn.scalar(select(func.count()).where(events_table.c.stream_id == stream_id)))
