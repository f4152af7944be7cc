"""The national feed's exchange vocabulary and epoch, the catalogue (事项目录) with its exports, and the public guide
(办事指南), on real PostgreSQL: lifecycle events go in through the gateway's own consumer handler, HTTP comes out."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import openpyxl
import pytest

from shared import contracts
from shared.auth import ALL_REGIONS, mint_token
from shared.cloudevents import CloudEvent
from shared.contracts.feed import FeedEntry
from shared.db import ensure_database
from shared.infra import EmbeddedPostgres
from shared.settings import DEVELOPMENT_JWT_SECRET
from shixiang.examples import complete_item

from sync_gateway.adapters.consumers import project_public_events
from sync_gateway.adapters.feed_epoch import renew_feed_epoch
from sync_gateway.bootstrap import create_app
from sync_gateway.config import SyncSettings

TOKENS = {
    "national": mint_token(DEVELOPMENT_JWT_SECRET, subject="national", roles=["national"], regions=[ALL_REGIONS]),
    "operator-gz": mint_token(DEVELOPMENT_JWT_SECRET, subject="operator-gz", roles=["operator"], regions=["4401"]),
    "publisher-gz": mint_token(DEVELOPMENT_JWT_SECRET, subject="publisher-gz", roles=["publisher"],
                               regions=["4401"]),
}
BURST = 12  # the public guide's bucket in these tests (more than any other test here asks)


def code_for(n: int, police_type: str = "02") -> str:
    return f"01440115{police_type}03HKQY{n:08d}"


@dataclass
class Gateway:
    app: Any
    http: httpx.AsyncClient

    async def get(self, path: str, user: str | None = "national", expect: int = 200, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKENS[user]}"} if user else {}
        response = await self.http.get(path, params=params, headers=headers)
        assert response.status_code == expect, response.text
        return response

    async def apply(self, *events: CloudEvent) -> None:
        """One sync round: the events as one consumed batch through the feed's consumer effect."""
        async with self.app.state.runtime.engine.begin() as conn:
            assert await project_public_events(conn, list(events)) == {}


def event(event_type: str, item_id: str, version: int, **data: Any) -> CloudEvent:
    return CloudEvent(id=str(uuid.uuid4()), type=event_type, source="/shixiang/lifecycle", subject=item_id,
                      time=datetime.now(UTC), sequence=version, actor="publisher-gz",
                      data={"item_id": item_id, "at": datetime.now(UTC).isoformat(), **data})


def elements_of(**changes: Any) -> dict[str, Any]:
    """An item's elements as the registry stores them (the example with its defaults filled in)."""
    return complete_item(**{"composition": "元事项", "tier": "主项", **changes})


def published(item_id: str, version: int, code: str, **elements: Any) -> CloudEvent:
    return event(contracts.LIFECYCLE_PUBLISHED, item_id, version, code=code, revision=version, phase="online",
                 phase_label="在线期", elements=elements_of(**elements))


def unpublished(item_id: str, version: int, code: str, **elements: Any) -> CloudEvent:
    return event(contracts.LIFECYCLE_UNPUBLISHED, item_id, version, code=code, revision=1, phase="offline",
                 phase_label="离线期", kind="suspension", reason="系统升级", elements=elements_of(**elements))


def cancelled(item_id: str, version: int, code: str) -> CloudEvent:
    return event(contracts.LIFECYCLE_CANCELLED, item_id, version, code=code, phase="cancelled", phase_label="注销期",
                 reason="职能调整", was_published=True)


@pytest.fixture
async def gateway(postgres: EmbeddedPostgres, topic_prefix: str) -> AsyncIterator[Gateway]:
    url = postgres.url(f"sync_{uuid.uuid4().hex[:12]}")
    await ensure_database(url)
    app = create_app(SyncSettings(database_url=url, topic_prefix=topic_prefix, roles="api", public_burst=BURST,
                                  public_rate_per_s=0.001))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sync") as http,
    ):
        yield Gateway(app, http)


async def feed(gateway: Gateway, after: int = 0, **params: Any) -> tuple[list[dict[str, Any]], httpx.Response]:
    response = await gateway.get("/sync/v1/feed", after=after, limit=1000, **params)
    return response.json(), response


