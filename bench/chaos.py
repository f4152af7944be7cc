"""Chaos while a list comes online: the whole suite (four uvicorn processes, embedded PostgreSQL, Tansu) attacked
while a list of N complete items is imported and driven to online, then checked for every promise the README makes.

    .venv/bin/python -m bench.chaos [--items 20000] [--seed S] [--keep]

The work is what an integrator does: the list is posted to ``POST /registry/v1/imports``, and every item is driven
from 录入 to 在线 with the batch API (``POST /lifecycle/v1/batches``: submit, approve, record-test pass, register,
publish), the lifecycle's list read again and again to see where each item stands. A ``shixiang follow`` process
mirrors the national feed meanwhile.

While that runs, faults are injected one after another, in a seeded order, each when the work has reached a seeded
point of its progress (an item's progress is its step out of seven, from known to the lifecycle to online), so that
every fault hits work in flight whatever the machine's speed: each service process killed with SIGKILL (api, relay
and consumers) and started again, the broker wiped (Tansu restarted: every topic, message and offset gone),
PostgreSQL crashed (immediate-mode stop, crash recovery on the next start) and started again, and the follower killed
with SIGKILL and started again. The driver goes on meanwhile, but no further than a little past the next fault's
point before that fault is in (a service takes seconds to start again: on a small list the driver would otherwise
outrun the faults), so the list is never online before every fault has hit it.

The driver survives the faults as a real client would: a call that fails with a connection error or a 5xx is sent
again after a back-off; an item a resent batch finds already past the command (409 ``ILLEGAL_TRANSITION``, whose
details name the item's current step: the first attempt had done it before the answer was lost) is done; and it
re-reads the list. Nothing is repaired by hand.

Afterwards it waits for the suite to converge and checks (the test asserts; the bench prints):
- every item is online exactly once: the lifecycle's list says online, its store holds one ``published`` event per
  item, and the national feed one ``published`` entry per item (and no other entry);
- every item has its own code: one active code per item in the coding service's ``item_codes``, the lifecycle's
  code, no code held by two items, and no code assigned (``coding.code.assigned.v1``) to more than one allocation;
- the national feed, the exchange database's ``up_task_general`` and the follower's mirror equal the catalogue
  (``GET /sync/v1/catalog``);
- every stream's hash chain verifies in every service's store (read straight from its database);
- no dead letter is left that a replay does not clear (each service's waiting dead letters are replayed by the
  admin, then none may be waiting);
- no call was answered 500 (a bug) on the way: an outage is answered 503 ``TEMPORARILY_UNAVAILABLE``.
It prints how long the suite took to converge after the last fault (from the moment the last fault was over until
every check held). Nothing passes or fails on time."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import text

from bench.machine import describe
from bench.pipeline import (
    PUBLISHED,
    REGION,
    Ticker,
    item_list,
    load_average,
    report_logs_and_clean,
    start_suite,
    suite_client,
)
from shared.contracts.events import CODING_CODE_ASSIGNED, LIFECYCLE_PUBLISHED
from shared.db import make_engine
from shared.eventstore import StoredEvent, verify_chain
from shixiang.client import ApiError, SuiteClient
from shixiang.services import SERVICES
from shixiang.suite import EXCHANGE_DATABASE, Suite

T = TypeVar("T")

# Where an item stands, as a count of steps out of seven (the driver's progress, which the faults are keyed to).
MILESTONES: dict[tuple[str | None, str], int] = {
    ("forming", "entry"): 1, ("forming", "in_review"): 2, ("preparing", "testing"): 3,
    ("preparing", "test_failed"): 3, ("preparing", "test_passed"): 4, ("preparing", "registering"): 5,
    ("preparing", "registered"): 6, ("online", "published"): 7,
}
ONLINE = ("online", "published")
STEPS = max(MILESTONES.values())

# The command that moves an item on from each state, and who gives it; in this order, so that one round carries an
# item from 录入 to 注册中 (each batch's answer is the items' new state). ``registering`` waits for the code.
NEXT: dict[tuple[str | None, str], tuple[str, str, dict[str, Any] | None]] = {
    ("forming", "entry"): ("submit", "entry-gz", None),
    ("forming", "in_review"): ("approve", "reviewer-gz", None),
    ("preparing", "testing"): ("record-test", "tester-gz", {"result": "pass"}),
    ("preparing", "test_failed"): ("record-test", "tester-gz", {"result": "pass"}),
    ("preparing", "test_passed"): ("register", "publisher-gz", None),
    ("preparing", "registered"): ("publish", "publisher-gz", None),
}

# How far past the next fault's point the driver may go before that fault is injected.
AHEAD = 0.05

FOLLOWER = "follower"
BROKER = "broker"
POSTGRES = "postgres"


# ---- the schedule (pure) ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    target: str  # a service name, BROKER, POSTGRES or FOLLOWER
    at: float  # the driver's progress (0–1) at which it is injected
    down_s: float = 0.0  # how long PostgreSQL stays down

    @property
    def label(self) -> str:
        return {BROKER: "broker wiped (Tansu restarted, memory only)",
                POSTGRES: f"PostgreSQL crashed (immediate stop), {self.down_s:.1f} s down, started again",
                FOLLOWER: "follower kill -9, started again"}.get(
            self.target, f"{self.target} kill -9 (api, relay, consumers), started again")


def fault_schedule(seed: int, *, first: float = 0.05, last: float = 0.7) -> list[Fault]:
    """Every fault once, in an order and at progress points drawn from ``seed`` (between ``first`` and ``last``)."""
    rng = random.Random(seed)
    targets = [*SERVICES, BROKER, POSTGRES, FOLLOWER]
    rng.shuffle(targets)
    points = sorted(rng.uniform(first, last) for _ in targets)
    return [Fault(target, at, round(rng.uniform(0.5, 3.0), 1) if target == POSTGRES else 0.0)
            for target, at in zip(targets, points, strict=True)]


def batch_size_for(n: int) -> int:
    """Small batches for a small list, so that the progress the faults are keyed to moves in small steps."""
    return min(1000, max(10, n // 20))


# ---- a client that survives faults --------------------------------------------------------------------------------
class Retrier:
    """Sends a call again after a connection error or a 5xx answer, backing off to 2 s, as long as the outage
    lasts (up to ``give_up_s``); counts what it retried."""

    def __init__(self, give_up_s: float) -> None:
        self.give_up_s = give_up_s
        self.retried: Counter[tuple[str, str]] = Counter()

    async def __call__(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        delay, since = 0.1, time.monotonic()
        while True:
            try:
                return await call()
            except httpx.TransportError as exc:
                kind = type(exc).__name__
            except ApiError as exc:
                if exc.status < 500:
                    raise
                kind = f"{exc.status} {exc.code}"
            self.retried[(what, kind)] += 1
            if time.monotonic() - since > self.give_up_s:
                raise TimeoutError(f"{what}: still failing ({kind}) after {self.give_up_s:.0f} s")
            await asyncio.sleep(delay)
            delay = min(2 * delay, 2.0)


async def import_until_complete(client: SuiteClient, retry: Retrier, content: bytes, *, filename: str,
                                give_up_s: float) -> int:
    """Posts the list and polls its job; a job that ends interrupted (its registry process died) or failed is
    posted again (re-importing changes nothing that was already written). Returns how many posts it took."""
    deadline = time.monotonic() + give_up_s
    posts = 0
    while True:
        posts += 1
        job = await retry("import", partial(client.import_list, content, filename=filename))
        while (view := await retry("import job", partial(client.import_job, job["job_id"])))["status"] in (
                "queued", "running"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"import still {view['status']} after {give_up_s:.0f} s")
            await asyncio.sleep(0.25)
        if view["status"] == "completed":
            if view["failed"]:
                raise RuntimeError(f"import: {view['failed']} rows failed, e.g. {view['errors'][:3]}")
            return posts


# ---- the driver ---------------------------------------------------------------------------------------------------
@dataclass
class Driver:
    """Drives every item of the list to online with the batch API, re-reading the lifecycle's list between rounds."""

    client: SuiteClient
    names: set[str]
    retry: Retrier
    batch_size: int
    ceiling: float  # the driver sends no command while its progress is at or above this (the next fault's point)
    state: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # item id → (phase, step)
    ids: dict[str, str] = field(default_factory=dict)  # name → item id
    done: Counter[str] = field(default_factory=Counter)  # command → items it moved on
    already: Counter[str] = field(default_factory=Counter)  # command → items a resent batch found done
    refused: list[str] = field(default_factory=list)  # anything else a batch answered for an item
    rounds: int = 0
    moved: asyncio.Event = field(default_factory=asyncio.Event)  # set whenever the states were read or changed

    def progress(self) -> float:
        return sum(MILESTONES.get(s, 0) for s in self.state.values()) / (STEPS * len(self.names))

    async def reached(self, point: float, *, after_round: int) -> float:
        """Waits until the progress is at least ``point`` and the driver has read the list again since round
        ``after_round`` (so that it has seen the last fault's effect); returns the progress."""
        while (now := self.progress()) < point or self.rounds <= after_round:
            self.moved.clear()
            await self.moved.wait()
        return now

    def online(self) -> int:
        return sum(1 for s in self.state.values() if s == ONLINE)

    async def run(self, *, stall_s: float, ticker: Ticker) -> None:
        best, since = -1.0, time.monotonic()
        while True:
            rows = await self.retry("list", lambda: self.client.all_items(region=REGION))
            self.rounds += 1
            for row in rows:
                if row["name"] in self.names:
                    self.ids[row["name"]] = row["item_id"]
                    self.state[row["item_id"]] = (row["phase"], row["step"])
            self.moved.set()
            ticker(f"drive: {len(self.state):,}/{len(self.names):,} known, {self.online():,} online, progress "
                   f"{self.progress():.0%} (round {self.rounds})")
            if self.online() == len(self.names):
                return
            for source, (command, user, body) in NEXT.items():
                due = [i for i, s in self.state.items() if s == source]
                for start in range(0, len(due), self.batch_size):
                    if self.progress() >= self.ceiling:
                        break
                    await self._batch(command, due[start:start + self.batch_size], source, user, body)
            if (now := self.progress()) > best:
                best, since = now, time.monotonic()
            elif time.monotonic() - since > stall_s:  # stuck (at the ceiling only while a fault is injected)
                stuck = Counter(s for s in self.state.values() if s != ONLINE)
                raise TimeoutError(f"drive: no progress for {stall_s:.0f} s; not online: {dict(stuck)}, "
                                   f"unknown to the lifecycle: {len(self.names) - len(self.state)}")
            await asyncio.sleep(0.25)

    async def _batch(self, command: str, ids: list[str], source: tuple[str | None, str], user: str,
                     body: dict[str, Any] | None) -> None:
        attempts = 0

        async def send() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            return await self.client.batch(command, ids, user=user, body=body)

        report = await self.retry(command, send)
        self.moved.set()
        for result in report["results"]:
            item_id = result["item_id"]
            if result["ok"]:
                self.state[item_id] = (result["phase"], result["step"])
                self.done[command] += 1
                continue
            details = result.get("details") or {}
            if result.get("code") == "ILLEGAL_TRANSITION":
                now = (details.get("phase"), str(details.get("step")))
                self.state[item_id] = now
                if attempts > 1 and MILESTONES.get(now, 0) > MILESTONES[source]:
                    self.already[command] += 1  # the lost first attempt did it
                    continue
            self.refused.append(f"{command} {item_id}: {result.get('status')} {result.get('code')} "
                                f"{result.get('message')}")


