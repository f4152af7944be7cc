"""Bulk import of item lists as a background job (I/O around the same rules as single items).

The upload is spooled to a temporary file, a job row is written, and the import runs as a task of this process in
three overlapping stages: a reader *process* reads the file and validates its rows a chunk at a time
(registry/import_reading.py: CPU work, kept off this process's GIL); here each chunk is decided (existing items
looked up by 来源编号, references resolved, structure checked) while the chunks before it are being written, two at a
time: a chunk stores its read-model rows while the one before it inserts its events and commits. Each chunk is one
transaction: its new and changed items (one ``append_batch`` for all their events), their read-model
rows, the job's counters and the chunk's row errors — so what ``GET /imports/{job}`` reports is exactly what is
stored. Valid rows are kept, invalid rows reported with row, column, code and message. A row is matched to an
existing item by its 来源编号 in its region: unchanged content writes nothing (re-importing a file changes nothing),
changed content is a new revision (pending once published, refused once cancelled).

A job whose process died stops sending heartbeats and is reported as interrupted; importing the same file again
completes it without duplicates."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from asyncpg.pgproto.pgproto import UUID as AsyncpgUUID
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.auth import Principal
from shared.errors import ConcurrencyConflictError
from shared.eventstore import EventMetadata

from registry.adapters import store
from registry.adapters.import_reading import Chunk, PreparedFile, PreparedRow
from registry.adapters.spool import Spool, remove_part_copies, remove_quietly
from registry.adapters.spreadsheets.formats import detect_format
from registry.adapters.tables import import_errors_table, import_jobs_table
from registry.app import WRITE_ROLES, Registry
from registry.domain import tabular
from registry.domain.decisions import NewRevision, Refused, Unchanged, decide_revision
from registry.domain.elements import REFERENCE_LISTS
from registry.domain.errors import ImportFileError, ImportJobNotFoundError, ImportTooLargeError, ItemCancelledError
from registry.domain.problems import Problem, index_path
from registry.domain.structure import ReferencedItem, RelatedItems, restructures

log = logging.getLogger(__name__)
jobs_t, errors_t = import_jobs_table, import_errors_table

STATUS_LABELS = {"queued": "排队中", "running": "导入中", "completed": "已完成", "failed": "失败",
                 "interrupted": "已中断（服务重启），请重新导入同一文件：已导入的行不会重复"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HEARTBEAT_STALE = timedelta(minutes=2)
QUEUED_HEARTBEAT = timedelta(seconds=30)  # how often a job waiting for its turn says it still waits
WRITES_IN_FLIGHT = 2  # chunk writes overlapping: the later one's rows are stored while the earlier one commits
ATTEMPTS = 3  # a chunk that meets a concurrent edit of one of its items is decided again on fresh state


class EarlierChunkFailedError(Exception):
    """A chunk's write gave up because the chunk before it met a concurrent change: both are decided again."""


_LOCK_TIMEOUT_SQL = text("SET LOCAL lock_timeout = '5s'")
_LOCK_NOT_AVAILABLE, _DEADLOCK_DETECTED = "55P03", "40P01"


def met_concurrent_change(exc: BaseException) -> bool:
    """What a chunk's write may meet when someone else changes the same items meanwhile (the chunk is then decided
    again on the store as it is): a moved stream, a 来源编号 taken, a lock waited for too long, a deadlock."""
    if isinstance(exc, ConcurrencyConflictError | IntegrityError | EarlierChunkFailedError):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in (_LOCK_NOT_AVAILABLE,
                                                                                 _DEADLOCK_DETECTED)


