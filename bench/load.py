"""Load: the suite's API latency at rising request rates, with a real load tool (locust, headless), a realistic mix
and imports arriving all the while.

    .venv/bin/python -m bench.load [--rates 50,100,200,300,400] [--step-seconds 30] [--items 2000]
                                   [--plot docs/performance/load-latency.png] [--keep]

The suite runs as in `make dev` (four uvicorn processes, embedded PostgreSQL 18, Tansu). First ``--items`` complete
items are imported and driven online (not measured). Then for each rate, locust (`bench/locustfile.py`) runs
rate / 5 users for ``--step-seconds``, each user sending 5 requests a second (`constant_throughput`): ≈ 70 % reads
(registry and lifecycle lists and items), 20 % lifecycle work (creating items and taking them through submit,
approve, record-test, register and publish — each step by its own role), 10 % the national platform's reads (feed
pages, the catalogue). Meanwhile the bench imports a list of 200 items every 5 s (`POST /registry/v1/imports`,
waiting for each job), whose items flow through the services' consumers beside the requests. Every response's
latency is logged by the locustfile; the first 3 s of each step (users starting) are left out. Printed per step: the
rate achieved, p50/p99 per group and overall, errors, imports completed; then the rate at which the overall p99
passes 100 ms (interpolated between the steps around it) and where the CPU went (per process, over all steps).
``--plot`` draws p50/p99 against the rate achieved (PNG, matplotlib). Figures are printed; nothing passes or fails
on time."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench import pipeline, plots
from bench.machine import CpuMeter, cpu_summary, describe, percentile
from shixiang.client import SuiteClient
from shixiang.suite import DEMO_USERS, Suite

PER_USER_RATE = 5.0  # requests a second per locust user
WARM_UP_S = 3.0  # each step's first seconds, while users start: not counted
P99_LIMIT_MS = 100.0
GROUPS = {"read": "reads", "command": "lifecycle work", "national": "national reads"}
IMPORT_ROWS = 200
IMPORT_EVERY_S = 5.0  # a list of IMPORT_ROWS started this often (40 items/s): a province's lists arriving now and then
NOT_YET = {404, 409}  # the locustfile's "ask again later" answers to a lifecycle step (they count as answers)
FIRST_LOCUST_NUMBER = 600_000  # item numbers (bench.pipeline.item_name) the locust users create from; 20,000 a step
FIRST_IMPORT_NUMBER = 900_000  # and the background imports


@dataclass
class Step:
    offered: float
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    imports: int = 0

    @property
    def answered(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def achieved(self) -> float:
        return self.answered / self.seconds

    def all_latencies(self) -> list[float]:
        return [ms for values in self.latencies.values() for ms in values]


class BackgroundImports:
    """A list of ``IMPORT_ROWS`` items imported every ``IMPORT_EVERY_S`` while a step runs (the next one waits for the
    one before: never two at once). Back to back, imports alone would take the two cores (≈ 700 items/s here), and
    the figure would be the imports', not the API's."""

    def __init__(self, client: SuiteClient, first_number: int) -> None:
        self.client = client
        self.next_number = first_number
        self.completed = 0
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._stop.clear()
        self.completed = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            numbers = range(self.next_number, self.next_number + IMPORT_ROWS)
            self.next_number += IMPORT_ROWS
            content, _ = pipeline.item_list(numbers, run="load")
            job = await self.client.import_list(content, filename="load.ndjson")
            await self.client.wait_for_import(job["job_id"], interval_s=0.2)
            self.completed += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, IMPORT_EVERY_S - (time.perf_counter() - started)))

    async def stop(self) -> int:
        self._stop.set()
        if self._task is not None:
            await self._task  # the list under way finishes: the next step starts on a quiet import queue
        return self.completed


async def prepare_online(client: SuiteClient, count: int, *, stall_s: float) -> list[str]:
    ids = await pipeline.prepare_pool(client, count, stall_s=stall_s)
    result = await pipeline.run_batches(client, "publish", ids, user="publisher-gz")
    pipeline.print_failures("publish", result)
    return result.succeeded


async def feed_head(client: SuiteClient) -> int:
    head = 0
    while True:
        entries, cursor = await client.feed(head, limit=1000)
        if not entries:
            return head
        head = int(cursor)


def read_latencies(path: Path, step: Step) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        return
    started = float(lines[0].split("\t", 1)[0])
    for line in lines:
        at, name, ms, status = line.split("\t")
        if float(at) - started < WARM_UP_S:
            continue
        group = name.split(":", 1)[0]
        code = int(status)
        if code == 0 or code >= 500 or (code >= 400 and not (group == "command" and code in NOT_YET)):
            step.errors[f"{name} {code}"] += 1
            continue
        step.latencies[group].append(float(ms))


async def run_step(suite: Suite, client: SuiteClient, rate: float, seconds: float, online: list[str], index: int,
                   work: Path) -> Step:
    users = max(1, math.ceil(rate / PER_USER_RATE))
    latency_file = work / f"latency-{index}.tsv"
    plan = {"urls": {name: suite.url(name) for name in ("registry", "lifecycle", "sync")},
            "tokens": {user: suite.token(user) for user in DEMO_USERS}, "online": online,
            "region": pipeline.REGION, "feed_head": await feed_head(client),
            "per_user_rate": rate / users, "latency_file": str(latency_file),
            "first_number": FIRST_LOCUST_NUMBER + 20_000 * index}
    plan_file = work / f"plan-{index}.json"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    imports = BackgroundImports(client, FIRST_IMPORT_NUMBER + 10_000 * index)
    imports.start()
    locust = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("locustfile.py")), "--headless",
        "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{WARM_UP_S + seconds:.0f}s",
        "--stop-timeout", "5", "--only-summary", "--loglevel", "WARNING",
        env={**os.environ, "SHIXIANG_LOAD_PLAN": str(plan_file), "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, stderr = await locust.communicate()
    step = Step(offered=rate, seconds=seconds)
    step.imports = await imports.stop()
    if locust.returncode not in (0, 1):  # 1: some requests failed (counted below)
        raise RuntimeError(f"locust exited {locust.returncode}: {stderr.decode()[-2000:]}")
    read_latencies(latency_file, step)
    return step


def step_line(step: Step) -> str:
    every = step.all_latencies()
    groups = "  ".join(f"{label} {percentile(step.latencies[g], 50):.0f}/{percentile(step.latencies[g], 99):.0f}"
                       for g, label in GROUPS.items() if step.latencies[g])
    errors = sum(step.errors.values())
    return (f"  offered {step.offered:>5.0f}/s  achieved {step.achieved:>6.1f}/s  all p50 "
            f"{percentile(every, 50):>5.1f} ms  p99 {percentile(every, 99):>6.1f} ms  |  {groups} (p50/p99 ms)  |  "
            f"imports {step.imports}  errors {errors}" + (f" {dict(step.errors)}" if errors else ""))


def p99_crossing(steps: list[Step]) -> str:
    """The rate at which the overall p99 passes ``P99_LIMIT_MS`` (linear between the steps around it)."""
    previous: Step | None = None
    for step in steps:
        p99 = percentile(step.all_latencies(), 99)
        if p99 > P99_LIMIT_MS:
            if previous is None:
                return f"already above {P99_LIMIT_MS:.0f} ms at the lowest rate ({step.achieved:.0f}/s: {p99:.0f} ms)"
            low = percentile(previous.all_latencies(), 99)
            share = (P99_LIMIT_MS - low) / (p99 - low)
            at = previous.achieved + share * (step.achieved - previous.achieved)
            return (f"≈ {at:.0f} requests/s (p99 {low:.0f} ms at {previous.achieved:.0f}/s, {p99:.0f} ms at "
                    f"{step.achieved:.0f}/s)")
        previous = step
    return f"not reached: p99 ≤ {P99_LIMIT_MS:.0f} ms up to {steps[-1].achieved:.0f} requests/s"


def plot(steps: list[Step], path: Path) -> None:
    # Against the rate offered: once the suite saturates the rate achieved falls back, and a line against it would
    # turn back on itself (the achieved rates are printed beside).
    rates = [s.offered for s in steps]
    series = {"all requests": (rates, [s.all_latencies() for s in steps])}
    series |= {label: (rates, [s.latencies[group] for s in steps]) for group, label in GROUPS.items()}
    plots.latency_against_rate(series, path=path, title="API latency against rate", emphasise="all requests",
                               xlabel="requests/s offered (locust, headless; a list imported every 5 s)",
                               ylabel="latency, ms (log)", limit_ms=P99_LIMIT_MS,
                               limit_label=f"{P99_LIMIT_MS:.0f} ms")


async def run(rates: list[float], seconds: float, items: int, plot_path: Path | None, keep: bool,
              stall_s: float) -> None:
    print(f"machine: {describe()}")
    suite, root = pipeline.start_suite("shixiang-load-")
    client = pipeline.suite_client(suite)
    work = root / "load"
    work.mkdir()
    try:
        print(f"preparing {items:,} online items …", flush=True)
        online = await prepare_online(client, items, stall_s=stall_s)
        print(f"  suite {await pipeline.wait_quiet(client)}")
        meter = CpuMeter({**suite.process_ids(), "bench+locust": os.getpid()})
        cpu_before, started = meter.read(), time.perf_counter()
        steps: list[Step] = []
        for index, rate in enumerate(rates):
            steps.append(await run_step(suite, client, rate, seconds, online, index, work))
            print(step_line(steps[-1]), flush=True)
        elapsed = time.perf_counter() - started
        used = {name: cpu - cpu_before[name] for name, cpu in meter.read().items()}
        print(f"\nload at rising rates (machine: {describe()}):")
        for step in steps:
            print(step_line(step))
        print(f"  overall p99 passes {P99_LIMIT_MS:.0f} ms at: {p99_crossing(steps)}")
        answered = sum(s.answered for s in steps)
        print(f"  CPU over all steps (per request): {cpu_summary(used, elapsed, answered).replace('item', 'request')}")
        print(f"  load average at the end (1/5/15 min): {pipeline.load_average()}")
        if plot_path is not None:
            plot(steps, plot_path)
            print(f"  plot: {plot_path}")
    finally:
        await client.close()
        pipeline.report_logs_and_clean(suite, root, keep=keep)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="50,100,200,300,400", help="requests/s offered, step after step")
    parser.add_argument("--step-seconds", type=float, default=30.0, help="measured seconds per step")
    parser.add_argument("--items", type=int, default=2000, help="online items prepared for the reads")
    parser.add_argument("--plot", type=Path, default=None, help="write the latency-against-rate PNG here")
    parser.add_argument("--stall-seconds", type=float, default=180.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (data, logs, latencies)")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    asyncio.run(run(rates, args.step_seconds, args.items, args.plot, args.keep, args.stall_seconds))


if __name__ == "__main__":
    main()