# ---- faults -------------------------------------------------------------------------------------------------------
class Follower:
    """``shixiang follow`` as its own process (mirror in SQLite), as tests/e2e/test_national_follower.py runs it."""

    def __init__(self, suite: Suite, db: Path, log: Path) -> None:
        self.suite, self.db, self.log = suite, db, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shixiang.cli", "follow", self.suite.url("sync"), "--db", str(self.db),
                 "--token", self.suite.token("national"), "--wait", "1"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def mirror(self) -> dict[str, tuple[int, str | None, str]]:
        """Its online items: id → (item version, code, state)."""
        if not self.db.exists():
            return {}
        with sqlite3.connect(self.db) as conn:
            try:
                return {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
                    "SELECT item_id, item_version, code, state FROM items WHERE state = 'online'")}
            except sqlite3.OperationalError:  # not made yet
                return {}


@dataclass(frozen=True)
class Injected:
    fault: Fault
    progress: float  # the driver's progress when it was injected
    at_s: float  # seconds since the run started
    took_s: float  # until the part was back (a service ready again)


def inject(suite: Suite, follower: Follower, fault: Fault) -> None:
    """One fault and the restart after it (blocking: run in a thread)."""
    if fault.target == FOLLOWER:
        follower.kill()
        follower.start()
    elif fault.target == BROKER:
        assert suite.broker is not None
        suite.broker.restart()
    elif fault.target == POSTGRES:
        suite.crash_postgres(fault.down_s)
    else:
        suite.stop_service(fault.target, hard=True)
        suite.start_service(fault.target)
        suite.wait_ready([fault.target], timeout_s=180)