# ---- the exchange vocabulary --------------------------------------------------------------------------------------
async def test_every_entry_of_one_sync_round_carries_its_batch_and_sync_time(gateway: Gateway) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    await gateway.apply(published(a, 5, code_for(1)), published(b, 5, code_for(2)))
    await gateway.apply(unpublished(a, 6, code_for(1)))
    entries, _ = await feed(gateway)
    for entry in entries:
        FeedEntry.model_validate(entry)
    first, second, third = (e["data"] for e in entries)
    assert first["batch"] and first["batch"] == second["batch"] != third["batch"]
    assert (first["operation"], third["operation"]) == ("insert", "update")
    assert first["synced_at"] and datetime.fromisoformat(third["synced_at"]) >= datetime.fromisoformat(
        first["synced_at"])
    assert (third["item_version"], third["state"], third["code"]) == (6, "offline", code_for(1))


# ---- the epoch ----------------------------------------------------------------------------------------------------
async def test_every_feed_snapshot_and_catalogue_answer_names_the_epoch_and_a_gone_epoch_is_410(
        gateway: Gateway) -> None:
    item = str(uuid.uuid4())
    await gateway.apply(published(item, 5, code_for(3)))
    entries, response = await feed(gateway)
    epoch = response.headers["X-Feed-Epoch"]
    assert epoch and len(entries) == 1
    snapshot = await gateway.get("/sync/v1/snapshot", epoch=epoch)
    assert snapshot.headers["X-Feed-Epoch"] == epoch == snapshot.json()["epoch"]
    assert (await gateway.get("/sync/v1/catalog", epoch=epoch)).headers["X-Feed-Epoch"] == epoch

    # Beyond the head within the epoch: [] and the cursor kept (the client is ahead, not lost).
    ahead, response = await feed(gateway, after=1000, epoch=epoch)
    assert ahead == [] and response.headers["X-Next-Cursor"] == "1000"

    old, new = await renew_feed_epoch(gateway.app.state.runtime.engine)
    assert old == epoch != new
    for path, params in (("/sync/v1/feed", {"after": 1, "wait": 5}), ("/sync/v1/snapshot", {}),
                         ("/sync/v1/catalog", {})):
        gone = await gateway.get(path, expect=410, epoch=epoch, **params)
        body = gone.json()
        assert body["code"] == "FEED_EPOCH_CHANGED" and "/sync/v1/snapshot" in body["message"]
        assert "同步源已重置" in body["message"] and gone.headers["X-Feed-Epoch"] == new
    # Without epoch= nothing is checked; the answer names the new epoch.
    _, response = await feed(gateway, after=1)
    assert response.headers["X-Feed-Epoch"] == new


# ---- the catalogue ------------------------------------------------------------------------------------------------
async def catalogue_fixture(gateway: Gateway) -> dict[str, str]:
    ids = {name: str(uuid.uuid4()) for name in ("hukou", "passport", "shenzhen", "offline", "cancelled")}
    await gateway.apply(
        published(ids["hukou"], 5, code_for(10), name="户口迁移审批"),
        published(ids["passport"], 5, code_for(11, "05"), name="普通护照签发", short_name="普通护照签发",
                  police_type="05"),
        published(ids["shenzhen"], 5, "014403040203HKQY00000012", name="深圳户口迁移", short_name="深圳户口迁移",
                  region_code="440304"),
        published(ids["offline"], 5, code_for(13), name="暂停的事项", short_name="暂停的事项"),
        published(ids["cancelled"], 5, code_for(14), name="注销的事项", short_name="注销的事项"))
    await gateway.apply(unpublished(ids["offline"], 6, code_for(13), name="暂停的事项", short_name="暂停的事项"),
                        cancelled(ids["cancelled"], 6, code_for(14)))
    return ids


def names(body: dict[str, Any]) -> list[str]:
    return sorted(item["name"] for item in body["items"])


async def test_the_catalogue_lists_online_items_and_filters_by_code_region_police_type_state_and_name(
        gateway: Gateway) -> None:
    await catalogue_fixture(gateway)
    online = (await gateway.get("/sync/v1/catalog")).json()
    assert names(online) == ["户口迁移审批", "普通护照签发", "深圳户口迁移"]
    hukou = next(i for i in online["items"] if i["name"] == "户口迁移审批")
    assert (hukou["code"], hukou["state"], hukou["state_label"], hukou["region_code"], hukou["police_type"],
            hukou["item_type"]) == (code_for(10), "online", "在线期", "440115", "02", "01")
    assert hukou["batch"] and hukou["synced_at"] and hukou["feed_sequence"]

    async def listed(user: str = "national", **params: Any) -> list[str]:
        return names((await gateway.get("/sync/v1/catalog", user=user, **params)).json())

    assert await listed(code="01440115") == ["户口迁移审批", "普通护照签发"]
    assert await listed(region="4403") == ["深圳户口迁移"]
    assert await listed(police_type="05") == ["普通护照签发"]
    assert await listed(name="户口") == ["户口迁移审批", "深圳户口迁移"]
    assert await listed(state="offline") == ["暂停的事项"]
    cancelled_items = (await gateway.get("/sync/v1/catalog", state="cancelled")).json()["items"]
    assert [(i["name"], i["state"], i["code"]) for i in cancelled_items] == [("注销的事项", "cancelled", code_for(14))]
    assert await listed(state=["online", "offline"], item_type="01", name="事项") == ["暂停的事项"]
    # A caller of Guangzhou (4401) sees its own regions only, whatever prefix it asks for.
    assert await listed("operator-gz") == ["户口迁移审批", "普通护照签发"]
    assert await listed("operator-gz", region="44") == ["户口迁移审批", "普通护照签发"]
    assert await listed("operator-gz", region="4403") == []
    refused = (await gateway.get("/sync/v1/catalog", user="publisher-gz", expect=403)).json()
    assert refused["code"] == "ROLE_FORBIDDEN"
    bad = (await gateway.get("/sync/v1/catalog", expect=422, state="draft")).json()
    assert bad["code"] == "VALIDATION_FAILED"


