"""The feed's epoch (同步源纪元, ``tables.feed_epoch_table``): made with the store, renewed on demand.

A feed position is a cursor within one epoch only. The epoch is made by the first gateway process that starts on a
store without one, so a store made anew (``shixiang dev --fresh``, a new or wiped database) starts a new epoch, and
clients holding a cursor of the old one are told so (410, ``FEED_EPOCH_CHANGED``) instead of reading ``[]`` for
ever. A restore from a backup brings back the backup's epoch row with the backup's (shorter) feed; the operator
runs ``shixiang feed-epoch --renew`` after it, as the restore procedure says. A rebuild (``shixiang rebuild sync``)
never renumbers positions, so it keeps the epoch."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from sync_gateway.adapters.tables import feed_epoch_table

_ROW = 1


def new_epoch() -> str:
    return uuid.uuid4().hex


async def ensure_feed_epoch(engine: AsyncEngine) -> str:
    """The store's epoch, made now if it has none (processes starting at once agree: the first insert wins)."""
    async with engine.begin() as conn:
        await conn.execute(pg_insert(feed_epoch_table).values(id=_ROW, epoch=new_epoch())
                           .on_conflict_do_nothing(index_elements=["id"]))
        epoch: str = (await conn.execute(select(feed_epoch_table.c.epoch))).scalar_one()
        return epoch


async def renew_feed_epoch(engine: AsyncEngine) -> tuple[str, str]:
    """Replace the epoch (after a restore): every client's next read with the old one is answered 410 and it starts
    again from the snapshot. Returns (old, new)."""
    epoch = new_epoch()
    async with engine.begin() as conn:
        old = await conn.scalar(select(feed_epoch_table.c.epoch).with_for_update())
        stmt = pg_insert(feed_epoch_table).values(id=_ROW, epoch=epoch)
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=["id"], set_={"epoch": epoch, "created_at": stmt.excluded.created_at}))
    return old or "", epoch
