"""End-to-end benchmark: items created and driven to online through HTTP against the whole suite (four uvicorn
processes, embedded PostgreSQL, Tansu), and the latency from `publish` to the item's appearance in the national feed.

    .venv/bin/python -m bench.e2e_publish_to_feed [--items 200] [--concurrency 16] [--plot PNG]
                                                  [--flow-rate 100[,RATE…]] [--flow-seconds 30] [--no-background]
                                                  [--flow-connections 64] [--flow-only] [--stall-seconds 180] [--keep]

Phase 1 drives N items from draft to registered with C concurrent clients (items/s). Phase 2 publishes them one at a
time on the otherwise idle suite and measures publish → feed (p50/p99): the time from sending `publish` until a
feed reader long-polling `GET /sync/v1/feed?wait=` receives the entry. Phase 3 publishes a second batch all at once
(latency under a burst).

Phase 4 (target p99 ≤ 250 ms while 100 items/s flow) measures publish → feed while a steady flow moves through the
suite. A pool of rate × (seconds + 2) items is prepared first (imported as one ndjson list, driven to registered by
the batch API, codes awaited; then the relays and consumers are left to catch up, until their counters on
`GET /metrics` stand still for 2 s). Then `publish` is sent for one pool item every 1/rate seconds, open loop: each
send has its scheduled time and goes out then whether or not earlier ones have answered, so a slow suite never slows
the offered load, and latency is taken from the scheduled time to the entry's arrival at the long-polling feed reader
(a send waits for one of --flow-connections keep-alive connections when all are busy; that wait is counted too). The
first 2 s are a warm-up at the same rate and not counted. Unless --no-background, the rest of the pipeline flows at
the same rate meanwhile, from the start of the warm-up: every second a list of `rate` new items is imported
(`POST /registry/v1/imports`, open loop), and once the lifecycle knows a list's items they are submitted, approved,
tested and registered by batch calls (so the registry, coding and every relay and consumer carry the flow too).
The same publishes are watched on the two other outward channels: a webhook receiver (a local HTTP server,
subscribed as the national platform before the flow) records when each item's delivery arrived, and the exchange
database (前置库) is polled every 20 ms for the `up_task_general` rows of rounds not seen yet (so its figure carries
up to 20 ms of polling). Printed: latency p50/p99/max overall and per 5 s window (a latency that grows window after
window means a backlog), the publish calls' own latency, how late the sender was, the CPU each process of the suite
and the bench took, and how far the background flow got. Several --flow-rate values run one after the other, each on
a fresh suite, and --plot draws each channel's p50/p99 against the rate. --flow-seconds 0 skips phase 4;
--flow-only runs nothing else.

Figures are printed; nothing passes or fails on time."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from bench import pipeline, plots
from bench.machine import CpuMeter, cpu_summary, describe, percentile
from shared.db import make_engine
from shixiang.client import ApiError, SuiteClient
from shixiang.examples import complete_item
from shixiang.services import SERVICES
from shixiang.suite import DEMO_USERS, Suite

NAMES = ["户口迁移审批", "普通护照签发", "居民身份证办理", "机动车注册登记", "机动车驾驶证申领", "往来港澳通行证签发",
         "犯罪记录证明开具", "户籍证明", "居住证签注", "旅馆业特种行业许可证核发", "公章刻制备案", "临时身份证明"]


class WebhookReceiver:
    """A local webhook receiver (HTTP/1.1, keep-alive, 204 to every POST) recording when each item's first delivery
    arrived (perf_counter), by the delivered entry's subject."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/national"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length)
                now = time.perf_counter()
                self.arrived.setdefault(json.loads(body)["subject"], now)
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
        except asyncio.CancelledError:  # the server closing: Python 3.11's stream callback logs a re-raised one
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


