"""Pipeline benchmark: a list of N complete items carried from import to the national feed through the whole suite
(four uvicorn processes, embedded PostgreSQL, Tansu), by the public HTTP API only, stage by stage.

    .venv/bin/python -m bench.pipeline [--items 2000] [--batch-size 1000] [--stall-seconds 180] [--keep]

1. import: an ndjson list of N complete items (every element review needs; distinct names, 简称 and 来源编号) is
   posted to ``POST /registry/v1/imports`` and the job polled until it completes.
2. hop 1, registry → lifecycle (asynchronous): until ``GET /lifecycle/v1/items`` lists all N items (whole list read
   page by page, 1,000 a page; each item timed at the first page that shows it).
3. submit (entry-gz), approve (reviewer-gz), record-test pass (tester-gz), register (publisher-gz): each one
   ``POST /lifecycle/v1/batches`` call per --batch-size ids, one after the other; every item's result is checked.
4. hop 2, register → coding allocates → lifecycle records the code (asynchronous): until no item is left in step
   ``registering`` (the list filtered on it shrinks to nothing; each item timed at the first read that misses it);
   then every item is checked to be ``registered`` with a code, all codes distinct.
5. publish (publisher-gz) by batches, then hop 3, publish → national feed (asynchronous): a reader long-polling
   ``GET /sync/v1/feed`` (following ``X-Next-Cursor``) until every item's ``published`` entry has arrived.

A hop's figure is measured from the end of the synchronous step that triggers it (the import job's completion as
seen by the client; the last batch call's answer) to the arrival of its last item; events flow while the step still
runs, so a hop that keeps up shows a small lag and a high rate. The figure is bounded below by the reading's
resolution for hop 3 (the feed is long-polled). Hops 1 and 2 are dated by the lifecycle's own records: the
``updated_at`` of the last item's list row (when it recorded the draft, or the code), which no reading blurs; what
the client's reads saw is printed beside it (a read of the whole list takes its own time, and the reads pause twice
that long so as not to crowd the lifecycle's consumers). End to end includes the client's own wait to see every
item in the lifecycle before it drives them on, as any integrator's would. End
to end is from sending the import to the last feed entry. Before the measured run one warm-up item goes to the feed
(consumer groups joined, connections open). While waiting, progress is printed every few seconds, and a wait that
sees no progress for --stall-seconds gives up and says where it stopped. After the run the service processes are
checked to be alive, their logs searched for warnings, errors and tracebacks, and the temporary directory (GBs at
20,000 items) removed (--keep leaves it). Figures are printed with the machine and its load average (the machines
are shared); nothing passes or fails on time. Targets printed beside them: end to end ≥ 300 items/s, every
asynchronous hop ≥ 3,000 items/s. A second table gives, per stage, the CPU each part of the suite spent per item
(each service process, PostgreSQL with all its backends, the broker, this bench): where a slow stage's time went."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.machine import CpuMeter, describe
from shared.contracts.feed import CHANGES
from shared.infra import free_port
from shixiang.client import SuiteClient
from shixiang.examples import complete_item
from shixiang.services import SERVICES
from shixiang.suite import DEMO_USERS, Suite

E2E_TARGET = 300.0  # items/s, import → feed
HOP_TARGET = 3000.0  # items/s, every asynchronous hop
REGION = "440115"  # 广州市南沙区: in the demo users' 4401
PUBLISHED = CHANGES["published"][0]  # the feed entry of a first publication

# 简称 of real public-security items whose pinyin initials are at most 6 letters: with a 6-digit number after them
# every item gets its own 12-character 事项名称编码, so no two items of a run collide on a code.
BASES = ["户口迁移审批", "普通护照签发", "户籍证明", "居住证签注", "公章刻制备案", "临时身份证明", "出生登记",
         "养犬登记", "分户登记", "曾用名登记", "保安员证核发", "死亡注销户口"]

# The batch steps from 录入 to 注册: (command, user, body).
TO_REGISTERED: list[tuple[str, str, dict[str, Any] | None]] = [
    ("submit", "entry-gz", None),
    ("approve", "reviewer-gz", None),
    ("record-test", "tester-gz", {"result": "pass"}),
    ("register", "publisher-gz", None),
]


# ---- items --------------------------------------------------------------------------------------------------------
def item_name(n: int) -> str:
    """Distinct for every n < 1,000,000, and so is its 事项名称编码 (see BASES)."""
    return f"{BASES[n % len(BASES)]}{n:06d}"


def item_list(numbers: Iterable[int], *, run: str, suffix: str = "") -> tuple[bytes, dict[str, int]]:
    """An ndjson list of complete items, one per number: name = 简称 (+ ``suffix``, which the 简称 does not carry), a
    来源编号 ``{run}-{n}``. Returns the file and its names (name → number)."""
    lines: list[str] = []
    names: dict[str, int] = {}
    for n in numbers:
        short = item_name(n)
        name = short + suffix
        names[name] = n
        lines.append(json.dumps({"source_ref": f"{run}-{n:06d}", **complete_item(
            name=name, short_name=short, region_code=REGION)}, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode(), names


# ---- reporting ----------------------------------------------------------------------------------------------------
class Ticker:
    """Prints a progress line at most every ``every_s`` seconds (and always when asked to)."""

    def __init__(self, every_s: float = 2.0) -> None:
        self.every_s = every_s
        self._last = 0.0

    def __call__(self, line: str, *, force: bool = False) -> None:
        now = time.perf_counter()
        if force or now - self._last >= self.every_s:
            self._last = now
            print(f"    {line}", flush=True)


class StallWatch:
    """Gives up on a wait that made no progress for ``stall_s`` seconds (progress = the count went up)."""

    def __init__(self, what: str, stall_s: float) -> None:
        self.what, self.stall_s = what, stall_s
        self.count, self.since = -1, time.perf_counter()

    def check(self, count: int, total: int) -> None:
        now = time.perf_counter()
        if count != self.count:
            self.count, self.since = count, now
        elif now - self.since > self.stall_s:
            raise TimeoutError(f"{self.what}: stalled at {count:,}/{total:,} for {self.stall_s:.0f} s")


def load_average() -> str:
    """The machine's load average (1, 5, 15 min): on a shared machine, what else was running shows here."""
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def client_clock(lag_s: float, count: int) -> str:
    """The hop as the client saw it (blurred by how often it reads the list), beside the figure dated by the
    lifecycle's own records (``updated_at`` of its last item)."""
    return f"[as the client's reads saw it: {lag_s:.2f} s = {rate(count, lag_s)} items/s"


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if seconds > 0 else "∞"