async def injector(suite: Suite, follower: Follower, schedule: list[Fault], driver: Driver, started: float,
                   injected: list[Injected]) -> None:
    """The faults one after another, each once the driver's progress reached its point and the driver has read the
    list since the one before. The driver works on up to a little past the next fault's point meanwhile (it would
    otherwise outrun the faults on a small list: a service takes seconds to start again); after the last fault it
    is let go to the end."""
    try:
        last_round = 0
        for index, fault in enumerate(schedule):
            now = await driver.reached(fault.at, after_round=last_round)
            t0 = time.perf_counter()
            print(f"    fault at {now:.0%}: {fault.label}", flush=True)
            await asyncio.to_thread(inject, suite, follower, fault)
            injected.append(Injected(fault, now, t0 - started, time.perf_counter() - t0))
            last_round = driver.rounds
            driver.ceiling = schedule[index + 1].at + AHEAD if index + 1 < len(schedule) else 1.0
    finally:
        driver.ceiling = 1.0


# ---- the checks ---------------------------------------------------------------------------------------------------
async def read_feed(client: SuiteClient, retry: Retrier) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = 0
    while True:
        batch, cursor = await retry("feed", partial(client.feed, cursor, limit=1000))
        if not batch:
            return entries
        entries += batch


async def read_catalogue(client: SuiteClient, retry: Retrier) -> dict[str, tuple[int, str | None, str]]:
    found: dict[str, tuple[int, str | None, str]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        response = await retry("catalogue", partial(client.call, "GET", "sync", "/sync/v1/catalog", user="national",
                                                     params=params))
        body = response.json()
        found.update({i["item_id"]: (i["item_version"], i["code"], i["state"]) for i in body["items"]})
        if (cursor := body["next_cursor"]) is None:
            return found


async def query(url: str, statement: str, **params: Any) -> list[Any]:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(statement), params))
    finally:
        await engine.dispose()


