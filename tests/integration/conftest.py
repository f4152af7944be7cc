"""Helpers for integration tests on the real embedded PostgreSQL and Tansu broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_schema
from shared.eventstore import store_metadata
from shared.kafka import make_consumer, make_producer
from shared.relay import Relay


@pytest.fixture
async def store_engine(engine: AsyncEngine) -> AsyncEngine:
    await create_schema(engine, store_metadata)
    return engine


def make_relay(engine: AsyncEngine, bootstrap: str, topic: str, **kwargs: Any) -> Relay:
    return Relay(engine=engine, producer_factory=lambda: make_producer(bootstrap), bootstrap_servers=bootstrap,
                 topic=topic, source="/shixiang/test", poll_interval_s=0.1, **kwargs)


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
    consumer = make_consumer(bootstrap, f"reader-{uuid.uuid4().hex[:8]}", topic)
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
