"""The catalogue (事项目录) and the public guide (办事指南): use cases.

The catalogue is for the feed's readers (``roles.FEED_ROLES``), with the feed's region rule (``feed.region_filter``)
and epoch (``feed.check_epoch``). The public guide is anonymous and read-only: an online item's published content by
its code, rate-limited per client address (a token bucket per address, in this process)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Principal

from sync_gateway.adapters import catalogue as queries
from sync_gateway.domain import rate_limit
from sync_gateway.domain.catalogue import CatalogueQuery, catalogue_item, public_guide, region_prefixes
from sync_gateway.domain.errors import PublicItemNotFoundError, RateLimitedError
from sync_gateway.service_layer.feed import check_epoch, region_filter
from sync_gateway.service_layer.roles import FEED_ROLES

EXPORT_PAGE = 1000  # rows an export reads per statement (and writes out per chunk)
_FORGET_AT = 10_000  # addresses tracked before the full buckets are forgotten


class NationalCatalogue:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def page(self, principal: Principal, query: CatalogueQuery, *,
                   epoch: str | None = None) -> tuple[list[dict[str, Any]], str | None, str]:
        """A page of the catalogue for the caller: its items, the cursor of the next page (``None``: the last) and
        the feed's epoch (410 if the caller's ``epoch`` is gone)."""
        principal.require_role(*FEED_ROLES)
        rows, current = await queries.catalogue_page(self.engine, query,
                                                      region_prefixes(region_filter(principal), query.region))
        check_epoch(epoch, current)
        items = [catalogue_item(entry, elements) for entry, elements in rows]
        return items, items[-1]["item_id"] if len(items) == query.limit else None, current

    async def export(self, principal: Principal, query: CatalogueQuery) -> AsyncIterator[list[dict[str, Any]]]:
        """Every item matching ``query`` from its cursor on, a page at a time (the role is checked before the first
        page is read, so a refusal is an error response, not a broken download)."""
        principal.require_role(*FEED_ROLES)
        regions = region_prefixes(region_filter(principal), query.region)
        query = replace(query, limit=EXPORT_PAGE)

        async def pages() -> AsyncIterator[list[dict[str, Any]]]:
            nonlocal query
            while True:
                rows, _ = await queries.catalogue_page(self.engine, query, regions)
                if rows:
                    yield [catalogue_item(entry, elements) for entry, elements in rows]
                if len(rows) < query.limit:
                    return
                query = replace(query, after=rows[-1][0]["subject"])

        return pages()


class PublicGuide:
    """The public guide of online items, anonymous; ``rate`` requests a second per client address after a burst of
    ``burst`` (429 beyond, with the seconds to wait)."""

    def __init__(self, engine: AsyncEngine, *, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, rate_limit.Bucket] = {}

    def admit(self, client: str) -> None:
        """Take a token of ``client``'s bucket, or refuse with how long to wait."""
        now = self.clock()
        if len(self._buckets) >= _FORGET_AT:  # a full bucket is the same as none
            self._buckets = {k: b for k, b in self._buckets.items()
                             if not rate_limit.is_full(b, now, rate=self.rate, burst=self.burst)}
        bucket, wait_s = rate_limit.take(self._buckets.get(client), now, rate=self.rate, burst=self.burst)
        self._buckets[client] = bucket
        if wait_s:
            raise RateLimitedError(retry_after_s=wait_s)

    async def guide(self, code: str, *, client: str) -> dict[str, Any]:
        """The published guide and elements of the online item with ``code`` (404 for any other code)."""
        self.admit(client)
        entry = await queries.online_entry_of_code(self.engine, code)
        if entry is None:
            raise PublicItemNotFoundError(code=code)
        return public_guide(entry)
