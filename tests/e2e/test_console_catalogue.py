"""The operators' console's catalogue pages in the running suite: the overview equals the lifecycle's own figures for
the same caller, the item page tells an item's whole story across the services, the search finds it every way, and
only operators and administrators get in, each within its regions."""

from __future__ import annotations

from typing import Any

import pytest

from shixiang.client import ApiError, SuiteClient
from shixiang.suite import Suite
from tests.e2e.conftest import HUKOU, feed_entries_for

pytestmark = pytest.mark.e2e

CONSOLE = "/sync/v1/console"


def _mint(suite: Suite, client: SuiteClient, user: str, roles: list[str], regions: list[str]) -> str:
    client.tokens[user] = suite.mint(user, roles, regions)
    return user


async def _get(client: SuiteClient, service: str, path: str, *, user: str, **params: Any) -> Any:
    params = {k: v for k, v in params.items() if v is not None}
    return (await client.call("GET", service, path, user=user, params=params)).json()


async def _listed(client: SuiteClient, *, user: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of the lifecycle's list for ``user``, page by page."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await _get(client, "lifecycle", "/lifecycle/v1/items", user=user, limit=1000, cursor=cursor, **params)
        rows += page["items"]
        if not (cursor := page["next_cursor"]):
            return rows


async def test_the_overview_numbers_equal_the_lifecycles_stats_and_list_for_the_same_caller(
        suite: Suite, client: SuiteClient) -> None:
    items = [await client.create_item({**HUKOU, "name": f"户口登记{i}", "short_name": f"户口登记{i}"})
             for i in range(3)]
    for item in items:
        await client.wait_for_state(item["item_id"], lambda s: s["phase"] == "forming")
    await client.drive_to_online(items[0]["item_id"])

    for user in ("operator", _mint(suite, client, "operator-bj", ["operator"], ["11"])):
        for region in (None, "44", "4401", "440115"):
            overview = await _get(client, "sync", f"{CONSOLE}/overview", user=user, region=region)
            stats = await _get(client, "lifecycle", "/lifecycle/v1/stats", user=user, region=region)
            assert {k: v for k, v in overview.items() if k != "imports_running"} == stats
            listed = await _listed(client, user=user, region=region)
            assert overview["total"] == len(listed)
            for phase in overview["phases"]:
                assert phase["count"] == sum(1 for r in listed if r["phase"] == phase["phase"])
            assert overview["imports_running"] == []

    guangdong = await _get(client, "sync", f"{CONSOLE}/overview", user="operator", region="44")
    assert guangdong["region"] == {"code": "44", "name": "广东省"}
    assert [r["code"] for r in guangdong["regions"]] == ["4401"] and guangdong["regions"][0]["name"] == "广州市"
    online = next(p for p in guangdong["phases"] if p["phase"] == "online")
    assert (online["label"], online["count"] >= 1) == ("在线期", True)
    beijing = await _get(client, "sync", f"{CONSOLE}/overview", user="operator-bj")
    assert beijing["total"] == 0 and beijing["regions"] == []  # a region-11 operator sees no Guangdong figure


async def test_the_item_page_of_an_item_driven_online_tells_its_whole_story(suite: Suite, client: SuiteClient) -> None:
    name = "居住证签注"
    draft = await client.create_item({**HUKOU, "name": name, "short_name": name})
    item_id = draft["item_id"]
    await client.drive_to_online(item_id)
    [entry] = await feed_entries_for(client, item_id, want=1)
    await client.call("POST", "sync", "/sync/v1/national/feedback", user="national",
                      json={"item_id": item_id, "item_version": entry["itemversion"], "result": "acknowledged"})
    # an update: revision 2 changes the 主管部门 while revision 1 stays online
    await client.revise_item(item_id, {**draft["elements"], "competent_department": "广东省公安厅"}, 1)
    # the lifecycle has heard of both (the revision and the national answer) before the page is read
    await client.wait_for_state(item_id, lambda s: s["pending"] is not None and s["national_sync"]["last"] is not None)

    page = await _get(client, "sync", f"{CONSOLE}/items/{item_id}", user="operator")
    assert page["item_id"] == item_id
    state = page["state"]
    assert (state["phase"], state["phase_label"]) == ("online", "在线期") and state["code"]
    assert [r["revision"] for r in page["revisions"]] == [1, 2]
    assert page["revisions"][0]["changes"] == [] and page["revisions"][0]["author"] == "entry-gz"
    [change] = page["revisions"][1]["changes"]
    assert (change["path"], change["label"], change["after"]) == ("competent_department", "主管部门", "广东省公安厅")
    assert page["codes"]["code"] == state["code"] and page["codes"]["history"][0]["code"] == state["code"]
    assert [(f["sequence"], f["type"], f["operation"], f["itemversion"]) for f in page["feed"]] == [
        (entry["sequence"], "shixiang.item.published.v1", "insert", entry["itemversion"])]
    assert [(f["item_version"], f["result"]) for f in page["national_feedback"]] == [
        (entry["itemversion"], "acknowledged")]
    # every service keeping a stream of the item checked its chain: the registry (2 revisions), coding (its code),
    # the lifecycle (every step) and the gateway (the national answer)
    chains = {v["service"]: v for v in page["verification"]}
    assert list(chains) == ["registry", "coding", "lifecycle", "sync"]
    assert all(v["ok"] and v["detail"] == "哈希链完整" for v in chains.values())
    assert all(v["algorithms"] == ["sha256"] for v in chains.values())  # each store's default, SHIXIANG_EVENT_HASH
    assert (chains["registry"]["events"], chains["lifecycle"]["events"], chains["sync"]["events"]) == (
        2, state["version"], 1)
    assert chains["coding"]["events"] >= 1 and chains["lifecycle"]["label"] == "生命周期"

    # its state as of the moment before it was published
    events = await _get(client, "lifecycle", f"/lifecycle/v1/items/{item_id}/events", user="operator")
    published = next(i for i, e in enumerate(events) if e["type"] == "lifecycle.item.published.v1")
    before = await _get(client, "sync", f"{CONSOLE}/items/{item_id}", user="operator",
                        as_of=events[published - 1]["recorded_at"])
    assert (before["state"]["phase"], before["state"]["code"]) == ("preparing", state["code"])

    # found by its code (whole and prefix), its name, its id
    code = state["code"]
    for q in (code, code[:10], "居住证签", item_id):
        found = await _get(client, "sync", f"{CONSOLE}/items", user="operator", q=q)
        hit = next(i for i in found["items"] if i["item_id"] == item_id)
        assert (hit["name"], hit["code"], hit["phase"], hit["phase_label"], hit["region_code"], hit["region_name"]) \
            == (name, code, "online", "在线期", "440115", "南沙区")

    # outside the caller's regions the item does not exist
    _mint(suite, client, "operator-bj", ["operator"], ["11"])
    with pytest.raises(ApiError) as elsewhere:
        await client.call("GET", "sync", f"{CONSOLE}/items/{item_id}", user="operator-bj")
    assert elsewhere.value.status == 404
    assert (await _get(client, "sync", f"{CONSOLE}/items", user="operator-bj", q=item_id))["items"] == []


async def test_the_quality_page_combines_the_registrys_quality_and_consistency_reports(client: SuiteClient) -> None:
    await client.create_item({**HUKOU, "name": "出入境证件", "short_name": "出入境证件"})
    page = await _get(client, "sync", f"{CONSOLE}/quality", user="operator", region="44")
    quality = await _get(client, "registry", "/registry/v1/quality", user="operator", region="44")
    consistency = await _get(client, "registry", "/registry/v1/consistency", user="operator", region="44")
    assert page == {"completeness": quality["completeness"], "coverage": quality["coverage"],
                    "consistency": consistency}
    assert [r["code"] for r in page["completeness"]["by_region"]] == ["4401"]


@pytest.mark.parametrize("user", ["national", "entry-gz"])
async def test_the_console_refuses_national_and_entry_tokens(client: SuiteClient, user: str) -> None:
    for path in ("/overview", "/quality", "/items?q=户口", "/items/some-item-id"):
        with pytest.raises(ApiError) as refused:
            await client.call("GET", "sync", CONSOLE + path, user=user)
        assert refused.value.status == 403 and refused.value.code == "CONSOLE_ROLE_REQUIRED", path
