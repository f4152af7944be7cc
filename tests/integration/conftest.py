"""Helpers for integration tests on the real embedded PostgreSQL and Tansu broker, and the fixtures of the services'
test modules (``api``: the registry in-process; ``coding``: one coding process), found by pytest here."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from fastapi import FastAPI
from sqlalchemy import BigInteger, Column, Identity, Integer, MetaData, Table, Text, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.cloudevents import CloudEvent
from shared.consumer import ConsumerRunner, ConsumerSpec, Handler
from shared.db import create_schema, ensure_database, make_engine
from shared.dead_letters import dead_letter_metadata
from shared.eventstore import events_table, store_metadata
from shared.infra import EmbeddedBroker, EmbeddedPostgres
from shared.kafka import KafkaConfig, make_consumer, make_producer
from shared.relay import Relay
from tests.integration.test_coding_support import start_coding
from tests.integration.test_registry_helpers import RegistryClient, start_client

import coding.bootstrap as coding_bootstrap
import lifecycle.bootstrap as lifecycle_bootstrap
import registry.bootstrap as registry_bootstrap
import sync_gateway.bootstrap as sync_bootstrap
from coding.bootstrap import Coding

TEST_SOURCE = "/shixiang/test"  # the source of every event the tests' relays and producers write
TEST_TYPES = ("test.happened.v1", "test.v1", "t.v1")  # the types test consumers act on


@pytest.fixture
async def store_engine(engine: AsyncEngine) -> AsyncEngine:
    await create_schema(engine, store_metadata)
    return engine


def fast_kafka(bootstrap: str) -> KafkaConfig:
    """Short group sessions keep joins quick in tests (joining takes about half the session timeout)."""
    return KafkaConfig(bootstrap, session_timeout_ms=2000)


def make_relay(engine: AsyncEngine, bootstrap: str, topic: str, **kwargs: Any) -> Relay:
    return Relay(engine=engine, kafka=fast_kafka(bootstrap), topic=topic, source=TEST_SOURCE,
                 poll_interval_s=0.1, **kwargs)


@asynccontextmanager
async def running(run: Callable[[asyncio.Event], Awaitable[None]]) -> AsyncIterator[asyncio.Event]:
    """Run a worker (relay or consumer) in the background for the block; stop it cleanly afterwards."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(stop))
    try:
        yield stop
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 15)
        except TimeoutError:
            task.cancel()


async def read_topic(bootstrap: str, topic: str, *, expect: int, timeout_s: float = 60.0,
                     settle_s: float = 1.0) -> list[ConsumerRecord]:
    """Every record of ``topic`` (fresh consumer group, from the beginning) once ``expect`` have arrived and
    nothing more came for ``settle_s`` — so duplicates beyond ``expect`` would be seen too."""
    consumer = make_consumer(bootstrap, f"reader-{uuid.uuid4().hex[:8]}", topic, session_timeout_ms=2000)
    await consumer.start()
    records: list[ConsumerRecord] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    quiet_since = None
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            got = [r for rs in batch.values() for r in rs]
            records += got
            if got:
                quiet_since = None
            elif len(records) >= expect:
                quiet_since = quiet_since or loop.time()
                if loop.time() - quiet_since >= settle_s:
                    break
    finally:
        await consumer.stop()
    return records