def random_uuids(count: int) -> Iterator[uuid.UUID]:
    """``count`` random (version 4) UUIDs from one read of the system's randomness. An imported row needs two (its
    item's and its event's): uuid.uuid4() and str() of it cost ≈3 µs each, asyncpg's UUID (a uuid.UUID that
    asyncpg sends as it is and whose str() is done in C) cut from one buffer ≈0.6 µs."""
    raw = bytearray(os.urandom(16 * count))
    for start in range(0, 16 * count, 16):
        raw[start + 6] = (raw[start + 6] & 0x0F) | 0x40  # version 4
        raw[start + 8] = (raw[start + 8] & 0x3F) | 0x80  # the RFC 4122 variant
        yield AsyncpgUUID(bytes(raw[start:start + 16]))


def _zero_counts() -> dict[str, int]:
    return {"created": 0, "revised": 0, "unchanged": 0, "failed": 0, "rows_processed": 0}


@dataclass
class Decision:
    """What one chunk writes (decided, not yet committed) and what its own new items are called, for the chunk
    decided while this one is being written."""

    chunk: Chunk
    final: bool
    now: datetime
    writes: list[store.ItemWrite] = field(default_factory=list)
    prepared: store.PreparedWrites | None = None  # the writes, serialised and chained (once decided)
    failures: list[tuple[int, Problem]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=_zero_counts)
    deferred: list[PreparedRow] = field(default_factory=list)  # rows referring to rows further down the file
    local: dict[str, ReferencedItem] = field(default_factory=dict)
    local_edges: dict[str, list[str]] = field(default_factory=dict)
    local_refs: dict[tuple[str, str], str] = field(default_factory=dict)  # (region, 来源编号) → item id
    needs_committed_state: bool = False  # decided beside a chunk in flight, but must see it committed


@dataclass
class JobState:
    job_id: str
    principal: Principal
    tabular: bool
    deferred: list[PreparedRow] = field(default_factory=list)  # rows referring to rows further down the file
    error_seq: int = 0
    counts: dict[str, int] = field(default_factory=_zero_counts)

    def committed(self, decision: Decision) -> None:
        """Only once a chunk is committed do the counters move (a retried chunk is decided from scratch)."""
        self.counts = {k: self.counts[k] + v for k, v in decision.counts.items()}
        self.error_seq += len(decision.failures)
        self.deferred += decision.deferred


