"""The audit trail of reads (查阅审计): every read of a service's API recorded in its own database, append-only and
hash-chained, kept for SHIXIANG_AUDIT_RETENTION_DAYS and served to auditors only.

What a record holds (``shared.audit_rules.AuditRecord``): the subject (``anonymous`` without a token), its roles and
regions, the client address as this process sees it (behind a proxy, the forwarded one uvicorn resolves from
``X-Forwarded-For`` for the addresses in ``--forwarded-allow-ips``), the time the request arrived, the method, the
route template, the path with its ids, the query string (at most 1,024 characters — it may hold search text, such
as a name typed into a list's ``q=``: the audit log is personal data to be kept as such), the answer's status and
the flags (``export``, ``many_regions``, ``query_truncated``; rules in ``shared.audit_rules``).

How it costs a read little: :class:`AuditMiddleware` (a plain ASGI middleware, like ``RequestMetricsAndLog``) builds
the record once the response is sent and hands it to :class:`AuditTrail`, which only appends it to an in-memory
list. A background worker writes the list every SHIXIANG_AUDIT_FLUSH_INTERVAL_S (200 ms) or as soon as
SHIXIANG_AUDIT_BATCH_SIZE (500) records wait, one transaction per batch: it takes the audit advisory lock, reads the
chain's last hash and extends it, so several processes of one service form one chain in one table.

A read never waits on the audit writer: when SHIXIANG_AUDIT_QUEUE_LIMIT records already wait (the database has been
unreachable for a while), a new record is dropped, counted in ``shixiang_audit_dropped_total`` and logged (a
warning per 1,000 drops). Back-pressure was the alternative: it would turn a database outage of the audit table
into an outage of every read, which the suite's reads (the national feed above all) must not suffer. Alert on the
counter. Records still waiting when the process stops are written by the worker before it ends; a process that is
killed loses what waits (at most one flush interval's reads in normal operation).

Retention: the worker deletes, on start and every hour, the records older than the retention: always a prefix of
the chain (every row before the first row kept by time), so that verification starts at the oldest row kept, whose
previous hash is the anchor. Removing rows from the oldest end is what pruning does and cannot be told from it;
removing, editing, inserting or reordering any other row breaks the chain (``GET {prefix}/audit/verify``)."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.audit_rules import (
    ANONYMOUS,
    FLAG_LABELS,
    GENESIS_HASH,
    AuditFlag,
    AuditPolicy,
    AuditRecord,
    ChainCheck,
    StoredRecord,
    bounded_query,
    chain,
    flags_for,
    spans_many_provinces,
)
from shared.auth import Principal
from shared.errors import AuditorRequiredError
from shared.http_auth import CurrentPrincipal
from shared.http_params import UtcDatetime
from shared.metrics import AUDIT_DROPPED, AUDIT_WAITING, AUDIT_WRITTEN

log = logging.getLogger(__name__)

AUDITOR_ROLE = "auditor"
AUDIT_LOCK = 7262035  # the transaction-scoped advisory lock a batch takes (next to shared.db.SCHEMA_LOCK)
PRUNE_EVERY_S = 3600.0
VERIFY_PAGE = 5000

audit_metadata = MetaData()

audit_table = Table(
    "audit_log",
    audit_metadata,
    # The chain's order: rows are inserted under AUDIT_LOCK, so seq follows the chain.
    Column("seq", BigInteger, Identity(always=True), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("subject", Text, nullable=False),
    Column("roles", ARRAY(Text), nullable=False),
    Column("regions", ARRAY(Text), nullable=False),
    Column("client", Text),
    Column("method", Text, nullable=False),
    Column("route", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("query", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("flags", ARRAY(Text), nullable=False),
    # sha256(previous_hash ‖ the record's canonical content): see shared.audit_rules.link
    Column("previous_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    Index("audit_log_at", "at"),  # time filters and pruning
    Index("audit_log_subject", "subject", "seq"),  # an auditor's question: what did this user read
)

_HEAD_SQL = text("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
# One INSERT for the batch, rows in the chain's order (ORDER BY ordinality: the identity is drawn row by row in it).
_INSERT_SQL = text("""
INSERT INTO audit_log (at, subject, roles, regions, client, method, route, path, query, status, flags,
                       previous_hash, hash)