@dataclass
class Stage:
    name: str
    seconds: float
    count: int
    target: str = ""
    note: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group during the stage


@dataclass
class Report:
    stages: list[Stage] = field(default_factory=list)

    meter: CpuMeter | None = None
    _last_cpu: dict[str, float] = field(default_factory=dict)

    def start(self, meter: CpuMeter) -> None:
        self.meter, self._last_cpu = meter, meter.read()

    def add(self, stage: Stage, *, overall: bool = False) -> Stage:
        """Record a stage; the CPU since the previous stage is its own (stages follow each other, except the end
        to end figure, ``overall``, which is not measured)."""
        if self.meter is not None and not overall:
            now = self.meter.read()
            stage.cpu = {k: now[k] - self._last_cpu.get(k, 0.0) for k in now}
            self._last_cpu = now
        self.stages.append(stage)
        print(f"  {stage.name}: {stage.seconds:.2f} s, {stage.count:,} items = {rate(stage.count, stage.seconds)} "
              f"items/s{'   (target ' + stage.target + ')' if stage.target else ''}"
              f"{'   ' + stage.note if stage.note else ''}", flush=True)
        return stage

    def cpu_table(self) -> str:
        """CPU per item of each part of the suite, per stage (µs): where the time of a slow stage goes."""
        measured = [s for s in self.stages if s.cpu]
        if not measured:
            return ""
        parts = list(measured[0].cpu)
        lines = ["  CPU per item, µs (the stage's wall time × 2 cores is the budget):",
                 f"  {'stage':<46} " + " ".join(f"{p:>9}" for p in parts) + f" {'total':>9}"]
        for s in measured:
            per = {p: s.cpu[p] / s.count * 1e6 for p in parts}
            lines.append(f"  {s.name:<46} " + " ".join(f"{per[p]:>9,.0f}" for p in parts)
                         + f" {sum(per.values()):>9,.0f}")
        return "\n".join(lines)

    def table(self) -> str:
        lines = [f"  {'stage':<46} {'seconds':>8} {'items':>7} {'items/s':>9}  target",
                 f"  {'-' * 46} {'-' * 8} {'-' * 7} {'-' * 9}  {'-' * 12}"]
        lines.extend(f"  {s.name:<46} {s.seconds:>8.2f} {s.count:>7,} {rate(s.count, s.seconds):>9}  {s.target}"
                     for s in self.stages)
        return "\n".join(lines)