class ImportJobs:
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
    def engine(self) -> Any:
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
        now = self.registry.now()
        async with self.engine.begin() as conn:
            await conn.execute(jobs_t.insert().values(job_id=job_id, subject=principal.subject, filename=filename,
                                                      format=fmt, status="queued", created_at=now, heartbeat_at=now))
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
                except Exception:  # noqa: BLE001 - a missed heartbeat is not worth losing the queued import
                    log.warning("import job %s: could not record that it is still queued", job_id, exc_info=True)
        except BaseException:
            if acquiring.done() and not acquiring.cancelled():
                self._slots.release()
            else:
                acquiring.cancel()
            raise

    async def _import(self, job_id: str, principal: Principal, path: Path, fmt: str) -> None:
        reading: PreparedFile | None = None
        try:
            await self._set(job_id, status="running", started_at=self.registry.now())
            reading = PreparedFile(path, fmt, self.registry.dictionaries, principal, self.registry.now().date(),
                                   self.chunk_size).start()
            head = await reading.head()
            state = JobState(job_id, principal, head.tabular)
            if head.total_rows is not None:
                await self._set(job_id, rows_total=head.total_rows)
            if head.problems:
                async with self.engine.begin() as conn:
                    await self._record_errors(conn, state, [(1, p) for p in head.problems])
                    state.error_seq += len(head.problems)
            progress = await self._pipeline(state, reading)
            await self._deferred(state, progress=progress)
            await self._set(job_id, status="completed", finished_at=self.registry.now(), progress=1.0,
                            rows_total=state.counts["rows_processed"])
        except ImportFileError as exc:
            await self._set(job_id, status="failed", error=str(exc.context.get("reason")),
                            finished_at=self.registry.now())
        except asyncio.CancelledError:
            raise  # shutting down: the heartbeat goes stale and the job reads as interrupted
        except Exception as exc:  # noqa: BLE001 - recorded on the job, never silently lost
            log.exception("import job %s failed", job_id)
            await self._set(job_id, status="failed", error=f"导入过程出错：{type(exc).__name__}: {exc}",
                            finished_at=self.registry.now())
        finally:
            if reading is not None:
                await asyncio.shield(asyncio.to_thread(self._stop_reader, reading, path))
            remove_quietly(path)

    @staticmethod
    def _stop_reader(reading: PreparedFile, upload: Path) -> None:
        reading.close()
        remove_part_copies(upload)  # a reader stopped mid-part could not remove its copy itself

    async def _pipeline(self, state: JobState, reading: PreparedFile) -> float:
        """Three stages at once: the reader process reads and validates ahead; here the next chunk is decided
        while the ones before it are written, up to :data:`WRITES_IN_FLIGHT` of them (each commits in file order;
        see :meth:`_write`). Rows of one file never share a 来源编号, so neighbouring chunks touch different items;
        what a later one refers to in an earlier one it finds in the earlier one's decision. A write that meets a
        concurrent change is decided and written again on its own, and so is every chunk decided beside it.
        Returns the progress reached."""
        progress = 0.0
        in_flight: list[tuple[Decision, asyncio.Task[None]]] = []  # oldest first
        try:
            while (chunk := await reading.next_chunk()) is not None:
                progress = chunk.progress
                async with self.engine.connect() as conn:
                    decision: Decision | None = await self._decide(conn, state, chunk, final=False,
                                                                   ahead=[d for d, _ in in_flight])
                if len(in_flight) == WRITES_IN_FLIGHT and not await self._finish_oldest(state, in_flight):
                    decision = None  # decided beside a chunk that had to be decided again
                if decision is None or decision.needs_committed_state:
                    while in_flight:
                        await self._finish_oldest(state, in_flight)
                    await self._apply(state, chunk)
                else:
                    before = in_flight[-1][1] if in_flight else None
                    in_flight.append((decision, asyncio.create_task(self._write(state, decision, before))))
            while in_flight:
                await self._finish_oldest(state, in_flight)
        finally:
            for _, task in in_flight:  # cancelled or failed: a write in flight commits or not, the job says so
                task.cancel()
            await asyncio.gather(*(task for _, task in in_flight), return_exceptions=True)
        return progress

    async def _finish_oldest(self, state: JobState, in_flight: list[tuple[Decision, asyncio.Task[None]]]) -> bool:
        """Wait for the oldest write in flight. If it met a concurrent change, it and every write after it (they
        wait for it, so none of them has committed) are decided and written again in order (False)."""
        decision, write = in_flight.pop(0)
        try:
            await write
            return True
        except Exception as exc:
            if not met_concurrent_change(exc):
                raise
            log.info("import job %s: chunk met a concurrent change; deciding it again", state.job_id)
        redo = [decision, *(d for d, _ in in_flight)]
        for _, later in in_flight:
            later.cancel()
        await asyncio.gather(*(t for _, t in in_flight), return_exceptions=True)
        in_flight.clear()
        for d in redo:
            await self._apply(state, d.chunk, final=d.final)
        return False

    async def _deferred(self, state: JobState, *, progress: float) -> None:
        """Rows that referred to items not yet known, once the whole file is in: again while any of them gets
        through (a chain of forward references resolves one link per round), then the rest are reported."""
        while state.deferred:
            rows, state.deferred = state.deferred, []
            for start in range(0, len(rows), self.chunk_size):
                await self._apply(state, Chunk(rows[start:start + self.chunk_size], progress))
            if len(state.deferred) == len(rows):
                rows, state.deferred = state.deferred, []
                for start in range(0, len(rows), self.chunk_size):
                    await self._apply(state, Chunk(rows[start:start + self.chunk_size], progress), final=True)

    async def _apply(self, state: JobState, chunk: Chunk, *, final: bool = False) -> None:
        """Decide and write one chunk in one transaction, on the store as it is now."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.engine.begin() as conn:
                    decision = await self._decide(conn, state, chunk, final=final, ahead=())
                    await self._write_in(conn, state, decision)
                state.committed(decision)
                return
            except Exception as exc:
                if attempt == ATTEMPTS or not met_concurrent_change(exc):
                    raise
                log.info("import job %s: chunk met a concurrent change; deciding it again", state.job_id)

    async def _write(self, state: JobState, d: Decision, before: asyncio.Task[None] | None) -> None:
        """One chunk's transaction while the chunk ``before`` it may still be in flight: its read-model rows go in
        at once (they are other items than the earlier chunk's), so PostgreSQL stores them while the earlier chunk
        inserts its events and commits; then, once that one has committed, its row errors, the job's counters and
        its events. A lock this transaction waits for too long (another import of the same list, say) counts as a
        concurrent change, so that a wait through ``before``, which PostgreSQL cannot see, never deadlocks."""
        async with self.engine.begin() as conn:
            await conn.execute(_LOCK_TIMEOUT_SQL)
            if d.prepared is not None:
                await store.write_rows(conn, d.prepared)
            if before is not None:
                await asyncio.wait([before])  # not `await before`: cancelling this write must not cancel that one
                if before.cancelled() or before.exception() is not None:
                    raise EarlierChunkFailedError
            await self._write_in(conn, state, d, rows_written=True)
        state.committed(d)

    async def _decide(self, conn: AsyncConnection, state: JobState, chunk: Chunk, *, final: bool,
                      ahead: Sequence[Decision]) -> Decision:
        """What one chunk writes and which of its rows fail (reads only). Unless ``final``, a row whose only problem
        is a reference not found yet is put aside for the end of the file (an export lists items by name, not
        parents first). ``ahead``: the chunks being written meanwhile — their items count as existing."""
        now, author = self.registry.now(), state.principal.subject
        valid = [r for r in chunk.rows if not r.problems]
        existing = await self._existing(conn, valid)
        d = Decision(chunk, final, now, failures=[(r.row, p) for r in chunk.rows for p in r.problems])
        d.counts["failed"] = len({r.row for r in chunk.rows if r.problems})
        # What earlier rows of the file that are not committed yet (this chunk's, the chunks ahead's) are called.
        local = {k: v for a in ahead for k, v in a.local.items()}
        local_edges = {k: v for a in ahead for k, v in a.local_edges.items()}
        local_refs = {k: v for a in ahead for k, v in a.local_refs.items()}
        ids = random_uuids(2 * len(valid))  # an item id and an event id per row, drawn at once
        for row in valid:
            region, ref = row.elements["region_code"], row.source_ref or ""
            current = existing.get((region, ref))
            item_id, event_id = (current.item_id if current else str(next(ids))), next(ids)
            refers = referenced_any(row.elements)
            elements, problems = await self._resolve(conn, row, local_refs) if refers else (row.elements, [])
            if problems and not final and all(p.code == "REFERENCE_NOT_FOUND" for p in problems):
                d.deferred.append(row)
                continue
            if current is not None and ahead and restructures(current.elements, elements):
                # Its sub-items may be in the chunk ahead, which the store does not show yet: decide on the store
                # once that chunk is in.
                d.needs_committed_state = True
                return d
            if problems or (current is None and not refers):
                related = RelatedItems(item_id)  # nothing to look up
            else:
                related = await store.load_related(conn, item_id, elements,
                                                   before=current.elements if current else None,
                                                   unwritten=local, unwritten_edges=local_edges)
            decision = decide_revision(current, elements, related, now=now, problems=problems)
            if isinstance(decision, Refused):
                d.failures += [(row.row, p) for p in row_problems(decision, ref)]
                d.counts["failed"] += 1
                continue
            if isinstance(decision, Unchanged):
                d.counts["unchanged"] += 1
                continue
            # the reader's canonical JSON of the elements, unless references were resolved into them here
            encoded = row.elements_json if elements is row.elements else None
            if isinstance(decision, NewRevision) and current is not None:
                d.writes.append(store.revised(current, elements, author=author,
                                              changed=decision.changed_fields, maintenance=decision.maintenance,
                                              pending=decision.pending, now=decision.at,
                                              import_job_id=state.job_id, missing=row.missing,
                                              elements_json=encoded, event_id=event_id))
                d.counts["revised"] += 1
            else:  # a new item
                d.writes.append(store.drafted(elements, author=author, source_ref=ref, now=decision.at,
                                              item_id=item_id, import_job_id=state.job_id,
                                              missing=row.missing, elements_json=encoded, event_id=event_id))
                d.counts["created"] += 1
            named = ReferencedItem(item_id, elements["name"], elements["composition"], elements["tier"])
            edges = list(elements["serial_predecessor_ids"])
            local_refs[(region, ref)] = d.local_refs[(region, ref)] = item_id
            local[item_id] = d.local[item_id] = named
            local_edges[item_id] = d.local_edges[item_id] = edges
        d.counts["rows_processed"] = len(chunk.rows) - len(d.deferred)
        # Serialised and hash-chained now, while the chunk before is still being written: its write then only
        # sends what is ready.
        d.prepared = store.prepare_writes(d.writes, EventMetadata(actor=state.principal.subject,
                                                                  correlation_id=state.job_id, recorded_at=now))
        return d

    async def _write_in(self, conn: AsyncConnection, state: JobState, d: Decision, *,
                        rows_written: bool = False) -> None:
        """The chunk's row errors, the job's counters and its items, in the caller's transaction."""
        await self._record_errors(conn, state, d.failures)
        totals = {k: state.counts[k] + v for k, v in d.counts.items()}
        await conn.execute(update(jobs_t).where(jobs_t.c.job_id == state.job_id).values(
            **totals, progress=d.chunk.progress, heartbeat_at=d.now))
        if d.prepared is not None:
            if not rows_written:
                await store.write_rows(conn, d.prepared)
            await store.write_events(conn, d.prepared)

    async def _existing(self, conn: AsyncConnection,
                        rows: list[PreparedRow]) -> dict[tuple[str, str], store.CurrentItem]:
        """Existing items by (region, 来源编号). An export names items that have no 来源编号 by their item id, so a
        re-imported export finds them by that id."""
        keys = {(r.elements["region_code"], r.source_ref or "") for r in rows}
        existing = await store.load_by_source_refs(conn, keys)
        ids = [ref for key in keys - set(existing) if _UUID.fullmatch(ref := key[1])]
        for item in (await store.load_many(conn, ids)).values():
            if (item.region_code, item.item_id) in keys and item.source_ref in (None, item.item_id):
                existing[(item.region_code, item.item_id)] = item
        return existing

    async def _resolve(self, conn: AsyncConnection, row: PreparedRow,
                       local_refs: dict[tuple[str, str], str]) -> tuple[dict[str, Any], list[Problem]]:
        """References in a sheet are 来源编号 (or item ids): turn them into item ids, earlier rows of this chunk
        included. Unknown ones are row problems on their cell."""
        e = row.elements
        refs = {ref for _, ref in _reference_slots(e)}
        if not refs:
            return e, []
        region = e["region_code"]
        found = await store.resolve_references(conn, region, refs)
        found.update({ref: local_refs[(region, ref)] for ref in refs if (region, ref) in local_refs})
        problems = [Problem(path, "REFERENCE_NOT_FOUND", f"在本文件和系统中都找不到来源编号或事项ID为“{ref}”的事项")
                    for path, ref in _reference_slots(e) if ref not in found]
        resolved = dict(e)
        for key in REFERENCE_LISTS:
            resolved[key] = [found.get(r, r) for r in e[key]]
        if e["parent_item_id"]:
            resolved["parent_item_id"] = found.get(e["parent_item_id"], e["parent_item_id"])
        return resolved, problems

    async def _record_errors(self, conn: AsyncConnection, state: JobState,
                             failures: Sequence[tuple[int, Problem]]) -> None:
        if not failures:
            return
        rows = []
        for seq, (row, problem) in enumerate(failures, start=state.error_seq + 1):
            rows.append({"job_id": state.job_id, "seq": seq, "row": row, "field": problem.field or None,
                         "column": _column(problem, tabular_file=state.tabular),
                         "code": problem.code, "message": problem.message})
        await conn.execute(errors_t.insert(), rows)

    async def _set(self, job_id: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(jobs_t).where(jobs_t.c.job_id == job_id).values(
                **values, heartbeat_at=self.registry.now()))

    # ---- reading --------------------------------------------------------------------------------------------------
    async def get(self, job_id: str, principal: Principal, *, errors_after: int = 0,
                  errors_limit: int = 1000) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            job = (await conn.execute(select(jobs_t).where(jobs_t.c.job_id == job_id))).first()
            if job is None or (job.subject != principal.subject and "admin" not in principal.roles):
                raise ImportJobNotFoundError(job_id=job_id)
            errors = list(await conn.execute(
                select(errors_t).where(errors_t.c.job_id == job_id, errors_t.c.seq > errors_after)
                .order_by(errors_t.c.seq).limit(errors_limit)))
            total = await conn.scalar(select(func.count()).select_from(errors_t).where(errors_t.c.job_id == job_id))
        return job_view(job, errors, int(total or 0), now=self.registry.now(), errors_limit=errors_limit)


def job_view(job: Any, errors: list[Any], errors_total: int, *, now: datetime, errors_limit: int) -> dict[str, Any]:
    status = job.status
    if status in ("queued", "running") and job.heartbeat_at and now - job.heartbeat_at > HEARTBEAT_STALE:
        status = "interrupted"
    return {
        "job_id": job.job_id, "status": status, "status_label": STATUS_LABELS[status], "filename": job.filename,
        "format": job.format, "rows_total": job.rows_total, "rows_processed": job.rows_processed,
        "progress": round(job.progress, 4), "created": job.created, "revised": job.revised,
        "unchanged": job.unchanged, "failed": job.failed, "error": job.error,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "errors_total": errors_total,
        "errors": [{"row": e.row, "column": e.column, "field": e.field, "code": e.code, "message": e.message}
                   for e in errors],
        "next_errors_after": errors[-1].seq if len(errors) == errors_limit else None,
    }


def _column(problem: Problem, *, tabular_file: bool) -> str | None:
    """Where the user looks: the Chinese column header in a sheet (unknown columns are named as they are), the
    field path in ndjson."""
    if not tabular_file:
        return problem.field or None
    column = tabular.column_for(problem.field)
    if column is not None:
        return column.header
    return problem.field if problem.code == "UNKNOWN_COLUMN" else None


def referenced_any(elements: dict[str, Any]) -> bool:
    return bool(elements.get("parent_item_id") or any(elements.get(k) for k in REFERENCE_LISTS))


def row_problems(refused: Refused, source_ref: str) -> list[Problem]:
    """A refused row's problems as its report lists them: those it was sent with, and a cancelled item named by the
    row's 来源编号."""
    if isinstance(refused.error, ItemCancelledError):
        name = refused.error.context["name"]
        cancelled = f"来源编号“{source_ref}”对应的事项“{name}”已注销，内容不能再修改"
        return [*refused.problems, Problem("source_ref", "ITEM_CANCELLED", cancelled)]
    if refused.error is not None:
        raise refused.error  # nothing else refuses a row as a whole
    return list(refused.problems)


def _reference_slots(e: dict[str, Any]) -> list[tuple[str, str]]:
    slots = [(index_path(key, i), ref) for key in REFERENCE_LISTS for i, ref in enumerate(e[key])]
    if e["parent_item_id"]:
        slots.append(("parent_item_id", e["parent_item_id"]))
    return slots
