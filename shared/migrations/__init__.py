"""Schema migrations (alembic): one history per database (each service's own, and the sync gateway's exchange
database), each in its service's package (``<pkg>/adapters/migrations/``: ``env.py`` calling :func:`run_env`, and
``versions/``), run through the functions here with a configuration built in code (no ``alembic.ini``).

When they run: ``shixiang migrate <service>`` (an operator, or the init step of compose / the Job in Kubernetes)
upgrades to head; a service starting in development or tests upgrades to head itself (so ``make dev`` and the tests
need no extra step); a service starting in production never migrates but refuses a database that is not at head,
naming the command that upgrades it (:func:`prepare_schema`).

Every upgrade takes the same transaction-scoped advisory lock first and runs in that one transaction (PostgreSQL's
DDL is transactional): several processes starting together, or a Job beside a developer's service, upgrade once
and the others find the database at head.

A database made before migrations existed (``metadata.create_all``: tables present, no ``alembic_version``) is
adopted: its tables and columns are compared with the first revision's, built for the comparison in a scratch
schema inside a savepoint that is rolled back; if they match it is stamped at the first revision and upgraded from
there, otherwise refused (:class:`~shared.db.OutdatedSchemaError`)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import SCHEMA_LOCK, OutdatedSchemaError
from shared.settings import Environment

VERSION_TABLE = "alembic_version"
_PROBE_SCHEMA = "shixiang_adoption_probe"


class SchemaNotAtHeadError(OutdatedSchemaError):
    """A production process found its database behind (or ahead of) the revision its code needs."""


@dataclass(frozen=True)
class History:
    """One database's migration history."""

    name: str  # registry, coding, lifecycle, sync, exchange
    directory: Path  # env.py and versions/
    metadata: tuple[MetaData, ...]  # the models at head: what the revisions must add up to
    migrate_with: str  # the `shixiang migrate` argument that upgrades it (the exchange database goes with sync)

    def config(self, connection: Connection | None = None, *, output: io.StringIO | None = None) -> Config:
        cfg = Config(output_buffer=output)
        cfg.set_main_option("script_location", str(self.directory))
        cfg.attributes["history"] = self
        if connection is not None:
            cfg.attributes["connection"] = connection
        return cfg

    @property
    def script(self) -> ScriptDirectory:
        return ScriptDirectory.from_config(self.config())

    @property
    def head(self) -> str:
        head = self.script.get_current_head()
        if head is None:
            raise RuntimeError(f"the migration history {self.name!r} has no revision")
        return head

    @property
    def first(self) -> str:
        (base,) = self.script.get_bases()
        return base

    def has(self, revision: str) -> bool:
        return any(script.revision == revision for script in self.script.walk_revisions())

    @property
    def command(self) -> str:
        return f"shixiang migrate {self.migrate_with}"

    def target_metadata(self) -> MetaData:
        """The models of every metadata as one (alembic compares against one)."""
        combined = MetaData()
        for metadata in self.metadata:
            for table in metadata.tables.values():
                table.to_metadata(combined)
        return combined