# ---- the steps ----------------------------------------------------------------------------------------------------
async def import_list(client: SuiteClient, content: bytes, rows: int, *, filename: str, ticker: Ticker | None = None,
                      timeout_s: float) -> dict[str, Any]:
    """POST the list and poll its job until it is no longer queued or running; fails unless every row was created."""
    started = time.perf_counter()
    job = await client.import_list(content, filename=filename)

    def progress(view: dict[str, Any]) -> None:
        if ticker is not None:
            ticker(f"import: {view['rows_processed'] or 0:,}/{rows:,} rows after "
                   f"{time.perf_counter() - started:.1f} s ({view['status']})")

    job = await client.wait_for_import(job["job_id"], timeout_s=timeout_s, interval_s=0.1, progress=progress)
    if job["status"] != "completed" or job["created"] != rows:
        raise RuntimeError(f"import {job['status']}: created {job['created']} of {rows}, failed {job['failed']}, "
                           f"error {job['error']}, first errors {job['errors'][:5]}")
    return job


def stamped(row: dict[str, Any]) -> float:
    """When the lifecycle recorded the list row's latest event (``updated_at``), as a Unix time (this machine's
    clock, which the services share)."""
    return datetime.fromisoformat(row["updated_at"]).timestamp()


@dataclass
class Known:
    ids: dict[str, str]  # name → item id
    seen: dict[str, float]  # item id → perf_counter of the first page that showed it
    recorded: dict[str, float]  # item id → when the lifecycle recorded it (Unix time, its updated_at)
    first_read: int  # how many were there at the first read
    longest_read_s: float


async def watch_known(client: SuiteClient, names: dict[str, int], *, stall_s: float, ticker: Ticker,
                      label: str = "hop 1") -> Known:
    """Reads the lifecycle's whole list (region REGION) again and again until every name in ``names`` is there; a
    pause of twice the read's time between reads keeps the reading from taking more than a third of the API's time
    (the lifecycle's consumers share its process; the hop is dated by the lifecycle's own records anyway)."""
    ids: dict[str, str] = {}
    seen: dict[str, float] = {}
    recorded: dict[str, float] = {}
    started = time.perf_counter()
    first_read: int | None = None
    longest = 0.0
    stall = StallWatch(label, stall_s)
    while True:
        read_started = time.perf_counter()
        cursor: str | None = None
        while True:
            page = await client.list_items(region=REGION, cursor=cursor, limit=1000)
            now = time.perf_counter()
            for row in page["items"]:
                if row["name"] in names and row["item_id"] not in seen:
                    seen[row["item_id"]] = now
                    recorded[row["item_id"]] = stamped(row)
                    ids[row["name"]] = row["item_id"]
            if (cursor := page["next_cursor"]) is None:
                break
        read_s = time.perf_counter() - read_started
        longest = max(longest, read_s)
        if first_read is None:
            first_read = len(seen)
        done = len(seen) >= len(names)
        ticker(f"{label}: {len(seen):,}/{len(names):,} known to the lifecycle after "
               f"{time.perf_counter() - started:.1f} s (a read of the list: {read_s:.2f} s)", force=done)
        if done:
            return Known(ids, seen, recorded, first_read, longest)
        stall.check(len(seen), len(names))
        await asyncio.sleep(max(0.25, 2 * read_s))


@dataclass
class BatchResult:
    succeeded: list[str]
    failures: Counter[tuple[int, str]]
    examples: dict[tuple[int, str], str]
    seconds: float


