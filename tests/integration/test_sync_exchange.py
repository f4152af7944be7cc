"""The exchange database (前置库) on real PostgreSQL: a second database of the embedded cluster. The lifecycle's own
events (from its store, through the gateway's real feed consumer) become exchange rows, one sync round at a time;
a rejection the national side writes into ``dn_audit_abnormal`` becomes the same national-feedback event as the HTTP
endpoint records, which the lifecycle records on the item."""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import contracts
from shared.db import ensure_database, make_engine
from shared.infra import EmbeddedPostgres
from tests.integration.test_lifecycle_commands import CODE, HUKOU, Harness, lifecycle_harness

from sync_gateway.adapters.exchange_db import UP_TABLES, dn_audit_abnormal_table
from sync_gateway.bootstrap import create_app
from sync_gateway.config import SyncSettings
from sync_gateway.service_layer.exchange import ExchangeSync

GUIDED = {**HUKOU, "composition": "元事项", "tier": "主项",
          "legal_basis": [{"rank": "法律", "title": "中华人民共和国户口登记条例", "article": "第十条",
                           "text": "公民迁出本户口管辖区"}],
          "service_guide": {"conditions": ["本市户籍"], "place": "区政务服务中心",
                            "materials": [{"name": "居民户口簿", "format": "原件", "copies": 1},
                                          {"name": "居民身份证", "copies": 1}],
                            "fees": {"free": False, "items": [{"item": "工本费", "standard": "5 元"}]}}}
MARKER = "未发布标记XYZZY"


@dataclass
class Exchange:
    app: Any
    engine: AsyncEngine  # the exchange database, as the national side reads it

    @property
    def sync(self) -> ExchangeSync:
        exchange: ExchangeSync = self.app.state.sync.exchange
        return exchange

    async def forward(self, lifecycle: Harness, item_id: str, *, twice: bool = False) -> None:
        """The item's lifecycle events (all of them: drafts and reviews included) through the gateway's feed
        consumer, as the broker would deliver them (``twice``: each delivered again, as after a rebalance)."""
        runtime = self.app.state.runtime
        runner = runtime.consumer_runners()[f"{runtime.settings.topic_prefix}.sync.lifecycle-feed"]
        for stored in await lifecycle.app.state.runtime.store.load(item_id):
            event = stored.to_cloudevent(contracts.source_of("lifecycle"))
            await runner.deliver(event)
            if twice:
                await runner.deliver(event)

    async def rows(self, table: str, item_id: str) -> list[dict[str, Any]]:
        t = UP_TABLES[table]
        async with self.engine.connect() as conn:
            result = await conn.execute(select(t).where(t.c.task_guid == item_id)
                                        .order_by(t.c.task_version, *([t.c.seq] if "seq" in t.c else [])))
            return [dict(r._mapping) for r in result]

    async def everything(self) -> list[str]:
        """Every value of every row of every exchange table, as text."""
        async with self.engine.connect() as conn:
            return [str(row) for t in UP_TABLES.values() for row in await conn.execute(select(t))]


@asynccontextmanager
async def running_exchange(postgres: EmbeddedPostgres, topic_prefix: str, **settings: Any) -> AsyncIterator[Exchange]:
    url, exchange_url = (postgres.url(f"{kind}_{uuid.uuid4().hex[:12]}") for kind in ("sync", "exchange"))
    for database in (url, exchange_url):
        await ensure_database(database)
    # api only: the test runs the sync rounds itself (the consume role runs them in the background)
    app = create_app(SyncSettings(database_url=url, topic_prefix=topic_prefix, roles="api",
                                  exchange_database_url=exchange_url, exchange_data_source="4400", **settings))
    engine = make_engine(exchange_url, pool_size=2)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sync"),
    ):
        await app.state.sync.exchange.prepare()
        yield Exchange(app, engine)
    await engine.dispose()


@pytest.fixture
async def exchange(postgres: EmbeddedPostgres, topic_prefix: str) -> AsyncIterator[Exchange]:
    async with running_exchange(postgres, topic_prefix) as running:
        yield running


