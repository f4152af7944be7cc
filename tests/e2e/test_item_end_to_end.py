"""One item through all four services, as separate uvicorn processes: HTTP in, national feed out."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import httpx
import pytest

from shared.contracts.feed import FeedEntry
from shixiang.client import ApiError, SuiteClient
from shixiang.suite import Suite
from tests.e2e.conftest import HUKOU, feed_entries_for

pytestmark = pytest.mark.e2e

async def test_an_item_travels_from_draft_to_the_national_feed(client: SuiteClient) -> None:
    draft = await client.create_item(HUKOU)
    item_id = draft["item_id"]
    assert draft["revision"] == 1 and draft["elements"]["name"] == "户口迁移审批"

    forming = await client.wait_for_state(item_id, lambda s: s["phase"] == "forming")
    assert forming["phase_label"] == "形成期" and forming["step"] == "entry"

    # A draft never appears in the national feed.
    batch, _ = await client.feed(0, limit=1000)
    assert all(entry["subject"] != item_id for entry in batch)

    await client.command(item_id, "submit", user="entry-gz")
    approved = await client.command(item_id, "approve", user="reviewer-gz")
    assert (approved["phase"], approved["phase_label"]) == ("preparing", "上线准备期")
    await client.command(item_id, "record-test", user="tester-gz", body={"result": "pass", "notes": "测试通过"})
    await client.command(item_id, "register", user="publisher-gz")
    registered = await client.wait_for_state(item_id, lambda s: s["code"] is not None)
    code = registered["code"]
    # 01 行政许可 · 440115 南沙区 · 02 户政管理 · 03 许可审批 · HKQYSP + padding (户口迁移审批)
    assert code == "0144011502" + "03" + "HKQYSP000000"
    assert registered["step"] == "registered"
    before_publish = datetime.now().astimezone().isoformat()

    online = await client.command(item_id, "publish", user="publisher-gz")
    assert (online["phase"], online["phase_label"], online["code"]) == ("online", "在线期", code)
    assert online["last_transition"]["command"] == "publish"
    assert online["last_transition"]["actor"] == "publisher-gz"

    past = await client.item_state(item_id, as_of=before_publish)
    assert (past["phase"], past["phase_label"]) == ("preparing", "上线准备期")

    entries = await feed_entries_for(client, item_id, want=1)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["specversion"] == "1.0" and entry["type"] == "shixiang.item.published.v1"
    assert entry["subject"] == item_id and entry["source"] == "/shixiang/sync"
    record = entry["data"]  # the published record (shared.contracts.feed), not the lifecycle's event
    assert (record["code"], record["state"], record["state_label"]) == (code, "online", "在线期")
    assert (record["change"], record["operation"], record["item_version"]) == ("published", "insert",
                                                                              entry["itemversion"])
    assert record["elements"] == draft["elements"] and record["region_code"] == "440115"
    assert not {"author", "phase", "phase_label", "at"} & set(record)  # nothing internal leaves
    FeedEntry.model_validate(entry)  # the published schema of the feed, exactly
    assert re.fullmatch(r"\d+", entry["sequence"])

    coding = (await client.call("GET", "coding", f"/coding/v1/items/{item_id}/code", user="publisher-gz")).json()
    assert coding["code"] == code


async def test_the_feed_is_ordered_and_continues_from_its_cursor(client: SuiteClient) -> None:
    ids = []
    for i in range(3):
        item = await client.create_item({**HUKOU, "name": f"居民身份证办理{i}", "short_name": f"居民身份证办理{i}"})
        ids.append(item["item_id"])
    for item_id in ids:
        await client.drive_to_online(item_id)
    for item_id in ids:
        await feed_entries_for(client, item_id, want=1)
    first, cursor = await client.feed(0, limit=1)
    rest, end = await client.feed(cursor, limit=1000)
    sequences = [int(e["sequence"]) for e in first + rest]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    mine = [e["subject"] for e in first + rest if e["subject"] in ids]
    assert mine == ids  # published in this order, so fed in this order
    tail, same = await client.feed(end)
    assert tail == [] and same == end


async def test_illegal_commands_are_refused_with_a_stable_code_and_change_nothing(suite: Suite,
                                                                                  client: SuiteClient) -> None:
    item_id = (await client.create_item({**HUKOU, "name": "普通护照签发", "short_name": "普通护照签发",
                                          "police_type": "03", "service_category": "01"}))["item_id"]
    await client.wait_for_state(item_id, lambda s: s["phase"] == "forming")
    before = await client.item_state(item_id)

    with pytest.raises(ApiError) as publish_early:
        await client.command(item_id, "publish", user="publisher-gz")
    assert publish_early.value.status == 409 and publish_early.value.code == "ILLEGAL_TRANSITION"
    assert "形成期" in publish_early.value.body["message"]
    assert publish_early.value.body["details"]["allowed"] == ["cancel", "submit"]

    with pytest.raises(ApiError) as no_token:
        await client.call("POST", "lifecycle", f"/lifecycle/v1/items/{item_id}/commands/submit", user=None, json={})
    assert no_token.value.status == 401 and no_token.value.code == "AUTHENTICATION_REQUIRED"

    with pytest.raises(ApiError) as wrong_role:
        await client.command(item_id, "submit", user="reviewer-gz")
    assert wrong_role.value.status == 403 and wrong_role.value.code == "ROLE_FORBIDDEN"

    await client.command(item_id, "submit", user="entry-gz")
    # the author is also given the reviewer role: four-eyes still refuses
    client.tokens["entry-reviewer"] = suite.mint("entry-gz", ["entry", "reviewer"], ["4401"])
    with pytest.raises(ApiError) as own_work:
        await client.command(item_id, "approve", user="entry-reviewer")
    assert own_work.value.status == 403 and own_work.value.code == "FOUR_EYES_VIOLATION"

    client.tokens["reviewer-sz"] = suite.mint("reviewer-sz", ["reviewer"], ["4403"])
    with pytest.raises(ApiError) as wrong_region:
        await client.command(item_id, "approve", user="reviewer-sz")
    assert wrong_region.value.status == 403 and wrong_region.value.code == "REGION_FORBIDDEN"

    with pytest.raises(ApiError) as outside_region:
        await client.create_item({**HUKOU, "region_code": "440305"})  # 深圳南山区, entry-gz holds 4401 only
    assert outside_region.value.status == 403 and outside_region.value.code == "REGION_FORBIDDEN"

    after = await client.item_state(item_id)
    assert after["version"] == before["version"] + 1  # only the legal submit was written
    assert after["step"] == "in_review"


async def test_invalid_elements_are_rejected_with_one_problem_each_and_nothing_is_stored(client: SuiteClient) -> None:
    with pytest.raises(ApiError) as bad:
        await client.create_item({**HUKOU, "item_type": "77", "police_type": "", "region_code": "999999"})
    assert bad.value.status == 422 and bad.value.code == "ELEMENTS_INVALID"
    fields = {p["field"]: p["code"] for p in bad.value.body["details"]["problems"]}
    assert fields == {"item_type": "UNKNOWN_CODE", "police_type": "REQUIRED", "region_code": "UNKNOWN_CODE"}
    for problem in bad.value.body["details"]["problems"]:
        assert problem["code"] and re.search(r"[\u4e00-\u9fff]", problem["message"])


async def test_an_idempotency_key_never_creates_two_items(client: SuiteClient) -> None:
    key = uuid.uuid4().hex
    first = await client.create_item({**HUKOU, "name": "机动车注册登记"}, headers={"Idempotency-Key": key})
    again = await client.create_item({**HUKOU, "name": "机动车注册登记"}, headers={"Idempotency-Key": key})
    assert again["item_id"] == first["item_id"]


async def test_every_service_answers_health_readiness_metrics_and_openapi(suite: Suite) -> None:
    async with httpx.AsyncClient() as http:
        for name in suite.ports:
            for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
                response = await http.get(f"{suite.url(name)}{path}")
                assert response.status_code == 200, (name, path, response.text)



async def test_every_service_serves_its_api_docs_with_no_asset_from_another_host(suite: Suite) -> None:
    # Government networks are often offline: Swagger UI and ReDoc must not load anything from a CDN.
    async with httpx.AsyncClient() as http:
        for name in suite.ports:
            for page in ("/docs", "/redoc"):
                response = await http.get(f"{suite.url(name)}{page}")
                assert response.status_code == 200, (name, page)
                html = response.text
                assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html), (name, page, html)
                assets = re.findall(r'(?:src|href)="([^"]+)"', html)
                assert any(a.endswith(".js") for a in assets), (name, page, html)
                for asset in assets:
                    served = await http.get(f"{suite.url(name)}{asset}")
                    assert served.status_code == 200 and served.content, (name, asset)