async def run_batches(client: SuiteClient, command: str, ids: list[str], *, user: str,
                      body: dict[str, Any] | None = None, batch_size: int = 1000,
                      ticker: Ticker | None = None) -> BatchResult:
    """One command for every id, ``batch_size`` ids per ``POST /lifecycle/v1/batches``, one call after the other;
    every item's result is checked (failures counted by HTTP status and error code, with one example each)."""
    succeeded: list[str] = []
    failures: Counter[tuple[int, str]] = Counter()
    examples: dict[tuple[int, str], str] = {}
    started = time.perf_counter()
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        report = await client.batch(command, chunk, user=user, body=body)
        if report["total"] != len(chunk):
            raise RuntimeError(f"{command}: a batch of {len(chunk)} ids answered for {report['total']}")
        for result in report["results"]:
            if result["ok"]:
                succeeded.append(result["item_id"])
            else:
                key = (result["status"], str(result.get("code")))
                failures[key] += 1
                examples.setdefault(key, f"{result['item_id']}: {result.get('message')} {result.get('details', '')}")
        if ticker is not None:
            ticker(f"{command}: {start + len(chunk):,}/{len(ids):,} after {time.perf_counter() - started:.1f} s",
                   force=False)
    return BatchResult(succeeded, failures, examples, time.perf_counter() - started)


def print_failures(command: str, result: BatchResult) -> None:
    if not result.failures:
        return
    print(f"  !! {command}: {sum(result.failures.values()):,} items failed (carrying on with the "
          f"{len(result.succeeded):,} that succeeded):")
    for (status, code), count in result.failures.most_common():
        print(f"     {count:,} × {status} {code}, e.g. {result.examples[(status, code)]}")


async def watch_coded(client: SuiteClient, ids: list[str], *, stall_s: float, ticker: Ticker,
                      label: str = "hop 2") -> tuple[dict[str, float], int, float]:
    """Reads the lifecycle's list of items still in step ``registering`` until none of ``ids`` is left. Returns item
    id → the time (perf_counter) of the first read that missed it, how many were coded at the first read, and the
    longest read."""
    waiting = set(ids)
    coded: dict[str, float] = {}
    started = time.perf_counter()
    first_read: int | None = None
    longest = 0.0
    stall = StallWatch(label, stall_s)
    while True:
        read_started = time.perf_counter()
        rows = await client.all_items(region=REGION, phase="preparing", step="registering")
        now = time.perf_counter()
        still = waiting & {r["item_id"] for r in rows}
        for item_id in waiting - still:
            coded[item_id] = now
        waiting = still
        read_s = now - read_started
        longest = max(longest, read_s)
        if first_read is None:
            first_read = len(coded)
        ticker(f"{label}: {len(coded):,}/{len(ids):,} coded after {time.perf_counter() - started:.1f} s "
               f"(a read of the list: {read_s:.2f} s)", force=not waiting)
        if not waiting:
            return coded, first_read, longest
        stall.check(len(coded), len(ids))
        await asyncio.sleep(max(0.1, 2 * read_s))


async def check_registered(client: SuiteClient, ids: list[str]) -> tuple[list[str], dict[str, float]]:
    """Problems with the items that should now be registered with distinct codes (empty: all fine), and when the
    lifecycle recorded each one's code (Unix time, its ``updated_at``: nothing happened to them since)."""
    rows = {r["item_id"]: r for r in await client.all_items(region=REGION, phase="preparing")}
    problems: list[str] = []
    recorded: dict[str, float] = {}
    codes: Counter[str] = Counter()
    for item_id in ids:
        row = rows.get(item_id)
        if row is None or row["step"] != "registered" or not row["code"]:
            problems.append(f"{item_id}: {None if row is None else (row['phase'], row['step'], row['code'])}")
        else:
            codes[row["code"]] += 1
            recorded[item_id] = stamped(row)
    problems += [f"code {code} held by {count} items" for code, count in codes.items() if count > 1]
    return problems, recorded


