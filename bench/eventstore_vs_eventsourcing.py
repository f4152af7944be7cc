"""Our append path against the ``eventsourcing`` library's PostgreSQL application recorder, side by side.

    .venv/bin/python -m bench.eventstore_vs_eventsourcing [--rounds 5] [--seconds 3] [--warmup 1]
                                                          [--shapes 1x1,1x100,16x1,16x100] [--appends-per-stream 10]

(``eventsourcing[postgres]`` comes with the ``bench`` extra: ``pip install -e '.[test,bench]'``, what ``make
install`` does.)

One embedded PostgreSQL cluster is started in a temporary directory (removed at the end) with two databases: ours
holds ``shared.eventstore.store_metadata`` (created by ``create_schema``), theirs the ``stored_events`` table of
``eventsourcing.postgres.PostgresApplicationRecorder`` (``create_table()``). Both run in this one process:

- ours: ``EventStore(engine).append(stream_id, expected_version, [NewEvent…], EventMetadata(actor=…))``, each call
  its own transaction, on SQLAlchemy + asyncpg (``make_engine``, pool_size = writers); W writers are W asyncio tasks
  on one event loop (uvloop when installed, as the services run).
- theirs: ``recorder.insert_events([StoredEvent…])``, each call its own transaction, on psycopg 3 (synchronous;
  ``PostgresDatastore`` pool_size = writers); W writers are W threads.

Shapes are W writers × E events per transaction (``--shapes 16x100`` = 16 writers, 100 events per call). Every writer
appends to streams of its own (no conflicts) and knows their versions (no read before an append): E events go to one
stream per call, and a writer starts a new stream (a fresh uuid) after ``--appends-per-stream`` calls, so 1-event
streams end up 10 events long (an item's life) and 100-event streams 1,000. The event payload is the same ≈400-byte
JSON object (Chinese text) for both, a fresh dict per event; ours passes the dict (the store serialises it to
canonical JSON and hashes it), theirs serialises it with orjson into ``StoredEvent.state`` inside the timed loop.

Per shape: both tables are truncated and the cluster checkpointed, each side warms up for ``--warmup`` seconds,
then rounds alternate ours, theirs, ours, theirs, … (``--rounds`` each), every round a fixed ``--seconds`` with all
writers busy; within a shape the tables keep growing. A round counts every transaction that committed, including
those that were still running at the deadline, over the time until the last writer stopped. Reported per shape:
the median events/s and transactions/s of each side, the CPU per event of this process (client: driver, pool,
serialisation, hashing) and of the PostgreSQL processes (server), and ours/theirs = the median of the per-round
ratios of events/s (round i of ours against round i of theirs, run back to back), with their range.

Both share the machine's cores with PostgreSQL (and whatever else runs): figures are printed with the machine they
ran on; nothing passes or fails on time."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import psutil
from sqlalchemy import text

from bench.machine import describe
from shared.db import create_schema, make_engine
from shared.eventstore import EventMetadata, EventStore, NewEvent, store_metadata
from shared.infra import EmbeddedPostgres

#: ≈400 bytes of UTF-8 JSON: a maintenance revision of an item (what most appends of a running suite look like).
PAYLOAD = {
    "item_id": "3f1c2a9e-7b4d-4c1e-9a55-0d6b8e2f4a71",
    "revision": 0,
    "name": "居民身份证换领",
    "region_code": "440115",
    "implementing_agency": "广州市公安局南沙区分局",
    "changed": ["service_guide.place", "service_guide.hours"],
    "place": "南沙区政务服务中心一楼公安窗口",
    "hours": "工作日 9:00-12:00，14:00-17:30",
    "reason": "根据群众反映调整办理时间和地点",
    "submitted_by": "张三",
}
#: A type with no contract in shared.contracts (a real one would add its validation to our side only).
OUR_TYPE = "bench.item.revised.v1"
THEIR_TOPIC = "bench.domain:Item.Revised"
OURS, THEIRS = "ours", "eventsourcing"


@dataclass(frozen=True)
class Shape:
    writers: int
    events_per_tx: int

    @property
    def label(self) -> str:
        return f"{self.writers}x{self.events_per_tx}"

    @property
    def title(self) -> str:
        return (f"{self.writers} writer{'s' if self.writers > 1 else ''} × "
                f"{self.events_per_tx} event{'s' if self.events_per_tx > 1 else ''}/tx")


@dataclass(frozen=True)
class Round:
    transactions: int
    events: int
    seconds: float
    client_cpu_s: float
    server_cpu_s: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    @property
    def transactions_per_s(self) -> float:
        return self.transactions / self.seconds


class ServerCpu:
    """CPU seconds spent so far by the cluster's processes (postmaster and its children: backends, WAL writer,
    checkpointer …). Processes that exit between two readings take their CPU with them (only autovacuum workers
    come and go here; the pools keep their backends)."""

    def __init__(self, data_dir: Path) -> None:
        self.postmaster = psutil.Process(int((data_dir / "postmaster.pid").read_text().split()[0]))

    def seconds(self) -> float:
        total = 0.0
        for process in [self.postmaster, *self.postmaster.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total


def our_revision() -> str:
    """The commit of this checkout, and whether the store's module differs from it (the append path changes)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "shared/eventstore.py"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"commit {head}" + (" with uncommitted changes" if dirty else "")