SELECT n.at, n.subject, CAST(n.roles AS text[]), CAST(n.regions AS text[]), n.client, n.method, n.route, n.path,
       n.query, n.status, CAST(n.flags AS text[]), n.previous_hash, n.hash
FROM unnest(CAST(:ats AS timestamptz[]), CAST(:subjects AS text[]), CAST(:roles AS text[]),
            CAST(:regions AS text[]), CAST(:clients AS text[]), CAST(:methods AS text[]), CAST(:routes AS text[]),
            CAST(:paths AS text[]), CAST(:queries AS text[]), CAST(:statuses AS int[]), CAST(:flags AS text[]),
            CAST(:previous AS text[]), CAST(:hashes AS text[]))
     WITH ORDINALITY AS n(at, subject, roles, regions, client, method, route, path, query, status, flags,
                          previous_hash, hash, ord)
ORDER BY n.ord
""")
# Pruning deletes a prefix of the chain: every row before the first (by time) that is within the retention.
_PRUNE_SQL = text("""
DELETE FROM audit_log WHERE seq < coalesce(
    (SELECT seq FROM audit_log WHERE at >= :cutoff ORDER BY at, seq LIMIT 1),
    (SELECT max(seq) + 1 FROM audit_log))
""")


def _array(values: Sequence[str]) -> str:
    """A list as a PostgreSQL array literal, every element quoted (unnest cannot take an array of arrays of
    different lengths): exact whatever a role claim holds, and parsed by a plain cast."""
    quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in quoted) + "}"


class AuditTrail:
    """One process's writer of its service's audit log (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, service: str, *, batch_size: int = 500, flush_interval_s: float = 0.2,
                 queue_limit: int = 100_000, retention_days: int = 180,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine, self.service = engine, service
        self.batch_size, self.flush_interval_s, self.queue_limit = batch_size, flush_interval_s, queue_limit
        self.retention = timedelta(days=retention_days)
        self.clock = clock
        self._waiting: list[AuditRecord] = []
        self._full = asyncio.Event()
        self._flushing = asyncio.Lock()  # the worker and a caller (tests, shutdown) never write one record twice
        self.dropped = 0
        self._written, self._dropped_metric = AUDIT_WRITTEN.labels(service), AUDIT_DROPPED.labels(service)
        self._waiting_metric = AUDIT_WAITING.labels(service)

    def record(self, record: AuditRecord) -> None:
        """Queue one record; never waits (see the module docstring for what happens when the queue is full)."""
        if len(self._waiting) >= self.queue_limit:
            self.dropped += 1
            self._dropped_metric.inc()
            if self.dropped % 1000 == 1:
                log.warning("audit: %d records of %s dropped so far: %d are waiting to be written (the audit log "
                            "cannot be written?)", self.dropped, self.service, len(self._waiting))
            return
        self._waiting.append(record)
        if len(self._waiting) >= self.batch_size:
            self._full.set()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def flush(self) -> int:
        """Write every waiting record, a batch per transaction; the records of a batch that fails stay waiting."""
        written = 0
        async with self._flushing:
            while self._waiting:
                batch = self._waiting[:self.batch_size]
                await self._write(batch)
                del self._waiting[:len(batch)]
                written += len(batch)
                self._written.inc(len(batch))
            self._waiting_metric.set(len(self._waiting))
        return written

    async def _write(self, batch: list[AuditRecord]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})
            head = await conn.scalar(_HEAD_SQL) or GENESIS_HASH
            links = chain(head, batch)
            await conn.execute(_INSERT_SQL, {
                "ats": [r.at for r in batch], "subjects": [r.subject for r in batch],
                "roles": [_array(r.roles) for r in batch], "regions": [_array(r.regions) for r in batch],
                "clients": [r.client for r in batch], "methods": [r.method for r in batch],
                "routes": [r.route for r in batch], "paths": [r.path for r in batch],
                "queries": [r.query for r in batch], "statuses": [r.status for r in batch],
                "flags": [_array(r.flags) for r in batch], "previous": [p for p, _ in links],
                "hashes": [h for _, h in links]})

    async def prune(self) -> int:
        """Delete the records older than the retention (a prefix of the chain); the number deleted."""
        async with self.engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})
            result = await conn.execute(_PRUNE_SQL, {"cutoff": self.clock() - self.retention})
        deleted = int(getattr(result, "rowcount", 0) or 0)
        if deleted:
            log.info("audit: pruned %d records of %s older than %s", deleted, self.service, self.retention)
        return deleted

    async def run(self, stop: asyncio.Event) -> None:
        """The background worker: flush every interval (or when a batch is full), prune every hour; on stop, flush
        what waits and end. A failed write is retried at the next interval (records stay waiting, up to the limit)."""
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        while True:
            stopping = stop.is_set()
            if not stopping and len(self._waiting) < self.batch_size:
                self._full.clear()
                await _first_of(self._full, stop, timeout_s=self.flush_interval_s)
            try:
                await self.flush()
                if loop.time() >= next_prune:
                    await self.prune()
                    next_prune = loop.time() + PRUNE_EVERY_S
            except Exception:
                log.warning("audit: writing the audit log of %s failed (%d records waiting); retrying", self.service,
                            len(self._waiting), exc_info=True)
                if stopping:
                    return
                await asyncio.sleep(self.flush_interval_s)
                continue
            if stopping:
                return