async def exchange_rows(suite: Suite) -> dict[str, list[tuple[int, str, str | None, str]]]:
    """up_task_general per item: (task_version, cd_operation, task_code, task_state), oldest first."""
    rows: dict[str, list[tuple[int, str, str | None, str]]] = defaultdict(list)
    for r in await query(suite.postgres.url(EXCHANGE_DATABASE), "SELECT task_guid, task_version, cd_operation, "
                         "task_code, task_state FROM up_task_general ORDER BY task_guid, task_version"):
        rows[r.task_guid].append((r.task_version, r.cd_operation, r.task_code, r.task_state))
    return rows


async def broken_chains(url: str) -> tuple[int, list[str]]:
    """Every stream of a service's store read in order and its hash chain recomputed: (streams, the broken ones)."""
    engine = make_engine(url, pool_size=1)
    broken: list[str] = []
    streams = 0
    try:
        async with engine.connect() as conn:
            result = await conn.stream(text("SELECT position, stream_id, version, event_id, type, data, actor, "
                                            "correlation_id, causation_id, recorded_at, hash FROM events "
                                            "ORDER BY stream_id, version"))
            current: list[StoredEvent] = []

            def close() -> None:
                if current and not (verdict := verify_chain(current)).ok:
                    broken.append(f"{current[0].stream_id}: {verdict}")

            async for row in result:
                event = StoredEvent(row.position, row.stream_id, row.version, row.event_id, row.type, row.data,
                                    row.actor, row.correlation_id, row.causation_id, row.recorded_at, row.hash)
                if current and current[0].stream_id != event.stream_id:
                    close()
                    streams += 1
                    current = []
                current.append(event)
            if current:
                close()
                streams += 1
    finally:
        await engine.dispose()
    return streams, broken


async def dead_letters(client: SuiteClient, retry: Retrier, service: str) -> list[dict[str, Any]]:
    """The service's waiting dead letters (every page)."""
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        path = f"{SERVICES[service].prefix}/dead-letters"
        params = {"status": "waiting", "after_id": after, "limit": 500}
        page = (await retry("dead letters", partial(client.call, "GET", service, path, user="admin",
                                                     params=params))).json()
        found += page["items"]
        if (after := page["next_after_id"]) is None:
            return found


