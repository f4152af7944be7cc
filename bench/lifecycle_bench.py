"""Lifecycle benchmarks: rebuilding every read model from 1,000,000 events, and command latency under load.

    .venv/bin/python -m bench.lifecycle_bench [--events 1000000] [--rate 200] [--seconds 30] [--skip-rebuild]
                                              [--skip-load] [--api-alone] [--keep]

1. Rebuild (target ≥ 100,000 events/s). A fresh embedded PostgreSQL database is filled with COPY: realistic item
   streams made by the real domain (draft → review → test → registration → online → updates → national sync),
   hash-chained like the store chains them, ~10 events per item plus a few long streams of 1,000 events (the ones
   snapshots exist for). Then ``rebuild_projections`` (what ``shixiang rebuild --service lifecycle`` runs) is
   timed: read + fold, and the COPY of the read models. The pure in-memory fold rate is printed beside it.
2. Command latency (target p99 ≤ 30 ms at 200 commands/s). The lifecycle service as deployed (compose.yaml): one
   uvicorn process with the API role, one with the relay and consumers (and the planned-dates worker), on embedded
   PostgreSQL and Tansu. Items are seeded in 录入, then an open-loop client sends commands at a fixed rate over HTTP
   (submit, approve, record-test: each item's next legal step), so a slow response never slows the offered load.
   Latency is measured per request from its scheduled send time, after a 3 s warm-up at the same rate; the CPU each
   process spent per command is printed beside it (everything shares the machine's cores). ``--api-alone`` repeats
   the run without the relay process; ``--api-processes N`` runs N API replicas the client spreads over.

Figures are printed with the machine they ran on; nothing passes or fails on time."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from bench.machine import describe, percentile
from shared.auth import mint_token
from shared.db import create_schema, make_engine
from shared.eventstore import GENESIS_HASH, EventMetadata, event_hash, store_metadata
from shared.infra import EmbeddedBroker, EmbeddedPostgres, free_port
from shared.settings import DEVELOPMENT_JWT_SECRET

from lifecycle.adapters.rebuild import rebuild_projections
from lifecycle.adapters.store import ItemRepository, change
from lifecycle.adapters.tables import lifecycle_metadata
from lifecycle.domain.decide import ItemCommand, decide
from lifecycle.domain.events import DomainEvent, Recorded
from lifecycle.domain.evolve import apply, evolve, freeze
from lifecycle.domain.facts import on_code_assigned, on_national_feedback, on_revision
from lifecycle.domain.model import ItemState
from lifecycle.domain.vocabulary import Command, SyncResult

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
ELEMENTS = {
    "name": "居民身份证换领", "short_name": "居民身份证换领", "item_type": "20", "police_type": "02",
    "service_category": "01", "region_code": "440115", "competent_department": "广州市公安局",
    "implementing_agency": "广州市公安局南沙区分局", "exercise_levels": [4],
    "legal_basis": [{"rank": "法律", "title": "中华人民共和国居民身份证法", "article": "第十一条", "text": "……"}],
    "service_guide": {"conditions": ["有效期满"], "materials": [{"name": "居民身份证", "copies": 1}],
                      "place": "南沙区政务服务中心", "hours": "工作日 9:00-17:00",
                      "consultation_contact": "020-12345", "statutory_time_limit_days": 60},
}


# ================================================================================================ event generation
@dataclass
class TemplateEvent:
    """One template event: what the domain decided, who did it, how long after the item's first event."""

    type: str
    data: dict[str, Any]
    actor: str
    offset_s: int