def run_env() -> None:
    """The body of every history's ``env.py``. Online, the connection is the one the functions below pass in (inside
    their transaction and lock); offline (``shixiang migrate … --sql``) the SQL is written for PostgreSQL."""
    from alembic import context

    if not hasattr(context, "config"):  # alembic installs it while it runs env.py; a mere import runs nothing
        return
    history: History = context.config.attributes["history"]
    if context.is_offline_mode():
        context.configure(dialect_name="postgresql", literal_binds=True, transactional_ddl=True,
                          target_metadata=history.target_metadata(), version_table=VERSION_TABLE)
    else:
        context.configure(connection=context.config.attributes["connection"], compare_type=True,
                          target_metadata=history.target_metadata(), version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


# ---- the database's revision -----------------------------------------------------------------------------------------
def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision (``None``: never migrated, or made by ``create_all`` before migrations)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def check_at_head(engine: AsyncEngine, history: History) -> None:
    """Raise :class:`SchemaNotAtHeadError` unless the database is at the head of ``history``."""
    current, head = await current_revision(engine), history.head
    if current is not None and not history.has(current):
        raise SchemaNotAtHeadError(_unknown_revision(history, engine.url.database, current))
    if current != head:
        raise SchemaNotAtHeadError(
            f"the {history.name} database {engine.url.database!r} is at revision {current or '(none)'}, this version "
            f"needs {head}: run `{history.command}` before starting it (the migrate step of compose or the "
            "migrate Job in Kubernetes runs it)")


# ---- upgrading -------------------------------------------------------------------------------------------------------
async def upgrade(engine: AsyncEngine, history: History, to: str = "head") -> None:
    """Upgrade the database to ``to`` (adopting a database made by ``create_all``), in one transaction under the
    schema lock: idempotent, and safe when several processes run it at once."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        await conn.run_sync(_upgrade, history, to)


def _upgrade(conn: Connection, history: History, to: str) -> None:
    current = _current(conn)
    if current is None and _has_tables_of(conn, history):
        _adopt(conn, history)
    elif current is not None and not history.has(current):
        raise SchemaNotAtHeadError(_unknown_revision(history, conn.engine.url.database, current))
    command.upgrade(history.config(conn), to)


def _unknown_revision(history: History, database: str | None, current: str) -> str:
    return (f"the {history.name} database {database!r} is at revision {current!r}, which this version's migrations "
            "do not have: a newer version migrated it (run that version, or restore the backup taken before its "
            "migration), or it is another database than this service's")


async def downgrade(engine: AsyncEngine, history: History, to: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        await conn.run_sync(lambda sync: command.downgrade(history.config(sync), to))


async def prepare_schema(engine: AsyncEngine, history: History, environment: Environment) -> None:
    """What a service does with its database as it starts: in production, check it is at head (operators migrate,
    never the service); elsewhere upgrade it to head."""
    if environment is Environment.production:
        await check_at_head(engine, history)
    else:
        await upgrade(engine, history)


def offline_sql(history: History, to: str = "head", start: str | None = None) -> str:
    """The SQL of an upgrade (from ``start``, or from an empty database) for a DBA to read or run."""
    output = io.StringIO()
    command.upgrade(history.config(output=output), f"{start}:{to}" if start else to, sql=True)
    return output.getvalue()


async def differences(engine: AsyncEngine, history: History) -> list[Any]:
    """What alembic's autogenerate would change to make the database match the models (none: in step)."""
    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, history.target_metadata()))

    async with engine.connect() as conn:
        return await conn.run_sync(compare)


async def new_revision(engine: AsyncEngine, history: History, message: str) -> Path | None:
    """Write the next revision of ``history`` into its ``versions/``, autogenerated from what the models have and the
    database (at head) lacks — a draft to read and tidy; ``None`` when they already agree."""
    if not await differences(engine, history):
        return None
    number = len(list(history.script.walk_revisions())) + 1
    async with engine.connect() as conn:
        script = await conn.run_sync(lambda sync: command.revision(
            history.config(sync), message=message, autogenerate=True, rev_id=f"{history.name}_{number:04d}"))
    assert script is not None and not isinstance(script, list)  # one revision, on one branch
    return Path(script.path)


# ---- adopting a database made by create_all ------------------------------------------------------------------------
def _has_tables_of(conn: Connection, history: History) -> bool:
    names = sorted({name for metadata in history.metadata for name in metadata.tables})
    return bool(conn.execute(text(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ANY(:names) "
        "LIMIT 1"), {"names": names}).first())


def _columns(conn: Connection, schema: str, tables: Sequence[str] | None = None) -> set[tuple[str, str, str, str]]:
    """(table, column, type, nullable) of a schema's tables (``tables``: only those)."""
    rows = conn.execute(text(
        "SELECT table_name, column_name, udt_name, is_nullable FROM information_schema.columns "
        "WHERE table_schema = :schema AND (CAST(:tables AS text[]) IS NULL OR table_name = ANY(:tables))"),
        {"schema": schema, "tables": None if tables is None else list(tables)})
    return {(r[0], r[1], r[2], r[3]) for r in rows}


def _adopt(conn: Connection, history: History) -> None:
    """Stamp a database made by ``create_all`` at the first revision if its tables and columns are the first
    revision's; else raise OutdatedSchemaError. The first revision is built for the comparison in a scratch schema
    (first on the search path, so its unqualified CREATEs land there), rolled back with its savepoint (the
    ``SET LOCAL`` too)."""
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    savepoint = conn.begin_nested()
    try:
        conn.execute(text(f'CREATE SCHEMA "{_PROBE_SCHEMA}"'))
        conn.execute(text(f'SET LOCAL search_path TO "{_PROBE_SCHEMA}", "{schema}"'))
        command.upgrade(history.config(conn), history.first)
        wanted = {c for c in _columns(conn, _PROBE_SCHEMA) if c[0] != VERSION_TABLE}
    finally:
        savepoint.rollback()
    present = _columns(conn, schema, sorted({c[0] for c in wanted}))
    missing = sorted(f"{t}.{c} ({kind}{'' if nullable == 'YES' else ' not null'})"
                     for t, c, kind, nullable in wanted - present)
    if missing:
        raise OutdatedSchemaError(
            f"the database {conn.engine.url.database!r} has tables but no migration history, and they are not the "
            f"first revision's (missing or different: {', '.join(missing)}): it cannot be adopted; in development "
            "start afresh with `shixiang dev --fresh` (or delete the test database)")
    command.stamp(history.config(conn), history.first)