def payload(seq: int) -> dict:
    return {**PAYLOAD, "revision": seq}


# --- ours ---------------------------------------------------------------------------------------------------------

async def ours_writer(store: EventStore, deadline: float, events_per_tx: int, appends_per_stream: int) -> int:
    metadata = EventMetadata(actor="bench")
    transactions = 0
    stream, version, appends = "", 0, appends_per_stream
    while time.perf_counter() < deadline:
        if appends == appends_per_stream:
            stream, version, appends = f"item-{uuid.uuid4()}", 0, 0
        events = [NewEvent(OUR_TYPE, payload(version + i + 1)) for i in range(events_per_tx)]
        await store.append(stream, version, events, metadata)
        version += events_per_tx
        appends += 1
        transactions += 1
    return transactions


async def ours_round(store: EventStore, shape: Shape, seconds: float, appends_per_stream: int,
                     server: ServerCpu) -> Round:
    cpu, server_cpu, start = time.process_time(), server.seconds(), time.perf_counter()
    deadline = start + seconds
    counts = await asyncio.gather(*(ours_writer(store, deadline, shape.events_per_tx, appends_per_stream)
                                    for _ in range(shape.writers)))
    elapsed = time.perf_counter() - start
    transactions = sum(counts)
    return Round(transactions, transactions * shape.events_per_tx, elapsed, time.process_time() - cpu,
                 server.seconds() - server_cpu)


# --- theirs -------------------------------------------------------------------------------------------------------

def theirs_round(recorder, shape: Shape, seconds: float, appends_per_stream: int, server: ServerCpu) -> Round:
    from eventsourcing.persistence import StoredEvent

    counts = [0] * shape.writers
    errors: list[BaseException] = []
    go = threading.Barrier(shape.writers + 1)
    deadline = 0.0

    def writer(index: int) -> None:
        go.wait()
        transactions = 0
        originator, version, appends = uuid.UUID(int=0), 0, appends_per_stream
        try:
            while time.perf_counter() < deadline:
                if appends == appends_per_stream:
                    originator, version, appends = uuid.uuid4(), 0, 0
                recorder.insert_events([
                    StoredEvent(originator_id=originator, originator_version=version + i + 1, topic=THEIR_TOPIC,
                                state=orjson.dumps(payload(version + i + 1)))
                    for i in range(shape.events_per_tx)
                ])
                version += shape.events_per_tx
                appends += 1
                transactions += 1
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)
        counts[index] = transactions

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(shape.writers)]
    for thread in threads:
        thread.start()
    cpu, server_cpu, start = time.process_time(), server.seconds(), time.perf_counter()
    deadline = start + seconds
    go.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    transactions = sum(counts)
    return Round(transactions, transactions * shape.events_per_tx, elapsed, time.process_time() - cpu,
                 server.seconds() - server_cpu)


def their_datastore(database: str, socket_dir: str, port: int, pool_size: int):
    from eventsourcing.postgres import PostgresDatastore

    return PostgresDatastore(dbname=database, host=socket_dir, port=port, user="postgres", password="",
                             pool_size=pool_size, max_overflow=0)


# --- the run ------------------------------------------------------------------------------------------------------

def parse_shapes(value: str) -> list[Shape]:
    shapes = []
    for part in value.split(","):
        writers, _, events = part.strip().lower().partition("x")
        shapes.append(Shape(int(writers), int(events)))
    return shapes


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def run_shape(runner: asyncio.Runner, pg: EmbeddedPostgres, port: int, shape: Shape, args: argparse.Namespace,
              server: ServerCpu) -> dict[str, list[Round]]:
    from eventsourcing.postgres import PostgresApplicationRecorder

    engine = make_engine(pg.url("ours"), pool_size=shape.writers)
    store = EventStore(engine)
    datastore = their_datastore("theirs", pg.socket_dir, port, shape.writers)
    recorder = PostgresApplicationRecorder(datastore)
    rounds: dict[str, list[Round]] = {OURS: [], THEIRS: []}
    try:
        with datastore.transaction(commit=True) as curs:
            curs.execute("TRUNCATE stored_events RESTART IDENTITY")

        async def truncate_ours() -> None:
            async with engine.begin() as conn:
                tables = ", ".join(table.name for table in store_metadata.sorted_tables)
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
            async with engine.connect() as conn:
                await conn.execute(text("CHECKPOINT"))  # what the previous shape wrote is not flushed during this one

        runner.run(truncate_ours())

        def ours() -> Round:
            return runner.run(ours_round(store, shape, args.seconds, args.appends_per_stream, server))

        def theirs() -> Round:
            return theirs_round(recorder, shape, args.seconds, args.appends_per_stream, server)

        sides: list[tuple[str, Callable[[], Round]]] = [(OURS, ours), (THEIRS, theirs)]
        if args.warmup > 0:  # opens the pools' connections and prepares the statements
            runner.run(ours_round(store, shape, args.warmup, args.appends_per_stream, server))
            theirs_round(recorder, shape, args.warmup, args.appends_per_stream, server)
        for index in range(args.rounds):
            figures = []
            for name, side in sides:
                result = side()
                rounds[name].append(result)
                figures.append(f"{name} {fmt_rate(result.events_per_s)}")
            print(f"  {shape.title:<26} round {index + 1}/{args.rounds}: events/s {', '.join(figures)}", flush=True)
    finally:
        datastore.close()
        runner.run(engine.dispose())
    return rounds


