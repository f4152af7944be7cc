"""Real infrastructure for the tests, started by the tests themselves: one embedded PostgreSQL cluster and one
Tansu broker per test session. Every test gets its own fresh database and its own topic prefix, so tests never
depend on each other's leftovers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import ensure_database, make_engine
from shared.infra import EmbeddedBroker, EmbeddedPostgres

# No per-example deadline for property tests: it is a timing assertion (200 ms by default), and this shared, noisy
# machine can stall any example that long. Tests that set their own settings keep them.
settings.register_profile("shixiang", deadline=None)
settings.load_profile("shixiang")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    server = EmbeddedBroker(log_path=Path(tmp_path_factory.mktemp("broker")) / "broker.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def database_url(postgres: EmbeddedPostgres) -> str:
    url = postgres.url(f"t_{uuid.uuid4().hex[:12]}")
    await ensure_database(url)
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url, pool_size=20)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"
