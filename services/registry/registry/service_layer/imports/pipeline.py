"""The import's three overlapping stages, for one job: the reader process reads and validates ahead
(registry/adapters/import_reading.py); here the next chunk is decided (chunks.py) while the chunks before it are
written, up to :data:`WRITES_IN_FLIGHT` of them, each in its own transaction and in file order: a chunk stores its
read-model rows while the one before it inserts its events and commits. A chunk that meets a concurrent change is
decided and written again, and so is every chunk decided beside it; rows that refer to rows further down the file
are decided again once the whole file is in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.auth import Principal

from registry.adapters import import_jobs, store
from registry.adapters.import_reading import Chunk, InlineFile, PreparedFile, PreparedRow
from registry.service_layer.imports.chunks import ChunkDecision, decide_chunk, zero_counts

log = logging.getLogger(__name__)
WRITES_IN_FLIGHT = 2  # chunk writes overlapping: the later one's rows are stored while the earlier one commits
ATTEMPTS = 3  # a chunk that meets a concurrent edit of one of its items is decided again on fresh state


class EarlierChunkFailedError(Exception):
    """A chunk's write gave up because the chunk before it met a concurrent change: both are decided again."""


def must_decide_again(exc: BaseException) -> bool:
    """A chunk's write met a concurrent change (store.met_concurrent_change), or the chunk before it did."""
    return isinstance(exc, EarlierChunkFailedError) or store.met_concurrent_change(exc)


@dataclass
class JobState:
    """What one job has done so far: its committed chunks' counters and row errors, and the rows put aside."""

    job_id: str
    principal: Principal
    tabular: bool
    deferred: list[PreparedRow] = field(default_factory=list)  # rows referring to rows further down the file
    error_seq: int = 0
    counts: dict[str, int] = field(default_factory=zero_counts)

    def committed(self, decision: ChunkDecision) -> None:
        """Only once a chunk is committed do the counters move (a retried chunk is decided from scratch)."""
        self.counts = {k: self.counts[k] + v for k, v in decision.counts.items()}
        self.error_seq += len(decision.failures)
        self.deferred += decision.deferred


