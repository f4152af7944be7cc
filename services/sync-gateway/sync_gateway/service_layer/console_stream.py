"""The console's view of the operations log: the live stream (batches after a cursor, woken by every append),
pages of the log and events per minute — for operators and administrators (``require_console``), each limited to
the caller's regions: a caller who is not nationwide sees only events of items whose region is known and lies in
its regions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.auth import Principal
from shared.errors import RegionDeniedError

from sync_gateway.adapters import operations
from sync_gateway.adapters.operations import OperationsReader
from sync_gateway.domain.operations import SERVICES, EventFilter
from sync_gateway.service_layer.console_access import require_console

# At most this many events per SSE message.
BATCH_LIMIT = 500
# After a wake, a stream waits this long before it reads, so that the appends of many consumer batches reach a
# viewer as one message and one query (1,000 events/s stays a handful of reads per second per viewer).
BATCH_WINDOW_S = 0.2
# A stream re-reads at least this often even without a NOTIFY (one may be missed while the listener reconnects).
RECHECK_S = 1.0


@dataclass(frozen=True)
class Batch:
    """One SSE message: events and the position to resume after (``None`` events: a keepalive)."""

    events: list[dict[str, Any]] | None
    position: int


class ConsoleEvents:
    def __init__(self, reader: OperationsReader, *, keepalive_s: float, retention_days: int) -> None:
        self.reader = reader
        self.keepalive_s = keepalive_s
        self.retention_days = retention_days
        self.closing = asyncio.Event()  # set when the process stops: every open stream ends

    def scoped(self, principal: Principal, f: EventFilter, region: str | None) -> EventFilter:
        """The filter as the caller may ask it: console roles only; ``region`` must lie within the caller's
        regions (403 REGION_FORBIDDEN); without it, a caller who is not nationwide gets its own regions."""
        require_console(principal)
        if region is not None:
            if not principal.covers([region]):
                raise RegionDeniedError(region_code=region, regions=list(principal.regions))
            return replace(f, regions=(region,))
        return replace(f, regions=None if principal.nationwide else principal.regions)

    async def start_position(self, after: int | None) -> int:
        """Where a stream starts: after ``after``, or at the log's current end (only new events)."""
        return after if after is not None else await self.reader.head()

    async def stream(self, f: EventFilter, position: int) -> AsyncIterator[Batch]:
        """Batches of the events after ``position`` matching ``f`` (already scoped), as they are appended, with a
        keepalive every ``keepalive_s``; ends when the process stops (or the caller stops reading)."""
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        while not self.closing.is_set():
            changed = self.reader.changed
            page = await self.reader.after(position, f, BATCH_LIMIT)
            position = page.cursor
            if page.events:
                last_sent = loop.time()
                yield Batch(page.events, position)
            if not page.at_end:
                continue
            woken = await self._wait(changed, min(RECHECK_S, max(0.0, last_sent + self.keepalive_s - loop.time())))
            if woken:
                await self._wait(asyncio.Event(), BATCH_WINDOW_S)
            elif loop.time() - last_sent >= self.keepalive_s:
                last_sent = loop.time()
                yield Batch(None, position)

    async def _wait(self, changed: asyncio.Event, timeout_s: float) -> bool:
        """Wait for ``changed`` or the process stopping, up to ``timeout_s``; whether ``changed`` was set."""
        waits = [asyncio.ensure_future(changed.wait()), asyncio.ensure_future(self.closing.wait())]
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        return changed.is_set()

    async def page(self, principal: Principal, f: EventFilter, region: str | None, *, after: int | None,
                   before: int | None, descending: bool, limit: int) -> dict[str, Any]:
        f = self.scoped(principal, f, region)
        events, next_position = await self.reader.page(f, after=after, before=before, descending=descending,
                                                       limit=limit)
        return {"events": events, "next": next_position}

    async def activity(self, principal: Principal, minutes: int, now: datetime | None = None) -> dict[str, Any]:
        """Events per minute per service over the last ``minutes`` minutes (the current one last), by the time
        they occurred, of the caller's regions."""
        f = self.scoped(principal, EventFilter(), None)
        now = now or datetime.now(UTC)
        start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
        counts = await self.reader.activity(f, start, minutes)
        slots = [start + timedelta(minutes=i) for i in range(minutes)]
        return {"minutes": [s.isoformat() for s in slots],
                "series": {service: [counts.get((service, s), 0) for s in slots] for service in SERVICES}}

    async def prune(self) -> int:
        """Delete the log's rows older than the retention."""
        return await operations.prune(self.reader.engine,
                                      datetime.now(UTC) - timedelta(days=self.retention_days))