def report(results: list[tuple[Shape, dict[str, list[Round]]]]) -> None:
    header = (f"{'shape':<26} {'store':<14} {'events/s':>10} {'tx/s':>9} {'client CPU':>11} {'server CPU':>11}"
              f"  ours/theirs (events/s)")
    print()
    print("medians over the rounds; CPU in µs per event (this process / the PostgreSQL processes)")
    print(header)
    print("-" * len(header))
    for shape, rounds in results:
        for name in (OURS, THEIRS):
            rs = rounds[name]
            line = (f"{shape.title if name == OURS else '':<26} {name:<14}"
                    f" {fmt_rate(statistics.median(r.events_per_s for r in rs)):>10}"
                    f" {fmt_rate(statistics.median(r.transactions_per_s for r in rs)):>9}"
                    f" {statistics.median(r.client_cpu_s / r.events * 1e6 for r in rs):>11.0f}"
                    f" {statistics.median(r.server_cpu_s / r.events * 1e6 for r in rs):>11.0f}")
            if name == OURS:
                ratios = [o.events_per_s / t.events_per_s for o, t in zip(rounds[OURS], rounds[THEIRS], strict=True)]
                of_medians = (statistics.median(r.events_per_s for r in rounds[OURS])
                              / statistics.median(r.events_per_s for r in rounds[THEIRS]))
                line += (f"  {statistics.median(ratios):.2f}× (rounds {min(ratios):.2f}–{max(ratios):.2f}; "
                         f"ratio of medians {of_medians:.2f}×)")
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side and shape (alternating)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one round")
    parser.add_argument("--warmup", type=float, default=1.0, help="untimed run per side before a shape's rounds")
    parser.add_argument("--shapes", type=parse_shapes, default=parse_shapes("1x1,1x100,16x1,16x100"),
                        help="comma-separated WRITERSxEVENTS_PER_TX (default 1x1,1x100,16x1,16x100)")
    parser.add_argument("--appends-per-stream", type=int, default=10,
                        help="calls per stream before a writer starts a new one")
    args = parser.parse_args()

    from importlib.metadata import version

    import psycopg

    try:
        import uvloop
        loop_factory, loop_name = uvloop.new_event_loop, "uvloop"
    except ImportError:
        loop_factory, loop_name = None, "asyncio"
    size = len(orjson.dumps(PAYLOAD))
    print(f"our EventStore.append vs eventsourcing {version('eventsourcing')} PostgresApplicationRecorder"
          f".insert_events on {describe()}")
    print(f"ours: shared/eventstore.py at {our_revision()}, SQLAlchemy + asyncpg on {loop_name}; "
          f"theirs: psycopg {psycopg.__version__} ({psycopg.pq.__impl__} implementation, "
          f"libpq {psycopg.pq.version()}) in threads; "
          f"payload {size} bytes of JSON; {args.rounds} alternating rounds of {args.seconds:g} s per side and shape, "
          f"{args.appends_per_stream} calls per stream")

    root = Path(tempfile.mkdtemp(prefix="es-vs-eventsourcing-"))
    pg = EmbeddedPostgres(root / "pg")
    results: list[tuple[Shape, dict[str, list[Round]]]] = []
    try:
        pg.start()
        pg.create_database("ours")
        pg.create_database("theirs")
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            async def setup() -> tuple[int, str]:
                engine = make_engine(pg.url("ours"), pool_size=1)
                try:
                    await create_schema(engine, store_metadata)
                    async with engine.connect() as conn:
                        port = int(await conn.scalar(text("SHOW port")))
                        settings = [f"{name}={await conn.scalar(text(f'SHOW {name}'))}"
                                    for name in ("server_version", "shared_buffers", "synchronous_commit", "fsync",
                                                 "wal_level", "max_wal_size")]
                    return port, ", ".join(settings)
                finally:
                    await engine.dispose()

            port, settings = runner.run(setup())
            print(f"PostgreSQL (one embedded cluster, both databases): {settings}")
            from eventsourcing.postgres import PostgresApplicationRecorder

            datastore = their_datastore("theirs", pg.socket_dir, port, 1)
            try:
                PostgresApplicationRecorder(datastore).create_table()
            finally:
                datastore.close()
            server = ServerCpu(pg.data_dir)
            results.extend((shape, run_shape(runner, pg, port, shape, args, server)) for shape in args.shapes)
        report(results)
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
