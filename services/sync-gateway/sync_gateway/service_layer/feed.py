"""The national feed's use cases: read it after a cursor (long-polling) and take a snapshot of the online
catalogue; both for the national platform and operators."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Principal

from sync_gateway.adapters import queries
from sync_gateway.adapters.queries import FeedReader

FEED_ROLES = ("national", "operator")


class NationalFeed:
    def __init__(self, engine: AsyncEngine, reader: FeedReader, *, max_wait_s: float) -> None:
        self.engine = engine
        self.reader = reader
        self.max_wait_s = max_wait_s

    async def read(self, principal: Principal, *, after: int, limit: int, wait_s: float) -> list[tuple[int, str]]:
        """The entries after ``after`` (position and JSON text each), waiting up to ``wait_s`` (at most the
        configured longest long-poll) for one to arrive."""
        principal.require_role(*FEED_ROLES)
        return await self.reader.read(after, limit, min(wait_s, self.max_wait_s))

    async def snapshot(self, principal: Principal, *, limit: int,
                       after_item: str | None) -> tuple[list[dict[str, Any]], int]:
        """A page of the online catalogue and the feed cursor to continue from."""
        principal.require_role(*FEED_ROLES)
        return await queries.snapshot(self.engine, limit=limit, after_item=after_item)