class TemplateItem:
    """Drives one item through the real domain (the events of the benchmark are ones the service would write)."""

    def __init__(self) -> None:
        self.state = ItemState(item_id="template")
        self.events: list[TemplateEvent] = []

    def record(self, decided: list[DomainEvent], actor: str) -> None:
        for e in decided:
            offset = len(self.events) * 600
            self.events.append(TemplateEvent(e.type, e.data, actor, offset))
            stored = Recorded(e.type, e.data, actor, T0 + timedelta(seconds=offset), self.state.version + 1)
            self.state = evolve(self.state, stored)

    def command(self, command: Command, actor: str, **kwargs: Any) -> None:
        now = T0 + timedelta(seconds=len(self.events) * 600)
        self.record(decide(self.state, ItemCommand(command, **kwargs), actor=actor, now=now), actor)

    def revision(self, n: int, elements: dict[str, Any], author: str = "entry-gz") -> None:
        now = T0 + timedelta(seconds=len(self.events) * 600)
        self.record(on_revision(self.state, revision=n, author=author, region_code="440115", elements=elements,
                                now=now), author)

    def to_online(self) -> None:
        self.revision(1, ELEMENTS)
        self.command(Command.submit, "entry-gz")
        self.command(Command.approve, "reviewer-gz")
        self.command(Command.record_test, "tester-gz", test_result="pass", notes="联调通过")
        self.command(Command.register, "publisher-gz")
        self.record(on_code_assigned(self.state, code="200244011502010JMSFZHL00"), "coding")
        self.command(Command.publish, "publisher-gz")

    def update(self, n: int) -> None:
        self.revision(n, {**ELEMENTS, "competent_department": f"广州市公安局（第{n}版）"}, author="entry2-gz")
        self.command(Command.submit, "entry-gz")
        self.command(Command.approve, "reviewer-gz")
        self.command(Command.publish, "publisher-gz")

    def acknowledged(self) -> None:
        self.record(on_national_feedback(self.state, item_version=self.state.version, result=SyncResult.acknowledged,
                                         reason=None, feed_sequence=self.state.version), "national")


def typical_item() -> list[TemplateEvent]:
    """10 events: online, acknowledged, and an update under review (the common shape of a live catalogue)."""
    item = TemplateItem()
    item.to_online()
    item.acknowledged()
    item.revision(2, {**ELEMENTS, "hours": "工作日 8:30-17:30", "name": "居民身份证换领（新）"}, author="entry2-gz")
    item.command(Command.submit, "entry-gz")
    return item.events


def long_item(events: int) -> list[TemplateEvent]:
    """An item updated again and again for years: ``events`` events (snapshots keep loading it fast)."""
    item = TemplateItem()
    item.to_online()
    n = 2
    while len(item.events) + 5 <= events:
        item.update(n)
        item.acknowledged()
        n += 1
    while len(item.events) < events:  # fill up with national answers
        item.record(on_national_feedback(item.state, item_version=item.state.version, result=SyncResult.rejected,
                                         reason=f"补充说明 {len(item.events)}", feed_sequence=None), "national")
    return item.events


def rows_for(item_id: str, template: list[TemplateEvent], start: datetime) -> Iterator[tuple[Any, ...]]:
    previous = GENESIS_HASH
    for version, e in enumerate(template, start=1):
        data = {**e.data, "item_id": item_id} if "item_id" in e.data else e.data
        at = start + timedelta(seconds=e.offset_s)
        event_id = uuid.uuid4()
        previous = event_hash(previous, item_id, version, event_id, e.type, data, e.actor, at)
        yield (item_id, version, event_id, e.type, json.dumps(data, ensure_ascii=False), e.actor, None, None, at,
               previous)