class FeedCollector:
    """Long-polls the national feed from its current end and records when each item's first entry of ``types``
    arrived (perf_counter at the answer that carried it)."""

    def __init__(self, client: SuiteClient, *, types: frozenset[str] = frozenset({PUBLISHED}),
                 page: int = 1000, wait_s: float = 5.0) -> None:
        self.client, self.types, self.page, self.wait_s = client, types, page, wait_s
        self.arrived: dict[str, float] = {}
        self.dropped: list[str] = []  # transport errors of the long-poll (retried from the same cursor)
        self.entries = 0
        self.cursor = 0
        self._task: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None

    async def start(self) -> None:
        while True:  # skip to the current end
            batch, self.cursor = await self.client.feed(self.cursor, limit=self.page)
            if not batch:
                break
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                try:
                    batch, self.cursor = await self.client.feed(self.cursor, limit=self.page, wait=self.wait_s)
                except httpx.TransportError as exc:
                    # A dropped connection: a national platform reconnects and reads from the same cursor; the
                    # drops are counted and reported (a service that went away shows in the process check).
                    self.dropped.append(f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.2)
                    continue
                now = time.perf_counter()
                self.entries += len(batch)
                for entry in batch:
                    if entry["type"] in self.types:
                        self.arrived.setdefault(entry["subject"], now)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.failure = exc
            raise

    async def wait_for(self, ids: Iterable[str], *, stall_s: float, ticker: Ticker | None = None,
                       label: str = "hop 3") -> None:
        wanted = list(ids)
        started = time.perf_counter()
        stall = StallWatch(label, stall_s)
        while True:
            if self.failure is not None:
                raise RuntimeError(f"the feed reader failed: {self.failure!r}")
            count = sum(1 for i in wanted if i in self.arrived)
            if ticker is not None:
                ticker(f"{label}: {count:,}/{len(wanted):,} in the national feed after "
                       f"{time.perf_counter() - started:.1f} s", force=count == len(wanted))
            if count == len(wanted):
                return
            stall.check(count, len(wanted))
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.dropped:
            print(f"  !! the feed reader's long-poll failed {len(self.dropped)} times (retried from the same cursor): "
                  f"{Counter(self.dropped).most_common(3)}")


# ---- the suite ----------------------------------------------------------------------------------------------------
async def prepare_pool(client: SuiteClient, count: int, *, stall_s: float) -> list[str]:
    """``count`` items registered with their codes, by import and batch calls (the setup of phase 4, not measured)."""
    started = time.perf_counter()
    ticker = Ticker(5.0)
    content, names = item_list(range(count), run="pool")
    await import_list(client, content, count, filename="pool.ndjson", ticker=ticker, timeout_s=600)
    known = await watch_known(client, names, stall_s=stall_s, ticker=ticker, label="pool")
    ids = [known.ids[name] for name in sorted(names, key=names.__getitem__)]
    for command, user, body in TO_REGISTERED:
        result = await run_batches(client, command, ids, user=user, body=body)
        print_failures(command, result)
        ids = result.succeeded
    await watch_coded(client, ids, stall_s=stall_s, ticker=ticker, label="pool")
    print(f"  pool: {len(ids):,} items imported and driven to registered (codes allocated) in "
          f"{time.perf_counter() - started:.1f} s")
    return ids



def start_suite(prefix: str) -> tuple[Suite, Path]:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    suite = Suite(root=root, ports={name: free_port() for name in SERVICES}, broker_port=free_port(),
                  issuer_port=free_port())
    print("starting the suite (4 uvicorn processes, embedded PostgreSQL 18, Tansu) …", flush=True)
    try:
        suite.start()
    except BaseException:
        suite.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return suite, root


def suite_client(suite: Suite, *, timeout_s: float = 600.0, connections: int = 100) -> SuiteClient:
    """A client with generous timeouts. Idle connections are dropped after 2 s: uvicorn closes them after 5 s, and
    httpx's default (also 5 s) now and then sends a request on a connection the server is closing that moment (the
    request then fails with ReadError or RemoteProtocolError)."""
    return SuiteClient(urls={n: suite.url(n) for n in SERVICES}, tokens={u: suite.token(u) for u in DEMO_USERS},
                       http=httpx.AsyncClient(timeout=timeout_s, limits=httpx.Limits(
                           max_connections=connections, max_keepalive_connections=connections,
                           keepalive_expiry=2.0)))


