"""``shixiang rebuild`` for the registry, coding and the sync gateway on real PostgreSQL: state built through the
real use cases and consumers, the read models lost or corrupted, rebuilt from each service's log — row for row what
live processing wrote, and the same again when rebuilt twice. What a service's log cannot give back (the phases the
registry followed, coding's known items and lineage, the feed itself) is left exactly as it was."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import column, select, text
from sqlalchemy import table as table_
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import contracts
from shared.auth import ALL_REGIONS, Principal
from shared.db import ensure_database
from shared.infra import EmbeddedPostgres
from tests.integration.test_coding_support import cancellation, deliver, lineage, new_item_id, registration
from tests.integration.test_registry_helpers import FULL, MINIMAL, RegistryClient
from tests.integration.test_registry_imports import csv_bytes, listed, row_for
from tests.integration.test_sync_national_feedback import Gateway

from coding.adapters.rebuild import LogPredatesRebuildError
from coding.adapters.rebuild import rebuild_read_models as rebuild_coding
from coding.bootstrap import Coding
from registry.adapters.rebuild import rebuild_read_models as rebuild_registry
from sync_gateway.adapters.rebuild import rebuild_read_models as rebuild_sync
from sync_gateway.bootstrap import create_app as create_sync_app
from sync_gateway.config import SyncSettings

PUBLISHED = contracts.LIFECYCLE_PUBLISHED


async def rows(engine: AsyncEngine, table: str, order: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        query = select(text("*")).select_from(table_(table)).order_by(*[column(c) for c in order.split(", ")])
        return [dict(r._mapping) for r in await conn.execute(query)]


async def snapshot(engine: AsyncEngine, tables: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return {table: await rows(engine, table, order) for table, order in tables.items()}


async def execute(engine: AsyncEngine, *statements: str) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


# ================================================================================================ registry
REGISTRY_MODELS = {"registry_items": "item_id"}
REGISTRY_KEPT = {"registry_item_phases": "item_id"}


async def registry_state(api: RegistryClient) -> None:
    """Items drafted and revised one at a time, imported from a list (and imported again, changed), composites that
    refer to other items, a published item with a pending revision, a cancelled one."""
    first = await api.create(FULL, headers={"Idempotency-Key": "k-1"})
    assert (await api.revise(first["item_id"], {**FULL, "implementing_agency": "广州市公安局"}, 1)).status_code == 200
    second = await api.create({**MINIMAL, "name": "出入境证件换发", "short_name": "出入境证件换发"}, user="entry-gd")
    names = ["出生登记", "分户登记", "曾用名登记", "养犬登记"]
    listing = [row_for(f"R-{i}", {**FULL, "name": n, "short_name": n}) for i, n in enumerate(names)]
    await api.import_file(csv_bytes(listing, "utf-8"))
    ids = {i["source_ref"]: i["item_id"] for i in await listed(api) if i["source_ref"]}
    await api.lifecycle(ids["R-1"], PUBLISHED, 8, phase="online", revision=1)
    await api.lifecycle(ids["R-2"], contracts.LIFECYCLE_CANCELLED, 3, phase="cancelled")
    changed = [row_for(f"R-{i}", {**FULL, "name": n, "short_name": n, "implementing_agency": "广州市公安局"})
               for i, n in enumerate(names[:2])] + listing[2:]
    await api.import_file(csv_bytes(changed, "utf-8"))
    combo = {**MINIMAL, "name": "出生一件事", "short_name": "出生一件事", "composition": "组合事项",
             "member_item_ids": [ids["R-0"], ids["R-3"]]}
    await api.create(combo)
    await api.lifecycle(second["item_id"], contracts.LIFECYCLE_APPROVED, 3)


async def test_the_registry_rebuilds_its_items_from_the_item_streams_row_for_row(api: RegistryClient) -> None:
    await registry_state(api)
    before = await snapshot(api.engine, REGISTRY_MODELS)
    kept = await snapshot(api.engine, REGISTRY_KEPT)
    assert len(before["registry_items"]) == 7 and len(kept["registry_item_phases"]) == 3

    await execute(api.engine,  # lost and corrupted rows
                  "DELETE FROM registry_items WHERE source_ref = 'R-0'",
                  "UPDATE registry_items SET name = '篡改', search_text = ' 篡改 ', revision = 99, author = 'x'")
    report = await rebuild_registry(api.engine)
    assert await snapshot(api.engine, REGISTRY_MODELS) == before
    assert await snapshot(api.engine, REGISTRY_KEPT) == kept  # not the registry's log: kept as it was
    assert (report.events, dict(report.rows)) == (await api.event_count(), {"registry_items": 7})
    assert "registry_item_phases" in report.kept
    summary = report.summary()
    assert summary.startswith(f"registry read models rebuilt from {report.events} events: registry_items 7 in ")
    assert "events/s" in summary

    again = await rebuild_registry(api.engine)  # idempotent
    assert await snapshot(api.engine, REGISTRY_MODELS) == before and dict(again.rows) == dict(report.rows)
    # and what the service reads from them is what it read before
    listed_items = (await api.call("GET", "/items", params={"q": "登记"})).json()
    assert {i["name"] for i in listed_items["items"]} == {"出生登记", "分户登记", "曾用名登记", "养犬登记"}


async def test_a_failed_registry_rebuild_changes_nothing(api: RegistryClient) -> None:
    await registry_state(api)
    before = await snapshot(api.engine, REGISTRY_MODELS)
    # an event whose data the read model cannot take (no elements): the rebuild fails and rolls back
    await execute(api.engine, "UPDATE events SET data = data - 'elements' WHERE position = "
                              "(SELECT max(position) FROM events)")
    with pytest.raises(KeyError, match="elements"):
        await rebuild_registry(api.engine)
    assert await snapshot(api.engine, REGISTRY_MODELS) == before


# ================================================================================================ coding
CODING_MODELS = {"item_codes": "code", "item_services": "item_id, sequence"}
CODING_KEPT = {"coding_known_items": "item_id", "item_lineage": "predecessor, successor"}


async def coding_state(coding: Coding) -> list[str]:
    """Codes allocated (one colliding), re-coded with services following, services allocated and withdrawn, a
    cancellation and a split, all through the consumer and the API."""
    items = [new_item_id() for _ in range(6)]
    for item_id in items[:5]:
        await deliver(coding, registration(item_id))  # same elements: the base code, then collisions 01…04
    await deliver(coding, registration(items[1], short_name="户口迁入审批"))  # re-coded
    publisher = Principal("publisher", frozenset({"publisher"}), (ALL_REGIONS,))
    for item_id, name in [(items[1], "线上办理"), (items[1], "窗口办理"), (items[2], "线上办理")]:
        await coding.item_services.allocate(item_id, name, publisher, correlation_id="c")
    await coding.item_services.withdraw(items[2], 1, "不再提供", publisher, correlation_id="c")
    await deliver(coding, registration(items[1], short_name="户口迁出审批"))  # re-coded again: services move
    await deliver(coding, cancellation(items[3]))
    await deliver(coding, lineage(items[4], "split", [items[4]], [items[5]]))  # the predecessor's code retired
    await deliver(coding, registration(items[5]))  # collision 05: retired codes are never reused
    return items


async def test_coding_rebuilds_codes_and_services_from_its_log_row_for_row(coding: Coding) -> None:
    items = await coding_state(coding)
    engine = coding.runtime.engine
    before = await snapshot(engine, CODING_MODELS)
    kept = await snapshot(engine, CODING_KEPT)
    statuses = sorted(r["status"] for r in before["item_codes"])
    assert statuses == ["active"] * 4 + ["retired"] * 4, before["item_codes"]
    assert sorted(r["status"] for r in before["item_services"]) == ["active", "active", "withdrawn"]
    assert len(kept["item_lineage"]) == 1

    await execute(engine, "DELETE FROM item_services WHERE sequence = 2",
                  "UPDATE item_codes SET status = 'retired', elements = '{}', replaced_by = NULL",
                  "UPDATE item_services SET service_code = service_code || 'X'")
    report = await rebuild_coding(engine)
    assert await snapshot(engine, CODING_MODELS) == before
    assert await snapshot(engine, CODING_KEPT) == kept
    async with engine.connect() as conn:
        events = int(await conn.scalar(text("SELECT count(*) FROM events")))
    assert (report.events, dict(report.rows)) == (events, {"item_codes": 8, "item_services": 3})
    assert set(report.kept) == {"coding_known_items", "item_lineage"}
    assert "coding read models rebuilt from" in report.summary() and "events/s" in report.summary()

    await rebuild_coding(engine)
    assert await snapshot(engine, CODING_MODELS) == before
    # allocation after a rebuild goes on as before it: a repeated request keeps its code (compared with the coded
    # elements the rows got back from the events), a new item takes the next collision sequence
    await deliver(coding, registration(items[0]))
    newcomer = new_item_id()
    await deliver(coding, registration(newcomer))
    after = {r["code"]: r for r in await rows(engine, "item_codes", "code")}
    assert set(after) - {r["code"] for r in before["item_codes"]} == {"014401150203HKQYSP000006"}
    assert after["014401150203HKQYSP000000"] == next(r for r in before["item_codes"] if r["item_id"] == items[0])


async def test_a_coding_log_whose_codes_lack_their_coded_elements_is_refused_and_nothing_changes(
        coding: Coding) -> None:
    await deliver(coding, registration(new_item_id()))
    engine = coding.runtime.engine
    before = await snapshot(engine, CODING_MODELS)
    # as written before the events carried the coded elements: the rows cannot be rebuilt from them
    await execute(engine, "UPDATE events SET data = data - 'elements' WHERE type = 'coding.code.assigned.v1'")
    with pytest.raises(LogPredatesRebuildError, match="shixiang dev --fresh"):
        await rebuild_coding(engine)
    assert await snapshot(engine, CODING_MODELS) == before


# ================================================================================================ sync gateway
SYNC_MODELS = {"catalog": "item_id", "national_feedback": "item_id, item_version"}
SYNC_KEPT = {"feed_entries": "position"}


@pytest.fixture
async def gateway(postgres: EmbeddedPostgres, topic_prefix: str) -> AsyncIterator[Gateway]:
    """The sync gateway app in-process (api role) on a fresh database, as in test_sync_national_feedback."""
    url = postgres.url(f"sync_{uuid.uuid4().hex[:12]}")
    await ensure_database(url)
    app = create_sync_app(SyncSettings(database_url=url, topic_prefix=topic_prefix, roles="api"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sync") as http,
    ):
        yield Gateway(app, http)


async def sync_state(gateway: Gateway) -> list[str]:
    items = [str(uuid.uuid4()) for _ in range(3)]
    await gateway.fed(items[0], 5)
    await gateway.fed(items[0], 9, code="014401150203HKQYSP000001")
    await gateway.fed(items[1], 4)
    await gateway.fed(items[2], 6)
    await gateway.feedback(item_id=items[0], item_version=5, result="acknowledged", note="收到")
    await gateway.feedback(item_id=items[0], item_version=9, result="rejected", reason="要素不全")
    await gateway.feedback(item_id=items[0], item_version=9, result="acknowledged", reason="忽略", note="已补")
    await gateway.feedback(item_id=items[1], item_version=4, result="rejected", reason="编码有误")
    return items


async def test_the_sync_gateway_rebuilds_its_catalogue_and_feedback_and_never_touches_the_feed(
        gateway: Gateway) -> None:
    await sync_state(gateway)
    engine = gateway.app.state.runtime.engine
    before = await snapshot(engine, SYNC_MODELS)
    feed = await snapshot(engine, SYNC_KEPT)
    assert len(before["catalog"]) == 3 and len(feed["feed_entries"]) == 4
    assert [(r["result"], r["reason"]) for r in before["national_feedback"]
            if r["item_version"] == 9] == [("acknowledged", None)]  # an acknowledgement records no reason

    await execute(engine, "DELETE FROM catalog WHERE item_version = 9",
                  "UPDATE catalog SET phase = 'offline', entry = '{}'", "DELETE FROM national_feedback")
    report = await rebuild_sync(engine)
    assert await snapshot(engine, SYNC_MODELS) == before
    assert await snapshot(engine, SYNC_KEPT) == feed  # positions are the national cursor: never renumbered
    assert dict(report.rows) == {"catalog": 3, "national_feedback": 3} and "feed_entries" in report.kept
    assert "feed entries and events/s" in report.summary()

    await rebuild_sync(engine)
    assert await snapshot(engine, SYNC_MODELS) == before


# ================================================================================================ the command
async def test_shixiang_rebuild_rebuilds_a_named_service_on_the_given_database(api: RegistryClient,
                                                                               database_url: str) -> None:
    await api.create(FULL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIXIANG_")}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "shixiang.cli", "rebuild", "registry", "--database-url",
                         database_url], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "no read models" not in done.stdout
    assert "registry read models rebuilt from 1 events: registry_items 1 in " in done.stdout
    assert "kept registry_item_phases" in done.stdout
