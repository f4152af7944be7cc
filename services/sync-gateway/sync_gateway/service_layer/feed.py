"""The national feed's use cases: read it after a cursor (long-polling) and take a snapshot of the online
catalogue; for the national platform and operators (``roles.FEED_ROLES``). A nationwide token (``*``) reads every
entry; any other reads the entries of its regions only, its cursor moving past the others'."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Principal

from sync_gateway.adapters import queries
from sync_gateway.adapters.queries import FeedPage, FeedReader
from sync_gateway.service_layer.roles import FEED_ROLES


class NationalFeed:
    def __init__(self, engine: AsyncEngine, reader: FeedReader, *, max_wait_s: float) -> None:
        self.engine = engine
        self.reader = reader
        self.max_wait_s = max_wait_s

    async def read(self, principal: Principal, *, after: int, limit: int, wait_s: float) -> FeedPage:
        """The entries after ``after`` (position and JSON text each) and the cursor to read on from, waiting up to
        ``wait_s`` (at most the configured longest long-poll) for one to arrive."""
        principal.require_role(*FEED_ROLES)
        return await self.reader.read(after, limit, min(wait_s, self.max_wait_s), regions=region_filter(principal))

    async def snapshot(self, principal: Principal, *, limit: int,
                       after_item: str | None) -> tuple[list[dict[str, Any]], int]:
        """A page of the online catalogue (of the caller's regions) and the feed cursor to continue from."""
        principal.require_role(*FEED_ROLES)
        return await queries.snapshot(self.engine, limit=limit, after_item=after_item,
                                      regions=region_filter(principal))


def region_filter(principal: Principal) -> tuple[str, ...] | None:
    """The region prefixes a caller's reads are limited to; ``None`` for a nationwide caller (no filter at all)."""
    return None if principal.nationwide else principal.regions