async def produce_raw(bootstrap: str, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def send(bootstrap: str, topic: str, event: CloudEvent) -> None:
    """Produce one event in binary mode, as a relay would."""
    key, value, headers = event.to_kafka()
    await produce_raw(bootstrap, topic, value, key, headers)


received_metadata = MetaData()
received_table = Table(
    "received",  # a downstream effect: one row per application of an event (no unique key on purpose)
    received_metadata,
    Column("serial", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("stream_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
)


async def record_received(conn: AsyncConnection, events: list[CloudEvent]) -> None:
    """A test consumer's effect: one row per event applied."""
    await conn.execute(received_table.insert(), [
        {"event_id": e.id, "stream_id": e.subject, "version": e.sequence} for e in events])


@pytest.fixture
async def downstream_engine(postgres: EmbeddedPostgres) -> AsyncIterator[AsyncEngine]:
    """A second database: the consuming service's own store (processed_events + its effect table)."""
    url = postgres.url(f"d_{uuid.uuid4().hex[:12]}")
    await ensure_database(url)
    eng = make_engine(url, pool_size=10)
    await create_schema(eng, store_metadata, dead_letter_metadata, received_metadata)
    try:
        yield eng
    finally:
        await eng.dispose()


def make_runner(engine: AsyncEngine, bootstrap: str, topic: str, handler: Handler, *, name: str = "downstream",
                max_attempts: int = 3, source: str = TEST_SOURCE, **kwargs: Any) -> ConsumerRunner:
    """A runner of ``handler`` (applied to a whole batch) on ``topic``, whose events come from ``source``."""
    spec = ConsumerSpec(name=f"{topic}.{name}", sources={topic: source}, accepts=frozenset(TEST_TYPES),
                        handler=handler, dead_letter_topic=f"{topic}.dlt")
    return ConsumerRunner(spec=spec, engine=engine, kafka=fast_kafka(bootstrap), max_attempts=max_attempts,
                          retry_backoff_s=0.05, **kwargs)


async def received_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(select(received_table).order_by(received_table.c.serial)))


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 60.0,
                     what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout_s}s")
        await asyncio.sleep(0.1)


def assert_each_once_in_stream_order(rows: list[Any], expected_ids: set[str]) -> None:
    ids = [r.event_id for r in rows]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} events applied twice downstream"
    assert set(ids) == expected_ids, f"{len(expected_ids - set(ids))} events never arrived"
    last: dict[str, int] = {}
    for r in rows:
        assert r.version > last.get(r.stream_id, 0), f"{r.stream_id} v{r.version} applied after v{last[r.stream_id]}"
        last[r.stream_id] = r.version


# ---- the services in-process, on a fresh database per test -----------------------------------------------------------
@pytest.fixture
async def api(database_url: str) -> AsyncIterator[RegistryClient]:
    """The registry app in-process (api role only: no relay, no broker); see test_registry_helpers."""
    async for client in start_client(database_url):
        yield client


@pytest.fixture
async def coding(database_url: str) -> AsyncIterator[Coding]:
    """One coding process (api role only) on a fresh database; see test_coding_support."""
    runtime, service = await start_coding(database_url)
    try:
        yield service
    finally:
        await runtime.close()


# ---- all four services in-process, each on its own fresh database -------------------------------------------------
SERVICE_BOOTSTRAPS = {"registry": registry_bootstrap, "coding": coding_bootstrap, "lifecycle": lifecycle_bootstrap,
                      "sync": sync_bootstrap}

# A command for an item the lifecycle has not heard of waits for its draft (5 s by default): not in tests.
SERVICE_TEST_SETTINGS: dict[str, dict[str, Any]] = {"lifecycle": {"item_arrival_wait_s": 0.2}}


@dataclass
class InProcessService:
    name: str
    app: FastAPI
    http: httpx.AsyncClient  # ASGI, in-process

    async def event_count(self) -> int:
        async with self.app.state.runtime.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(events_table)))


class InProcessRouting(httpx.AsyncBaseTransport):
    """Hands each request to the in-process app named by its host (``http://registry/…``): the sync gateway's
    console reads the other services this way when they all run in the test's process."""

    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self.transports = {name: httpx.ASGITransport(app=app) for name, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transports[request.url.host].handle_async_request(request)


@asynccontextmanager
async def services_in_process(postgres: EmbeddedPostgres, broker: EmbeddedBroker, topic_prefix: str, *,
                              roles: str = "api") -> AsyncIterator[dict[str, InProcessService]]:
    """The registry, coding, lifecycle and sync-gateway apps, their lifespans run as in production, on one broker
    (``roles``: "api" answers HTTP only; "api,relay,consume" also carries events between them)."""
    async with AsyncExitStack() as stack:
        services: dict[str, InProcessService] = {}
        for name, bootstrap in SERVICE_BOOTSTRAPS.items():
            url = postgres.url(f"{name}_{uuid.uuid4().hex[:12]}")
            await ensure_database(url)
            app = bootstrap.create_app(bootstrap.SETTINGS(
                database_url=url, kafka_bootstrap_servers=broker.bootstrap_servers, topic_prefix=topic_prefix,
                roles=roles, environment="test", kafka_session_timeout_ms=2000, **SERVICE_TEST_SETTINGS.get(name, {})))
            if name == "sync":  # the console reads the others (registered before it) in this process
                app.state.sync.services.urls = {other: f"http://{other}" for other in services}
                app.state.sync.services.transport = InProcessRouting({n: s.app for n, s in services.items()})
            await stack.enter_async_context(app.router.lifespan_context(app))
            http = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://{name}", timeout=120))
            services[name] = InProcessService(name, app, http)
        yield services