async def replay(client: SuiteClient, retry: Retrier, service: str, path: str) -> None:
    await retry("replay", lambda: client.call("POST", service, path, user="admin",
                                              json={"reason": "混沌测试：故障后重放"}))


async def replay_dead_letters(client: SuiteClient, retry: Retrier) -> tuple[int, list[str]]:
    """Every waiting dead letter of every service replayed by the admin; then those still waiting."""
    replayed = 0
    for service, entry in SERVICES.items():
        for letter in await dead_letters(client, retry, service):
            await replay(client, retry, service, f"{entry.prefix}/dead-letters/{letter['id']}/replay")
            replayed += 1
    left = [f"{service}: dead letter {letter['id']} ({letter.get('consumer')}, {letter.get('kind')}: "
            f"{letter.get('reason')}) still waiting after a replay"
            for service in SERVICES for letter in await dead_letters(client, retry, service)]
    return replayed, left


@dataclass
class Observed:
    """What the suite shows at one moment, read through its API, its databases and the follower's mirror."""

    lifecycle: dict[str, dict[str, Any]]  # item id → its list row
    feed: list[dict[str, Any]]
    catalogue: dict[str, tuple[int, str | None, str]]
    exchange: dict[str, list[tuple[int, str, str | None, str]]]
    mirror: dict[str, tuple[int, str | None, str]]


def settled_problems(ids: set[str], seen: Observed) -> list[str]:
    """The checks that hold only once everything has flowed (what convergence waits for); empty when all hold."""
    problems: list[str] = []
    rows = [seen.lifecycle.get(i) for i in ids]
    not_online = Counter((r["phase"], r["step"]) if r else ("unknown", "") for r in rows
                         if r is None or (r["phase"], r["step"]) != ONLINE)
    if not_online:
        problems.append(f"lifecycle: {sum(not_online.values())} items not online: {dict(not_online)}")
    codes = Counter(r["code"] for r in rows if r)
    if None in codes:
        problems.append(f"lifecycle: {codes[None]} items without a code")
    if shared := {c: k for c, k in codes.items() if c is not None and k > 1}:
        problems.append(f"lifecycle: codes held by more than one item: {shared}")
    per_item = Counter((e["subject"], e["type"]) for e in seen.feed)
    if wrong := {k: v for k, v in per_item.items() if k[1] != PUBLISHED or v != 1}:
        problems.append(f"feed: {len(wrong)} entries other than one publication per item, e.g. "
                        f"{list(wrong.items())[:3]}")
    fed = {e["subject"]: (e["itemversion"], e["data"].get("code"), "online") for e in seen.feed
           if e["type"] == PUBLISHED}
    if set(seen.catalogue) != ids:
        problems.append(f"catalogue: {len(set(seen.catalogue) - ids)} items not of the list, "
                        f"{len(ids - set(seen.catalogue))} of the list missing")
    for where, view in (("feed", fed), ("follower mirror", seen.mirror), ("exchange up_task_general", {
            i: (rows_[-1][0], rows_[-1][2], rows_[-1][3]) for i, rows_ in seen.exchange.items()})):
        if view != seen.catalogue:
            differ = {i for i in set(view) | set(seen.catalogue) if view.get(i) != seen.catalogue.get(i)}
            example = min(differ)
            problems.append(f"{where} ≠ catalogue for {len(differ)} items, e.g. {example}: "
                            f"{view.get(example)} vs {seen.catalogue.get(example)}")
    lifecycle_codes = {i: r["code"] for i, r in seen.lifecycle.items() if i in ids}
    if wrong_codes := [i for i, v in seen.catalogue.items() if lifecycle_codes.get(i) != v[1]]:
        problems.append(f"catalogue: {len(wrong_codes)} codes differ from the lifecycle's, e.g. {wrong_codes[0]}")
    if doubled := {i: r for i, r in seen.exchange.items() if [op for _, op, _, _ in r] != ["I"]}:
        problems.append(f"exchange: {len(doubled)} items without exactly one insert row, e.g. "
                        f"{next(iter(doubled.items()))}")
    return problems


async def observe(suite: Suite, client: SuiteClient, retry: Retrier, follower: Follower) -> Observed:
    rows = await retry("list", lambda: client.all_items(region=REGION))
    return Observed({r["item_id"]: r for r in rows}, await read_feed(client, retry),
                    await read_catalogue(client, retry), await exchange_rows(suite), follower.mirror())


