"""What the audit trail of reads costs a read (shared.audit): the CPU the middleware adds to one GET in the process
that answers it (building the record, queueing it), and the CPU and time of writing the records in batches to a
real PostgreSQL (one transaction per batch: the advisory lock, the chain's head, the hashes, one INSERT).

    python -m bench.audit_bench [--reads 20000] [--records 20000]

Prints figures; never fails on time."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from starlette.types import Message, Receive, Scope, Send

from shared.audit import AuditMiddleware, AuditTrail, audit_metadata
from shared.audit_rules import AuditPolicy, AuditRecord
from shared.auth import Principal
from shared.db import create_schema, ensure_database, make_engine
from shared.infra import EmbeddedPostgres

POLICY = AuditPolicy(exports=frozenset({"/lifecycle/v1/export"}), lists=frozenset({"/lifecycle/v1/items"}),
                     api_prefix="/lifecycle/v1")
PRINCIPAL = Principal("reviewer-gz", frozenset({"reviewer"}), ("4401",))


class _Route:
    path = "/lifecycle/v1/items"


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    scope.setdefault("state", {})["principal"] = PRINCIPAL  # what the bearer-token dependency leaves
    scope["route"] = _Route()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"[]"})


async def _discard(message: Message) -> None:
    return None


async def _nothing() -> Message:
    return {"type": "http.request", "body": b""}


def _scope() -> Scope:
    return {"type": "http", "method": "GET", "path": "/lifecycle/v1/items",
            "query_string": b"region=4401&phase=online&limit=100", "client": ("10.1.2.3", 50000), "headers": []}


async def per_read(reads: int) -> tuple[float, float]:
    """CPU µs per read of the bare app, and of the app behind the audit middleware (records queued, not written)."""
    never_connects = make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none", pool_size=1)  # nothing is written
    trail = AuditTrail(never_connects, "lifecycle", queue_limit=reads + 1)
    audited = AuditMiddleware(_answer, trail, POLICY)
    timings = []
    for app in (_answer, audited):
        started = time.process_time()
        for _ in range(reads):
            await app(_scope(), _nothing, _discard)
        timings.append((time.process_time() - started) / reads * 1e6)
    return timings[0], timings[1]


async def writing(records: int, batch_size: int) -> tuple[float, float, float]:
    """Records written per second, CPU µs per record in this process, and the batches' count."""
    with tempfile.TemporaryDirectory() as root:
        pg = EmbeddedPostgres(Path(root) / "pg").start()
        try:
            url = pg.url("audit_bench")
            await ensure_database(url)
            engine = make_engine(url, pool_size=2)
            await create_schema(engine, audit_metadata)
            trail = AuditTrail(engine, "lifecycle", batch_size=batch_size, queue_limit=records + 1)
            now = datetime.now(UTC)
            for n in range(records):
                trail.record(AuditRecord(at=now, subject="reviewer-gz", roles=("reviewer",), regions=("4401",),
                                         client="10.1.2.3", method="GET", route="/lifecycle/v1/items/{item_id}",
                                         path=f"/lifecycle/v1/items/item-{n}", query="", status=200))
            wall, cpu = time.perf_counter(), time.process_time()
            await trail.flush()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            await engine.dispose()
        finally:
            pg.stop()
    return records / wall, cpu / records * 1e6, records / batch_size


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    bare, audited = await per_read(args.reads)
    print(f"per read, in the answering process: {bare:.1f} µs bare ASGI app, {audited:.1f} µs behind the audit "
          f"middleware: +{audited - bare:.1f} µs CPU per read (record built and queued)")
    for batch in (500, 100):
        rate, cpu, batches = await writing(args.records, batch)
        print(f"writing {args.records} records in {batches:.0f} batches of {batch}: {rate:,.0f} records/s, "
              f"{cpu:.1f} µs CPU per record in the writing process (hashing, parameters; PostgreSQL's own not "
              "counted)")


if __name__ == "__main__":
    asyncio.run(main())
