"""Database plumbing: engines, and schema and database creation for development and tests (services' schemas are
migrated: shared.migrations)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from shared import jsoncodec

# The execution option naming the algorithm the event store of an engine's database chains new events with
# (shared.eventstore.store_hash reads it; SHA-256 when absent).
EVENT_HASH_OPTION = "shixiang_event_hash"


def make_engine(url: str, *, pool_size: int = 10, event_hash: str | None = None) -> AsyncEngine:
    # No pre-ping: it costs a round trip per checkout; a dropped connection fails its transaction, which callers
    # (HTTP clients, the consumer runner, the relay) retry.
    # JSON parameters and columns go through orjson (shared/jsoncodec.py): event data, read models and projection
    # states are encoded on every write.
    # event_hash (SHIXIANG_EVENT_HASH) rides on the engine: every append of the store, through whatever connection of
    # it, chains with it, and nothing else needs passing it along.
    options = {EVENT_HASH_OPTION: str(event_hash)} if event_hash else {}
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800,
                               json_serializer=jsoncodec.dumps, json_deserializer=jsoncodec.loads,
                               execution_options=options)


# The transaction-scoped advisory lock every schema change of a database takes first (migrations and
# create_schema), so that several processes starting together do not race on CREATE TABLE.
SCHEMA_LOCK = 7262034


async def create_schema(engine: AsyncEngine, *metadatas: MetaData) -> None:
    """Create missing tables (idempotent): the tests' and benchmarks' tool for the generic components (a bare event
    store, a test consumer's tables). Services never use it: their databases are made and upgraded by their
    migration histories (shared.migrations)."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        for metadata in metadatas:
            await conn.run_sync(metadata.create_all)
        await _refuse_older_schema(conn, metadatas)


async def raw_driver(conn: Any) -> Any:
    """The asyncpg connection under a SQLAlchemy one, as it is: no BEGIN is sent (see :func:`driver_connection`)."""
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is None:  # only a connection already returned to the pool has none
        raise RuntimeError("the SQLAlchemy connection has no driver connection")
    return driver


async def driver_connection(conn: Any) -> Any:
    """The asyncpg connection under a SQLAlchemy one, for statements SQLAlchemy's execution path would cost several
    times the driver's CPU for. SQLAlchemy sends its BEGIN lazily, with its first statement: if the connection is
    in a transaction that has not begun on the driver yet, it is begun first, so that what runs on the driver is
    part of it (and not committed on its own)."""
    driver = await raw_driver(conn)
    if conn.in_transaction() and not driver.is_in_transaction():
        await conn.exec_driver_sql("SELECT 1")
    return driver


class OutdatedSchemaError(RuntimeError):
    """The database was made by an older version of the service (a table lacks columns this version needs)."""


async def _refuse_older_schema(conn: Any, metadatas: tuple[MetaData, ...]) -> None:
    """``create_all`` makes missing tables but never changes existing ones: say so at start-up, clearly, instead of
    failing on the first statement that needs a new column."""
    wanted = {(t.name, c.name) for m in metadatas for t in m.tables.values() for c in t.columns}
    tables = sorted({t for t, _ in wanted})
    present = set((await conn.execute(text(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ANY(:tables)"), {"tables": tables})).all())
    missing = sorted(f"{t}.{c}" for t, c in wanted - present)
    if missing:
        raise OutdatedSchemaError(
            f"the database {conn.engine.url.database!r} was made by an older version (missing {', '.join(missing)}); "
            "in development start afresh with `shixiang dev --fresh` (or delete the test database)")


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist (connecting to ``postgres`` to do so)."""
    target = make_url(url)
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database})
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        await admin.dispose()


# An item's region as a service knows it (None: the service has never heard of the item): what region checks on
# things of an item the service keeps (its hash chain, its dead letters) read.
RegionOf = Callable[[AsyncConnection, str], Awaitable[str | None]]