async def test_the_catalogue_pages_with_a_cursor_without_repeating_or_missing_an_item(gateway: Gateway) -> None:
    await catalogue_fixture(gateway)
    seen: list[str] = []
    cursor = None
    while True:
        body = (await gateway.get("/sync/v1/catalog", limit=2, state=["online", "offline", "cancelled"],
                                  **({"cursor": cursor} if cursor else {}))).json()
        seen += [i["item_id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and seen == sorted(seen) and len(set(seen)) == 5


async def test_the_catalogue_exports_as_csv_and_xlsx_with_the_same_filters(gateway: Gateway) -> None:
    await catalogue_fixture(gateway)
    exported = await gateway.get("/sync/v1/catalog.csv", code="01440115")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["事项编码", "事项名称", "状态", "区划代码"]
    assert sorted(r[1] for r in rows[1:]) == ["户口迁移审批", "普通护照签发"]
    assert {r[2] for r in rows[1:]} == {"在线期"}

    workbook = await gateway.get("/sync/v1/catalog.xlsx", user="operator-gz", state=["online", "offline"])
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content), read_only=True).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:2] == ("事项编码", "事项名称")
    assert sorted(str(r[1]) for r in values[1:]) == ["户口迁移审批", "普通护照签发", "暂停的事项"]
    await gateway.get("/sync/v1/catalog.xlsx", user="publisher-gz", expect=403)


# ---- the public guide ---------------------------------------------------------------------------------------------
async def test_the_public_guide_shows_an_online_items_published_guide_anonymously_and_cacheably(
        gateway: Gateway) -> None:
    ids = await catalogue_fixture(gateway)
    guide = await gateway.get(f"/sync/v1/public/items/{code_for(10)}", user=None)
    body = guide.json()
    assert (body["code"], body["name"], body["item_id"]) == (code_for(10), "户口迁移审批", ids["hukou"])
    assert body["service_guide"] == complete_item()["service_guide"]
    assert "public" in guide.headers["cache-control"] and guide.headers["etag"]
    again = await gateway.http.get(f"/sync/v1/public/items/{code_for(10)}",
                                   headers={"If-None-Match": guide.headers["etag"]})
    assert again.status_code == 304 and again.content == b""

    page = await gateway.get(f"/sync/v1/public/items/{code_for(10)}.html", user=None)
    html = page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "户口迁移审批" in html and "办事指南" in html and "@media print" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert page.headers["etag"] != guide.headers["etag"]

    for code in (code_for(13), code_for(14), "014401150203NOSUCH000000"):  # offline, cancelled, never published
        for suffix in ("", ".html"):
            missing = (await gateway.get(f"/sync/v1/public/items/{code}{suffix}", user=None, expect=404)).json()
            assert missing["code"] == "PUBLIC_ITEM_NOT_FOUND" and code in missing["message"]


async def test_the_public_guide_is_rate_limited_per_client_address(gateway: Gateway) -> None:
    await catalogue_fixture(gateway)
    # The fixture's bucket: BURST requests at once, refilled far slower than this test runs. The catalogue fixture
    # made none; each request below takes a token, whatever its answer.
    for _ in range(BURST):
        await gateway.get(f"/sync/v1/public/items/{code_for(10)}", user=None)
    limited = await gateway.get(f"/sync/v1/public/items/{code_for(10)}.html", user=None, expect=429)
    assert limited.json()["code"] == "RATE_LIMITED" and "请求过于频繁" in limited.json()["message"]
    assert int(limited.headers["retry-after"]) >= 1
