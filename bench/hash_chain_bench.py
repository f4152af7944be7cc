"""What chaining events with SM3 (国密, GB/T 32905) costs against SHA-256: appends, the import's prepared path, and
verifying stored chains.

    .venv/bin/python -m bench.hash_chain_bench [--rounds 5] [--seconds 3] [--warmup 1] [--shapes 1x1,16x1]
                                               [--streams 2000] [--events-per-stream 10] [--prepared 20000]

One embedded PostgreSQL cluster in a temporary directory (removed at the end), one database with the event store
(``create_schema``), two engines on it: one made with ``event_hash="sha256"``, one with ``"sm3"`` (what
SHIXIANG_EVENT_HASH does to a service's engine). Three measurements, each side by side:

- **appends** (``EventStore.append``, each call its own transaction, the shapes and payload of
  ``bench.eventstore_vs_eventsourcing``: W writers × E events per call, each writer on streams of its own): SHA-256
  links are computed by PostgreSQL inside ``shixiang_append`` (one round trip); SM3 links by the client, which first
  reads the stream's head (two round trips) and sends the links with the head they extend. Rounds alternate
  sha256, sm3, sha256, …; per round the events/s and the CPU per event of this process (client) and of PostgreSQL
  (server); sm3/sha256 is the median of the per-round ratios of events/s.
- **prepared** (``prepare_append``, the registry import's path: events serialised and chained in Python before
  their transaction): events/s of this CPU work alone, one event per stream as an import chunk has them.
- **verify** (``verify_chain``, what the chain endpoints, the lifecycle's chain report, the console's chain view and
  the upgrade and chaos checks run): ``--streams`` streams of ``--events-per-stream`` events each, chained with each
  algorithm, read back from PostgreSQL and verified (events/s read + verified), and the verification alone on the
  events in memory.

Figures are printed with the machine they ran on; nothing passes or fails on time."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.eventstore_vs_eventsourcing import (
    OUR_TYPE,
    Round,
    ServerCpu,
    Shape,
    fmt_rate,
    our_revision,
    ours_round,
    parse_shapes,
    payload,
)
from bench.machine import describe
from shared.db import create_schema, make_engine
from shared.eventstore import (
    EventMetadata,
    EventStore,
    NewEvent,
    StreamAppend,
    append_batch,
    prepare_append,
    store_metadata,
    stored_event,
    verify_chain,
)
from shared.infra import EmbeddedPostgres

ALGORITHMS = ("sha256", "sm3")
METADATA = EventMetadata(actor="bench")


def ratio_line(rounds: dict[str, list[Round]]) -> str:
    ratios = [s.events_per_s / h.events_per_s for h, s in zip(rounds["sha256"], rounds["sm3"], strict=True)]
    return f"sm3/sha256 {statistics.median(ratios):.2f}× (rounds {min(ratios):.2f}–{max(ratios):.2f})"


def run_appends(runner: asyncio.Runner, pg: EmbeddedPostgres, shape: Shape, args: argparse.Namespace,
                server: ServerCpu) -> dict[str, list[Round]]:
    engines = {a: make_engine(pg.url("chain"), pool_size=shape.writers, event_hash=a) for a in ALGORITHMS}
    stores = {a: EventStore(e) for a, e in engines.items()}
    rounds: dict[str, list[Round]] = {a: [] for a in ALGORITHMS}

    async def truncate() -> None:
        async with engines["sha256"].begin() as conn:
            await conn.execute(text("TRUNCATE events RESTART IDENTITY"))
        async with engines["sha256"].connect() as conn:
            await conn.execute(text("CHECKPOINT"))

    try:
        runner.run(truncate())
        if args.warmup > 0:
            for store in stores.values():
                runner.run(ours_round(store, shape, args.warmup, args.appends_per_stream, server))
        for index in range(args.rounds):
            figures = []
            for algorithm, store in stores.items():
                result = runner.run(ours_round(store, shape, args.seconds, args.appends_per_stream, server))
                rounds[algorithm].append(result)
                figures.append(f"{algorithm} {fmt_rate(result.events_per_s)}")
            print(f"  appends {shape.title:<26} round {index + 1}/{args.rounds}: events/s {', '.join(figures)}",
                  flush=True)
    finally:
        for engine in engines.values():
            runner.run(engine.dispose())
    return rounds


def timed(work: Callable[[], Any], repeat: int) -> float:
    """The best of ``repeat`` runs, in seconds (the least disturbed by the machine's other work)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def run_prepared(count: int, repeat: int) -> dict[str, float]:
    """Runs alternating sha256, sm3, …; the best of each."""
    appends = [StreamAppend(f"item-{i}", 0, [NewEvent(OUR_TYPE, payload(1))]) for i in range(count)]
    best = dict.fromkeys(ALGORITHMS, float("inf"))
    for _ in range(repeat):
        for a in ALGORITHMS:
            best[a] = min(best[a], timed(partial(prepare_append, appends, METADATA, {}, hash_alg=a), 1))
    return {a: count / seconds for a, seconds in best.items()}


async def fill(engine: Any, prefix: str, streams: int, events_per_stream: int) -> None:
    for start in range(0, streams, 500):
        async with engine.begin() as conn:
            await append_batch(conn, [
                StreamAppend(f"{prefix}-{i}", 0, [NewEvent(OUR_TYPE, payload(v + 1)) for v in range(events_per_stream)])
                for i in range(start, min(start + 500, streams))], METADATA)


async def read_streams(engine: Any, prefix: str) -> list[list[Any]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM events WHERE stream_id LIKE :p ORDER BY stream_id, version"),
                                   {"p": f"{prefix}-%"})).all()
    by_stream: dict[str, list[Any]] = {}
    for row in rows:
        by_stream.setdefault(row.stream_id, []).append(stored_event(row))
    return list(by_stream.values())


