"""The national feed's use cases: read it after a cursor (long-polling) and take a snapshot of the online
catalogue; for the national platform and operators (``roles.FEED_ROLES``). A nationwide token (``*``) reads every
entry; any other reads the entries of its regions only, its cursor moving past the others'.

Cursors belong to the feed's epoch (``adapters.feed_epoch``): every answer says its epoch, and a caller that passes
the epoch it follows is refused with 410 once that epoch is gone (``FeedEpochChangedError``), naming the snapshot to
start again from. A cursor beyond the head within the current epoch is not an error: the caller is simply ahead of
what was fed and gets ``[]`` until entries pass it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Principal

from sync_gateway.adapters import queries
from sync_gateway.adapters.queries import FeedPage, FeedReader
from sync_gateway.domain.errors import FeedEpochChangedError
from sync_gateway.service_layer.roles import FEED_ROLES

# Where a client of a gone epoch starts again (named in the 410's message).
SNAPSHOT_URL = "/sync/v1/snapshot"


class NationalFeed:
    def __init__(self, engine: AsyncEngine, reader: FeedReader, *, max_wait_s: float) -> None:
        self.engine = engine
        self.reader = reader
        self.max_wait_s = max_wait_s

    async def read(self, principal: Principal, *, after: int, limit: int, wait_s: float,
                   epoch: str | None = None) -> FeedPage:
        """The entries after ``after`` (position and JSON text each) and the cursor to read on from, waiting up to
        ``wait_s`` (at most the configured longest long-poll) for one to arrive. ``epoch``: the epoch the caller's
        cursor belongs to (410 if it is gone)."""
        principal.require_role(*FEED_ROLES)
        page = await self.reader.read(after, limit, min(wait_s, self.max_wait_s), regions=region_filter(principal),
                                      epoch=epoch)
        check_epoch(epoch, page.epoch)
        return page

    async def snapshot(self, principal: Principal, *, limit: int, after_item: str | None,
                       epoch: str | None = None) -> tuple[list[dict[str, Any]], int, str]:
        """A page of the online catalogue (of the caller's regions), the feed cursor to continue from and the feed's
        epoch. ``epoch``: the epoch of the snapshot's earlier pages (410 if it is gone)."""
        principal.require_role(*FEED_ROLES)
        items, cursor, current = await queries.snapshot(self.engine, limit=limit, after_item=after_item,
                                                        regions=region_filter(principal))
        check_epoch(epoch, current)
        return items, cursor, current


def check_epoch(requested: str | None, current: str) -> None:
    """Refuse a caller following an epoch that is not the feed's current one (none passed: nothing to check)."""
    if requested is not None and requested != current:
        raise FeedEpochChangedError(epoch=requested, current=current, snapshot_url=SNAPSHOT_URL)


def region_filter(principal: Principal) -> tuple[str, ...] | None:
    """The region prefixes a caller's reads are limited to; ``None`` for a nationwide caller (no filter at all)."""
    return None if principal.nationwide else principal.regions
