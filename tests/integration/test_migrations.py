"""Schema migrations on real PostgreSQL (shared.migrations; each service's ``adapters/migrations``): every history
upgrades an empty database to exactly its models; a database at the first revision, filled by the real services,
upgrades to head losing nothing (every hash chain verifies, the read models rebuild to what they were); a database
made by ``create_all`` before migrations is adopted, a different one refused; production refuses a database behind
head and never migrates it; revision 2's indexes serve the reads they were made for; revision 2 downgrades."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import OutdatedSchemaError, create_schema, ensure_database, make_engine
from shared.eventstore import APPEND_FUNCTION
from shared.infra import EmbeddedPostgres
from shared.migrations import (
    History,
    SchemaNotAtHeadError,
    current_revision,
    differences,
    downgrade,
    offline_sql,
    prepare_schema,
    upgrade,
)
from shared.settings import Environment

from coding.adapters.migrations import HISTORY as CODING
from lifecycle.adapters.migrations import HISTORY as LIFECYCLE
from registry.adapters.migrations import HISTORY as REGISTRY
from sync_gateway.adapters.exchange_migrations import HISTORY as EXCHANGE
from sync_gateway.adapters.migrations import HISTORY as SYNC

HISTORIES = {h.name: h for h in (REGISTRY, CODING, LIFECYCLE, SYNC, EXCHANGE)}
SERVICE_HISTORIES = (REGISTRY, CODING, LIFECYCLE, SYNC)


@pytest.fixture
async def fresh(postgres: EmbeddedPostgres) -> AsyncIterator[AsyncEngine]:
    url = postgres.url(f"m_{uuid.uuid4().hex[:12]}")
    await ensure_database(url)
    engine = make_engine(url, pool_size=4)
    try:
        yield engine
    finally:
        await engine.dispose()


async def tables_and_columns(engine: AsyncEngine) -> set[tuple[str, str, str, str]]:
    async with engine.connect() as conn:
        return set((await conn.execute(text(
            "SELECT table_name, column_name, udt_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name <> 'alembic_version'"))).all())


async def index_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(text(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"))).scalars())


# ---- (a) the revisions add up to the models ----------------------------------------------------------------------
@pytest.mark.parametrize("name", HISTORIES)
async def test_upgrading_an_empty_database_to_head_gives_exactly_the_models_schema(fresh: AsyncEngine,
                                                                                   name: str) -> None:
    history = HISTORIES[name]
    await upgrade(fresh, history)
    assert await current_revision(fresh) == history.head
    assert await differences(fresh, history) == [], (
        "the models and the migrations differ: add a revision (docs/DEVELOPING.md, Migrations)")
    if any("events" in m.tables for m in history.metadata):  # the event store's append function came with it
        async with fresh.connect() as conn:
            body = await conn.scalar(text("SELECT prosrc FROM pg_proc WHERE proname = 'shixiang_append'"))
        assert body is not None and body.strip() in APPEND_FUNCTION


@pytest.mark.parametrize("name", HISTORIES)
async def test_an_upgrade_at_head_changes_nothing_and_several_at_once_upgrade_once(fresh: AsyncEngine,
                                                                                  name: str) -> None:
    history = HISTORIES[name]
    await asyncio.gather(*(upgrade(fresh, history) for _ in range(4)))
    before = await tables_and_columns(fresh)
    await upgrade(fresh, history)
    assert await current_revision(fresh) == history.head
    assert await tables_and_columns(fresh) == before


def test_every_history_is_one_line_from_its_first_revision_named_after_its_database() -> None:
    for history in HISTORIES.values():
        revisions = list(history.script.walk_revisions())
        assert [r.revision for r in reversed(revisions)][0] == history.first == f"{history.name}_0001"
        assert all(r.revision.startswith(f"{history.name}_") for r in revisions)
        assert len(history.script.get_heads()) == 1


def test_the_sql_of_an_upgrade_can_be_printed_for_a_dba() -> None:
    sql = offline_sql(LIFECYCLE)
    assert "CREATE TABLE lifecycle_items" in sql and "CREATE OR REPLACE FUNCTION shixiang_append" in sql
    assert "CREATE INDEX lifecycle_items_name_trgm ON lifecycle_items USING gin (name gin_trgm_ops)" in sql
    assert "UPDATE alembic_version SET version_num='lifecycle_0002'" in sql
    assert "CREATE INDEX catalog_state_order" in offline_sql(SYNC, start=SYNC.first)