async def fill(dsn: dict[str, str], total: int, long_streams: int, long_length: int) -> tuple[int, int, float]:
    """COPY ``total`` events into ``events``; returns (events, items, seconds)."""
    typical, long = typical_item(), long_item(long_length)
    conn = await asyncpg.connect(**dsn)
    started = time.perf_counter()
    written = items = 0
    columns = ["stream_id", "version", "event_id", "type", "data", "actor", "correlation_id", "causation_id",
               "recorded_at", "hash"]
    try:
        batch: list[tuple[Any, ...]] = []
        n = 0
        while written + len(batch) < total:
            template = long if n < long_streams else typical
            template = template[:total - written - len(batch)]
            batch += rows_for(f"item-{n:07d}", template, T0 + timedelta(minutes=n))
            n += 1
            if len(batch) >= 50_000:
                await conn.copy_records_to_table("events", records=batch, columns=columns)
                written += len(batch)
                batch = []
        if batch:
            await conn.copy_records_to_table("events", records=batch, columns=columns)
            written += len(batch)
        items = n
        await conn.execute("ANALYZE events")
    finally:
        await conn.close()
    return written, items, time.perf_counter() - started


def in_memory_fold_rate(events: int = 200_000) -> float:
    template = typical_item()
    happened = [Recorded(e.type, e.data, e.actor, T0, v) for v, e in enumerate(template, start=1)]
    empty = ItemState(item_id="").__dict__
    rounds = events // len(happened)
    started = time.perf_counter()
    for _ in range(rounds):
        draft = dict(empty)
        for e in happened:
            apply(draft, e)
        freeze(draft)
    return rounds * len(happened) / (time.perf_counter() - started)