@pytest.fixture
async def lifecycle(database_url: str, topic_prefix: str) -> AsyncIterator[Harness]:
    async with lifecycle_harness(database_url, topic_prefix) as harness:
        yield harness


def _exchange_columns(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["cd_batch"], row["cd_operation"], row["task_version"], row["task_state"], row["data_source"])


async def test_each_published_change_becomes_exchange_rows_insert_update_delete_with_its_children(
        exchange: Exchange, lifecycle: Harness) -> None:
    item_id = await lifecycle.drafted(GUIDED)
    online = await lifecycle.to_online(item_id)
    await exchange.forward(lifecycle, item_id)
    first = await exchange.sync.write_round()
    assert (first.entries, first.batch) == (1, "000000000001")

    [general] = await exchange.rows("up_task_general", item_id)
    assert _exchange_columns(general) == ("000000000001", "I", online["version"], "online", "4400")
    assert (general["task_code"], general["name"], general["competent_department"], general["place"],
            general["conditions"], general["fees_free"], general["revision"]) == (
        CODE, "户口迁移审批", "广州市公安局", "区政务服务中心", ["本市户籍"], False, 1)
    materials = await exchange.rows("up_task_material", item_id)
    assert [(m["seq"], m["name"], m["copies"], m["parent_row_guid"], m["cd_operation"]) for m in materials] == [
        (1, "居民户口簿", 1, general["row_guid"], "I"), (2, "居民身份证", 1, general["row_guid"], "I")]
    [charge] = await exchange.rows("up_task_charge", item_id)
    assert (charge["item"], charge["standard"], charge["task_version"]) == ("工本费", "5 元", online["version"])
    [basis] = await exchange.rows("up_task_legal_basis", item_id)
    assert (basis["title"], basis["article"]) == ("中华人民共和国户口登记条例", "第十条")

    # 维护 (a maintainable element only): published at once, an update
    await lifecycle.revision(item_id, 2, elements={**GUIDED, "service_guide": {**GUIDED["service_guide"],
                                                                              "place": "市民中心"}},
                             maintenance=True)
    await exchange.forward(lifecycle, item_id)
    second = await exchange.sync.write_round()
    # then offline and 注销: a delete, the directory row only
    await lifecycle.command(item_id, "unpublish", user="publisher-gz", reason="暂停办理")
    await lifecycle.command(item_id, "cancel", user="publisher-gz", reason="停止办理")
    await exchange.forward(lifecycle, item_id)
    third = await exchange.sync.write_round()
    assert (second.batch, third.batch) == ("000000000002", "000000000003")

    state = await lifecycle.state(item_id)
    rows = await exchange.rows("up_task_general", item_id)
    assert [(r["cd_batch"], r["cd_operation"], r["task_state"], r["change"], r["place"]) for r in rows] == [
        ("000000000001", "I", "online", "published", "区政务服务中心"),
        ("000000000002", "U", "online", "maintained", "市民中心"),
        ("000000000003", "U", "offline", "unpublished", "市民中心"),
        ("000000000003", "D", "cancelled", "cancelled", None)]
    assert rows[-1]["task_version"] == state["version"]
    assert [(m["cd_batch"], m["seq"]) for m in await exchange.rows("up_task_material", item_id)] == [
        ("000000000001", 1), ("000000000001", 2), ("000000000002", 1), ("000000000002", 2),
        ("000000000003", 1), ("000000000003", 2)]  # the unpublish's complete set; the delete has none


async def test_redelivery_and_a_round_written_again_add_no_row(exchange: Exchange, lifecycle: Harness) -> None:
    item_id = await lifecycle.drafted(GUIDED)
    await lifecycle.to_online(item_id)
    await exchange.forward(lifecycle, item_id, twice=True)
    await exchange.forward(lifecycle, item_id)
    assert (await exchange.sync.write_round()).rows == 5  # 1 directory row, 2 materials, 1 fee, 1 legal basis
    assert (await exchange.sync.write_round()).entries == 0
    before = await exchange.everything()
    async with exchange.engine.begin() as conn:  # the writer's position lost (say, an old backup restored)
        await conn.execute(text("UPDATE sx_exchange_cursor SET position = 0"))
    again = await exchange.sync.write_round()
    assert (again.entries, again.rows) == (1, 0)
    assert sorted(await exchange.everything()) == sorted(before)


