"""Webhook deliveries per second to a local receiver (target ≥ 1,000/s).

    .venv/bin/python -m bench.webhook_bench [--entries 2000] [--subscriptions 20] [--concurrency 64]

The sync gateway's tables on an embedded PostgreSQL hold ``--entries`` feed entries (published records of a complete
item, about as large as real ones); ``--subscriptions`` subscriptions to a receiver in another process (uvicorn,
answering 204 at once) start from the beginning of the feed; then the gateway's delivery worker
(``WebhookDispatcher``, as the consuming process runs it: one pooled httpx client, one message in flight per
subscription, up to ``--concurrency`` subscriptions at once, bookkeeping written in batches) delivers every entry to
every subscription, signed (under uvloop when installed, as uvicorn runs the gateway). Printed: deliveries/s from
the worker's start until every subscription's cursor stands at the feed's end (each delivery counted once: a 2xx
written), the CPU this process took, and the delivery log's count as a check. Figures are printed;
nothing passes or fails on time."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
from sqlalchemy import func, select

from bench.machine import describe
from shared import contracts
from shared.db import create_schema, make_engine
from shared.infra import EmbeddedPostgres, free_port
from shixiang.examples import complete_item

from sync_gateway.adapters import store
from sync_gateway.adapters.notify import NotifyListener
from sync_gateway.adapters.tables import (
    feed_entries_table,
    sync_metadata,
    webhook_deliveries_table,
    webhook_subscriptions_table,
)
from sync_gateway.adapters.webhook_sender import WebhookSender
from sync_gateway.domain.feed import FedEntry, SyncRound, feed_entry, published_record
from sync_gateway.domain.webhooks import new_secret
from sync_gateway.service_layer.webhooks import WebhookDispatcher

RECEIVER = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""
LOCAL = ("127.0.0.1",)
LOCAL_NETWORKS = ("127.0.0.0/8",)


def fed_entries(count: int) -> list[FedEntry]:
    # A complete item with what the registry adds to it (its region, composition and tier).
    elements = {"region_code": "440115", "composition": "元事项", "tier": "主项", **complete_item()}
    fed = []
    sync_round = SyncRound(str(uuid.uuid4()), datetime.now(UTC))  # one round, as a consumed batch would be
    for _ in range(count):
        item_id = str(uuid.uuid4())
        event = SimpleNamespace(
            id=str(uuid.uuid4()), type=contracts.LIFECYCLE_PUBLISHED, subject=item_id, sequence=1,
            time=datetime.now(UTC), data={"item_id": item_id, "code": "014401150203HKQYSP000000", "revision": 1,
                                          "phase": "online", "elements": elements, "at": datetime.now(UTC).isoformat()})
        fed.append(FedEntry(event.id, item_id, 1, feed_entry(event, published_record(event, None, sync_round))))
    return fed


def start_receiver(directory: Path, port: int) -> subprocess.Popen[bytes]:
    (directory / "webhook_receiver_app.py").write_text(RECEIVER)
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "webhook_receiver_app:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log"], cwd=directory)


async def wait_for_receiver(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                await client.post(url, content=b"{}")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError("the receiver did not start")


async def run(entries: int, subscriptions: int, concurrency: int) -> None:
    print(f"webhook benchmark on {describe()}")
    with tempfile.TemporaryDirectory(prefix="webhook-bench-") as tmp:
        root = Path(tmp)
        postgres = EmbeddedPostgres(root / "pg").start()
        port = free_port()
        receiver = start_receiver(root, port)
        try:
            postgres.create_database("sync_webhooks")
            engine = make_engine(postgres.url("sync_webhooks"), pool_size=max(10, concurrency // 4))
            await create_schema(engine, sync_metadata)
            fed = fed_entries(entries)
            async with engine.begin() as conn:
                for start in range(0, len(fed), 500):
                    await store.add_feed_entries(conn, fed[start:start + 500])
                await conn.execute(webhook_subscriptions_table.insert(), [{
                    "id": str(uuid.uuid4()), "owner": "bench", "url": f"http://127.0.0.1:{port}/hook/{n}",
                    "secret": new_secret(os.urandom(32)), "status": "active", "created_at": datetime.now(UTC),
                    "cursor": 0} for n in range(subscriptions)])
            url = f"http://127.0.0.1:{port}/hook/warm-up"
            await wait_for_receiver(url)
            dispatcher = WebhookDispatcher(
                engine, WebhookSender(timeout_s=10, networks=lambda: LOCAL_NETWORKS),
                NotifyListener(engine, store.FEED_CHANNEL), allowed_hosts=lambda: LOCAL, schedule=(1.0,),
                concurrency=concurrency, poll_interval_s=0.05, lease_s=60)
            total = entries * subscriptions
            stop = asyncio.Event()
            cpu, started = time.process_time(), time.perf_counter()
            task = asyncio.create_task(dispatcher.run(stop))
            end = select(func.max(feed_entries_table.c.position)).scalar_subquery()
            behind = select(func.count()).select_from(webhook_subscriptions_table).where(
                webhook_subscriptions_table.c.cursor < end)
            while True:
                async with engine.connect() as conn:
                    waiting = await conn.scalar(behind)
                if not waiting:
                    break
                await asyncio.sleep(0.05)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            stop.set()
            await task
            async with engine.connect() as conn:
                logged = await conn.scalar(select(func.count()).select_from(webhook_deliveries_table))
            print(f"{entries:,} entries × {subscriptions} subscriptions = {total:,} deliveries in {elapsed:.2f} s: "
                  f"{total / elapsed:,.0f} deliveries/s (target ≥ 1,000/s); "
                  f"bench process CPU {cpu / total * 1e6:.0f} µs per delivery; delivery log rows {logged:,}")
            await engine.dispose()
        finally:
            receiver.terminate()
            receiver.wait(10)
            postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--subscriptions", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    try:  # the gateway's processes run under uvicorn, which takes uvloop when it is installed: so does the bench
        import uvloop
    except ImportError:
        asyncio.run(run(args.entries, args.subscriptions, args.concurrency))
    else:
        uvloop.run(run(args.entries, args.subscriptions, args.concurrency))


if __name__ == "__main__":
    main()