async def bench_rebuild(root: Path, total: int) -> None:
    postgres = EmbeddedPostgres(root / "pg-rebuild").start()
    try:
        postgres.create_database("lifecycle_rebuild")
        url = postgres.url("lifecycle_rebuild")
        engine = make_engine(url, pool_size=2)
        await create_schema(engine, store_metadata, lifecycle_metadata)
        dsn = {"host": str(postgres.socket_dir), "user": "postgres", "database": "lifecycle_rebuild"}
        long_streams = max(1, total // 20_000)  # 5% of the events in streams of 1,000
        written, items, fill_s = await fill(dsn, total, long_streams, 1000)
        print(f"  generated {written:,} hash-chained events of {items:,} items ({long_streams} streams of 1,000 "
              f"events) with COPY in {fill_s:.1f}s")
        repository = ItemRepository()
        for attempt in (1, 2):
            report = await rebuild_projections(engine, repository)
            assert report is not None
            print(f"  rebuild #{attempt}: {report.summary()}")
            print(f"             read + fold {report.fold_seconds:.2f}s, write read models {report.write_seconds:.2f}s")
        print(f"  in-memory fold alone: {in_memory_fold_rate():,.0f} events/s")
        await engine.dispose()
    finally:
        postgres.stop()


# ================================================================================================ command latency
USERS = {"entry-gz": ["entry"], "reviewer-gz": ["reviewer"], "tester-gz": ["tester"]}
WARMUP_S = 3.0
STEPS = [("submit", "entry-gz", {}), ("approve", "reviewer-gz", {}),
         ("record-test", "tester-gz", {"result": "pass", "notes": "压测"})]


async def seed_items(url: str, count: int) -> list[str]:
    """Items in 录入, written the way the registry consumer writes them (events + read models), in batches."""
    engine = make_engine(url, pool_size=2)
    await create_schema(engine, store_metadata, lifecycle_metadata)
    repository = ItemRepository()
    ids = [str(uuid.uuid4()) for _ in range(count)]
    try:
        for start in range(0, count, 500):
            metadata = EventMetadata(actor="author-gz", recorded_at=datetime.now(UTC))
            changes = []
            for item_id in ids[start:start + 500]:
                state = ItemState(item_id=item_id)
                decided = on_revision(state, revision=1, author="author-gz", region_code="440115",
                                      elements=ELEMENTS, now=metadata.recorded_at or T0)
                changes.append(change(state, decided, metadata))
            async with engine.begin() as conn:
                await repository.save(conn, changes)
    finally:
        await engine.dispose()
    return ids


async def bench_commands(root: Path, rate: float, seconds: float, *, with_workers: bool = True,
                         api_processes: int = 1) -> None:
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    postgres = EmbeddedPostgres(root / "pg-load").start()
    broker = EmbeddedBroker(free_port(), log_path=root / "broker.log").start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        postgres.create_database("lifecycle_load")
        url = postgres.url("lifecycle_load")
        total = int(rate * seconds)
        warmup = int(rate * WARMUP_S)
        items = await seed_items(url, -(-total // len(STEPS)) + warmup)
        warmup_items, items = items[:warmup], items[warmup:]
        # The cluster, its database and the seeded items were just written: have PostgreSQL write its dirty buffers
        # and the kernel its dirty pages now, or the kernel's writeback of them (pages older than 30 s) lands in the
        # measured window and stalls every commit's WAL flush behind it for a few hundred milliseconds.
        postgres.checkpoint()
        os.sync()
        api_ports = [free_port() for _ in range(api_processes)]
        env = {**os.environ, "SHIXIANG_DATABASE_URL": url, "SHIXIANG_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
               "SHIXIANG_ENVIRONMENT": "development", "SHIXIANG_TOPIC_PREFIX": "bench"}
        # The production shape (compose.yaml, deploy/k8s): the API in one process, relay and consumers (and the
        # planned-dates worker) in another, so that publishing to Kafka never queues behind HTTP requests.
        roles = [("api", p) for p in api_ports] + ([("relay,consume", free_port())] if with_workers else [])
        for role, listen in roles:
            processes.append(await asyncio.to_thread(_start_lifecycle, root, role, listen, env))
        async with httpx.AsyncClient(timeout=30) as http:
            for listen in [p for _, p in roles]:
                await _wait_ready(http, f"http://127.0.0.1:{listen}")
            tokens = {u: mint_token(DEVELOPMENT_JWT_SECRET, subject=u, roles=r, regions=["4401"])
                      for u, r in USERS.items()}
            watched = {f"API ×{api_processes}": [psutil.Process(p.pid) for p in processes[:api_processes]],
                       "relay+consumers": [psutil.Process(p.pid) for p in processes[api_processes:]],
                       "load generator": [psutil.Process()]}
            client = RawHttpClient("127.0.0.1", api_ports, connections=64)
            await client.open()
            try:
                # Warm-up at the same rate on other items: the API opens its database connections and prepares its
                # statements on first use, which is start-up cost, not latency under load.
                await _open_loop(client, tokens, warmup_items, rate, warmup)
                cpu_before = {name: _cpu(ps) for name, ps in watched.items()}
                latencies, statuses = await _open_loop(client, tokens, items, rate, total)
            finally:
                await client.close()
            cpu_ms = {name: (_cpu(ps) - cpu_before[name]) * 1000 / total for name, ps in watched.items() if ps}
        ok = [latency for latency, status in zip(latencies, statuses, strict=True) if status == 200]
        errors = len(statuses) - len(ok)
        if errors:
            print(f"  errors by status: {dict(Counter(s for s in statuses if s != 200))}; logs in {root}")
        shape = f"{api_processes} API process(es)" + (", relay and consumers" if with_workers else
                                                        " alone (no relay: nothing goes to Kafka)")
        print(f"  {shape}:")
        print(f"  {len(statuses):,} commands offered at {rate:.0f}/s for {seconds:.0f}s over HTTP "
              f"({len(items):,} items: submit → approve → record-test); {errors} errors")
        print("  CPU per command: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in cpu_ms.items()))
        print(f"  latency from scheduled send: p50 {percentile(ok, 50) * 1000:.1f} ms · p95 "
              f"{percentile(ok, 95) * 1000:.1f} ms · p99 {percentile(ok, 99) * 1000:.1f} ms · max "
              f"{max(ok) * 1000:.1f} ms")
        # Latencies in send order, by 5 s window: a tail that comes from one stall shows in one window, a backlog
        # grows from window to window.
        window = int(rate * 5)
        print("  by 5 s window (p50 / p99 / max ms): " + ", ".join(
            f"{start // int(rate)}–{(start + window) // int(rate)} s "
            f"{percentile(part, 50) * 1000:.0f}/{percentile(part, 99) * 1000:.0f}/{max(part) * 1000:.0f}"
            for start in range(0, len(latencies), window) if (part := latencies[start:start + window])))
    finally:
        for process in processes:
            process.terminate()
            process.wait(15)
        broker.stop()
        postgres.stop()


def _start_lifecycle(root: Path, role: str, listen: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``shixiang serve lifecycle`` with ``role`` on ``listen``, its output appended to a log file in ``root``."""
    with open(root / f"lifecycle-{role.replace(',', '-')}-{listen}.log", "ab") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "shixiang.cli", "serve", "lifecycle", "--host", "127.0.0.1", "--port", str(listen)],
            env={**env, "SHIXIANG_ROLES": role}, stdout=log, stderr=subprocess.STDOUT)


def _cpu(processes: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in processes)


async def _wait_ready(http: httpx.AsyncClient, base: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if (await http.get(f"{base}/readyz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("lifecycle did not become ready")


class RawHttpClient:
    """A minimal HTTP/1.1 keep-alive client for the load generator: on a two-core machine the generator shares
    the CPU with the service, and httpx spends several milliseconds per request, which would be measured as the
    service's latency. Requests wait for a free connection (that wait counts: latency runs from the scheduled send)."""

    def __init__(self, host: str, ports: list[int], connections: int) -> None:
        self.host, self.ports, self.connections = host, ports, connections
        self.pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def open(self) -> None:
        """Connections spread over the API processes, as a load balancer in front of replicas would."""
        for n in range(self.connections):
            self.pool.put_nowait(await asyncio.open_connection(self.host, self.ports[n % len(self.ports)]))

    async def close(self) -> None:
        while not self.pool.empty():
            _, writer = self.pool.get_nowait()
            writer.close()

    async def post(self, path: str, body: bytes, token: str) -> int:
        reader, writer = await self.pool.get()
        try:
            writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {token}\r\n"
                         f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            return status
        finally:
            self.pool.put_nowait((reader, writer))


async def _open_loop(client: RawHttpClient, tokens: dict[str, str], items: list[str], rate: float,
                     total: int) -> tuple[list[float], list[int]]:
    latencies: list[float] = [0.0] * total
    statuses: list[int] = [0] * total
    bodies = {command: json.dumps(body).encode() for command, _, body in STEPS}
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5

    async def one(i: int) -> None:
        item_id = items[i % len(items)]
        command, user, _ = STEPS[i // len(items)]
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        statuses[i] = await client.post(f"/lifecycle/v1/items/{item_id}/commands/{command}", bodies[command],
                                        tokens[user])
        latencies[i] = loop.time() - scheduled

    await asyncio.gather(*(one(i) for i in range(total)))
    return latencies, statuses


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--skip-rebuild", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the data and logs directory")
    parser.add_argument("--api-processes", type=int, default=1, help="API replicas (the client spreads over them)")
    parser.add_argument("--api-alone", action="store_true",
                        help="also measure the API process without the relay/consumer process beside it")
    args = parser.parse_args()
    print(f"lifecycle benchmark on {describe()}")
    root = Path(tempfile.mkdtemp(prefix="lifecycle-bench-"))
    try:
        if not args.skip_rebuild:
            print(f"rebuild of {args.events:,} lifecycle events (target ≥ 100,000 events/s):")
            await bench_rebuild(root, args.events)
        if not args.skip_load:
            print(f"command latency at {args.rate:.0f} commands/s (target p99 ≤ 30 ms):")
            await bench_commands(root / "full", args.rate, args.seconds, api_processes=args.api_processes)
            if args.api_alone:
                await bench_commands(root / "api", args.rate, args.seconds, with_workers=False,
                                     api_processes=args.api_processes)
    finally:
        if args.keep:
            print(f"data and logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