async def test_a_feed_that_is_not_the_one_written_from_is_written_again_from_its_start_adding_only_what_is_new(
        exchange: Exchange, lifecycle: Harness) -> None:
    item_id = await lifecycle.drafted(GUIDED)
    await lifecycle.to_online(item_id)
    await exchange.forward(lifecycle, item_id)
    await exchange.sync.write_round()
    before = await exchange.everything()
    async with exchange.engine.begin() as conn:  # written from another feed (the gateway's database restored)
        await conn.execute(text("UPDATE sx_exchange_cursor SET position = 40, event_id = 'elsewhere'"))
    await lifecycle.command(item_id, "unpublish", user="publisher-gz", reason="暂停办理")
    await exchange.forward(lifecycle, item_id)
    again = await exchange.sync.write_round()
    assert (again.entries, again.rows) == (2, 5)  # the unpublish: a directory row and its four child rows
    assert set(before) < set(await exchange.everything())
    assert [r["change"] for r in await exchange.rows("up_task_general", item_id)] == ["published", "unpublished"]


async def test_nothing_unpublished_ever_reaches_an_exchange_table(exchange: Exchange, lifecycle: Harness) -> None:
    draft = await lifecycle.drafted({**GUIDED, "name": f"草稿{MARKER}"})  # never submitted
    item_id = await lifecycle.drafted(GUIDED)
    await lifecycle.to_online(item_id)
    # a pending revision (under review, with the marker in a material) of the published item
    pending = {**GUIDED, "service_guide": {**GUIDED["service_guide"], "materials": [{"name": f"材料{MARKER}"}]}}
    await lifecycle.revision(item_id, 2, author="entry2-gz", elements=pending)
    await lifecycle.command(item_id, "submit", user="entry-gz")
    await lifecycle.command(item_id, "reject", user="reviewer-gz", reason=f"退回{MARKER}")  # a review note
    for forwarded in (draft, item_id):
        await exchange.forward(lifecycle, forwarded)
    await exchange.sync.write_round()

    everything = await exchange.everything()
    assert everything, "the published item is in the tables"
    assert not [row for row in everything if MARKER in row]
    assert await exchange.rows("up_task_general", draft) == []


async def test_a_national_rejection_in_the_exchange_database_lists_the_item_until_a_corrected_revision_is_published(
        exchange: Exchange, lifecycle: Harness) -> None:
    accepted = await lifecycle.drafted(GUIDED)  # online too, never rejected: never listed
    await lifecycle.to_online(accepted)
    item_id = await lifecycle.drafted(GUIDED)
    online = await lifecycle.to_online(item_id)
    await exchange.forward(lifecycle, item_id)
    await exchange.sync.write_round()
    [general] = await exchange.rows("up_task_general", item_id)
    async with exchange.engine.begin() as conn:  # the national side's answer
        await conn.execute(dn_audit_abnormal_table.insert().values(
            cd_batch=general["cd_batch"], row_guid=general["row_guid"], task_guid=item_id,
            task_version=general["task_version"], error_type="E101", error_message="实施机关名称与国家库不一致"))
    assert await exchange.sync.read_feedback() == 1
    assert await exchange.sync.read_feedback() == 0  # read once

    [rejected] = await exchange.app.state.runtime.store.load(item_id)
    assert (rejected.type, rejected.data["item_version"], rejected.data["reason"]) == (
        contracts.SYNC_NATIONAL_REJECTED, online["version"], "[E101] 实施机关名称与国家库不一致")
    assert await lifecycle.deliver("national-feedback", rejected.to_cloudevent("/shixiang/sync")) == "processed"

    async def listed() -> list[str]:
        response = await lifecycle.call("GET", "/items", user="publisher-gz", params={"national": "rejected"})
        return [row["item_id"] for row in response.json()["items"]]

    assert await listed() == [item_id]
    # a 维护 fix is not published unreviewed while the item stands rejected: it becomes an update to review
    fixed = {**GUIDED, "service_guide": {**GUIDED["service_guide"], "place": "天河区政务服务中心"}}
    await lifecycle.revision(item_id, 2, author="entry2-gz", elements=fixed, maintenance=True)
    state = await lifecycle.state(item_id)
    assert (state["step"], state["published"]["revision"]) == ("update_entry", 1)
    assert await listed() == [item_id]
    await lifecycle.command(item_id, "submit", user="entry-gz")
    await lifecycle.command(item_id, "approve", user="reviewer-gz")
    await lifecycle.command(item_id, "publish", user="publisher-gz")
    assert await listed() == []
    await exchange.forward(lifecycle, item_id)
    await exchange.sync.write_round()
    rows = await exchange.rows("up_task_general", item_id)
    assert [(r["cd_operation"], r["change"], r["place"]) for r in rows] == [
        ("I", "published", "区政务服务中心"), ("U", "updated", "天河区政务服务中心")]


