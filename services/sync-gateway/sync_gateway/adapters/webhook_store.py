"""Webhook subscriptions and their delivery progress in the gateway's database: the subscriptions' rows, the
delivery worker's leases, the next messages of a subscription (read from the feed) and its delivery log.

A worker *claims* a due subscription by taking its lease (``lease_owner``/``lease_until``): only the holder
delivers to it, so one message at most is in flight per subscription even with several consuming processes. The
holder writes its progress (cursor, failures, log rows) in batches, each renewing the lease; progress is written
only while the subscription's ``generation`` is the one it claimed (a replay or a deletion ends the holder's run)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import raw_driver

from sync_gateway.adapters.tables import feed_entries_table, webhook_deliveries_table, webhook_subscriptions_table

S = webhook_subscriptions_table
D = webhook_deliveries_table

# The entries after a subscription's cursor: of the next $2 (by position, reading only their type and region), those
# it takes (types $3, region prefixes $4; NULL: any) with their JSON text as the feed sends it; and a last row (text
# NULL) with the highest position looked at. One statement, so both are of one snapshot.
_NEXT_SQL = """WITH scanned AS MATERIALIZED (
    SELECT position, type, region_code FROM feed_entries WHERE position > $1 ORDER BY position LIMIT $2),
taken AS (
    SELECT position FROM scanned
    WHERE ($3::text[] IS NULL OR type = ANY($3::text[]))
      AND ($4::text[] IS NULL OR EXISTS (
          SELECT FROM unnest($4::text[]) AS p(prefix) WHERE starts_with(scanned.region_code, p.prefix))))
SELECT f.position, f.event_id, (f.entry || jsonb_build_object('sequence', f.position::text))::text
FROM taken JOIN feed_entries f USING (position)
UNION ALL
SELECT max(position), NULL, NULL FROM scanned"""


@dataclass(frozen=True)
class Message:
    """One feed entry to deliver: its position, its id (the ``webhook-id``) and its JSON text (the body)."""

    position: int
    webhook_id: str
    body: str


# ---- subscriptions ------------------------------------------------------------------------------------------------
async def insert_subscription(conn: AsyncConnection, row: Mapping[str, Any]) -> dict[str, Any]:
    return dict((await conn.execute(insert(S).values(**row).returning(S))).one()._mapping)


async def feed_end(conn: AsyncConnection) -> int:
    """The feed's last position (0 when empty): where a new subscription starts."""
    return int(await conn.scalar(select(func.coalesce(func.max(feed_entries_table.c.position), 0))) or 0)


async def subscription(conn: AsyncConnection, subscription_id: str, owner: str | None,
                       *, lock: bool = False) -> dict[str, Any] | None:
    """The subscription (of ``owner``; ``None``: anyone's), or ``None``."""
    query = select(S).where(S.c.id == subscription_id)
    if owner is not None:
        query = query.where(S.c.owner == owner)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return dict(row._mapping) if row else None


async def subscriptions(engine: AsyncEngine, owner: str | None) -> list[dict[str, Any]]:
    query = select(S).order_by(S.c.created_at, S.c.id)
    if owner is not None:
        query = query.where(S.c.owner == owner)
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(query)]


async def update_subscription(conn: AsyncConnection, subscription_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return dict((await conn.execute(update(S).where(S.c.id == subscription_id).values(**values)
                                    .returning(S))).one()._mapping)


async def delete_subscription(conn: AsyncConnection, subscription_id: str) -> None:
    await conn.execute(delete(D).where(D.c.subscription_id == subscription_id))
    await conn.execute(delete(S).where(S.c.id == subscription_id))


async def deliveries(engine: AsyncEngine, subscription_id: str, *, limit: int,
                     before: int | None) -> list[dict[str, Any]]:
    """The subscription's delivery log, newest first (``before``: older than this log id)."""
    query = select(D).where(D.c.subscription_id == subscription_id).order_by(D.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(D.c.id < before)
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(query)]


# ---- the delivery worker ------------------------------------------------------------------------------------------
async def claim_due(engine: AsyncEngine, worker: str, now: datetime, lease_s: float, limit: int,
                    holding: Sequence[str]) -> list[dict[str, Any]]:
    """Take the lease of up to ``limit`` active subscriptions that have a message waiting (their cursor behind the
    feed's end) and whose retry, if any, is due, skipping those ``holding`` already and those another live worker
    holds."""
    end = select(func.coalesce(func.max(feed_entries_table.c.position), 0)).scalar_subquery()
    due = (select(S.c.id).where(
        S.c.status == "active", S.c.cursor < end,
        or_(S.c.next_attempt_at.is_(None), S.c.next_attempt_at <= now),
        or_(S.c.lease_until.is_(None), S.c.lease_until < now, S.c.lease_owner == worker),
        S.c.id.not_in(list(holding)))
        .order_by(S.c.next_attempt_at.nulls_first(), S.c.id).limit(limit).with_for_update(skip_locked=True))
    async with engine.begin() as conn:
        rows = await conn.execute(update(S).where(S.c.id.in_(due.scalar_subquery())).values(
            lease_owner=worker, lease_until=now + timedelta(seconds=lease_s)).returning(S))
        return [dict(r._mapping) for r in rows]


async def next_messages(engine: AsyncEngine, cursor: int, event_types: Sequence[str] | None,
                        regions: Sequence[str] | None, scan: int) -> tuple[list[Message], int]:
    """The subscription's messages among the ``scan`` feed entries after ``cursor``, in order, and the highest
    position looked at (``cursor`` when there is none)."""
    async with engine.connect() as conn:
        driver = await raw_driver(conn)
        rows = await driver.fetch(_NEXT_SQL, cursor, scan, None if event_types is None else list(event_types),
                                  None if regions is None else list(regions))
    messages = sorted((Message(r[0], r[1], r[2]) for r in rows if r[2] is not None), key=lambda m: m.position)
    scanned = [r[0] for r in rows if r[2] is None and r[0] is not None]
    return messages, scanned[0] if scanned else cursor


async def record_progress(engine: AsyncEngine, subscription_id: str, *, worker: str, generation: int,
                          values: Mapping[str, Any], log: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Write a batch of a worker's progress: the subscription's new state, if it is still the worker's at the
    generation it claimed, and the log rows (what was attempted happened, replayed since or not; unless the
    subscription was deleted). Returns the
    subscription as it now is (fresh secrets, status), or ``None`` when the worker must stop (replayed, deleted
    or taken over)."""
    async with engine.begin() as conn:
        row = (await conn.execute(update(S).where(
            S.c.id == subscription_id, S.c.generation == generation, S.c.lease_owner == worker,
        ).values(**values).returning(S))).first()
        if log and (row is not None or await subscription(conn, subscription_id, None) is not None):
            await conn.execute(insert(D), [{"subscription_id": subscription_id, **entry} for entry in log])
        return dict(row._mapping) if row else None


async def prune_log(engine: AsyncEngine, older_than: datetime) -> int:
    """Delete the delivery log's rows older than ``older_than``; how many."""
    async with engine.begin() as conn:
        return (await conn.execute(delete(D).where(D.c.attempted_at < older_than))).rowcount


async def release(engine: AsyncEngine, worker: str, subscription_ids: Sequence[str]) -> None:
    """Give back the leases a stopping worker holds (another process may take them at once)."""
    if subscription_ids:
        async with engine.begin() as conn:
            await conn.execute(update(S).where(S.c.id.in_(list(subscription_ids)), S.c.lease_owner == worker)
                               .values(lease_owner=None, lease_until=None))
