"""National feed read rate per client (target ≥ 20,000 entries/s): how fast a client reading the whole feed with
``GET /sync/v1/feed?after=…&limit=1000`` gets through it.

    .venv/bin/python -m bench.feed_bench [--entries 200000] [--clients 1,4] [--page 1000] [--keep]

A fresh embedded PostgreSQL database is filled through the gateway's own consumer effect (``project_public_events``,
1,000 lifecycle events per transaction: realistic published records of complete items, as the feed holds them), then
the sync gateway runs as deployed (one uvicorn process, API role) and each of N concurrent clients reads the whole
feed from cursor 0 over HTTP, one page after another. Printed per run: entries/s and MB/s per client and in total,
for a nationwide token and for a token of one region (whose reads skip the other regions' entries in bounded scans).

Figures are printed with the machine they ran on; nothing passes or fails on time."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.machine import describe
from shared.auth import ALL_REGIONS, mint_token
from shared.cloudevents import CloudEvent
from shared.contracts import LIFECYCLE_PUBLISHED
from shared.db import create_schema, make_engine
from shared.infra import EmbeddedPostgres, free_port
from shared.settings import DEVELOPMENT_JWT_SECRET
from shixiang.examples import complete_item

from sync_gateway.adapters.consumers import project_public_events
from sync_gateway.adapters.tables import sync_metadata

REGIONS = ("440115", "440304", "440106", "440103")  # a quarter of the entries each


def events(count: int, start: int) -> list[CloudEvent]:
    now = datetime.now(UTC)
    out = []
    for n in range(start, start + count):
        region = REGIONS[n % len(REGIONS)]
        elements = complete_item(name=f"户口迁移审批{n}", short_name=f"户口迁移审批{n}", region_code=region,
                                 composition="元事项", tier="主项")
        item_id = str(uuid.uuid4())
        out.append(CloudEvent(
            id=str(uuid.uuid4()), type=LIFECYCLE_PUBLISHED, source="/shixiang/lifecycle", subject=item_id, time=now,
            sequence=5, actor="publisher-gz",
            data={"item_id": item_id, "code": f"01{region}0203HK{n:010d}", "revision": 1, "phase": "online",
                  "phase_label": "在线期", "elements": elements, "at": now.isoformat()}))
    return out


async def fill(url: str, entries: int) -> float:
    engine = make_engine(url)
    try:
        await create_schema(engine, sync_metadata)
        started = time.perf_counter()
        for start in range(0, entries, 1000):
            async with engine.begin() as conn:
                await project_public_events(conn, events(min(1000, entries - start), start))
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def read_all(base: str, token: str, page: int) -> tuple[int, int, float]:
    """One client reading the whole feed from 0: (entries, bytes, seconds)."""
    entries = size = 0
    cursor = 0
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        started = time.perf_counter()
        while True:
            response = await http.get("/sync/v1/feed", params={"after": cursor, "limit": page})
            response.raise_for_status()
            body = response.content
            if body == b"[]":
                return entries, size, time.perf_counter() - started
            entries += body.count(b'"specversion"')
            size += len(body)
            cursor = int(response.headers["X-Next-Cursor"])


async def run_clients(base: str, token: str, clients: int, page: int, label: str) -> None:
    results = await asyncio.gather(*(read_all(base, token, page) for _ in range(clients)))
    wall = max(seconds for _, _, seconds in results)
    total = sum(entries for entries, _, _ in results)
    per_client = [entries / seconds for entries, _, seconds in results]
    mb = sum(size for _, size, _ in results) / 1e6
    print(f"  {label:<22} {clients} client(s): per client {min(per_client):,.0f}–{max(per_client):,.0f} entries/s "
          f"(each read {results[0][0]:,}); total {total / wall:,.0f} entries/s, {mb / wall:,.1f} MB/s")


def start_gateway(url: str) -> tuple[subprocess.Popen[bytes], str]:
    """The sync gateway as deployed (one uvicorn process, API role) on ``url``, once it is ready."""
    port = free_port()
    env = {**os.environ, "SHIXIANG_ENVIRONMENT": "development", "SHIXIANG_DATABASE_URL": url,
           "SHIXIANG_ROLES": "api", "SHIXIANG_JWT_SECRET": DEVELOPMENT_JWT_SECRET}
    server = subprocess.Popen([sys.executable, "-m", "shixiang.cli", "serve", "sync", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.terminate()
            raise RuntimeError("the sync gateway did not become ready")
        time.sleep(0.2)


async def measure(base: str, clients: list[int], page: int) -> None:
    national = mint_token(DEVELOPMENT_JWT_SECRET, subject="national", roles=["national"], regions=[ALL_REGIONS])
    regional = mint_token(DEVELOPMENT_JWT_SECRET, subject="operator-ns", roles=["operator"], regions=["440115"])
    for n in clients:
        await run_clients(base, national, n, page, "nationwide token")
        await run_clients(base, regional, n, page, "one region (1/4 of it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--clients", default="1,4", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--page", type=int, default=1000, help="limit= of each feed request")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    print(f"feed benchmark on {describe()}")
    root = Path(tempfile.mkdtemp(prefix="feed-bench-"))
    postgres = EmbeddedPostgres(root / "pg").start()
    server: subprocess.Popen[bytes] | None = None
    try:
        postgres.create_database("sync_bench")
        url = postgres.url("sync_bench")
        seconds = asyncio.run(fill(url, args.entries))
        print(f"  filled {args.entries:,} entries through the consumer effect in {seconds:.1f} s "
              f"({args.entries / seconds:,.0f} entries/s)")
        postgres.checkpoint()
        server, base = start_gateway(url)
        asyncio.run(measure(base, [int(c) for c in args.clients.split(",")], args.page))
    finally:
        if server is not None:
            server.terminate()
            server.wait(15)
        postgres.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
