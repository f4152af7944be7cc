"""Schema migrations on real PostgreSQL (shared.migrations; each service's ``adapters/migrations``): every history
upgrades an empty database to exactly its models; a database at the first revision, filled by the real services,
upgrades to head losing nothing (every hash chain verifies, the read models rebuild to what they were); a database
made by ``create_all`` before migrations is adopted, a different one refused; production refuses a database behind
head and never migrates it; revision 2's indexes serve the reads they were made for; revision 2 downgrades."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Table, Text, func, select, text
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import OutdatedSchemaError, create_schema, ensure_database, make_engine, raw_driver
from shared.eventstore import APPEND_FUNCTION, EventMetadata, EventStore, NewEvent, verify_chain
from shared.infra import EmbeddedPostgres
from shared.migrations import (
    History,
    SchemaNotAtHeadError,
    current_revision,
    differences,
    downgrade,
    new_revision,
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
        assert revisions[-1].revision == history.first == f"{history.name}_0001"
        assert all(r.revision.startswith(f"{history.name}_") for r in revisions)
        assert len(history.script.get_heads()) == 1


def test_the_sql_of_an_upgrade_can_be_printed_for_a_dba() -> None:
    sql = offline_sql(LIFECYCLE)
    assert "CREATE TABLE lifecycle_items" in sql and "CREATE OR REPLACE FUNCTION shixiang_append" in sql
    assert ("CREATE INDEX IF NOT EXISTS lifecycle_items_name_trgm ON lifecycle_items USING gin (name gin_trgm_ops)"
            in sql)
    assert "UPDATE alembic_version SET version_num='lifecycle_0002'" in sql
    assert "CREATE INDEX IF NOT EXISTS catalog_state_order" in offline_sql(SYNC, start=SYNC.first)


# ---- (c) a database made by create_all before migrations ----------------------------------------------------------
@pytest.mark.parametrize("name", HISTORIES)
async def test_a_database_made_by_create_all_is_adopted_at_revision_1_and_upgraded_keeping_its_rows(
        fresh: AsyncEngine, name: str) -> None:
    history = HISTORIES[name]
    await create_schema(fresh, *history.metadata)  # what every start did before migrations
    table = history.metadata[0].tables[min(history.metadata[0].tables)]
    async with fresh.begin() as conn:
        rows_before = await conn.scalar(select(func.count()).select_from(table))
    assert await current_revision(fresh) is None

    await upgrade(fresh, history)

    assert await current_revision(fresh) == history.head
    assert await differences(fresh, history) == []
    async with fresh.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(table)) == rows_before
        assert not await conn.scalar(text(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'shixiang_adoption%'"))


async def test_an_adopted_event_store_keeps_its_events_and_their_chain(fresh: AsyncEngine) -> None:
    await create_schema(fresh, *LIFECYCLE.metadata)
    store = EventStore(fresh)
    for version in range(3):
        await store.append("item-1", version, [NewEvent("test.v1", {"n": version})], EventMetadata(actor="t"))
    await upgrade(fresh, LIFECYCLE)
    events = await store.load("item-1")
    assert [e.version for e in events] == [1, 2, 3] and verify_chain(events).ok


async def test_a_create_all_database_that_is_not_revision_1_is_refused_clearly_and_left_as_it_was(
        fresh: AsyncEngine) -> None:
    await create_schema(fresh, *REGISTRY.metadata)
    async with fresh.begin() as conn:
        await conn.execute(text("ALTER TABLE events DROP COLUMN tx_id"))
    before = await tables_and_columns(fresh)

    with pytest.raises(OutdatedSchemaError, match=r"events\.tx_id.*shixiang dev --fresh"):
        await upgrade(fresh, REGISTRY)

    assert await current_revision(fresh) is None
    assert await tables_and_columns(fresh) == before


async def test_a_database_of_a_revision_this_version_does_not_have_is_refused_in_every_environment(
        fresh: AsyncEngine) -> None:
    """A newer version's migration, or another service's database (the registry's head in the coding history)."""
    await upgrade(fresh, REGISTRY)
    for environment in (Environment.development, Environment.production):
        with pytest.raises(SchemaNotAtHeadError, match=rf"at revision '{REGISTRY.head}', which this version's"):
            await prepare_schema(fresh, CODING, environment)
    assert await current_revision(fresh) == REGISTRY.head


# ---- (d) production never migrates ------------------------------------------------------------------------------


@pytest.mark.parametrize("at", ["nothing", "first"])
async def test_a_service_in_production_refuses_a_database_behind_head_naming_shixiang_migrate(
        fresh: AsyncEngine, at: str) -> None:
    import lifecycle.bootstrap as bootstrap

    if at == "first":
        await upgrade(fresh, LIFECYCLE, LIFECYCLE.first)
    before = await tables_and_columns(fresh)
    app = bootstrap.create_app(bootstrap.SETTINGS(
        database_url=fresh.url.render_as_string(hide_password=False), environment="production", roles="api",
        auth_issuer="https://idp.example.gov.cn/realms/shixiang", auth_audience="shixiang", kafka_allow_plaintext=True))

    with pytest.raises(SchemaNotAtHeadError, match=r"`shixiang migrate lifecycle`"):
        async with app.router.lifespan_context(app):
            pass

    assert await current_revision(fresh) == (LIFECYCLE.first if at == "first" else None)
    assert await tables_and_columns(fresh) == before


async def test_production_accepts_a_database_at_head_and_development_upgrades_it(fresh: AsyncEngine) -> None:
    await prepare_schema(fresh, SYNC, Environment.development)
    assert await current_revision(fresh) == SYNC.head
    await prepare_schema(fresh, SYNC, Environment.production)


# ---- (e) revision 2 downgrades -------------------------------------------------------------------------------------
@pytest.mark.parametrize("history", [LIFECYCLE, SYNC], ids=lambda h: h.name)
async def test_revision_2_downgrades_to_revision_1_and_upgrades_again(fresh: AsyncEngine, history: History) -> None:
    await upgrade(fresh, history)
    indexes_at_head = await index_names(fresh)

    await downgrade(fresh, history, history.first)

    assert await current_revision(fresh) == history.first
    removed = indexes_at_head - await index_names(fresh)
    # revision 2's indexes, the event store's hash algorithm column and the audit log (a table and its indexes)
    assert removed and {d[0] for d in await differences(fresh, history)} <= {"add_index", "add_column", "add_table"}
    assert {"add_index", "add_table"} <= {d[0] for d in await differences(fresh, history)}
    await upgrade(fresh, history)
    assert await index_names(fresh) == indexes_at_head


# ---- revision 2's indexes serve the reads they were made for ----------------------------------------------------
ROWS = 20_000  # enough rows that reading them all costs PostgreSQL more than an index (no timing: its plan)


async def plan(engine: AsyncEngine, statement: str, *arguments: object) -> str:
    async with engine.connect() as conn:
        driver = await raw_driver(conn)
        return "\n".join(r[0] for r in await driver.fetch(f"EXPLAIN {statement}", *arguments))


async def fill(engine: AsyncEngine, *statements: str) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement), {"rows": ROWS} if ":rows" in statement else {})