async def store_problems(suite: Suite, ids: set[str], lifecycle_codes: dict[str, str | None]) -> tuple[str, list[str]]:
    """The checks on the stores themselves (read once the suite has converged): published events, codes, chains."""
    problems: list[str] = []
    lifecycle_url = suite.postgres.url(SERVICES["lifecycle"].database)
    published = Counter({r.stream_id: r.n for r in await query(
        lifecycle_url, "SELECT stream_id, count(*) AS n FROM events WHERE type = :type GROUP BY stream_id",
        type=LIFECYCLE_PUBLISHED)})
    if wrong := {i: published.get(i, 0) for i in ids if published.get(i, 0) != 1}:
        problems.append(f"lifecycle store: {len(wrong)} items without exactly one published event, e.g. "
                        f"{next(iter(wrong.items()))}")
    coding_url = suite.postgres.url(SERVICES["coding"].database)
    codes: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in await query(coding_url, "SELECT item_id, code, status FROM item_codes"):
        codes[r.item_id].append((r.code, r.status))
    if wrong := {i: codes.get(i) for i in ids if codes.get(i) != [(lifecycle_codes.get(i), "active")]}:
        problems.append(f"coding item_codes: {len(wrong)} items without exactly their one active code (the "
                        f"lifecycle's), e.g. {next(iter(wrong.items()))}")
    # Every assignment the coding service recorded (a repeated answer to a repeated request aside): one per item,
    # and no code in two of them (a retired code assigned again would be).
    assigned = [(r.item_id, r.code) for r in await query(
        coding_url, "SELECT data->>'item_id' AS item_id, data->>'code' AS code FROM events WHERE type = :type "
                    "AND NOT coalesce((data->>'repeated')::boolean, false)", type=CODING_CODE_ASSIGNED)]
    per_item = Counter(i for i, _ in assigned)
    if wrong := {i: per_item.get(i, 0) for i in ids if per_item.get(i, 0) != 1}:
        problems.append(f"coding store: {len(wrong)} items without exactly one code assignment, e.g. "
                        f"{next(iter(wrong.items()))}")
    if reused := {c: k for c, k in Counter(c for _, c in assigned).items() if k > 1}:
        problems.append(f"coding store: codes assigned more than once: {reused}")
    streams: list[str] = []
    for name, entry in SERVICES.items():
        count, broken = await broken_chains(suite.postgres.url(entry.database))
        streams.append(f"{name} {count:,}")
        problems += [f"{name} store: chain broken: {b}" for b in broken]
    return ", ".join(streams), problems


def server_errors(retried: Counter[tuple[str, str]]) -> list[str]:
    """A 500 is a bug (README, "Errors"), even during a fault: an outage is answered 503 TEMPORARILY_UNAVAILABLE."""
    return [f"{what}: answered {kind} {count} time(s) during the faults (a 500 is a bug; an outage answers 503)"
            for (what, kind), count in retried.items() if kind.startswith("500")]


# ---- the run ------------------------------------------------------------------------------------------------------
@dataclass
class ChaosResult:
    items: int
    seed: int
    injected: list[Injected]
    problems: list[str]  # every check that does not hold (empty: the suite kept every promise)
    converge_s: float | None  # from the end of the last fault until every check held
    online_s: float  # from the end of the last fault until the driver saw the whole list online
    total_s: float
    posts: int  # how many times the list was posted
    retried: Counter[tuple[str, str]]
    done: Counter[str]
    already: Counter[str]
    refused: list[str]
    replayed: int
    streams: str
    follower_exited: int | None

    def lines(self) -> list[str]:
        out = [(f"chaos: {self.items:,} items, seed {self.seed}, {self.total_s:.1f} s in all "
                f"(the list posted {self.posts} time(s))"), "  faults (in order):"]
        out += [f"    {i.at_s:7.1f} s  at {i.progress:4.0%} of the work  {i.fault.label}  "
                f"(back after {i.took_s:.1f} s)" for i in self.injected]
        out.append(f"  calls retried after a connection error or 5xx: {sum(self.retried.values()):,}"
                   + "".join(f"\n    {k:,} × {what}: {kind}" for (what, kind), k in self.retried.most_common(12)))
        out.append("  batch results: " + ", ".join(f"{c} {k:,}" for c, k in self.done.items())
                   + (f"; already done when a batch was resent: {dict(self.already)}" if self.already else ""))
        if self.refused:
            out.append(f"  !! other batch refusals: {len(self.refused)}, e.g. {self.refused[:3]}")
        out.append(f"  dead letters replayed: {self.replayed}; streams verified: {self.streams}")
        out.append(f"  whole list online {self.online_s:.1f} s after the last fault; "
                   + (f"every check held {self.converge_s:.1f} s after the last fault (time to converge)"
                      if self.converge_s is not None else "the suite did NOT converge"))
        out += ["  checks: every one holds"] if not self.problems else [f"  !! {p}" for p in self.problems]
        return out