def run_verify(runner: asyncio.Runner, pg: EmbeddedPostgres,
               args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """Both stores filled first, then runs alternating sha256, sm3, … (the machine's other work falls on both);
    the best run of each."""
    total = args.streams * args.events_per_stream
    engines = {a: make_engine(pg.url("chain"), pool_size=2, event_hash=a) for a in ALGORITHMS}
    best: dict[str, list[float]] = {a: [float("inf"), float("inf")] for a in ALGORITHMS}
    try:
        in_memory = {}
        for algorithm, engine in engines.items():
            runner.run(fill(engine, f"verify-{algorithm}", args.streams, args.events_per_stream))
            in_memory[algorithm] = runner.run(read_streams(engine, f"verify-{algorithm}"))
            assert all(verify_chain(s).ok and s[0].hash_alg == algorithm for s in in_memory[algorithm])
        for _ in range(args.repeat):
            for algorithm, engine in engines.items():
                start = time.perf_counter()
                for stream in runner.run(read_streams(engine, f"verify-{algorithm}")):
                    verify_chain(stream)
                middle = time.perf_counter()
                for stream in in_memory[algorithm]:
                    verify_chain(stream)
                end = time.perf_counter()
                best[algorithm] = [min(best[algorithm][0], middle - start), min(best[algorithm][1], end - middle)]
    finally:
        for engine in engines.values():
            runner.run(engine.dispose())
    results = {a: (total / read, total / alone) for a, (read, alone) in best.items()}
    for algorithm, (read, alone) in results.items():
        print(f"  verify {algorithm}: {fmt_rate(read)} events/s read + verified, {fmt_rate(alone)} verified in memory",
              flush=True)
    return results


def report(appends: list[tuple[Shape, dict[str, list[Round]]]], prepared: dict[str, float],
           verified: dict[str, tuple[float, float]]) -> None:
    print()
    print("appends: medians over the rounds; CPU in µs per event (this process / the PostgreSQL processes)")
    header = f"{'shape':<26} {'hash':<7} {'events/s':>10} {'client CPU':>11} {'server CPU':>11}"
    print(header)
    print("-" * len(header))
    for shape, rounds in appends:
        for algorithm in ALGORITHMS:
            rs = rounds[algorithm]
            line = (f"{shape.title if algorithm == 'sha256' else '':<26} {algorithm:<7}"
                    f" {fmt_rate(statistics.median(r.events_per_s for r in rs)):>10}"
                    f" {statistics.median(r.client_cpu_s / r.events * 1e6 for r in rs):>11.0f}"
                    f" {statistics.median(r.server_cpu_s / r.events * 1e6 for r in rs):>11.0f}")
            if algorithm == "sm3":
                line += "  " + ratio_line(rounds)
            print(line)
    print()
    print(f"{'':<26} {'sha256':>12} {'sm3':>12}  sm3/sha256")
    rows = [("prepared (events/s)", prepared["sha256"], prepared["sm3"]),
            ("read + verify (events/s)", verified["sha256"][0], verified["sm3"][0]),
            ("verify only (events/s)", verified["sha256"][1], verified["sm3"][1])]
    for label, sha, sm3 in rows:
        print(f"{label:<26} {fmt_rate(sha):>12} {fmt_rate(sm3):>12}  {sm3 / sha:.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="append rounds per algorithm and shape (alternating)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one append round")
    parser.add_argument("--warmup", type=float, default=1.0, help="untimed appends per algorithm before a shape")
    parser.add_argument("--shapes", type=parse_shapes, default=parse_shapes("1x1,16x1"),
                        help="comma-separated WRITERSxEVENTS_PER_TX (default 1x1,16x1)")
    parser.add_argument("--appends-per-stream", type=int, default=10,
                        help="calls per stream before a writer starts a new one")
    parser.add_argument("--prepared", type=int, default=20000, help="events chained per prepare_append run")
    parser.add_argument("--streams", type=int, default=2000, help="streams verified per algorithm")
    parser.add_argument("--events-per-stream", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5,
                        help="alternating runs of each prepared and verify measurement (the best counts)")
    args = parser.parse_args()
    try:
        import uvloop

        loop_factory, loop_name = uvloop.new_event_loop, "uvloop"
    except ImportError:
        loop_factory, loop_name = None, "asyncio"
    print(f"SM3 against SHA-256 hash chains on {describe()}")
    print(f"shared/eventstore.py at {our_revision()}, SQLAlchemy + asyncpg on {loop_name}; {args.rounds} alternating "
          f"rounds of {args.seconds:g} s per algorithm and shape")

    root = Path(tempfile.mkdtemp(prefix="hash-chain-bench-"))
    pg = EmbeddedPostgres(root / "pg")
    try:
        pg.start()
        pg.create_database("chain")
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            async def setup() -> None:
                engine = make_engine(pg.url("chain"), pool_size=1)
                try:
                    await create_schema(engine, store_metadata)
                finally:
                    await engine.dispose()

            runner.run(setup())
            server = ServerCpu(pg.data_dir)
            appends = [(shape, run_appends(runner, pg, shape, args, server)) for shape in args.shapes]
            prepared = run_prepared(args.prepared, args.repeat)
            print(f"  prepared: sha256 {fmt_rate(prepared['sha256'])}, sm3 {fmt_rate(prepared['sm3'])} events/s",
                  flush=True)
            verified = run_verify(runner, pg, args)
        report(appends, prepared, verified)
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
