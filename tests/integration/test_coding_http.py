"""The coding HTTP API on the real database: preview, decode (422 naming the bad part), item codes, 事项服务编码,
dictionaries (region tree walk, valid_on, pagination) and the admin-only pinyin overrides."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.infra import EmbeddedBroker
from tests.integration.test_coding_support import HUKOU, HUKOU_CODE, deliver, new_item_id, registration, token

from coding.bootstrap import Coding, create_app
from coding.config import CodingSettings

ADMIN = {"Authorization": f"Bearer {token('admin', regions=('44',), subject='admin-gd')}"}
NATIONAL_ADMIN = {"Authorization": f"Bearer {token('admin', regions=('*',), subject='admin-national')}"}
PUBLISHER = {"Authorization": f"Bearer {token('publisher', regions=('4401',), subject='publisher-gz')}"}
ENTRY = {"Authorization": f"Bearer {token('entry', regions=('4401',), subject='entry-gz')}"}
SHENZHEN = {"Authorization": f"Bearer {token('publisher', regions=('4403',), subject='publisher-sz')}"}
PREVIEW = {k: HUKOU[k] for k in ("item_type", "region_code", "police_type", "service_category", "short_name")}


@pytest.fixture
async def app(database_url: str, broker: EmbeddedBroker, topic_prefix: str) -> AsyncIterator[FastAPI]:
    application = create_app(CodingSettings(database_url=database_url, kafka_bootstrap_servers=broker.bootstrap_servers,
                                            topic_prefix=topic_prefix, roles="api"))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://coding") as client:
        yield client


def coding_of(app: FastAPI) -> Coding:
    return app.state.coding


async def coded_item(app: FastAPI, **changes: Any) -> str:
    item = new_item_id()
    await deliver(coding_of(app), registration(item, **changes))
    return item


# ---- preview and decode --------------------------------------------------------------------------------------------
async def test_preview_gives_the_labelled_parts_pinyin_and_collision(app: FastAPI, http: httpx.AsyncClient) -> None:
    response = await http.post("/coding/v1/codes:preview", json=PREVIEW, headers=ENTRY)
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["display"], body["pinyin_letters"], body["name_code"]) == (
        HUKOU_CODE, "01-440115-02-03-HKQYSP000000", "HKQYSP", "HKQYSP000000")
    assert [(p["part"], p["value"], p["meaning"]) for p in body["parts"]] == [
        ("item_type", "01", "行政许可"), ("region_code", "440115", "南沙区"), ("police_type", "02", "户政管理"),
        ("service_category", "03", "许可审批"), ("name_code", "HKQYSP000000", None)]
    assert (body["would_collide"], body["held_by"], body["code_if_allocated_now"]) == (False, None, HUKOU_CODE)

    holder = await coded_item(app)
    collided = (await http.post("/coding/v1/codes:preview", json=PREVIEW, headers=ENTRY)).json()
    assert (collided["would_collide"], collided["held_by"], collided["code_if_allocated_now"]) == (
        True, holder, "014401150203HKQYSP000001")


async def test_preview_says_which_rule_gave_each_letter(http: httpx.AsyncClient) -> None:
    """An entry clerk sees why a code reads as it does before it is allocated: 单县 from the place-name table (the
    place, its reading and where the reading comes from), 户籍 from pypinyin's phrases or characters, letters past
    the twelfth outside the code, dropped punctuation with no letter."""
    body = {**PREVIEW, "region_code": "371722", "short_name": "单县户籍证明（机动车驾驶证补领）"}
    response = await http.post("/coding/v1/codes:preview", json=body, headers=ENTRY)
    assert response.status_code == 200
    reading = response.json()["name_reading"]
    assert [(r["text"], r["letter"], r["rule"]) for r in reading[:3]] == [
        ("单", "S", "place"), ("县", "X", "place"), ("户", "H", "character")]
    assert reading[0]["place"] == {"code": "371722", "name": "单县", "reading": "Shan4 xian4", "source": "cedict",
                                   "current": True}
    assert reading[0]["rule_label"] == "地名读音表"
    assert "".join(r["letter"] for r in reading if r["letter"]) == response.json()["pinyin_letters"]
    kept = [r for r in reading if r["in_code"]]
    assert len(kept) == 12 and [r["position"] for r in kept] == list(range(1, 13))
    assert {r["rule"] for r in reading if r["letter"] is None} == {"dropped"}  # the brackets
    assert any(r["rule"] == "phrase" for r in reading)  # 驾驶 is a phrase of pypinyin's dictionary


async def test_preview_of_invalid_elements_lists_every_problem(http: httpx.AsyncClient) -> None:
    response = await http.post("/coding/v1/codes:preview", headers=ENTRY, json={
        **PREVIEW, "region_code": "440102", "police_type": "77", "short_name": "——"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "CODE_ELEMENTS_INVALID" and "编码要素无效" in body["message"]
    problems = {p["field"]: p for p in body["details"]["problems"]}
    assert set(problems) == {"region_code", "police_type", "short_name"}
    assert problems["region_code"]["code"] == "ExpiredCodeError" and "已失效" in problems["region_code"]["message"]
    assert problems["short_name"]["code"] == "EMPTY_NAME_CODE"


async def test_preview_needs_a_token(http: httpx.AsyncClient) -> None:
    response = await http.post("/coding/v1/codes:preview", json=PREVIEW)
    assert (response.status_code, response.json()["code"]) == (401, "AUTHENTICATION_REQUIRED")


@pytest.mark.parametrize(
    ("code", "part"),
    [
        ("01440115", "length"),
        ("01-440115-02-03-HKQYSP000000", "length"),
        ("0X4401150203HKQYSP000000", "item_type"),
        ("01440A150203HKQYSP000000", "region_code"),
        ("0144011502X3HKQYSP000000", "service_category"),
        ("01440115X203HKQYSP000000", "police_type"),
        ("014401150203hkqysp000000", "name_code"),
        ("014401150203HKQYSP000000000", "service_sequence"),
        ("014401150203HKQYSP00000000A", "service_sequence"),
    ],
)
async def test_a_malformed_code_is_422_naming_the_bad_part(http: httpx.AsyncClient, code: str, part: str) -> None:
    response = await http.get(f"/coding/v1/codes/{code}", headers=ENTRY)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "MALFORMED_CODE"
    assert body["details"]["part"] == part and body["details"]["code"] == code
    assert body["message"].startswith("编码格式错误：")  # the part by its Chinese name (details.part is the key)
    assert part not in body["message"]


async def test_decoding_a_held_code_shows_its_holder_and_an_unallocated_one_says_so(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    unallocated = (await http.get(f"/coding/v1/codes/{HUKOU_CODE}", headers=ENTRY)).json()
    assert (unallocated["status"], unallocated["holder_item_id"]) == ("unallocated", None)
    item = await coded_item(app)
    held = (await http.get(f"/coding/v1/codes/{HUKOU_CODE}", headers=ENTRY)).json()
    assert (held["status"], held["holder_item_id"], held["kind"]) == ("active", item, "item")
    assert held["parts"] == unallocated["parts"] and held["parts"][1]["meaning"] == "南沙区"
    assert held["lineage"] == {"predecessors": [], "successors": []}
    outside = await http.get(f"/coding/v1/codes/{HUKOU_CODE}", headers=SHENZHEN)
    assert (outside.status_code, outside.json()["code"]) == (403, "REGION_FORBIDDEN")


async def test_item_code_shows_current_code_history_and_events(app: FastAPI, http: httpx.AsyncClient) -> None:
    item = await coded_item(app)
    response = await http.get(f"/coding/v1/items/{item}/code", headers=PUBLISHER)
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["status"]) == (HUKOU_CODE, "active")
    assert [e["type"] for e in body["events"]] == ["coding.code.assigned.v1"]
    missing = await http.get(f"/coding/v1/items/{new_item_id()}/code", headers=PUBLISHER)
    assert (missing.status_code, missing.json()["code"]) == (404, "CODE_NOT_FOUND")
    assert (await http.get(f"/coding/v1/items/{item}/code", headers=SHENZHEN)).status_code == 403


# ---- 事项服务编码 ----------------------------------------------------------------------------------------------
async def test_service_codes_are_allocated_in_order_and_never_reused(app: FastAPI, http: httpx.AsyncClient) -> None:
    item = await coded_item(app)
    url = f"/coding/v1/items/{item}/services"
    created = [await http.post(url, json={"name": name}, headers=PUBLISHER)
               for name in ("窗口办理", "网上办理", "自助终端")]
    assert [r.status_code for r in created] == [201, 201, 201]
    assert [r.json()["service_code"] for r in created] == [HUKOU_CODE + s for s in ("001", "002", "003")]

    again = await http.post(url, json={"name": "网上办理"}, headers=PUBLISHER)  # idempotent by name
    assert (again.status_code, again.json()["service_code"]) == (200, HUKOU_CODE + "002")

    withdrawn = await http.post(f"{url}/2/withdraw", json={"reason": "停止网上办理"}, headers=PUBLISHER)
    assert (withdrawn.status_code, withdrawn.json()["status"]) == (200, "withdrawn")
    twice = await http.post(f"{url}/2/withdraw", json={"reason": "重复"}, headers=PUBLISHER)
    assert (twice.status_code, twice.json()["code"]) == (409, "ITEM_SERVICE_WITHDRAWN")
    reopened = await http.post(url, json={"name": "网上办理"}, headers=PUBLISHER)
    assert (reopened.status_code, reopened.json()["service_code"]) == (201, HUKOU_CODE + "004")  # 002 stays gone

    listed = (await http.get(url, headers=PUBLISHER)).json()["services"]
    assert [(s["sequence"], s["status"]) for s in listed] == [
        (1, "active"), (2, "withdrawn"), (3, "active"), (4, "active")]
    decoded = (await http.get(f"/coding/v1/codes/{HUKOU_CODE}002", headers=PUBLISHER)).json()
    assert (decoded["kind"], decoded["status"], decoded["holder_item_id"]) == ("service", "withdrawn", item)
    assert decoded["parts"][-1] == {"part": "service_sequence", "label": "事项服务序号", "value": "002",
                                    "meaning": None}
    events = (await http.get(f"/coding/v1/items/{item}/code", headers=PUBLISHER)).json()["events"]
    assert [e["type"] for e in events].count("coding.item_service.allocated.v1") == 4
    assert [e["type"] for e in events].count("coding.item_service.withdrawn.v1") == 1


async def test_concurrent_service_allocations_get_distinct_sequences(app: FastAPI, http: httpx.AsyncClient) -> None:
    item = await coded_item(app)
    responses = await asyncio.gather(*(http.post(f"/coding/v1/items/{item}/services", json={"name": f"渠道{n}"},
                                                 headers=PUBLISHER) for n in range(10)))
    assert all(r.status_code == 201 for r in responses)
    assert sorted(r.json()["sequence"] for r in responses) == list(range(1, 11))


async def test_service_codes_need_the_role_the_region_and_a_coded_item(app: FastAPI, http: httpx.AsyncClient) -> None:
    item = await coded_item(app)
    url = f"/coding/v1/items/{item}/services"
    assert (await http.post(url, json={"name": "窗口"}, headers=ENTRY)).json()["code"] == "ROLE_FORBIDDEN"
    assert (await http.post(url, json={"name": "窗口"}, headers=SHENZHEN)).json()["code"] == "REGION_FORBIDDEN"
    uncoded = await http.post(f"/coding/v1/items/{new_item_id()}/services", json={"name": "窗口"}, headers=PUBLISHER)
    assert (uncoded.status_code, uncoded.json()["code"]) == (409, "ITEM_NOT_CODED")
    assert (await http.post(url, json={"name": ""}, headers=PUBLISHER)).status_code == 422
    missing = await http.post(f"{url}/7/withdraw", json={"reason": "无"}, headers=PUBLISHER)
    assert (missing.status_code, missing.json()["code"]) == (404, "ITEM_SERVICE_NOT_FOUND")


# ---- dictionaries --------------------------------------------------------------------------------------------------
async def test_every_dictionary_is_served_with_its_version(http: httpx.AsyncClient) -> None:
    listed = (await http.get("/coding/v1/dictionaries")).json()["dictionaries"]
    assert [(d["name"], d["version"]) for d in listed] == [
        ("item_types", "2026.11.1"), ("police_types", "2026.11.1"), ("service_categories", "2026.11.1"),
        ("exercise_levels", "2026.11.1"), ("regions", "2026.09.11")]
    regions = next(d for d in listed if d["name"] == "regions")
    assert "CC BY 4.0" in regions["provenance"]["source"]
    assert regions["provenance"]["data_date"].startswith("2026-09-11")
    for name in ("item_types", "police_types", "service_categories", "exercise_levels"):
        body = (await http.get(f"/coding/v1/dictionaries/{name}")).json()
        assert body["name"] == name and body["total"] == len(body["entries"]) and body["next_cursor"] is None
    item_types = (await http.get("/coding/v1/dictionaries/item_types")).json()
    assert item_types["entries"][0] == {"code": "01", "label": "行政许可", "valid_from": None, "valid_to": None}
    unknown = await http.get("/coding/v1/dictionaries/colours")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "DICTIONARY_NOT_FOUND")
    wrong = await http.get("/coding/v1/dictionaries/item_types", params={"parent": "44"})
    assert (wrong.status_code, wrong.json()["code"], wrong.json()["details"]["parameter"]) == (
        422, "DICTIONARY_QUERY_INVALID", "parent")


async def test_a_client_can_walk_the_region_tree(http: httpx.AsyncClient) -> None:
    provinces = (await http.get("/coding/v1/dictionaries/regions",
                                params={"level": 1, "valid_on": "2026-11-01", "limit": 1000})).json()
    assert provinces["total"] == 34 and provinces["next_cursor"] is None
    guangdong = next(p for p in provinces["entries"] if p["code"] == "440000")
    assert guangdong["label"] == "广东省" and guangdong["child_count"] == 21

    cities = (await http.get("/coding/v1/dictionaries/regions",
                             params={"parent": "44", "valid_on": "2026-11-01"})).json()
    guangzhou = next(c for c in cities["entries"] if c["code"] == "440100")
    assert (guangzhou["label"], guangzhou["parent"], guangzhou["level"]) == ("广州市", "440000", 2)

    districts = (await http.get("/coding/v1/dictionaries/regions",
                                params={"parent": "4401", "valid_on": "2026-11-01"})).json()
    assert {"440115", "440106"} <= {d["code"] for d in districts["entries"]}
    assert "440102" not in {d["code"] for d in districts["entries"]}  # 东山区, abolished 2005
    with_history = (await http.get("/coding/v1/dictionaries/regions", params={"parent": "4401"})).json()
    dongshan = next(d for d in with_history["entries"] if d["code"] == "440102")
    assert dongshan["valid_to"] == "2005-01-01"

    expanded = (await http.get("/coding/v1/dictionaries/regions", params={
        "level": 1, "q": "广东", "expand": "children", "valid_on": "2026-11-01"})).json()
    assert [e["code"] for e in expanded["entries"]] == ["440000"]
    assert len(expanded["entries"][0]["children"]) == 21

    nansha = (await http.get("/coding/v1/dictionaries/regions/440115")).json()
    assert nansha["label"] == "南沙区" and [a["code"] for a in nansha["ancestors"]] == ["440000", "440100"]
    assert nansha["children"] == []
    assert (await http.get("/coding/v1/dictionaries/regions/4401")).json()["code"] == "440100"
    assert (await http.get("/coding/v1/dictionaries/regions/999999")).json()["code"] == "DICTIONARY_ENTRY_NOT_FOUND"
    assert (await http.get("/coding/v1/dictionaries/regions", params={"parent": "4A"})).status_code == 422


async def test_the_region_table_is_paginated_by_cursor(http: httpx.AsyncClient) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 1000, "valid_on": "2026-11-01"}
        if cursor:
            params["cursor"] = cursor
        page = (await http.get("/coding/v1/dictionaries/regions", params=params)).json()
        seen += [e["code"] for e in page["entries"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == page["total"] == 3214  # every current code, each once
    assert seen == sorted(seen) and pages == 4
    first = (await http.get("/coding/v1/dictionaries/regions")).json()
    assert len(first["entries"]) == 100 and first["next_cursor"] == first["entries"][-1]["code"]
    assert (await http.get("/coding/v1/dictionaries/regions", params={"limit": 1001})).status_code == 422


# ---- pinyin overrides (admin) --------------------------------------------------------------------------------------
async def test_only_an_admin_may_read_or_change_overrides(http: httpx.AsyncClient) -> None:
    for headers in (PUBLISHER, ENTRY):
        assert (await http.get("/coding/v1/pinyin-overrides", headers=headers)).json()["code"] == "ROLE_FORBIDDEN"
        denied = await http.post("/coding/v1/pinyin-overrides", headers=headers,
                                 json={"phrase": "单县", "letters": "DX", "reason": "测试"})
        assert (denied.status_code, denied.json()["code"]) == (403, "ROLE_FORBIDDEN")
    assert (await http.get("/coding/v1/pinyin-overrides")).status_code == 401


async def test_an_admin_changes_an_override_and_the_preview_follows_while_codes_stay(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    elements = {**PREVIEW, "region_code": "371722", "short_name": "单县户籍证明"}
    item = await coded_item(app, region_code="371722", short_name="单县户籍证明")
    held = (await http.get(f"/coding/v1/items/{item}/code", headers=NATIONAL_ADMIN)).json()["code"]
    assert held == "013717220203SXHJZM000000"

    before = (await http.get("/coding/v1/pinyin-overrides", headers=ADMIN)).json()
    assert before["version"] == "2026.12.1" and before["history"] == [] and before["phrases"] == []
    changed = await http.post("/coding/v1/pinyin-overrides", headers=ADMIN,
                              json={"phrase": "单县", "letters": "DX", "reason": "测试：按单字读音"})
    assert changed.status_code == 201
    assert changed.json() == {"changed": True, "phrase": "单县", "letters": "DX", "previous_letters": None,
                              "overrides_version": "2026.12.1+1"}
    repeated = await http.post("/coding/v1/pinyin-overrides", headers=ADMIN,
                               json={"phrase": "单县", "letters": "DX", "reason": "重复"})
    assert (repeated.status_code, repeated.json()["changed"]) == (200, False)

    preview = (await http.post("/coding/v1/codes:preview", json=elements, headers=ADMIN)).json()
    assert preview["code"] == "013717220203DXHJZM000000"
    assert preview["overrides_version"] == f"2026.12.1+1/{before['place_names']['version']}"
    assert (await http.get(f"/coding/v1/items/{item}/code", headers=NATIONAL_ADMIN)).json()["code"] == held
    outside = await http.get(f"/coding/v1/items/{item}/code", headers=ADMIN)  # 单县 is not in 广东 (44)
    assert (outside.status_code, outside.json()["code"]) == (403, "REGION_FORBIDDEN")

    after = (await http.get("/coding/v1/pinyin-overrides", headers=ADMIN)).json()
    [entry] = [p for p in after["phrases"] if p["phrase"] == "单县"]
    assert (entry["letters"], entry["source"], entry["changed_by"]) == ("DX", "admin", "admin-gd")
    assert [(h["type"], h["version"]) for h in after["history"]] == [("set", "2026.12.1+1")]

    removed = await http.delete("/coding/v1/pinyin-overrides/单县", params={"reason": "恢复"}, headers=ADMIN)
    assert (removed.status_code, removed.json()["previous_letters"]) == (200, "DX")
    gone = await http.delete("/coding/v1/pinyin-overrides/单县", params={"reason": "恢复"}, headers=ADMIN)
    assert (gone.status_code, gone.json()["code"]) == (404, "PINYIN_OVERRIDE_NOT_FOUND")


@pytest.mark.parametrize(
    ("phrase", "letters"), [("单县", "S"), ("单县", "sx"), ("C1", "CY"), ("单 县", "SXX")])
async def test_an_invalid_override_is_422_with_the_reason(http: httpx.AsyncClient, phrase: str, letters: str) -> None:
    response = await http.post("/coding/v1/pinyin-overrides", headers=ADMIN,
                               json={"phrase": phrase, "letters": letters, "reason": "测试"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "PINYIN_OVERRIDE_INVALID" and body["message"].startswith("拼音修正词条无效：")