_ACTIVITY = ("shixiang_consumer_processed_total", "shixiang_relay_published_total")


async def wait_quiet(client: SuiteClient, *, settle_s: float = 2.0, timeout_s: float = 300.0) -> str:
    """Waits until the suite has caught up: no service's relay or consumer moved for ``settle_s`` (their counters on
    each service's public ``GET /metrics``), e.g. a consumer still working through the events of a preparation. Says
    how long that took."""
    started = time.perf_counter()
    last: float | None = None
    since = started
    while True:
        total = 0.0
        for service in client.urls:
            text = (await client.call("GET", service, "/metrics", user=None, expect=200)).text
            total += sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(_ACTIVITY))
        now = time.perf_counter()
        if total != last:
            last, since = total, now
        elif now - since >= settle_s:
            return f"quiet after {since - started:.1f} s"
        if now - started > timeout_s:
            return f"still busy after {timeout_s:.0f} s"
        await asyncio.sleep(0.25)


async def warm_up(client: SuiteClient, feed: FeedCollector, *, stall_s: float) -> float:
    """One item from entry to the feed, so that consumer groups have joined and connections are open."""
    started = time.perf_counter()
    item = await client.create_item(complete_item(name="预热事项", short_name="预热事项", region_code=REGION))
    await client.drive_to_online(item["item_id"])
    await feed.wait_for([item["item_id"]], stall_s=stall_s)
    return time.perf_counter() - started


_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL|Traceback)\b")


def log_problems(logs: Path, *, examples: int = 8) -> list[str]:
    """Lines of the services' logs that say WARNING, ERROR, CRITICAL or Traceback: counted per log, a few distinct
    ones shown (numbers, ids and times blanked so that repeats count as one)."""
    lines: list[str] = []
    for path in sorted(logs.glob("*.log")):
        hits = [line for line in path.read_text(errors="replace").splitlines() if _PROBLEM.search(line)]
        if not hits:
            continue
        shapes: dict[str, tuple[int, str]] = {}
        for line in hits:
            shape = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+", "#", line)[:200]
            count, example = shapes.get(shape, (0, line))
            shapes[shape] = (count + 1, example)
        lines.append(f"{path.name}: {len(hits)} lines")
        for count, example in sorted(shapes.values(), reverse=True)[:examples]:
            lines.append(f"    {count} × {example[:300]}")
    return lines


