"""The planned-dates worker (计划生效 / 计划取消): runs with the ``consume`` role and acts on items whose planned
action is due.

Why it never acts twice, even with several replicas and restarts:
- The due actions live in ``lifecycle_schedule`` (a projection of each item's state, written in the same
  transaction as the item's events), not in memory: a restart loses nothing.
- A worker claims one due row with ``FOR UPDATE SKIP LOCKED`` and, in that same transaction, decides from the
  item's current state (``planning.decide_planned``), appends the events and rewrites the row from the new state
  (the next plan, or none). Another replica skips the locked row; after the commit the row no longer says "due".
- The append carries the expected version: if a command changed the item in between, the worker's transaction
  fails as a whole and the row is tried again on fresh state.
Time comes from the injected clock, so tests move it instead of waiting."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import ConcurrencyConflictError
from shared.eventstore import EventMetadata

from lifecycle.adapters.store import ItemRepository, change
from lifecycle.domain.planning import SCHEDULER_ACTOR, decide_planned
from lifecycle.service_layer.clock import Clock

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class ScheduledOutcome:
    item_id: str
    outcome: str  # acted / replanned / conflict / failed
    version: int | None = None


class PlannedDatesScheduler:
    def __init__(self, engine: AsyncEngine, repository: ItemRepository, clock: Clock, *,
                 poll_interval_s: float = 1.0) -> None:
        self.engine = engine
        self.repository = repository
        self.clock = clock
        self.poll_interval_s = poll_interval_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                busy = await self.run_due() > 0
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be restarting: keep the worker alive, try again later
                log.exception("planned-dates scheduler failed; retrying")
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_interval_s)

    async def run_due(self, limit: int = 100) -> int:
        """Act on due items, one transaction each, until none is due (or ``limit``). Returns how many were handled."""
        handled = 0
        while handled < limit:
            outcome = await self.run_one()
            if outcome is None:
                break
            handled += 1
        return handled

    async def run_one(self) -> ScheduledOutcome | None:
        now = self.clock.now()
        item_id: str | None = None
        try:
            async with self.engine.begin() as conn:
                item_id = await self.repository.claim_due(conn, now)
                if item_id is None:
                    return None
                state = await self.repository.load(conn, item_id)
                decided = decide_planned(state, now=now, tz=self.repository.tz)
                if not decided:
                    await self.repository.replan(conn, state)
                    return ScheduledOutcome(item_id, "replanned", state.version)
                metadata = EventMetadata(actor=SCHEDULER_ACTOR, correlation_id=f"planned:{item_id}", recorded_at=now)
                planned = change(state, decided, metadata)
                await self.repository.save(conn, [planned])
                return ScheduledOutcome(item_id, "acted", planned.after.version)
        except ConcurrencyConflictError as exc:
            return ScheduledOutcome(str(exc.context.get("stream_id")), "conflict")
        except Exception as exc:
            if item_id is None:
                raise
            await self._postpone(item_id, f"{type(exc).__name__}: {exc}", now)
            log.exception("planned action of %s failed; postponed", item_id)
            return ScheduledOutcome(item_id, "failed")

    async def _postpone(self, item_id: str, error: str, now: datetime) -> None:
        """A failing action must not spin: back off exponentially and keep the error for operators."""
        async with self.engine.begin() as conn:
            attempts = await self.repository.schedule_attempts(conn, item_id)
            if attempts is None:
                return
            delay = min(timedelta(seconds=2 ** min(attempts, 20)), MAX_BACKOFF)
            await self.repository.postpone(conn, item_id, attempts=attempts + 1, error=error[:2000],
                                           due_at=now + delay)