class ExchangeWatcher:
    """Polls the exchange database every 20 ms for rows of rounds it has not seen (``cd_batch`` after the last one:
    each round commits all its rows at once, in order, so the batch number is a cursor), recording when each awaited
    item's row was seen. Reading only new rounds keeps the bench's own cost (its CPU and PostgreSQL's) flat: asking
    for every awaited id each time cost the 2-core machine a tenth of a core at 100 items/s."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url, pool_size=1)
        self.awaited: set[str] = set()
        self.arrived: dict[str, float] = {}
        self.last_batch = ""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            if self.awaited:
                async with self.engine.connect() as conn:
                    rows = (await conn.execute(text("SELECT task_guid, cd_batch FROM up_task_general "
                                                    "WHERE cd_batch > :last"), {"last": self.last_batch})).all()
                now = time.perf_counter()
                for item_id, batch in rows:
                    self.last_batch = max(self.last_batch, batch)
                    if item_id in self.awaited:
                        self.arrived.setdefault(item_id, now)
                        self.awaited.discard(item_id)
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.engine.dispose()


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


FLOW_WARM_UP_S = 2.0
FLOW_TARGET_MS = 250.0
BACKGROUND_NUMBERS = 500_000  # item numbers of the background flow start here (pool items below)


@dataclass
class Background:
    """The rest of the pipeline flowing beside the measured publishes: every second a list of ``rate`` new items is
    imported (open loop), and one driver takes the imported lists in turn: once the lifecycle knows a list's items
    (its list read every 0.25 s, filtered on the list's name marker) it submits, approves, tests and registers them
    by batch calls. One driver keeps the bench's own reads of the lifecycle bounded when the suite falls behind: the
    lists then wait in its queue, and the backlog is reported."""

    client: SuiteClient
    rate: int
    ticks: int
    imported: int = 0
    registered: int = 0  # register accepted (the code follows asynchronously)
    lists_done: int = 0
    list_seconds: list[float] = field(default_factory=list)  # import sent → register answered, per list
    failures: Counter[str] = field(default_factory=Counter)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _imported: asyncio.Queue[tuple[int, float, dict[str, int]]] = field(default_factory=asyncio.Queue)

    def start(self, start_at: float) -> None:
        self.tasks.append(asyncio.create_task(self._drive()))
        self.tasks.append(asyncio.create_task(self._schedule(start_at)))

    async def _schedule(self, start_at: float) -> None:
        for tick in range(self.ticks):
            delay = start_at + tick - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.tasks.append(asyncio.create_task(self._import(tick)))

    async def _import(self, tick: int) -> None:
        started = time.perf_counter()
        numbers = range(BACKGROUND_NUMBERS + tick * self.rate, BACKGROUND_NUMBERS + (tick + 1) * self.rate)
        content, names = pipeline.item_list(numbers, run="flow", suffix=self.marker(tick))
        try:
            await pipeline.import_list(self.client, content, len(names), filename=f"flow-{tick}.ndjson",
                                       timeout_s=600)
        except Exception as exc:  # noqa: BLE001 - counted and reported; the measured flow goes on
            self.failures[f"import: {type(exc).__name__}: {str(exc)[:200]}"] += 1
            return
        self.imported += len(names)
        self._imported.put_nowait((tick, started, names))

    @staticmethod
    def marker(tick: int) -> str:
        return f"（流{tick:04d}）"

    async def _drive(self) -> None:
        while True:
            tick, started, names = await self._imported.get()
            try:
                ids: list[str] = []
                while True:  # the registry → lifecycle hop
                    rows = await self.client.all_items(region=pipeline.REGION, name=self.marker(tick))
                    ids = [r["item_id"] for r in rows if r["name"] in names]
                    if len(ids) == len(names):
                        break
                    await asyncio.sleep(0.25)
                for command, user, body in pipeline.TO_REGISTERED:
                    result = await pipeline.run_batches(self.client, command, ids, user=user, body=body,
                                                        batch_size=len(ids))
                    for (status, code), count in result.failures.items():
                        self.failures[f"{command}: {status} {code}"] += count
                    ids = result.succeeded
            except Exception as exc:  # noqa: BLE001 - counted and reported; the measured flow goes on
                self.failures[f"{type(exc).__name__}: {str(exc)[:200]}"] += 1
                continue
            self.registered += len(ids)
            self.lists_done += 1
            self.list_seconds.append(time.perf_counter() - started)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def steady_flow(suite: Suite, rate: int, seconds: float, *, background: bool, connections: int,
                      stall_s: float) -> dict[str, list[float]]:
    """Phase 4: publish → feed latency while ``rate`` items/s flow (see the module's docstring). Returns the measured
    latencies (ms) per outward channel: feed, webhook, exchange."""
    client = pipeline.suite_client(suite, timeout_s=120)  # pool preparation and the background flow
    # The publishes have their own connections, and wait for a free one in a FIFO semaphore rather than in httpx's
    # pool, whose bookkeeping grows with the requests queued in it (CPU the bench would take from the suite).
    publisher = pipeline.suite_client(suite, timeout_s=120, connections=connections)
    free_connection = asyncio.Semaphore(connections)
    feed_client = pipeline.suite_client(suite, timeout_s=120, connections=4)  # the reader never waits for a slot
    feed = pipeline.FeedCollector(feed_client, wait_s=5)
    flow = Background(client, rate, int(seconds + FLOW_WARM_UP_S)) if background else None
    receiver = WebhookReceiver()
    exchange = ExchangeWatcher(suite.exchange_url)
    warm = int(rate * FLOW_WARM_UP_S)
    total = warm + int(rate * seconds)
    try:
        print(f"phase 4: publish → national feed while {rate} items/s flow for {seconds:.0f} s "
              f"({'with' if background else 'without'} the background import → registered flow); preparing "
              f"{total:,} registered items …", flush=True)
        pool = await pipeline.prepare_pool(client, total, stall_s=stall_s)
        await feed.start()
        await client.call("POST", "sync", "/sync/v1/subscriptions", user="national", expect=201,
                          json={"url": await receiver.start(), "description": "bench"})
        exchange.awaited.update(pool)
        exchange.start()
        # The consumers may still be working through the pool's events (the feed's reads every lifecycle event):
        # the flow starts on a suite that has caught up.
        print(f"  suite {await pipeline.wait_quiet(client)} (no relay or consumer moved for 2 s, by /metrics)")
        # What preparing wrote goes to disk now, not as the kernel's writeback 30 s later in the measured window
        # (it stalls every commit's WAL flush behind it): see bench.lifecycle_bench.
        await asyncio.to_thread(suite.postgres.checkpoint)
        await asyncio.to_thread(os.sync)
        scheduled: dict[str, float] = {}
        answered: dict[str, float] = {}
        late: list[float] = []  # the task started after its scheduled time (the bench's own event loop busy)
        queued: list[float] = []  # waited for a free connection (all busy with earlier publishes)
        errors: Counter[str] = Counter()

        async def publish(item_id: str, at: float) -> None:
            late.append((time.perf_counter() - at) * 1000)
            try:
                async with free_connection:
                    queued.append((time.perf_counter() - at) * 1000 - late[-1])
                    await publisher.command(item_id, "publish", user="publisher-gz")
                answered[item_id] = time.perf_counter() - at
            except (ApiError, OSError, TimeoutError) as exc:
                errors[f"{type(exc).__name__} {getattr(exc, 'status', '')} {getattr(exc, 'code', '')}"] += 1
            except Exception as exc:  # noqa: BLE001 - httpx errors, counted
                errors[type(exc).__name__] += 1

        t0 = time.perf_counter() + 0.2
        cpu0 = time.process_time()
        meter = CpuMeter({**suite.process_ids(), "bench": os.getpid()})
        cpu_before = meter.read()
        if flow is not None:
            flow.start(t0)
        tasks: list[asyncio.Task[None]] = []
        ticker = pipeline.Ticker(5.0)
        for k, item_id in enumerate(pool):
            at = t0 + k / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            scheduled[item_id] = at
            tasks.append(asyncio.create_task(publish(item_id, at)))
            ticker(f"flow: {k + 1:,}/{len(pool):,} publishes sent, {len(feed.arrived):,} in the feed, "
                   f"{len(answered):,} answered" + (f"; background: {flow.imported:,} imported, "
                                                    f"{flow.registered:,} registered" if flow else ""))
        t_end = time.perf_counter()
        cpu_used = {name: cpu - cpu_before[name] for name, cpu in meter.read().items()}
        client_cpu = (time.process_time() - cpu0) / (t_end - t0)
        await asyncio.gather(*tasks)
        sent_ok = [i for i in pool if i in answered]
        await feed.wait_for(sent_ok, stall_s=stall_s, ticker=ticker, label="flow")
        if flow is not None:  # how far it got while the measured publishes went through; then it stops
            background_state = (flow.imported, flow.registered, flow.lists_done, list(flow.list_seconds))
            await flow.stop()

        measured = [i for i in pool[warm:] if i in answered]
        latencies = [(feed.arrived[i] - scheduled[i]) * 1000 for i in measured]
        channels = {"feed": latencies}
        print(f"  offered {rate} publishes/s open loop for {t_end - t0 - FLOW_WARM_UP_S:.1f} s after a "
              f"{FLOW_WARM_UP_S:.0f} s warm-up; {len(measured):,} measured")
        report(f"publish→feed while {rate} items/s flow", latencies)
        for channel, watcher in (("webhook delivery", receiver), ("exchange row", exchange)):
            for _ in range(int(stall_s * 10)):  # the other channels follow the feed
                if all(i in watcher.arrived for i in measured):
                    break
                await asyncio.sleep(0.1)
            reached = [i for i in measured if i in watcher.arrived]
            channels[channel.split()[0]] = [(watcher.arrived[i] - scheduled[i]) * 1000 for i in reached]
            report(f"publish→{channel} while {rate} items/s flow ({len(reached):,} of {len(measured):,})",
                   channels[channel.split()[0]])
        print(f"    target: p99 ≤ {FLOW_TARGET_MS:.0f} ms while 100 items/s flow")
        windows: dict[int, list[float]] = {}
        for i, latency in zip(measured, latencies, strict=True):
            windows.setdefault(int((scheduled[i] - t0 - FLOW_WARM_UP_S) // 5), []).append(latency)
        by_window = [f"{5 * w}–{5 * w + 5} s {percentile(v, 50):.0f}/{percentile(v, 99):.0f}"
                     for w, v in sorted(windows.items())]
        print(f"    by 5 s window (p50 / p99 ms): {', '.join(by_window)}")
        calls = [answered[i] * 1000 for i in measured]
        print(f"    the publish calls themselves (scheduled send → answer): p50={percentile(calls, 50):.1f} ms  "
              f"p99={percentile(calls, 99):.1f} ms  max={max(calls):.1f} ms")
        print(f"    sender late: p99 {percentile(late, 99):.1f} ms, max {max(late):.1f} ms; waited for one of the "
              f"{connections} connections: p99 {percentile(queued, 99):.1f} ms, max {max(queued):.1f} ms; the bench "
              f"process itself used {client_cpu:.0%} of a core while sending")
        print(f"    load average at the end (1/5/15 min): {pipeline.load_average()}")
        print(f"    CPU while sending ({os.cpu_count()} cores here; per item = per publish offered, the background "
              f"flow's work included): {cpu_summary(cpu_used, t_end - t0, len(pool))}")
        if errors:
            print(f"  !! {sum(errors.values())} publish calls failed: {dict(errors)}")
        if flow is not None:
            imported, registered, lists, list_s = background_state
            print(f"    background: {flow.ticks} lists of {rate} items, one a second from the start of the warm-up: "
                  f"{imported:,} items imported, {registered:,} driven to registered ({lists}/{flow.ticks} lists) "
                  f"by the time every publish was in the feed" + (
                      f"; per list, import sent → register answered: p50 {percentile(list_s, 50):.2f} s, "
                      f"max {max(list_s):.2f} s" if list_s else ""))
            if flow.failures:
                print(f"  !! background failures: {dict(flow.failures)}")
        return channels
    finally:
        if flow is not None:
            await flow.stop()
        await feed.stop()
        await receiver.stop()
        await exchange.stop()
        await client.close()
        await publisher.close()
        await feed_client.close()


async def run(items: int, concurrency: int, *, flow_rates: list[int], flow_seconds: float, background: bool,
              flow_connections: int, flow_only: bool, stall_s: float, keep: bool, plot_path: Path | None) -> None:
    print(f"machine: {describe()}")
    by_rate: dict[int, dict[str, list[float]]] = {}
    for k, rate in enumerate(flow_rates if flow_seconds > 0 else [0]):
        # each rate on a suite of its own: the next one starts from the same empty state
        suite, root = pipeline.start_suite("shixiang-bench-")
        try:
            if not flow_only and k == 0:
                await idle_phases(suite, items, concurrency)
            if flow_seconds > 0:  # preparing its pool warms the suite up as well
                by_rate[rate] = await steady_flow(suite, rate, flow_seconds, background=background,
                                                  connections=flow_connections, stall_s=stall_s)
        finally:
            pipeline.report_logs_and_clean(suite, root, keep=keep)
    if len(by_rate) > 1:
        print(f"\npublish → outward channels against the flow rate (p50 / p99 ms; machine: {describe()}):")
        for rate, channels in by_rate.items():
            print(f"  {rate:>4} items/s  " + "  ".join(
                f"{name} {percentile(v, 50):.0f} / {percentile(v, 99):.0f}" for name, v in channels.items()))
    if plot_path is not None and by_rate:
        plot(by_rate, plot_path)
        print(f"  plot: {plot_path}")


def plot(by_rate: dict[int, dict[str, list[float]]], path: Path) -> None:
    """p50 and p99 of each outward channel against the flow rate (PNG), with the target."""
    rates = sorted(by_rate)
    plots.latency_against_rate(
        {label: (list(map(float, rates)), [by_rate[r].get(channel, []) for r in rates])
         for channel, label in (("feed", "national feed"), ("webhook", "webhook delivery"),
                                ("exchange", "exchange row"))},
        path=path, title="Publish → outward channels against the flow",
        xlabel="items/s published (and as many imported and driven to registered beside them)",
        ylabel="publish → arrival, ms (log)", limit_ms=FLOW_TARGET_MS,
        limit_label=f"target p99 {FLOW_TARGET_MS:.0f} ms")


async def idle_phases(suite: Suite, items: int, concurrency: int) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--flow-rate", default="100",
                        help="phase 4: publishes (and background items) per s; several, comma-separated, run one "
                             "after the other, each on a fresh suite")
    parser.add_argument("--plot", type=Path, default=None,
                        help="write a PNG of each channel's p50/p99 against the flow rate here")
    parser.add_argument("--flow-seconds", type=float, default=30.0, help="phase 4: measured seconds (0: skip phase 4)")
    parser.add_argument("--no-background", dest="background", action="store_false",
                        help="phase 4 without the background import → registered flow")
    parser.add_argument("--flow-connections", type=int, default=64,
                        help="phase 4: connections the publishes share (a publish waits for a free one)")
    parser.add_argument("--flow-only", action="store_true", help="run phase 4 only")
    parser.add_argument("--stall-seconds", type=float, default=180.0,
                        help="phase 4: give up on a wait that saw no progress for this long")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (data and logs)")
    args = parser.parse_args()
    rates = [int(r) for r in args.flow_rate.split(",") if r.strip()]
    asyncio.run(run(args.items, args.concurrency, flow_rates=rates, flow_seconds=args.flow_seconds,
                    background=args.background, flow_connections=args.flow_connections, flow_only=args.flow_only,
                    stall_s=args.stall_seconds, keep=args.keep, plot_path=args.plot))


if __name__ == "__main__":
    main()