def report_logs_and_clean(suite: Suite, root: Path, *, keep: bool) -> None:
    for name, process in suite.processes.items():
        if process.poll() is not None:
            print(f"  !! the {name} service had exited (code {process.returncode}) before the suite was stopped; "
                  f"its log ends:\n{suite.log_tail(name, 20)}")
    suite.stop()
    problems = log_problems(suite.logs)
    print("service logs: " + ("no WARNING, ERROR, CRITICAL or Traceback lines" if not problems else "problems found:"))
    for line in problems:
        print(f"  {line}")
    if keep:
        print(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


# ---- the benchmark ------------------------------------------------------------------------------------------------
async def pipeline(suite: Suite, n: int, *, batch_size: int, stall_s: float) -> Report:
    client = suite_client(suite)
    feed = FeedCollector(client)
    ticker = Ticker()
    report = Report()
    try:
        await feed.start()
        warm_s = await warm_up(client, feed, stall_s=stall_s)
        print(f"warm-up: one item entered → online → in the feed in {warm_s:.2f} s")
        content, names = item_list(range(n), run="pipeline")
        print(f"list: {n:,} complete items, ndjson {len(content) / 1e6:.1f} MB", flush=True)

        # import
        report.start(CpuMeter({**suite.process_ids(), "bench": os.getpid()}))
        t_start = time.perf_counter()
        job = await import_list(client, content, n, filename="pipeline.ndjson", ticker=ticker,
                                timeout_s=max(600.0, n / 5))
        t_imported, wall_imported = time.perf_counter(), time.time()
        report.add(Stage("import (POST → job completed)", t_imported - t_start, job["created"]))

        # hop 1
        known = await watch_known(client, names, stall_s=stall_s, ticker=ticker)
        report.add(Stage("hop 1: registry → lifecycle (after the import)",
                         max(0.0, max(known.recorded.values()) - wall_imported), n, f"≥ {HOP_TARGET:,.0f}",
                         client_clock(max(known.seen.values()) - t_imported, n)
                         + f"; {known.first_read:,} there at the first read; the longest read of the list took "
                         f"{known.longest_read_s:.2f} s]"))
        ids = [known.ids[name] for name in sorted(names, key=names.__getitem__)]

        # the synchronous steps
        for command, user, body in TO_REGISTERED:
            result = await run_batches(client, command, ids, user=user, body=body, batch_size=batch_size,
                                       ticker=ticker)
            t_done, wall_done = time.perf_counter(), time.time()
            report.add(Stage(f"{command} (batch API, {batch_size:,} a call)", result.seconds, len(ids)))
            print_failures(command, result)
            ids = result.succeeded
            if not ids:
                raise RuntimeError(f"{command}: no item succeeded")

        # hop 2
        t_registered, wall_registered = t_done, wall_done
        coded, at_first, longest = await watch_coded(client, ids, stall_s=stall_s, ticker=ticker)
        problems, recorded = await check_registered(client, ids)
        report.add(Stage("hop 2: register → code in the lifecycle",
                         max(0.0, max(recorded.values()) - wall_registered) if recorded
                         else max(coded.values()) - t_registered, len(ids), f"≥ {HOP_TARGET:,.0f}",
                         client_clock(max(coded.values()) - t_registered, len(ids))
                         + f"; {at_first:,} coded at the first read; the longest read of the list took "
                         f"{longest:.2f} s]"))
        if problems:
            print(f"  !! {len(problems):,} items not registered as they should be, e.g.:")
            for line in problems[:10]:
                print(f"     {line}")
        else:
            print(f"  checked: all {len(ids):,} registered, each with its own code")

        # publish and hop 3
        result = await run_batches(client, "publish", ids, user="publisher-gz", batch_size=batch_size, ticker=ticker)
        t_published = time.perf_counter()
        report.add(Stage(f"publish (batch API, {batch_size:,} a call)", result.seconds, len(ids)))
        print_failures("publish", result)
        ids = result.succeeded
        at_first = sum(1 for i in ids if i in feed.arrived)
        await feed.wait_for(ids, stall_s=stall_s, ticker=ticker)
        t_last = max(feed.arrived[i] for i in ids)
        report.add(Stage("hop 3: publish → national feed", t_last - t_published, len(ids), f"≥ {HOP_TARGET:,.0f}",
                         f"[{at_first:,} in the feed when the last publish call answered]"))

        report.add(Stage("end to end: import sent → last feed entry", t_last - t_start, len(ids),
                         f"≥ {E2E_TARGET:,.0f}"), overall=True)
        synchronous = sum(s.seconds for s in report.stages if not s.name.startswith(("hop", "end")))
        print(f"  of which the synchronous steps (import and batch calls): {synchronous:.2f} s, waiting for the hops: "
              f"{t_last - t_start - synchronous:.2f} s")
        return report
    finally:
        await feed.stop()
        await client.close()


async def run(n: int, batch_size: int, stall_s: float, keep: bool) -> None:
    print(f"machine: {describe()}")
    suite, root = start_suite("shixiang-pipeline-")
    try:
        report = await pipeline(suite, n, batch_size=batch_size, stall_s=stall_s)
        print(f"\npipeline of {n:,} items (machine: {describe()}):")
        print(report.table())
        print(report.cpu_table())
        print(f"  load average at the end (1/5/15 min, {os.cpu_count()} cores): {load_average()}")
    finally:
        report_logs_and_clean(suite, root, keep=keep)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2000, help="items in the list (< 1,000,000)")
    parser.add_argument("--batch-size", type=int, default=1000, help="ids per POST /lifecycle/v1/batches (≤ 10,000)")
    parser.add_argument("--stall-seconds", type=float, default=180.0,
                        help="give up on a wait that saw no progress for this long")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (data and logs)")
    args = parser.parse_args(argv)
    if not 0 < args.items < 1_000_000:
        parser.error("--items must be between 1 and 999,999")
    asyncio.run(run(args.items, args.batch_size, args.stall_seconds, args.keep))


if __name__ == "__main__":
    main()