async def _first_of(*events: asyncio.Event, timeout_s: float) -> None:
    """Wait until any of ``events`` is set, or ``timeout_s``."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class AuditMiddleware:
    """Records every read of the service's API once its response is sent (see the module docstring). The caller is
    the principal the bearer-token dependency left in the request's state (``shared.http_auth``), the route template
    the one the router left in the scope (as ``RequestMetricsAndLog`` reads it)."""

    def __init__(self, app: ASGIApp, trail: AuditTrail, policy: AuditPolicy,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.app, self.trail, self.policy, self.clock = app, trail, policy, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.policy.records(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        arrived = self.clock()
        status = 500

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            self.trail.record(self.record_of(scope, status, arrived))

    def record_of(self, scope: Scope, status: int, arrived: datetime) -> AuditRecord:
        principal: Principal | None = (scope.get("state") or {}).get("principal")
        route = getattr(scope.get("route"), "path", "unmatched")
        raw_query = scope.get("query_string", b"").decode("utf-8", "replace")
        query, truncated = bounded_query(raw_query)
        regions = principal.regions if principal else ()
        wanted = route in self.policy.exports or route in self.policy.lists
        # The query is parsed only when it can change a flag (3 µs a read): a list read by a caller of many provinces.
        params = parse_qs(raw_query) if wanted and spans_many_provinces(regions) else {}
        client = scope.get("client")
        return AuditRecord(
            at=arrived, subject=principal.subject if principal else ANONYMOUS,
            roles=tuple(sorted(principal.roles)) if principal else (), regions=tuple(regions),
            client=client[0] if client else None, method=scope["method"], route=route, path=scope["path"],
            query=query, status=status, flags=flags_for(self.policy, route, params, regions, query_truncated=truncated))


def require_auditor(principal: Principal) -> None:
    """Only an auditor reads the audit log: an administrator does not hold the role by being one (三员分立: the
    administrators whose reads are audited are not their own auditors)."""
    if AUDITOR_ROLE not in principal.roles:
        raise AuditorRequiredError(roles=sorted(principal.roles))


# ---- reading the log --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditQuery:
    since: datetime | None = None
    until: datetime | None = None
    subject: str | None = None
    flag: str | None = None
    before: int | None = None  # cursor: records with a smaller seq (newest first)


def _conditions(q: AuditQuery) -> list[Any]:
    c = audit_table.c
    conditions: list[Any] = []
    if q.since is not None:
        conditions.append(c.at >= q.since)
    if q.until is not None:
        conditions.append(c.at < q.until)
    if q.subject is not None:
        conditions.append(c.subject == q.subject)
    if q.flag is not None:
        conditions.append(c.flags.any(q.flag))
    if q.before is not None:
        conditions.append(c.seq < q.before)
    return conditions


def entry(row: Any, service: str) -> dict[str, Any]:
    return {"service": service, "seq": row.seq, "at": row.at.isoformat(), "subject": row.subject,
            "roles": list(row.roles), "regions": list(row.regions), "client": row.client, "method": row.method,
            "route": row.route, "path": row.path, "query": row.query, "status": row.status,
            "flags": list(row.flags), "flag_labels": [FLAG_LABELS.get(f, f) for f in row.flags],
            "hash": row.hash}


async def page(engine: AsyncEngine, service: str, q: AuditQuery, limit: int) -> dict[str, Any]:
    stmt = (select(audit_table).where(and_(True, *_conditions(q))).order_by(audit_table.c.seq.desc())
            .limit(limit))
    async with engine.connect() as conn:
        rows = list(await conn.execute(stmt))
    return {"items": [entry(r, service) for r in rows],
            "next_cursor": str(rows[-1].seq) if len(rows) == limit else None}


async def all_rows(engine: AsyncEngine, service: str, q: AuditQuery, chunk: int = 1000) -> AsyncIterator[list[Any]]:
    """Every matching record, newest first, in chunks (the csv export)."""
    before = q.before
    while True:
        p = await page(engine, service, AuditQuery(q.since, q.until, q.subject, q.flag, before), chunk)
        if p["items"]:
            yield p["items"]
        if p["next_cursor"] is None:
            return
        before = int(p["next_cursor"])


def _stored(row: Any) -> StoredRecord:
    record = AuditRecord(at=row.at, subject=row.subject, roles=tuple(row.roles), regions=tuple(row.regions),
                         client=row.client, method=row.method, route=row.route, path=row.path, query=row.query,
                         status=row.status, flags=tuple(row.flags))
    return StoredRecord(seq=row.seq, record=record, previous_hash=row.previous_hash, hash=row.hash)


async def verify(engine: AsyncEngine, service: str) -> dict[str, Any]:
    """The chain from its oldest row kept (the anchor) to its newest, read in pages."""
    check, after = ChainCheck(), 0
    async with engine.connect() as conn:
        while check.ok:
            rows = list(await conn.execute(select(audit_table).where(audit_table.c.seq > after)
                                           .order_by(audit_table.c.seq).limit(VERIFY_PAGE)))
            if not rows:
                break
            check.feed(_stored(r) for r in rows)
            after = rows[-1].seq
    return {"service": service, "verified": check.ok, "verified_label": "审计链完整" if check.ok else "审计链被破坏",
            "records": check.records, "anchor_hash": check.anchor, "oldest_at": check.oldest.isoformat()
            if check.oldest else None, "head_hash": check.head, "broken_at_seq": check.broken_at,
            "reason": check.reason}


CSV_HEADER = ["序号", "时间", "用户", "角色", "区划", "来源地址", "方法", "路由", "路径", "查询串", "状态码", "标记",
              "哈希"]


def csv_rows(items: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for e in items:
        writer.writerow([e["seq"], e["at"], e["subject"], " ".join(e["roles"]), " ".join(e["regions"]),
                         e["client"] or "", e["method"], e["route"], e["path"], e["query"], e["status"],
                         " ".join(e["flags"]), e["hash"]])
    return out.getvalue()


Since = Annotated[UtcDatetime | None, Query(description="起（含），ISO 8601")]
Until = Annotated[UtcDatetime | None, Query(description="止（不含），ISO 8601")]
Subject = Annotated[str | None, Query(max_length=200, description="用户（令牌 sub；无令牌的读取为 anonymous）")]
Flag = Annotated[AuditFlag | None, Query(description="export 整表导出 / many_regions 跨省读取 / query_truncated "
                                                     "查询串过长已截断")]


def audit_router(prefix: str, service: str, *, route_class: type[APIRoute] = APIRoute,
                 responses: dict[int | str, dict[str, Any]] | None = None) -> APIRouter:
    """``{prefix}/audit`` (a page, newest first), ``{prefix}/audit.csv`` (every matching record) and
    ``{prefix}/audit/verify`` (the chain), for auditors only. These reads are audited too."""
    router = APIRouter(prefix=prefix, tags=["audit 审计日志"], route_class=route_class, responses=responses)
    only = "仅审计员（auditor）可查阅；管理员不因其角色而能查阅（三员分立）。对审计日志的查阅本身也记入审计日志。"

    def query_of(since: datetime | None, until: datetime | None, subject: str | None, flag: AuditFlag | None,
                 cursor: int | None) -> AuditQuery:
        return AuditQuery(since, until, subject, flag.value if flag else None, cursor)

    @router.get("/audit", summary="审计日志：本服务记录的每一次读取（新的在前，游标分页）",
                description="每条：用户、角色、区划、来源地址、时间、方法、路由模板、路径、查询串（至多 1024 字符，"
                            "可能含检索文字）、状态码、标记。next_cursor 不为 null 时以 cursor=<next_cursor> 读下一页。"
                            + only)
    async def list_audit(request: Request, principal: CurrentPrincipal, since: Since = None, until: Until = None,
                         subject: Subject = None, flag: Flag = None,
                         cursor: Annotated[int | None, Query(ge=1, le=2**62, description="上一页的 next_cursor")]
                         = None,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        require_auditor(principal)
        return await page(request.app.state.runtime.engine, service,
                          query_of(since, until, subject, flag, cursor), limit)

    @router.get("/audit.csv", summary="导出审计日志（csv，UTF-8 带 BOM；筛选同 /audit，不分页）", description=only,
                response_class=StreamingResponse,
                responses={200: {"content": {"text/csv": {}}, "description": "csv 文件"}})
    async def export_audit(request: Request, principal: CurrentPrincipal, since: Since = None, until: Until = None,
                           subject: Subject = None, flag: Flag = None) -> StreamingResponse:
        require_auditor(principal)
        chunks = all_rows(request.app.state.runtime.engine, service, query_of(since, until, subject, flag, None))

        async def body() -> AsyncIterator[bytes]:
            yield ("\ufeff" + ",".join(CSV_HEADER) + "\r\n").encode()
            async for items in chunks:
                yield csv_rows(items).encode()

        return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f"attachment; filename=\"audit-{service}.csv\""})

    @router.get("/audit/verify", summary="校验本服务审计日志的哈希链",
                description="从保留的最早一条（其前一哈希为锚点 anchor_hash：更早的记录已按保留期删除）"
                            "逐条重算到最新一条；verified=false 时给出第一处断点 broken_at_seq 与原因。" + only)
    async def verify_audit(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        require_auditor(principal)
        return await verify(request.app.state.runtime.engine, service)

    return router


def install_audit(app: FastAPI, *, service: str, api_prefix: str, policy: AuditPolicy | None,
                  route_class: type[APIRoute], responses: dict[int | str, dict[str, Any]]) -> AuditTrail:
    """Everything a service app needs for its audit trail: the writer (started and stopped with the app's lifespan,
    as a background worker of its runtime), the middleware and the audit routes."""
    runtime, settings = app.state.runtime, app.state.settings
    trail = AuditTrail(runtime.engine, service, batch_size=settings.audit_batch_size,
                       flush_interval_s=settings.audit_flush_interval_s, queue_limit=settings.audit_queue_limit,
                       retention_days=settings.audit_retention_days)
    app.state.audit = trail
    policy = policy or AuditPolicy()
    app.add_middleware(AuditMiddleware, trail=trail, policy=AuditPolicy(policy.exports, policy.lists, api_prefix))
    app.include_router(audit_router(api_prefix, service, route_class=route_class, responses=responses))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[Any]:
        async with inner(a) as state:
            # After the runtime started (the schema is at head); its close stops the worker, which flushes first.
            runtime.workers.start(f"{service}-audit", trail.run)
            yield state

    app.router.lifespan_context = lifespan
    return trail