async def test_a_rejection_row_about_a_version_never_fed_is_passed_over(exchange: Exchange) -> None:
    async with exchange.engine.begin() as conn:
        await conn.execute(dn_audit_abnormal_table.insert().values(
            task_guid="no-such-item", task_version=3, error_message="不存在"))
    assert await exchange.sync.read_feedback() == 1
    assert await exchange.sync.read_feedback() == 0
    assert await exchange.app.state.runtime.store.load("no-such-item") == []


# ---- row signatures (docs/exchange.md, 行签名) ---------------------------------------------------------------------
SHARED_KEY = "国家平台与本省约定的前置库签名密钥-0123456789abcdef"


def national_verify(row: dict[str, Any], key: str) -> bool:
    """The national side's check, written from docs/exchange.md: the row as read from its table, every column but the
    signature's own as sorted compact UTF-8 JSON (times in UTC with microseconds and Z, dates as YYYY-MM-DD)."""
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if isinstance(value, date):
            return value.isoformat()
        return value

    content = {k: plain(v) for k, v in row.items() if k not in ("row_signature", "signature_algorithm")}
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    digest = {"hmac-sha256": "sha256", "hmac-sm3": "sm3"}[row["signature_algorithm"]]
    return hmac.compare_digest(hmac.new(key.encode(), canonical, digest).hexdigest(), row["row_signature"])


async def test_where_the_national_side_asks_for_signed_rows_every_row_carries_an_hmac_sm3_it_can_check(
        postgres: EmbeddedPostgres, topic_prefix: str, lifecycle: Harness) -> None:
    async with running_exchange(postgres, topic_prefix, exchange_signature="hmac-sm3",
                                exchange_signing_key=SHARED_KEY) as signed:
        item_id = await lifecycle.drafted(GUIDED)
        await lifecycle.to_online(item_id)
        await signed.forward(lifecycle, item_id)
        await signed.sync.write_round()
        rows = {table: await signed.rows(table, item_id) for table in UP_TABLES}
    assert all(rows.values()) and sum(len(r) for r in rows.values()) == 5
    for table_rows in rows.values():
        for row in table_rows:
            assert row["signature_algorithm"] == "hmac-sm3" and national_verify(row, SHARED_KEY)
            assert not national_verify({**row, "place" if "place" in row else "seq": "篡改"}, SHARED_KEY)
            assert not national_verify(row, SHARED_KEY.replace("0", "1"))


async def test_rows_are_unsigned_unless_signing_is_configured(exchange: Exchange, lifecycle: Harness) -> None:
    item_id = await lifecycle.drafted(GUIDED)
    await lifecycle.to_online(item_id)
    await exchange.forward(lifecycle, item_id)
    await exchange.sync.write_round()
    [general] = await exchange.rows("up_task_general", item_id)
    assert (general["row_signature"], general["signature_algorithm"]) == (None, None)
