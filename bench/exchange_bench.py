"""Exchange database (前置库) benchmark: exchange-table rows written per second by the sync gateway's writer
(``service_layer.exchange.ExchangeSync``), on an embedded PostgreSQL that the benchmark starts and stops itself.

    .venv/bin/python -m bench.exchange_bench [--items 20000] [--batch-size 500]

The gateway's feed is filled first with ``--items`` published records (each with two materials, one fee and one
legal basis: five exchange rows), as its consumer writes them; then the writer's sync rounds are timed until the
feed is drained: each round reads ``--batch-size`` entries, makes their rows and writes them, with its position, in
one transaction of the exchange database. Afterwards the benchmark checks what was written (every row once).
Figures are printed; nothing passes or fails on time (target: ≥ 5,000 rows/s)."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.machine import describe
from shared import jsoncodec
from shared.db import create_schema, ensure_database, make_engine
from shared.infra import EmbeddedPostgres

from sync_gateway.adapters.exchange_db import UP_TABLES, exchange_metadata
from sync_gateway.adapters.tables import feed_entries_table, sync_metadata
from sync_gateway.service_layer.exchange import ExchangeSync
from sync_gateway.service_layer.feedback import NationalFeedback

ROWS_PER_ITEM = 5


def record(n: int) -> dict[str, Any]:
    """A published record (shared.contracts.feed.PublishedItemRecord) of item ``n``."""
    return {
        "item_id": str(uuid.uuid4()), "item_version": 7, "change": "published", "change_label": "上线",
        "operation": "insert", "state": "online", "state_label": "在线期", "code": f"0144011502{n:014d}",
        "previous_code": None, "region_code": "440115", "revision": 1, "offline_kind": None, "reason": None,
        "successors": [], "effective_at": datetime.now(UTC).isoformat(),
        "elements": {
            "name": f"户口迁移审批{n}", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
            "service_category": "03", "region_code": "440115", "competent_department": "广州市公安局",
            "composition": "元事项", "tier": "主项", "exercise_levels": ["3"], "service_objects": ["1"],
            "legal_basis": [{"rank": "法律", "title": "中华人民共和国户口登记条例", "article": "第十条",
                             "text": "公民迁出本户口管辖区，由本人或者户主在迁出前向户口登记机关申报迁出登记"}],
            "service_guide": {
                "conditions": ["本市户籍"], "steps": ["申请", "受理", "审核", "办结"], "place": "区政务服务中心",
                "statutory_time_limit_days": 20, "promised_time_limit_days": 10,
                "materials": [{"name": "居民户口簿", "format": "原件", "copies": 1},
                              {"name": "居民身份证", "format": "原件", "copies": 1}],
                "fees": {"free": False, "items": [{"item": "工本费", "standard": "5 元", "basis": "价格文件"}]}}},
    }


async def run(items: int, batch_size: int) -> None:
    print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory() as root:
        pg = EmbeddedPostgres(Path(root) / "pg").start()
        try:
            url, exchange_url = pg.url("bench_sync"), pg.url("bench_exchange")
            for database in (url, exchange_url):
                await ensure_database(database)
            engine, exchange_engine = make_engine(url), make_engine(exchange_url)
            await create_schema(engine, sync_metadata)
            await create_schema(exchange_engine, exchange_metadata)
            async with engine.begin() as conn:
                for start in range(0, items, 5000):
                    await conn.execute(feed_entries_table.insert(), [
                        {"event_id": str(uuid.uuid4()), "item_id": r["item_id"], "item_version": 7,
                         "type": "shixiang.item.published.v1", "region_code": "440115",
                         "entry": jsoncodec.loads(jsoncodec.dumps({"data": r}))}
                        for r in map(record, range(start, min(items, start + 5000)))])
            sync = ExchangeSync(engine, exchange_engine, NationalFeedback(engine), data_source="bench",
                                batch_size=batch_size)
            rounds = rows = 0
            started = time.perf_counter()
            while (report := await sync.write_round()).entries:
                rounds, rows = rounds + 1, rows + report.rows
            seconds = time.perf_counter() - started
            async with exchange_engine.connect() as conn:
                counted = {name: int(await conn.scalar(select(func.count()).select_from(t)))
                           for name, t in UP_TABLES.items()}
            assert sum(counted.values()) == rows == items * ROWS_PER_ITEM, (counted, rows)
            print(f"{items} published changes → {rows} exchange rows in {rounds} rounds of ≤ {batch_size}: "
                  f"{seconds:.2f} s, {rows / seconds:,.0f} rows/s ({items / seconds:,.0f} changes/s); "
                  f"per table {counted}")
            await engine.dispose()
            await exchange_engine.dispose()
        finally:
            pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(run(args.items, args.batch_size))


if __name__ == "__main__":
    main()
