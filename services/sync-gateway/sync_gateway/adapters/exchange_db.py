"""The exchange database (前置库): its tables (``domain.exchange.LAYOUTS`` as SQL, plus ``dn_audit_abnormal`` the
national side writes and ``sx_exchange_cursor``, the writer's own position), and its reads and writes.

The writer's position (the last feed position written) is a row of the exchange database itself, updated in the
same transaction as the rows it covers, and taken ``FOR UPDATE`` first: a round's rows and its position commit
together or not at all, and two processes never write a round at once. Every insert is ``ON CONFLICT DO NOTHING``
on ``row_guid`` (and on (item, version[, seq])): a change written again — a position restored from an old backup —
adds nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Identity,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from sync_gateway.adapters.tables import exchange_feedback_cursor_table, feed_entries_table
from sync_gateway.domain import exchange as domain

exchange_metadata = MetaData()

_TYPES: dict[str, Any] = {
    domain.TEXT: Text, domain.DATE: Date, domain.INTEGER: Integer, domain.BOOLEAN: Boolean,
    domain.TEXTS: ARRAY(Text), domain.JSON: JSONB, domain.TIME: DateTime(timezone=True), domain.BIGINT: BigInteger}


def _column(name: str, kind: str) -> Column[Any]:
    sql_type: TypeEngine[Any] | type[TypeEngine[Any]] = _TYPES[kind]
    required = name in ("row_guid", "cd_batch", "cd_operation", "cd_time", "data_source", "task_guid",
                        "task_version", "task_state", "parent_row_guid", "seq")
    return Column(name, sql_type, primary_key=name == "row_guid", nullable=not required)


def _table(layout: domain.TableLayout) -> Table:
    key = ("task_guid", "task_version") + (("seq",) if layout.name != domain.GENERAL_TABLE else ())
    return Table(layout.name, exchange_metadata, *(_column(name, kind) for name, kind, _, _ in layout.columns),
                 UniqueConstraint(*key, name=f"{layout.name}_change"),
                 comment=layout.label)


UP_TABLES: dict[str, Table] = {layout.name: _table(layout) for layout in domain.LAYOUTS}

# Written by the national side: one row per rejected change (国家平台校验异常). ``id`` orders them for the gateway,
# which reads them after the last id it recorded (its position is in its own database).
dn_audit_abnormal_table = Table(
    domain.FEEDBACK_TABLE,
    exchange_metadata,
    *(Column(name, BigInteger, Identity(always=False), primary_key=True) if name == "id"
      else Column(name, _TYPES[kind], nullable=name not in ("task_guid", "task_version", "error_message"),
                  server_default=func.now() if name == "cd_time" else None)
      for name, kind, _, _ in domain.FEEDBACK_COLUMNS),
    comment="国家平台校验异常（退回）",
)
# The writer's position: the last feed position written, and how many rounds were written (the next cd_batch).
cursor_table = Table(
    "sx_exchange_cursor",
    exchange_metadata,
    Column("name", Text, primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("rounds", BigInteger, nullable=False),
    # the feed entry at ``position`` (its source event id): when the gateway's feed is not the one written from (its
    # database restored or started afresh), that entry is not there, and the writer starts over (``write_round``)
    Column("event_id", Text),
)
CURSOR = "feed"


async def locked_cursor(conn: AsyncConnection) -> tuple[int, int, str | None]:
    """(the last feed position written, rounds written so far, the event id of the entry there), locked until the
    transaction ends."""
    await conn.execute(pg_insert(cursor_table).values(name=CURSOR, position=0, rounds=0)
                       .on_conflict_do_nothing(index_elements=["name"]))
    row = (await conn.execute(select(cursor_table.c.position, cursor_table.c.rounds, cursor_table.c.event_id)
                              .where(cursor_table.c.name == CURSOR).with_for_update())).one()
    return int(row.position), int(row.rounds), row.event_id


async def write_round(conn: AsyncConnection, rows: Mapping[str, Sequence[Mapping[str, Any]]], *, position: int,
                      event_id: str, rounds: int) -> int:
    """Insert a round's rows (one multi-row statement per table; a row already there is skipped) and move the
    position; returns how many rows were new."""
    written = 0
    for name, table_rows in rows.items():
        if table_rows:
            result = await conn.execute(pg_insert(UP_TABLES[name]).on_conflict_do_nothing()
                                        .returning(UP_TABLES[name].c.row_guid), list(table_rows))
            written += len(result.all())
    await conn.execute(cursor_table.update().where(cursor_table.c.name == CURSOR)
                       .values(position=position, event_id=event_id, rounds=rounds))
    return written


async def audit_abnormal_after(conn: AsyncConnection, after: int, limit: int) -> list[domain.AuditAbnormal]:
    """The national side's rejections after ``after`` (its row id), in order. Inside the caller's transaction,
    after ``LOCK … IN SHARE MODE``: that waits for every transaction inserting into the table to end (and holds new
    ones off until the caller commits, a moment), so no row with a lower id can still commit after this read — the
    position never passes a row the reader has not seen, however many writers the national side runs."""
    t = dn_audit_abnormal_table
    await conn.execute(text(f"LOCK TABLE {t.name} IN SHARE MODE"))
    rows = await conn.execute(select(t).where(t.c.id > after).order_by(t.c.id).limit(limit))
    return [domain.AuditAbnormal(r.id, r.cd_batch, r.row_guid, r.task_guid, r.task_version, r.error_type,
                                 r.error_message) for r in rows]



# ---- the gateway's own database -----------------------------------------------------------------------------------
async def fed_records_after(conn: AsyncConnection, after: int,
                            limit: int) -> list[tuple[int, str, dict[str, Any]]]:
    """(position, source event id, published record) of the feed entries after ``after``, in order (the feed is
    the outbox the exchange tables are written from: its positions become visible strictly in order, see
    ``adapters.store``)."""
    t = feed_entries_table
    rows = await conn.execute(select(t.c.position, t.c.event_id, t.c.entry["data"]).where(t.c.position > after)
                              .order_by(t.c.position).limit(limit))
    return [(int(position), event_id, dict(record)) for position, event_id, record in rows.tuples()]


async def fed_event_at(conn: AsyncConnection, position: int) -> str | None:
    """The source event id of the feed entry at ``position`` (``None``: no such entry)."""
    t = feed_entries_table
    return (await conn.execute(select(t.c.event_id).where(t.c.position == position))).scalar_one_or_none()


async def feedback_position(conn: AsyncConnection) -> int:
    """The last ``dn_audit_abnormal`` id recorded, locked until the transaction ends (0 before the first)."""
    t = exchange_feedback_cursor_table
    await conn.execute(pg_insert(t).values(name=CURSOR, position=0).on_conflict_do_nothing(index_elements=["name"]))
    return int((await conn.execute(select(t.c.position).where(t.c.name == CURSOR).with_for_update())).scalar_one())


async def save_feedback_position(conn: AsyncConnection, position: int) -> None:
    t = exchange_feedback_cursor_table
    # never backwards: two processes' readers may finish rows out of order (a row read again is a repeat, no change)
    await conn.execute(t.update().where(t.c.name == CURSOR).values(position=func.greatest(t.c.position, position)))
