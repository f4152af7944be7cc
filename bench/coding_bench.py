"""Coding benchmark: name-code generation (names/s, warm) and code allocation throughput with concurrent allocators
against an embedded PostgreSQL that the benchmark starts and stops itself.

    .venv/bin/python -m bench.coding_bench [--allocations 8000] [--allocators 16] [--batches 1,32]

Name codes: distinct real-looking short names (place + real item name); a warm-up set is coded first (pypinyin's
dictionaries loaded, the per-segment cache filled), then a *different* set of names is timed.

Allocation: each allocator is one consumer-shaped worker. Per transaction it records the ids of the lifecycle
events it handles (as the consumer runner does in ``processed_events``) and allocates their codes through the
coding service's own handler, one registration per transaction (how the consumer runner calls handlers today) or
several (what a consumer handing a fetched batch to one transaction would do). Every registration carries its own
event id as causation. About one item in ten asks for a base code another item holds (collisions). After each run
the benchmark checks what was written: one active code per item, no code twice, one assigned event per item.
Figures are printed; nothing passes or fails on time."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from bench.machine import describe
from shared import contracts
from shared.cloudevents import CloudEvent
from shared.db import ensure_database
from shared.eventstore import EventMetadata, events_table, processed_events_table
from shared.infra import EmbeddedPostgres

from coding.adapters.tables import item_codes_table
from coding.bootstrap import Coding, build
from coding.config import CodingSettings
from coding.domain.codes import PinyinOverrides, clear_pinyin_caches, name_code
from coding.service_layer.allocation import Allocation, RegistrationRequest
from coding.service_layer.code_lifecycle import EnteredItem

ITEM_NAMES = [
    "户口迁移审批", "居民身份证办理", "户籍证明", "居住证签注", "出生登记", "死亡注销", "户口登记项目变更更正",
    "居住证核发", "居民身份证异地受理", "港澳台居民居住证申领", "居民身份证换领", "临时居民身份证申领", "曾用名登记",
    "夫妻投靠落户", "户口簿补领", "分户登记", "收养入户", "普通护照签发", "往来港澳通行证签发", "出入境通行证签发",
    "往来台湾通行证签发", "外国人签证延期", "外国人永久居留身份证申请", "边境管理区通行证签发", "出入境记录查询",
    "外国人住宿登记", "机动车注册登记", "机动车驾驶证申领", "机动车行驶证补领", "机动车驾驶证换证", "机动车转移登记",
    "机动车变更登记", "机动车抵押登记", "机动车注销登记", "机动车号牌补领", "机动车临时通行牌证核发",
    "机动车检验合格标志核发", "机动车驾驶证重新申领", "校车驾驶资格许可", "道路交通事故处理", "交通违法行为处理",
    "电动自行车登记", "枪支持有许可", "民用爆炸物品购买许可", "爆破作业单位许可证核发", "旅馆业特种行业许可证核发",
    "公章刻制备案", "犯罪记录证明开具", "大型群众性活动安全许可", "烟花爆竹道路运输许可", "保安员证核发",
    "娱乐场所备案", "管制刀具购买许可", "重点行业治安管理", "养犬登记", "互联网单位备案", "信息系统安全等级保护备案",
    "易制毒化学品购买备案证明", "建设工程消防验收备案", "消防验收", "看守所会见",
]
PLACES = [
    "南沙", "番禺", "天河", "越秀", "海珠", "荔湾", "白云", "黄埔", "花都", "从化", "增城", "福田", "罗湖", "南山",
    "宝安", "龙岗", "盐田", "龙华", "坪山", "光明", "禅城", "南海", "顺德", "三水", "高明", "香洲", "斗门", "金湾",
    "单县", "朝阳", "长治", "长宁", "洪洞", "涡阳", "浚县", "漯河", "南乐", "泊头", "蚌埠", "六安", "丽水", "乐清",
    "东城", "西城", "海淀", "丰台", "石景山", "门头沟", "房山", "通州", "顺义", "昌平", "大兴", "怀柔", "平谷", "密云",
    "黄浦", "徐汇", "静安", "普陀", "虹口", "杨浦", "闵行", "宝山", "嘉定", "浦东", "金山", "松江", "青浦", "奉贤",
]
ELEMENTS = {"item_type": "01", "region_code": "440115", "police_type": "02", "service_category": "03"}


def short_names() -> list[str]:
    """Distinct names: every place with every item name, then with a second place as well."""
    names = [place + item for place, item in itertools.product(PLACES, ITEM_NAMES)]
    names += [a + b + item for a, b, item in itertools.product(PLACES[:20], PLACES[20:40], ITEM_NAMES)]
    return names


# ---- name codes --------------------------------------------------------------------------------------------------
def bench_name_codes(rounds: int = 5) -> dict[str, float]:
    """Cold: empty caches, one pass. Warm: after a pass over *other* names (pypinyin loaded, caches filled with
    the shared vocabulary), the median of ``rounds`` passes."""
    overrides = PinyinOverrides.load()
    names = short_names()
    warm_up, timed = names[::2], names[1::2]
    name_code(warm_up[0], overrides)  # pypinyin's dictionaries are loaded on first use
    clear_pinyin_caches()
    started = time.perf_counter()
    for name in timed:
        name_code(name, overrides)
    cold = len(timed) / (time.perf_counter() - started)
    clear_pinyin_caches()
    for name in warm_up:
        name_code(name, overrides)
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for name in timed:
            name_code(name, overrides)
        rates.append(len(timed) / (time.perf_counter() - started))
    return {"names": len(timed), "cold": cold, "warm_median": statistics.median(rates), "warm_best": max(rates)}


# ---- allocation --------------------------------------------------------------------------------------------------
def registrations(count: int, run: str) -> list[CloudEvent]:
    """``count`` registration events; every tenth asks for the same elements as the one before (a collision, on
    top of the names whose letters happen to coincide)."""
    names = short_names()
    offset = 0 if run == "run" else len(names) // 2  # the warm-up takes other names than the timed run
    events = []
    for n in range(count):
        name = names[(offset + (n - 1 if n % 10 == 9 else n)) % len(names)]
        item = f"{run}-{n:06d}"
        events.append(CloudEvent(
            id=str(uuid.uuid4()), type=contracts.LIFECYCLE_REGISTRATION_REQUESTED, source="/shixiang/lifecycle",
            subject=item, time=datetime.now(UTC),
            data={"revision": 1, "elements": {**ELEMENTS, "short_name": name}}, sequence=1,
            correlation_id=f"corr-{item}"))
    return events


_TRACK_SQL = text("INSERT INTO processed_events (consumer, event_id) "
                  "SELECT :consumer, unnest(CAST(:ids AS text[]))")


async def allocate_all(coding: Coding, events: list[CloudEvent], allocators: int, batch: int) -> float:
    """Allocate every event's code with ``allocators`` concurrent workers, ``batch`` registrations per
    transaction; returns the elapsed seconds."""
    queue = list(reversed(events))
    consumer = "bench.coding.lifecycle"

    async def worker() -> None:
        while queue:
            taken = [queue.pop() for _ in range(min(batch, len(queue)))]
            async with coding.runtime.engine.begin() as conn:
                if batch == 1:  # exactly what the consumer runner does with one message
                    await conn.execute(pg_insert(processed_events_table).values(consumer=consumer,
                                                                                event_id=taken[0].id))
                    refused = await coding.lifecycle_consumer.handle(conn, taken)
                    if refused:
                        raise RuntimeError(f"allocation refused: {refused}")
                    continue
                await conn.execute(_TRACK_SQL, {"consumer": consumer, "ids": [e.id for e in taken]})
                results = await coding.allocator.register(conn, [RegistrationRequest(
                    e.subject, e.data["elements"],
                    EventMetadata(actor="coding", correlation_id=e.correlation_id, causation_id=e.id))
                    for e in taken])
                failed = [r for r in results if not isinstance(r, Allocation)]
                if failed:
                    raise RuntimeError(f"allocation failed: {failed[0]!r}")

    async with coding.runtime.engine.begin() as conn:  # lifecycle.item.entered of every item first (not timed)
        await coding.lifecycle.enter(conn, [EnteredItem(e.subject, e.data["elements"]["region_code"], e.time)
                                            for e in events])
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(allocators)))
    return time.perf_counter() - started


async def check_written(coding: Coding, events: list[CloudEvent]) -> str:
    items = [e.subject for e in events]
    async with coding.runtime.engine.connect() as conn:
        codes = (await conn.execute(
            select(item_codes_table.c.item_id, item_codes_table.c.code, item_codes_table.c.status)
            .where(item_codes_table.c.item_id.in_(items)))).all()
        assigned = await conn.scalar(select(func.count()).select_from(events_table).where(
            events_table.c.type == contracts.CODING_CODE_ASSIGNED, events_table.c.stream_id.in_(items)))
        collided = await conn.scalar(select(func.count()).select_from(item_codes_table).where(
            item_codes_table.c.item_id.in_(items), item_codes_table.c.collided_with.is_not(None)))
    active = [c for c in codes if c.status == "active"]
    problems = []
    if sorted(c.item_id for c in active) != sorted(items):
        problems.append("not exactly one active code per item")
    if len({c.code for c in codes}) != len(codes):
        problems.append("a code held twice")
    if assigned != len(items):
        problems.append(f"{assigned} assigned events for {len(items)} items")
    return ("ok" if not problems else "; ".join(problems)) + f" ({collided} collisions resolved by sequence)"


async def bench_allocation(pg: EmbeddedPostgres, allocations: int, allocators: int,
                           batches: list[int]) -> list[tuple[int, float, str]]:
    """One run per batch size, each on a fresh database (so every run meets the same collisions)."""
    figures = []
    for batch in batches:
        url = pg.url(f"coding_bench_{batch}")
        await ensure_database(url)
        runtime, coding = build(CodingSettings(database_url=url, roles="api", db_pool_size=allocators + 4))
        await runtime.start()
        await coding.start()
        try:
            await allocate_all(coding, registrations(200, "warm-up"), allocators, batch)  # connections, plans
            events = registrations(allocations, "run")
            elapsed = await allocate_all(coding, events, allocators, batch)
            figures.append((batch, allocations / elapsed, await check_written(coding, events)))
        finally:
            await runtime.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--allocations", type=int, default=8000, help="allocations per run")
    parser.add_argument("--allocators", type=int, default=16, help="concurrent allocators")
    parser.add_argument("--batches", default="1,32", help="registrations per transaction, one run each")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    print(f"machine: {describe()}")
    names = bench_name_codes()
    print(f"name codes: {names['warm_median']:,.0f} names/s warm (median of 5 passes over {names['names']:,} "
          f"distinct names not seen in the warm-up; best {names['warm_best']:,.0f}/s); cold (empty caches, "
          f"one pass) {names['cold']:,.0f}/s — target ≥ 50,000")

    with tempfile.TemporaryDirectory(prefix="coding-bench-") as root:
        pg = EmbeddedPostgres(Path(root) / "pg").start()
        try:
            figures = asyncio.run(bench_allocation(pg, args.allocations, args.allocators, batches))
        finally:
            pg.stop()
    for batch, rate, verdict in figures:
        shape = "one registration per transaction (a lone registration)" if batch == 1 else \
            f"{batch} registrations per transaction (the consumer's batch mode: a fetched batch in one transaction)"
        print(f"allocation: {rate:,.0f} allocations/s with {args.allocators} concurrent allocators, {shape}; "
              f"{args.allocations:,} allocations; check: {verdict} — target ≥ 2,000")


if __name__ == "__main__":
    main()
