"""The console's live event stream under load: events written to the operations log at a fixed rate, read by several
viewers over SSE (``GET /sync/v1/stream``) from a separate sync-gateway process.

    .venv/bin/python -m bench.console_stream_bench [--rate 1000] [--seconds 20] [--viewers 4] [--batch 50]

The issue asks that the stream stay responsive at 1,000 events/s and that an event appear within 1 s. The writer
records events through the same adapter the ``ops-*`` consumers use (``sync_gateway.adapters.operations.record``,
one transaction per batch, NOTIFY on commit) — so this measures the log → stream → viewer part; the Kafka hop before
it is ``bench.pipeline``'s. Viewers: half nationwide, half of one region (44), each with its own connection. Printed:
per viewer, the events received and SSE messages (the batching), and the delay from the writer's commit to the
viewer's receipt (p50, p99, max); the gateway process's CPU per event. Nothing passes or fails on time."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

from bench.machine import describe, percentile
from shared import contracts
from shared.auth import ALL_REGIONS, mint_token
from shared.cloudevents import CloudEvent
from shared.db import create_schema, make_engine
from shared.infra import EmbeddedPostgres, free_port
from shared.settings import DEVELOPMENT_JWT_SECRET

from sync_gateway.adapters import operations
from sync_gateway.adapters.tables import sync_metadata
from sync_gateway.domain.operations import project

REGIONS = ("440103", "440304", "110105", "320102")  # half of the events are Guangdong's (44)


@dataclass
class Viewer:
    regions: list[str]
    received: dict[str, float] = field(default_factory=dict)  # event id → when it arrived
    messages: int = 0


def published(n: int) -> CloudEvent:
    region = REGIONS[n % len(REGIONS)]
    item = f"bench-{n}"
    return CloudEvent(
        id=str(uuid.uuid4()), type=contracts.CODING_CODE_ASSIGNED, source="/shixiang/coding", subject=item,
        time=datetime.now(UTC), sequence=1,
        data={"item_id": item, "code": f"01{region}0203HKQYSP{n % 1000000:06d}", "revision": 1,
              "elements": {"item_type": "01", "region_code": region, "police_type": "02",
                           "service_category": "03", "short_name": f"压测事项{n}"}})


async def watch(url: str, token: str, viewer: Viewer, after: int) -> None:
    """Reads the stream until cancelled."""
    # No timeout: a stream waits as long as there is nothing to send (keepalives aside).
    async with httpx.AsyncClient(timeout=None) as http, http.stream(  # noqa: S113
            "GET", f"{url}/sync/v1/stream", params={"after": after},
            headers={"Authorization": f"Bearer {token}"}) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                now = time.monotonic()
                viewer.messages += 1
                for event in json.loads(line[6:]):
                    viewer.received[event["id"]] = now


async def write(database_url: str, rate: int, seconds: float, batch: int, committed: dict[str, float]) -> int:
    """Batches of ``batch`` events at ``rate`` events/s, open loop (a slow commit does not slow the schedule)."""
    engine = make_engine(database_url, pool_size=2)
    interval = batch / rate
    start = time.monotonic()
    n = 0
    try:
        while time.monotonic() - start < seconds:
            events = [published(n + i) for i in range(batch)]
            async with engine.begin() as conn:
                await operations.record(conn, [project("coding", e) for e in events])
            now = time.monotonic()
            committed.update({e.id: now for e in events})
            n += batch
            await asyncio.sleep(max(0.0, start + (n / batch) * interval - time.monotonic()))
    finally:
        await engine.dispose()
    return n


async def run(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="stream-bench-"))
    postgres = EmbeddedPostgres(root / "pg").start()
    gateway: subprocess.Popen[bytes] | None = None
    try:
        postgres.create_database("shixiang_sync")
        database_url = postgres.url("shixiang_sync")
        engine = make_engine(database_url)
        from shared.dead_letters import dead_letter_metadata
        from shared.eventstore import store_metadata
        await create_schema(engine, store_metadata, dead_letter_metadata, sync_metadata)
        await engine.dispose()
        port = free_port()
        env = {**os.environ, "SHIXIANG_DATABASE_URL": database_url, "SHIXIANG_ROLES": "api",
               "SHIXIANG_ENVIRONMENT": "development", "SHIXIANG_JWT_SECRET": DEVELOPMENT_JWT_SECRET}
        command = [sys.executable, "-m", "shixiang.cli", "serve", "sync", "--host", "127.0.0.1", "--port", str(port)]
        # Started once, before anything is measured: a blocking call here costs nothing.
        gateway = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,  # noqa: ASYNC220
                                   stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        viewers = [Viewer([ALL_REGIONS] if i % 2 == 0 else ["44"]) for i in range(args.viewers)]
        watchers = [asyncio.create_task(watch(
            url, mint_token(DEVELOPMENT_JWT_SECRET, subject=f"viewer-{i}", roles=["operator"], regions=v.regions),
            v, 0)) for i, v in enumerate(viewers)]
        await asyncio.sleep(1.0)  # every viewer connected and waiting
        process = psutil.Process(gateway.pid)
        cpu_before = sum(process.cpu_times()[:2])
        committed: dict[str, float] = {}
        written = await write(database_url, args.rate, args.seconds, args.batch, committed)
        await asyncio.sleep(2.0)  # the last batch on its way
        cpu = sum(process.cpu_times()[:2]) - cpu_before
        for watcher in watchers:
            watcher.cancel()
        for outcome in await asyncio.gather(*watchers, return_exceptions=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
                print(f"a viewer failed: {outcome!r}")

        print(f"machine: {describe()}")
        print(f"written: {written} events at {args.rate}/s for {args.seconds:g} s, batches of {args.batch}; "
              f"{args.viewers} viewers")
        for i, v in enumerate(viewers):
            delays = [(v.received[e] - at) * 1000 for e, at in committed.items() if e in v.received]
            who = "nationwide" if v.regions == [ALL_REGIONS] else "region 44"
            print(f"  viewer {i} ({who}): {len(v.received)} events in {v.messages} messages; delay from commit "
                  f"p50 {percentile(delays, 50):.0f} ms, p99 {percentile(delays, 99):.0f} ms, "
                  f"max {max(delays, default=0):.0f} ms")
        print(f"gateway CPU: {cpu * 1e6 / max(written, 1):.0f} µs per event written "
              f"({cpu / args.seconds * 100:.0f}% of one core)")
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(timeout=10)
        postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000, help="events per second written")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--viewers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=50, help="events per writer transaction")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