async def run_chaos(suite: Suite, n: int, *, seed: int, workdir: Path, stall_s: float = 180.0,
                    converge_timeout_s: float = 600.0) -> ChaosResult:
    """The whole exercise on a running suite (fresh: the checks expect the list's items to be the only ones)."""
    client = suite_client(suite, timeout_s=120.0)
    retry = Retrier(give_up_s=stall_s)
    ticker = Ticker(5.0)
    content, named = item_list(range(n), run=f"chaos{seed}")
    names = set(named)
    schedule = fault_schedule(seed)
    driver = Driver(client, names, retry, batch_size_for(n), ceiling=schedule[0].at + AHEAD)
    follower = Follower(suite, workdir / "mirror.sqlite", workdir / "follower.log")
    injected: list[Injected] = []
    started = time.perf_counter()
    follower.start()
    try:
        # The import, the driver (which drives what the lifecycle knows while the import still runs) and the faults
        # at once; one that fails (a fault that cannot be recovered from, work that stalls) ends the others.
        async with asyncio.TaskGroup() as group:
            group.create_task(injector(suite, follower, schedule, driver, started, injected))
            posting = group.create_task(import_until_complete(client, retry, content, filename="chaos.ndjson",
                                                              give_up_s=max(600.0, n / 5)))
            group.create_task(driver.run(stall_s=stall_s, ticker=ticker))
        posts = posting.result()
        last_fault = started + injected[-1].at_s + injected[-1].took_s
        online_s = time.perf_counter() - last_fault
        ids = set(driver.ids.values())

        replayed = 0
        deadline = time.perf_counter() + converge_timeout_s
        while True:
            count, left = await replay_dead_letters(client, retry)
            replayed += count
            seen = await observe(suite, client, retry, follower)
            problems = left + settled_problems(ids, seen)
            if not problems or time.perf_counter() > deadline:
                break
            ticker(f"converging: {len(problems)} checks open, e.g. {problems[0][:160]}")
            await asyncio.sleep(1.0)
        converged = time.perf_counter()
        streams, in_stores = await store_problems(suite, ids, {i: r["code"] for i, r in seen.lifecycle.items()})
        problems += in_stores + server_errors(retry.retried)
        return ChaosResult(
            n, seed, injected, problems, None if problems else converged - last_fault, online_s,
            time.perf_counter() - started, posts, retry.retried, driver.done, driver.already, driver.refused,
            replayed, streams, follower.exited())
    finally:
        follower.kill()
        await client.close()


async def run(n: int, seed: int, keep: bool, stall_s: float) -> ChaosResult:
    print(f"machine: {describe()}")
    suite, root = start_suite("shixiang-chaos-")
    try:
        print(f"schedule (seed {seed}): " + "; ".join(f"{f.at:.0%} {f.target}" for f in fault_schedule(seed)))
        result = await run_chaos(suite, n, seed=seed, workdir=root, stall_s=stall_s)
        print(f"\n(machine: {describe()}; load average {load_average()})")
        for line in result.lines():
            print(line)
        return result
    finally:
        report_logs_and_clean(suite, root, keep=keep)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20000, help="items in the list (< 1,000,000)")
    parser.add_argument("--seed", type=int, default=None, help="the fault schedule's seed (default: drawn, printed)")
    parser.add_argument("--stall-seconds", type=float, default=300.0,
                        help="give up when the work or an outage made no progress for this long")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (data and logs)")
    args = parser.parse_args(argv)
    if not 0 < args.items < 1_000_000:
        parser.error("--items must be between 1 and 999,999")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    result = asyncio.run(run(args.items, seed, args.keep, args.stall_seconds))
    sys.exit(1 if result.problems else 0)


if __name__ == "__main__":
    main()