async def lifecycle_list_plan(engine: AsyncEngine) -> str:
    """The plan of the lifecycle list's own statement for ``q=`` (captured as it is sent)."""
    from lifecycle.adapters.queries import ListFilter, list_items

    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        sent.append((statement, parameters))

    sa_event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with engine.connect() as conn:
            await list_items(conn, ("44",), ListFilter(q="户口迁移"), after=None, limit=50)
    finally:
        sa_event.remove(engine.sync_engine, "before_cursor_execute", capture)
    statement, parameters = sent[-1]
    return await plan(engine, statement, *parameters)


async def catalogue_plan(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> str:
    """The plan of the catalogue's own statement for a page of cancelled items (captured as it is sent)."""
    from sync_gateway.adapters import catalogue
    from sync_gateway.domain.catalogue import CatalogueQuery

    sent: list[tuple[str, tuple[object, ...]]] = []

    class Recording:
        def __init__(self, driver: Any) -> None:
            self.driver = driver

        async def fetch(self, statement: str, *arguments: object) -> Any:
            sent.append((statement, arguments))
            return await self.driver.fetch(statement, *arguments)

        async def fetchval(self, statement: str, *arguments: object) -> Any:
            return await self.driver.fetchval(statement, *arguments)

    async def recording_driver(conn: Any) -> Recording:
        return Recording(await raw_driver(conn))

    monkeypatch.setattr(catalogue, "raw_driver", recording_driver)
    await catalogue.catalogue_page(engine, CatalogueQuery(states=("cancelled",)), regions=None)
    statement, arguments = sent[-1]
    return await plan(engine, statement, *arguments)


async def test_revision_2_lets_the_lifecycle_list_search_by_q_through_trigram_indexes(fresh: AsyncEngine) -> None:
    await upgrade(fresh, LIFECYCLE, LIFECYCLE.first)
    await fill(fresh, """INSERT INTO lifecycle_items (item_id, version, region_code, phase, code, name, short_name,
                          updated_at)
                          SELECT 'item-' || n, 1, '440115', 'online', lpad(n::text, 24, '0'), '事项名称' || n,
                                 '简称' || n, now() FROM generate_series(1, :rows) AS n""",
               "ANALYZE lifecycle_items")
    assert "trgm" not in await lifecycle_list_plan(fresh)

    await upgrade(fresh, LIFECYCLE)
    await fill(fresh, "ANALYZE lifecycle_items")

    searched = await lifecycle_list_plan(fresh)
    assert "BitmapOr" in searched, searched
    assert all(f"Bitmap Index Scan on lifecycle_items_{c}_trgm" in searched
               for c in ("name", "short_name", "code")), searched


async def test_revision_2_lets_the_catalogue_find_a_page_of_a_rare_state_through_an_index(
        fresh: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    await upgrade(fresh, SYNC, SYNC.first)
    await fill(fresh, """INSERT INTO catalog (item_id, item_version, code, phase, region_code, entry, feed_position)
                          SELECT 'item-' || lpad(n::text, 6, '0'), 1, 'C' || n,
                                 CASE WHEN n % 100 = 0 THEN 'cancelled' ELSE 'online' END, '440115',
                                 '{"data": {"elements": {"name": "事项"}}}', n
                          FROM generate_series(1, :rows) AS n""",
               "ANALYZE catalog")
    assert "catalog_state_order" not in await catalogue_plan(fresh, monkeypatch)

    await upgrade(fresh, SYNC)
    await fill(fresh, "ANALYZE catalog")

    page = await catalogue_plan(fresh, monkeypatch)
    assert "Index Scan using catalog_state_order on catalog" in page, page


# ---- `shixiang migrate` --------------------------------------------------------------------------------------------
async def shixiang(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """The CLI as an operator (or compose's init step) runs it: its settings from SHIXIANG_* alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIXIANG_")} | {
        "SHIXIANG_DEV_ROOT": "/nonexistent", **environment}  # never the running development suite's manifest
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "shixiang.cli", *arguments], env=env,
                                   capture_output=True, text=True, timeout=120, check=False)


def url_of(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=False)


async def test_shixiang_migrate_upgrades_a_service_database_to_head_once_and_check_then_passes(
        fresh: AsyncEngine) -> None:
    env = {"SHIXIANG_DATABASE_URL": url_of(fresh)}
    behind = await shixiang("migrate", "lifecycle", "--check", **env)
    assert behind.returncode == 1 and "run `shixiang migrate lifecycle`" in behind.stderr
    assert await current_revision(fresh) is None

    done = await shixiang("migrate", "lifecycle", **env)
    assert done.returncode == 0, done.stderr
    assert f"lifecycle database {fresh.url.database!r}: (empty) → {LIFECYCLE.head} (head)" in done.stdout
    again = await shixiang("migrate", "lifecycle", **env)
    assert again.returncode == 0 and f"already at {LIFECYCLE.head} (head)" in again.stdout
    checked = await shixiang("migrate", "lifecycle", "--check", **env)
    assert checked.returncode == 0 and f"at head ({LIFECYCLE.head})" in checked.stdout


async def test_shixiang_migrate_sync_upgrades_the_exchange_database_too_and_stops_where_told(
        fresh: AsyncEngine, postgres: EmbeddedPostgres) -> None:
    exchange_url = postgres.url(f"x_{uuid.uuid4().hex[:12]}")
    await ensure_database(exchange_url)
    env = {"SHIXIANG_DATABASE_URL": url_of(fresh), "SHIXIANG_EXCHANGE_DATABASE_URL": exchange_url}

    done = await shixiang("migrate", "sync", "--to", SYNC.first, **env)
    assert done.returncode == 0, done.stderr
    assert await current_revision(fresh) == SYNC.first
    exchange = make_engine(exchange_url, pool_size=1)
    try:
        assert await current_revision(exchange) == EXCHANGE.head
        assert (await shixiang("migrate", "sync", "--check", **env)).returncode == 1
        assert (await shixiang("migrate", "sync", **env)).returncode == 0
        assert (await current_revision(fresh), await current_revision(exchange)) == (SYNC.head, EXCHANGE.head)
    finally:
        await exchange.dispose()


async def test_shixiang_migrate_refuses_a_create_all_database_it_cannot_adopt_with_its_reason(
        fresh: AsyncEngine) -> None:
    await create_schema(fresh, *CODING.metadata)
    async with fresh.begin() as conn:
        await conn.execute(text("ALTER TABLE item_codes DROP COLUMN status"))
    done = await shixiang("migrate", "coding", SHIXIANG_DATABASE_URL=url_of(fresh))
    assert done.returncode == 1 and "item_codes.status" in done.stderr
    assert await current_revision(fresh) is None


async def test_shixiang_migrate_sql_prints_the_upgrade_for_a_dba_without_a_database() -> None:
    done = await shixiang("migrate", "lifecycle", "--sql", "--from", LIFECYCLE.first,
                          SHIXIANG_DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    assert done.returncode == 0, done.stderr
    assert "CREATE INDEX IF NOT EXISTS lifecycle_items_code_trgm" in done.stdout
    assert "CREATE TABLE lifecycle_items" not in done.stdout  # from revision 1: only what later revisions add


async def test_a_model_change_without_its_revision_shows_as_a_difference_until_one_is_written(
        fresh: AsyncEngine, tmp_path: Path) -> None:
    """The recipe of docs/DEVELOPING.md on a copy of the lifecycle's history: a new table in the models, the
    compare test's check fails, `shixiang migrate lifecycle --revision` (new_revision) writes the next revision, and
    with it the database matches the models again."""
    shutil.copytree(LIFECYCLE.directory, tmp_path / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    models = LIFECYCLE.target_metadata()
    Table("lifecycle_notes", models, Column("item_id", Text, primary_key=True), Column("note", Text, nullable=False))
    changed = History("lifecycle", tmp_path / "migrations", (models,), migrate_with="lifecycle")
    await upgrade(fresh, changed)
    assert [d[0] for d in await differences(fresh, changed)] == ["add_table"]

    written = await new_revision(fresh, changed, "notes")

    following = f"lifecycle_{int(LIFECYCLE.head.rpartition('_')[2]) + 1:04d}"
    assert written is not None and written.name == f"{following}_notes.py"
    assert "op.create_table(" in written.read_text() and "lifecycle_notes" in written.read_text()
    await upgrade(fresh, changed)
    assert await current_revision(fresh) == following and await differences(fresh, changed) == []
    assert await new_revision(fresh, changed, "nothing") is None


# ---- (g) the event store's revision 2: each event's hash algorithm (issue 18) ------------------------------------
async def test_events_written_before_the_hash_algorithm_revision_are_sha256_and_keep_verifying(
        fresh: AsyncEngine) -> None:
    await upgrade(fresh, CODING, CODING.first)
    async with fresh.connect() as conn:  # revision 1's append function, as a service of that version called it
        driver = await raw_driver(conn)
        await driver.fetch(
            "SELECT * FROM shixiang_append(ARRAY['item-1'], ARRAY[0], ARRAY[1], ARRAY[gen_random_uuid()], "
            "ARRAY['test.v1'], ARRAY['{}'], ARRAY['t'], ARRAY[NULL::text], ARRAY[NULL::text], "
            "ARRAY['2026-12-07T00:00:00+00:00'::timestamptz], "
            """ARRAY['["item-1",1,"x","test.v1",{},"t","2026-12-07T00:00:00+00:00"]'])""")
    await upgrade(fresh, CODING)
    events = await EventStore(fresh).load("item-1")
    assert [e.hash_alg for e in events] == ["sha256"]
    # the link revision 1 computed covered a placeholder id: the point is that it is read as sha256 and not rehashed
    assert events[0].hash == hashlib.sha256(("0" * 64 + '["item-1",1,"x","test.v1",{},"t",'
                                             '"2026-12-07T00:00:00+00:00"]').encode()).hexdigest()


async def test_a_store_that_chained_with_sm3_refuses_to_go_back_to_revision_1(fresh: AsyncEngine) -> None:
    await upgrade(fresh, CODING)
    sm3 = EventStore(fresh.execution_options(shixiang_event_hash="sm3"))
    await sm3.append("item-1", 0, [NewEvent("test.v1", {})], EventMetadata(actor="t"))
    with pytest.raises(Exception, match="cannot downgrade"):
        await downgrade(fresh, CODING, CODING.first)
    assert await current_revision(fresh) == CODING.head
    assert verify_chain(await sm3.load("item-1")).ok