class ChunkPipeline:
    """Decides and writes one job's chunks; ``state`` moves as each chunk commits."""

    def __init__(self, engine: AsyncEngine, state: JobState, *, chunk_size: int,
                 now: Callable[[], datetime]) -> None:
        self.engine = engine
        self.state = state
        self.chunk_size = chunk_size
        self.now = now

    async def run(self, reading: PreparedFile | InlineFile) -> float:
        """Three stages at once: the reader process reads and validates ahead; here the next chunk is decided
        while the ones before it are written, up to :data:`WRITES_IN_FLIGHT` of them (each commits in file order;
        see :meth:`_write`). Rows of one file never share a 来源编号, so neighbouring chunks touch different items;
        what a later one refers to in an earlier one it finds in the earlier one's decision. A write that meets a
        concurrent change is decided and written again on its own, and so is every chunk decided beside it.
        Returns the progress reached."""
        progress = 0.0
        in_flight: list[tuple[ChunkDecision, asyncio.Task[None]]] = []  # oldest first
        try:
            while (chunk := await reading.next_chunk()) is not None:
                progress = chunk.progress
                async with self.engine.connect() as conn:
                    decision: ChunkDecision | None = await self._decide(conn, chunk, final=False,
                                                                        ahead=[d for d, _ in in_flight])
                if len(in_flight) == WRITES_IN_FLIGHT and not await self._finish_oldest(in_flight):
                    decision = None  # decided beside a chunk that had to be decided again
                if decision is None or decision.needs_committed_state:
                    while in_flight:
                        await self._finish_oldest(in_flight)
                    await self.apply(chunk)
                else:
                    before = in_flight[-1][1] if in_flight else None
                    in_flight.append((decision, asyncio.create_task(self._write(decision, before))))
            while in_flight:
                await self._finish_oldest(in_flight)
        finally:
            for _, task in in_flight:  # cancelled or failed: a write in flight commits or not, the job says so
                task.cancel()
            await asyncio.gather(*(task for _, task in in_flight), return_exceptions=True)
        return progress

    async def _finish_oldest(self, in_flight: list[tuple[ChunkDecision, asyncio.Task[None]]]) -> bool:
        """Wait for the oldest write in flight. If it met a concurrent change, it and every write after it (they
        wait for it, so none of them has committed) are decided and written again in order (False)."""
        decision, write = in_flight.pop(0)
        try:
            await write
            return True
        except Exception as exc:
            if not must_decide_again(exc):
                raise
            log.info("import job %s: chunk met a concurrent change; deciding it again", self.state.job_id)
        redo = [decision, *(d for d, _ in in_flight)]
        for _, later in in_flight:
            later.cancel()
        await asyncio.gather(*(t for _, t in in_flight), return_exceptions=True)
        in_flight.clear()
        for d in redo:
            await self.apply(d.chunk, final=d.final)
        return False

    async def deferred(self, *, progress: float) -> None:
        """Rows that referred to items not yet known, once the whole file is in: again while any of them gets
        through (a chain of forward references resolves one link per round), then the rest are reported."""
        while self.state.deferred:
            rows, self.state.deferred = self.state.deferred, []
            for start in range(0, len(rows), self.chunk_size):
                await self.apply(Chunk(rows[start:start + self.chunk_size], progress))
            if len(self.state.deferred) == len(rows):
                rows, self.state.deferred = self.state.deferred, []
                for start in range(0, len(rows), self.chunk_size):
                    await self.apply(Chunk(rows[start:start + self.chunk_size], progress), final=True)

    async def apply(self, chunk: Chunk, *, final: bool = False) -> None:
        """Decide and write one chunk in one transaction, on the store as it is now."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.engine.begin() as conn:
                    decision = await self._decide(conn, chunk, final=final, ahead=())
                    await self._write_in(conn, decision)
                self.state.committed(decision)
                return
            except Exception as exc:
                if attempt == ATTEMPTS or not must_decide_again(exc):
                    raise
                log.info("import job %s: chunk met a concurrent change; deciding it again", self.state.job_id)

    async def _write(self, d: ChunkDecision, before: asyncio.Task[None] | None) -> None:
        """One chunk's transaction while the chunk ``before`` it may still be in flight: its read-model rows go in
        at once (they are other items than the earlier chunk's), so PostgreSQL stores them while the earlier chunk
        inserts its events and commits; then, once that one has committed, its row errors, the job's counters and
        its events. A lock this transaction waits for too long (another import of the same list, say) counts as a
        concurrent change, so that a wait through ``before``, which PostgreSQL cannot see, never deadlocks."""
        async with self.engine.begin() as conn:
            await store.limit_lock_waits(conn)
            if d.prepared is not None:
                await store.write_rows(conn, d.prepared)
            if before is not None:
                await asyncio.wait([before])  # not `await before`: cancelling this write must not cancel that one
                if before.cancelled() or before.exception() is not None:
                    raise EarlierChunkFailedError
            await self._write_in(conn, d, rows_written=True)
        self.state.committed(d)

    async def _write_in(self, conn: AsyncConnection, d: ChunkDecision, *, rows_written: bool = False) -> None:
        """The chunk's row errors, the job's counters and its items, in the caller's transaction."""
        state = self.state
        await import_jobs.insert_row_errors(conn, state.job_id, d.failures, first_seq=state.error_seq + 1,
                                            tabular_file=state.tabular)
        totals = {k: state.counts[k] + v for k, v in d.counts.items()}
        await import_jobs.update_job(conn, state.job_id, **totals, progress=d.chunk.progress, heartbeat_at=d.now)
        if d.prepared is not None:
            if not rows_written:
                await store.write_rows(conn, d.prepared)
            await store.write_events(conn, d.prepared)

    async def _decide(self, conn: AsyncConnection, chunk: Chunk, *, final: bool,
                      ahead: Sequence[ChunkDecision]) -> ChunkDecision:
        return await decide_chunk(conn, chunk, job_id=self.state.job_id, author=self.state.principal.subject,
                                  now=self.now(), final=final, ahead=ahead)
