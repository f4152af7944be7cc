"""Import jobs: starting one (the upload spooled to a file, a job row written), running it as a task of this process
when its turn comes (at most ``max_running`` at once, the others queued first come first served), its heartbeat,
draining on shutdown, and its status. Running it is pipeline.py's: a reader *process* reads the file and validates
its rows a chunk at a time (registry/adapters/import_reading.py: CPU work, kept off this process's GIL) while each
chunk is decided (chunks.py: the same decision as a change over HTTP) and written. Each chunk is one transaction:
its new and changed items (one ``append_batch`` for all their events), their read-model rows, the job's counters
and the chunk's row errors — so what ``GET /imports/{job}`` reports is exactly what is stored. Valid rows are kept,
invalid rows reported with row, column, code and message. A row is matched to an existing item by its 来源编号 in
its region: unchanged content writes nothing (re-importing a file changes nothing), changed content is a new
revision (pending once published, refused once cancelled).

A job whose process died stops sending heartbeats and is reported as interrupted; importing the same file again
completes it without duplicates."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Principal

from registry.adapters import import_jobs, queries
from registry.adapters.import_reading import InlineFile, PreparedFile, open_prepared
from registry.adapters.spool import Spool, remove_part_copies, remove_quietly
from registry.adapters.spreadsheets.formats import detect_format
from registry.domain.errors import ImportFileError, ImportJobNotFoundError, ImportTooLargeError
from registry.errors import ERRORS
from registry.service_layer.imports.pipeline import ChunkPipeline, JobState
from registry.service_layer.items import Registry
from registry.service_layer.roles import IMPORT_JOB_READ_ROLES, WRITE_ROLES

log = logging.getLogger(__name__)
# How often a job waiting for its turn says it still waits (a heartbeat older than queries.HEARTBEAT_STALE reads
# as interrupted).
QUEUED_HEARTBEAT = timedelta(seconds=30)


class ImportJobs:
    """The import jobs of this registry process."""

    def __init__(self, registry: Registry, *, chunk_size: int = 1000, max_bytes: int = 512 * 1024 * 1024,
                 spool_dir: Path | None = None, max_running: int = 2, drain_seconds: float = 20.0) -> None:
        self.registry = registry
        self.chunk_size = chunk_size
        self.max_bytes = max_bytes
        self.spool = Spool(spool_dir)
        self.drain_seconds = drain_seconds
        self._slots = asyncio.Semaphore(max_running)
        self._tasks: set[asyncio.Task[None]] = set()  # every job of this process, queued or running
        self._running: set[asyncio.Task[None]] = set()

    @property
    def engine(self) -> AsyncEngine:
        return self.registry.runtime.engine

    # ---- starting -------------------------------------------------------------------------------------------------
    async def start(self, principal: Principal, body: AsyncIterator[bytes], *, filename: str | None,
                    content_type: str | None, declared_format: str | None) -> dict[str, Any]:
        principal.require_role(*WRITE_ROLES)
        path, head = await self._spool(body)
        try:
            fmt = detect_format(head, declared=declared_format, content_type=content_type, filename=filename)
            job_id = await self.create_job(principal, filename=filename, fmt=fmt)
        except BaseException:
            remove_quietly(path)
            raise
        task = asyncio.create_task(self.run(job_id, principal, path, fmt), name=f"import-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await self.get(job_id, principal)

    async def _spool(self, body: AsyncIterator[bytes]) -> tuple[Path, bytes]:
        """The upload to a temporary file, chunk by chunk (a 100,000-row file never sits in memory)."""
        handle, path = await asyncio.to_thread(self.spool.new_upload)
        size, head = 0, b""
        try:
            with handle:
                async for piece in body:
                    size += len(piece)
                    if size > self.max_bytes:
                        raise ImportTooLargeError(limit_mb=self.max_bytes // (1024 * 1024))
                    if len(head) < 4096:
                        head += piece[:4096 - len(head)]
                    await asyncio.to_thread(handle.write, piece)
        except BaseException:
            remove_quietly(path)
            raise
        return path, head

    async def create_job(self, principal: Principal, *, filename: str | None, fmt: str) -> str:
        job_id = str(uuid.uuid4())
        async with self.engine.begin() as conn:
            await import_jobs.insert_job(conn, job_id, subject=principal.subject, regions=principal.regions,
                                         filename=filename, fmt=fmt, now=self.registry.now())
        return job_id

    async def prepare_spool_dir(self) -> None:
        """At start-up: the spool directory exists, this process holds its place there, and what stopped processes
        left in it — uploads up to ``max_bytes`` each — is removed (it would otherwise stay until the machine, or
        the volume, is cleaned)."""
        await asyncio.to_thread(self.spool.open)
        try:
            removed = await asyncio.to_thread(self.spool.remove_orphans)
        except OSError:  # tidying up is not worth failing to start for
            log.warning("could not clear the spool directory %s", self.spool.directory, exc_info=True)
            return
        if removed:
            log.info("removed %d spool files left by stopped processes: %s", len(removed),
                     ", ".join(p.name for p in removed))

    async def close(self) -> None:
        """On shutdown (a rolling update, an autoscaler taking a replica away): running imports get up to
        ``drain_seconds`` to finish, so that their users need not import again; queued ones, and what is still
        running then, are cancelled and read as interrupted (importing the same file again completes them)."""
        for task in self._tasks - self._running:
            task.cancel()
        if self._running and self.drain_seconds > 0:
            log.info("waiting up to %.0f s for %d running imports to finish", self.drain_seconds, len(self._running))
            await asyncio.wait(self._running, timeout=self.drain_seconds)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.spool.close()

    # ---- running --------------------------------------------------------------------------------------------------
    async def run(self, job_id: str, principal: Principal, path: Path, fmt: str) -> None:
        """The whole import of one file, once it is its turn; the job row says how it went (this never raises for
        bad input)."""
        try:
            await self._wait_for_a_slot(job_id)
        except BaseException:
            remove_quietly(path)
            raise
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await self._import(job_id, principal, path, fmt)
        finally:
            self._running.discard(task)
            self._slots.release()

    async def _wait_for_a_slot(self, job_id: str) -> None:
        """At most ``max_running`` imports run in this process at once (each has a reader process of up to
        ≈ 230 MB, and they would share the same cores); the others stay queued, first come first served, and say
        so by their heartbeat (a job whose heartbeat stops reads as interrupted)."""
        acquiring = asyncio.ensure_future(self._slots.acquire())
        try:
            while not (await asyncio.wait({acquiring}, timeout=QUEUED_HEARTBEAT.total_seconds()))[0]:
                try:
                    await self._set(job_id)
                except Exception:
                    log.warning("import job %s: could not record that it is still queued", job_id, exc_info=True)
        except BaseException:
            if acquiring.done() and not acquiring.cancelled():
                self._slots.release()
            else:
                acquiring.cancel()
            raise

    async def _import(self, job_id: str, principal: Principal, path: Path, fmt: str) -> None:
        reading: PreparedFile | InlineFile | None = None
        try:
            await self._set(job_id, status="running", started_at=self.registry.now())
            reading = open_prepared(path, fmt, self.registry.dictionaries, principal, self.registry.now().date(),
                                    self.chunk_size)
            head = await reading.head()
            state = JobState(job_id, principal, head.tabular)
            if head.total_rows is not None:
                await self._set(job_id, rows_total=head.total_rows)
            if head.problems:
                async with self.engine.begin() as conn:
                    await import_jobs.insert_row_errors(conn, job_id, [(1, p) for p in head.problems],
                                                        first_seq=state.error_seq + 1, tabular_file=state.tabular)
                    state.error_seq += len(head.problems)
            pipeline = ChunkPipeline(self.engine, state, chunk_size=self.chunk_size, now=self.registry.now)
            progress = await pipeline.run(reading)
            await pipeline.deferred(progress=progress)
            await self._set(job_id, status="completed", finished_at=self.registry.now(), progress=1.0,
                            rows_total=state.counts["rows_processed"])
        except ImportFileError as exc:
            await self._set(job_id, status="failed", error=str(exc.context.get("reason")),
                            error_code=ERRORS.spec_for(exc).code, finished_at=self.registry.now())
        except asyncio.CancelledError:
            raise  # shutting down: the heartbeat goes stale and the job reads as interrupted
        except Exception as exc:
            log.exception("import job %s failed", job_id)
            await self._set(job_id, status="failed", error=f"导入过程出错：{type(exc).__name__}: {exc}",
                            error_code="IMPORT_FAILED", finished_at=self.registry.now())
        finally:
            if reading is not None:
                await asyncio.shield(asyncio.to_thread(self._stop_reader, reading, path))
            remove_quietly(path)

    @staticmethod
    def _stop_reader(reading: PreparedFile | InlineFile, upload: Path) -> None:
        reading.close()
        remove_part_copies(upload)  # a reader stopped mid-part could not remove its copy itself

    async def _set(self, job_id: str, **values: Any) -> None:
        """Updates the job's row, and its heartbeat."""
        async with self.engine.begin() as conn:
            await import_jobs.update_job(conn, job_id, **values, heartbeat_at=self.registry.now())

    # ---- status -----------------------------------------------------------------------------------------------------
    async def get(self, job_id: str, principal: Principal, *, errors_after: int = 0,
                  errors_limit: int = 1000) -> dict[str, Any]:
        """The job's progress and a page of its row errors, for the registry's readers (403 for anyone else). Of
        them, its starter may read it, and so may one whose regions cover all the regions the job was started with:
        every row the job wrote lies within them (rows outside are refused), so such a reader may read those items
        anyway. To the others the job does not exist (404), as a registry item of another region does not."""
        principal.require_role(*IMPORT_JOB_READ_ROLES)
        async with self.engine.connect() as conn:
            job = await queries.import_job_row(conn, job_id)
            if job is None or not may_read_job(principal, job.subject, job.regions):
                raise ImportJobNotFoundError(job_id=job_id)
            return await queries.import_job_view(conn, job, now=self.registry.now(), errors_after=errors_after,
                                                 errors_limit=errors_limit)

    async def recent(self, principal: Principal, *, cursor: str | None, limit: int,
                     errors_limit: int, status: str | None = None) -> dict[str, Any]:
        """The caller's recent jobs, newest first, each as :meth:`get` shows it (with its first ``errors_limit``
        row errors): those it started, and those whose starter's regions all lie within the caller's — the same
        rule as :func:`may_read_job`; only those in ``status`` when given (``running``: the imports running now, as
        the operators' console shows them). Cursor pagination as the item list's."""
        principal.require_role(*IMPORT_JOB_READ_ROLES)
        async with self.engine.connect() as conn:
            return await queries.recent_import_jobs(
                conn, principal, readers=IMPORT_JOB_READ_ROLES, cursor=cursor, limit=limit, now=self.registry.now(),
                errors_limit=errors_limit, status=status)


def may_read_job(principal: Principal, starter: str, regions: list[str]) -> bool:
    """The starter, or a reader whose regions cover the job's (see ImportJobs.get)."""
    return principal.subject == starter or principal.covers(regions)
