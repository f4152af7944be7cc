"""The exchange database (前置库) channel, both ways (layout and rules: ``domain.exchange``, ``docs/exchange.md``):

- up: every feed entry (a published record; the feed is the outbox) becomes ``up_*`` rows. A sync round takes the
  entries after the writer's position, at most ``batch_size``, and writes their rows with one ``cd_batch`` and
  ``cd_time`` and the new position in one transaction of the exchange database (``adapters.exchange_db``): exactly
  once per published change, whatever the redeliveries upstream (the feed itself has one entry per change).
- down: each ``dn_audit_abnormal`` row the national side writes is recorded as a national rejection through the
  same use case as ``POST /sync/v1/national/feedback`` (``NationalFeedback.record``: an event the lifecycle records
  on the item), the reader's position moving in that same transaction of the gateway's database. A row that cannot
  be recorded (an item version never fed, no message) is logged and passed over: the national side's error, which
  retrying would not mend.

Both run as one background task of the process that runs the consumers (``run``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.auth import ALL_REGIONS, Principal
from shared.errors import ConcurrencyConflictError, DomainError
from shared.migrations import prepare_schema
from shared.settings import Environment

from sync_gateway.adapters import exchange_db
from sync_gateway.adapters.exchange_migrations import HISTORY as EXCHANGE_HISTORY
from sync_gateway.adapters.notify import NotifyListener
from sync_gateway.domain.exchange import (
    AuditAbnormal,
    RowSignature,
    exchange_rows,
    rejection_note,
    rejection_reason,
    signed_rows,
)
from sync_gateway.domain.feedback import Feedback, FeedbackResult
from sync_gateway.service_layer.feedback import NationalFeedback

log = logging.getLogger(__name__)
ROUND_LINGER_S = 0.05  # after a wake by the feed's NOTIFY (see ExchangeSync.run)

# Who records the exchange database's rejections: the national platform, writing through the front-end database.
EXCHANGE_PRINCIPAL = Principal(subject="national-exchange", roles=frozenset({"national"}), regions=(ALL_REGIONS,))


@dataclass(frozen=True)
class RoundReport:
    entries: int  # feed entries the round took
    rows: int  # exchange rows it added
    batch: str | None


class ExchangeSync:
    def __init__(self, engine: AsyncEngine, exchange_engine: AsyncEngine, feedback: NationalFeedback, *,
                 data_source: str, batch_size: int = 500, poll_interval_s: float = 0.2,
                 listener: NotifyListener | None = None, environment: Environment = Environment.development,
                 signing: tuple[RowSignature, bytes] = (RowSignature.none, b""),
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.signing = signing  # (algorithm, shared key) of the rows' signatures (docs/exchange.md)
        self.environment = environment
        # Woken by the feed's NOTIFY when entries arrive (a round follows at once); ``poll_interval_s`` still bounds
        # the wait, for the national side's rejections (which send no NOTIFY) and a missed notification.
        self.listener = listener
        self.exchange_engine = exchange_engine
        self.feedback = feedback
        self.data_source = data_source
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.now = now

    async def prepare(self) -> None:
        """The exchange database's schema (``run`` prepares it first): upgraded to head in development and tests;
        in production checked to be at head (`shixiang migrate sync` upgrades it), the rounds waiting until it is."""
        await prepare_schema(self.exchange_engine, EXCHANGE_HISTORY, self.environment)

    async def write_round(self) -> RoundReport:
        """One sync round: the next feed entries as exchange rows under one new ``cd_batch``."""
        async with self.exchange_engine.begin() as xconn:
            position, rounds, event_id = await exchange_db.locked_cursor(xconn)
            async with self.engine.connect() as conn:
                if position and await exchange_db.fed_event_at(conn, position) != event_id:
                    # Not the feed written from (the gateway's database restored or started afresh): start over.
                    # Rows of changes written before have the same keys and are skipped; the rest are added.
                    log.warning("exchange: the feed entry at position %d is not the one written; starting over",
                                position)
                    position = 0
                fed = await exchange_db.fed_records_after(conn, position, self.batch_size)
            if not fed:
                return RoundReport(0, 0, None)
            batch, cd_time = f"{rounds + 1:012d}", self.now()
            tables: dict[str, list[dict[str, object]]] = {}
            for _, _, record in fed:
                rows = exchange_rows(record, cd_batch=batch, cd_time=cd_time, data_source=self.data_source)
                algorithm, key = self.signing
                for table, table_rows in signed_rows(rows, key, algorithm).items():
                    tables.setdefault(table, []).extend(table_rows)
            written = await exchange_db.write_round(xconn, tables, position=fed[-1][0], event_id=fed[-1][1],
                                                    rounds=rounds + 1)
        return RoundReport(len(fed), written, batch)

    async def read_feedback(self, limit: int = 500) -> int:
        """Record the national side's new ``dn_audit_abnormal`` rows as rejections; returns how many were read."""
        async with self.engine.connect() as conn:
            after = await exchange_db.feedback_position(conn)
            await conn.commit()
        async with self.exchange_engine.begin() as xconn:
            rows = await exchange_db.audit_abnormal_after(xconn, after, limit)
        for row in rows:
            await self._record(row)
        return len(rows)

    async def _record(self, row: AuditAbnormal) -> None:
        async def advance(conn: AsyncConnection) -> None:
            await exchange_db.feedback_position(conn)  # locks the position: readers in two processes take turns
            await exchange_db.save_feedback_position(conn, row.position)

        feedback = Feedback(row.task_guid, row.task_version, FeedbackResult.rejected, rejection_reason(row),
                            rejection_note(row))
        try:
            await self.feedback.record(feedback, EXCHANGE_PRINCIPAL, correlation_id=f"exchange-{row.position}",
                                       then=advance)
        except ConcurrencyConflictError:
            raise  # contention, not the row's fault: the next poll reads the row again
        except DomainError as exc:
            log.warning("exchange: %s row %d (item %s version %d) cannot be recorded: %s", "dn_audit_abnormal",
                        row.position, row.task_guid, row.task_version, exc)
            async with self.engine.begin() as conn:
                await advance(conn)

    async def run(self, stop: asyncio.Event) -> None:
        """Prepare the schema, then write rounds while there are entries, read the feedback and wait
        ``poll_interval_s``, until ``stop``; a failure (the exchange database unreachable) is logged and retried."""
        prepared = False
        feedback_read_at = -math.inf
        if self.listener is not None:
            await self.listener.start()
        try:
            while not stop.is_set():
                # Taken before the round: entries fed while it runs wake the next wait at once.
                changed = self.listener.changed if self.listener is not None else None
                try:
                    if not prepared:
                        await self.prepare()
                        prepared = True
                    while (await self.write_round()).entries == self.batch_size:
                        pass
                    # Rejections every poll interval, not on every wake: the feed wakes the writer many times a
                    # second under load, and each read is three statements on two databases.
                    if time.monotonic() - feedback_read_at >= self.poll_interval_s:
                        feedback_read_at = time.monotonic()
                        await self.read_feedback()
                except Exception:
                    log.warning("exchange database: a round failed; trying again", exc_info=True)
                waits = [asyncio.ensure_future(stop.wait())] + (
                    [asyncio.ensure_future(changed.wait())] if changed is not None else [])
                try:
                    await asyncio.wait(waits, timeout=self.poll_interval_s, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiting in waits:
                        waiting.cancel()
                if changed is not None and changed.is_set() and not stop.is_set():
                    # Woken by the feed: under load more entries follow within milliseconds. A short linger lets
                    # one round (a dozen statements on two databases) take them together instead of one round each,
                    # at the cost of at most ROUND_LINGER_S on a row's way.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), ROUND_LINGER_S)
        finally:
            if self.listener is not None:
                await self.listener.stop()
