"""End-to-end benchmark: items created and driven to online through HTTP against the whole suite (four uvicorn
processes, embedded PostgreSQL, Tansu), and the latency from `publish` to the item's appearance in the national feed.

    .venv/bin/python -m bench.e2e_publish_to_feed [--items 200] [--concurrency 16]

Phase 1 drives N items from draft to registered with C concurrent clients (items/s). Phase 2 publishes them one at a
time on the otherwise idle suite and measures publish → feed (p50/p99): the time from sending `publish` until a
feed reader long-polling `GET /sync/v1/feed?wait=` receives the entry. Phase 3 publishes a second batch all at once
(latency under a burst). Figures are printed; nothing passes or fails on time."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from bench.machine import describe, percentile
from shared.infra import free_port
from shixiang.client import SuiteClient
from shixiang.examples import complete_item
from shixiang.services import SERVICES
from shixiang.suite import DEMO_USERS, Suite

NAMES = ["户口迁移审批", "普通护照签发", "居民身份证办理", "机动车注册登记", "机动车驾驶证申领", "往来港澳通行证签发",
         "犯罪记录证明开具", "户籍证明", "居住证签注", "旅馆业特种行业许可证核发", "公章刻制备案", "临时身份证明"]


class FeedWatcher:
    """Long-polls the feed and records when each item's first entry arrived (monotonic clock)."""

    def __init__(self, client: SuiteClient) -> None:
        self.client = client
        self.arrived: dict[str, float] = {}
        self.cursor = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        _, self.cursor = await self.client.feed(0, limit=1000)  # start at the current end
        while True:
            batch, nxt = await self.client.feed(self.cursor, limit=1000)
            if not batch:
                break
            self.cursor = nxt
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch, self.cursor = await self.client.feed(self.cursor, limit=1000, wait=5)
            now = time.perf_counter()
            for entry in batch:
                self.arrived.setdefault(entry["subject"], now)

    async def wait_for(self, item_ids: list[str], timeout_s: float = 60) -> None:
        deadline = time.perf_counter() + timeout_s
        while not all(i in self.arrived for i in item_ids):
            if time.perf_counter() > deadline:
                raise TimeoutError("items did not reach the feed")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def to_registered(client: SuiteClient, n: int) -> str:
    name = f"{NAMES[n % len(NAMES)]}{n}"
    item = await client.create_item(complete_item(name=name, short_name=name))
    item_id = item["item_id"]
    await client.wait_for_state(item_id, lambda s: s.get("phase") is not None)
    await client.command(item_id, "submit", user="entry-gz")
    await client.command(item_id, "approve", user="reviewer-gz")
    await client.command(item_id, "record-test", user="tester-gz", body={"result": "pass"})
    await client.command(item_id, "register", user="publisher-gz")
    await client.wait_for_state(item_id, lambda s: s.get("code") is not None)
    return item_id


async def drive(client: SuiteClient, count: int, concurrency: int, offset: int) -> tuple[list[str], float]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(n: int) -> str:
        async with semaphore:
            return await to_registered(client, n)

    started = time.perf_counter()
    ids = await asyncio.gather(*(one(offset + n) for n in range(count)))
    return list(ids), time.perf_counter() - started


async def publish_and_measure(client: SuiteClient, watcher: FeedWatcher, ids: list[str], *, burst: bool) -> list[float]:
    sent: dict[str, float] = {}

    async def publish(item_id: str) -> None:
        sent[item_id] = time.perf_counter()
        await client.command(item_id, "publish", user="publisher-gz")

    if burst:
        await asyncio.gather(*(publish(i) for i in ids))
    else:
        for item_id in ids:
            await publish(item_id)
            await watcher.wait_for([item_id])
    await watcher.wait_for(ids)
    return [(watcher.arrived[i] - sent[i]) * 1000 for i in ids]


def report(title: str, latencies: list[float]) -> None:
    print(f"  {title}: n={len(latencies)}  p50={percentile(latencies, 50):.1f} ms  "
          f"p99={percentile(latencies, 99):.1f} ms  max={max(latencies):.1f} ms")


async def run(items: int, concurrency: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="shixiang-bench-"))
    suite = Suite(root=root, ports={name: free_port() for name in SERVICES}, broker_port=free_port())
    print(f"machine: {describe()}")
    print("starting the suite (4 uvicorn processes, embedded PostgreSQL 18, Tansu) …")
    suite.start()
    client = SuiteClient(urls={n: suite.url(n) for n in SERVICES}, tokens={u: suite.token(u) for u in DEMO_USERS})
    watcher = FeedWatcher(client)
    try:
        await to_registered(client, 10_000)  # warm-up: connections, consumer groups, caches
        await watcher.start()
        ids, seconds = await drive(client, items, concurrency, 0)
        print(f"phase 1: {items} items draft → registered (create, submit, approve, test, register, code) with "
              f"{concurrency} concurrent clients: {seconds:.1f} s = {items / seconds:.1f} items/s")
        sequential = await publish_and_measure(client, watcher, ids, burst=False)
        print("phase 2: publish → national feed, one at a time on an otherwise idle suite")
        report("publish→feed", sequential)
        burst_ids, _ = await drive(client, items, concurrency, items)
        burst = await publish_and_measure(client, watcher, burst_ids, burst=True)
        print(f"phase 3: publish → national feed, {items} publishes sent at once")
        report("publish→feed (burst)", burst)
    finally:
        await watcher.stop()
        await client.close()
        suite.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(run(args.items, args.concurrency))


if __name__ == "__main__":
    main()
