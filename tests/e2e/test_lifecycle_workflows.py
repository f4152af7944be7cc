"""The lifecycle's works across the whole suite (four uvicorn processes, Kafka between them): updates reviewed
before use, national feedback, split, batches, concurrent commands and a verifiable history, over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from shixiang.client import SuiteClient
from shixiang.suite import Suite
from tests.e2e.conftest import HUKOU, feed_entries_for

pytestmark = pytest.mark.e2e


def unique(name: str) -> dict[str, Any]:
    """HUKOU with a name of its own (codes come from the 简称: distinct names keep items' codes apart)."""
    tag = uuid.uuid4().hex[:4].upper()
    return {**HUKOU, "name": f"{name}{tag}", "short_name": f"{name}{tag}"}


async def test_an_update_is_reviewed_before_it_replaces_what_the_national_platform_sees(client: SuiteClient) -> None:
    draft = await client.create_item(unique("户口迁移审批"))
    item_id = draft["item_id"]
    await client.drive_to_online(item_id)
    [first] = await feed_entries_for(client, item_id, want=1)

    changed = {**draft["elements"], "competent_department": "广东省公安厅"}
    await client.revise_item(item_id, changed, draft["revision"], user="entry-gz")
    pending = await client.wait_for_state(item_id, lambda s: s["step"] == "update_entry")
    assert pending["published"]["revision"] == 1 and pending["pending"]["revision"] == 2
    assert pending["pending"]["elements"]["competent_department"] == "广东省公安厅"

    await client.command(item_id, "submit", user="entry-gz")
    await client.command(item_id, "approve", user="reviewer-gz")
    published = await client.command(item_id, "publish", user="publisher-gz")
    assert published["published"]["revision"] == 2 and published["pending"] is None

    entries = await feed_entries_for(client, item_id, want=2)
    assert [e["data"]["revision"] for e in entries] == [1, 2]  # nothing in between: the draft never left
    assert [e["data"]["change"] for e in entries] == ["published", "updated"]
    assert [e["type"] for e in entries] == ["shixiang.item.published.v1", "shixiang.item.updated.v1"]
    assert entries[1]["data"]["elements"]["competent_department"] == "广东省公安厅"
    assert entries[0]["id"] == first["id"]


async def test_the_national_platform_acknowledges_a_fed_version_and_the_lifecycle_records_it(
        client: SuiteClient) -> None:
    item_id = (await client.create_item(unique("普通护照签发")))["item_id"]
    await client.drive_to_online(item_id)
    [entry] = await feed_entries_for(client, item_id, want=1)
    recorded = await client.national_feedback(item_id, entry["itemversion"], "rejected", reason="实施机关名称不规范")
    assert recorded["result"] == "rejected" and recorded["code"] == entry["data"]["code"]

    state = await client.wait_for_state(item_id, lambda s: s["national_sync"]["last"] is not None)
    last = state["national_sync"]["last"]
    assert (last["item_version"], last["result"], last["reason"]) == (entry["itemversion"], "rejected",
                                                                       "实施机关名称不规范")
    await client.national_feedback(item_id, entry["itemversion"], "acknowledged")
    await client.wait_for_state(item_id, lambda s: s["national_sync"]["last"]["result"] == "acknowledged")


async def test_a_split_cancels_the_old_item_in_the_feed_and_links_both_sides(client: SuiteClient) -> None:
    old = (await client.create_item(unique("机动车登记")))["item_id"]
    await client.drive_to_online(old)
    new_ids = [(await client.create_item(unique(f"机动车登记子项{n}")))["item_id"] for n in range(2)]
    for item_id in new_ids:
        await client.wait_for_state(item_id, lambda s: s["phase"] == "forming")

    adjusted = await client.adjust("split", [old], new_ids, "拆分为注册登记与转移登记")
    assert adjusted["items"][old]["phase"] == "cancelled"
    successor = await client.item_state(new_ids[0])
    assert successor["lineage"][0]["predecessors"] == [old] and successor["lineage"][0]["role"] == "successor"

    entries = await feed_entries_for(client, old, want=2)
    assert entries[-1]["type"] == "shixiang.item.cancelled.v1"
    assert entries[-1]["data"]["successors"] == new_ids and entries[-1]["data"]["operation"] == "delete"
    assert entries[-1]["data"]["region_code"] == entries[0]["data"]["region_code"]


async def test_a_batch_approves_imported_items_and_reports_each(client: SuiteClient) -> None:
    ids = [(await client.create_item(unique("户籍证明")))["item_id"] for _ in range(6)]
    for item_id in ids:
        await client.wait_for_state(item_id, lambda s: s["phase"] == "forming")
    submitted = await client.batch("submit", ids[:5], user="entry-gz")
    assert submitted["succeeded"] == 5
    report = await client.batch("approve", ids, user="reviewer-gz")
    assert (report["total"], report["succeeded"], report["failed"]) == (6, 5, 1)
    refused = report["results"][5]
    assert (refused["item_id"], refused["code"], refused["status"]) == (ids[5], "ILLEGAL_TRANSITION", 409)
    assert all(r["phase"] == "preparing" for r in report["results"][:5])


async def test_concurrent_commands_over_http_one_wins_and_the_rest_get_409(client: SuiteClient) -> None:
    item_id = (await client.create_item(unique("居住证签注")))["item_id"]
    await client.wait_for_state(item_id, lambda s: s["phase"] == "forming")
    await client.command(item_id, "submit", user="entry-gz")
    await client.command(item_id, "approve", user="reviewer-gz")
    version = (await client.item_state(item_id))["version"]
    responses = await asyncio.gather(*(
        client.call("POST", "lifecycle", f"/lifecycle/v1/items/{item_id}/commands/record-test", user="tester-gz",
                    expect=(200, 409), json={"result": "pass", "expected_version": version})
        for _ in range(8)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"VERSION_CONFLICT"}
    assert (await client.item_state(item_id))["version"] == version + 1


async def test_an_items_history_verifies_and_names_who_did_what(client: SuiteClient) -> None:
    item_id = (await client.create_item(unique("临时身份证明")))["item_id"]
    await client.drive_to_online(item_id)
    report = await client.verify_item(item_id)
    assert report["verified"] is True and report["events"] == report["head_version"] == report["projected_version"]
    history = await client.item_history(item_id)
    assert [e["actor"] for e in history] == ["entry-gz", "entry-gz", "reviewer-gz", "tester-gz", "publisher-gz",
                                             "coding", "publisher-gz"]
    assert history[-1]["hash"] == report["head_hash"]


async def test_an_incomplete_draft_cannot_be_submitted_until_the_registry_says_it_is_complete(
        client: SuiteClient) -> None:
    minimal = {k: unique("出入境证件签发")[k] for k in ("name", "short_name")} | {
        k: HUKOU[k] for k in ("item_type", "police_type", "service_category", "region_code")}
    draft = await client.create_item(minimal)
    assert draft["complete"] is False
    item_id = draft["item_id"]
    await client.wait_for_state(item_id, lambda s: s["phase"] == "forming")
    response = await client.call("POST", "lifecycle", f"/lifecycle/v1/items/{item_id}/commands/submit",
                                 user="entry-gz", expect=422, json={})
    assert response.json()["code"] == "ELEMENTS_INCOMPLETE"
    assert "legal_basis" in response.json()["details"]["missing"]
    await client.revise_item(item_id, {**HUKOU, **minimal}, draft["revision"])
    await client.wait_for_state(item_id, lambda s: s["latest_revision"] == 2)
    submitted = await client.command(item_id, "submit", user="entry-gz")
    assert submitted["step"] == "in_review" and submitted["review_revision"] == 2


async def test_a_reviewer_cannot_approve_an_update_they_wrote(suite: Suite, client: SuiteClient) -> None:
    draft = await client.create_item(unique("旅馆业特种行业许可"))
    item_id = draft["item_id"]
    await client.drive_to_online(item_id)
    client.tokens["entry-reviewer"] = suite.mint("entry-reviewer-gz", ["entry", "reviewer"], ["4401"])
    await client.revise_item(item_id, {**draft["elements"], "competent_department": "广州市公安局治安支队"},
                             draft["revision"], user="entry-reviewer")
    await client.wait_for_state(item_id, lambda s: s["step"] == "update_entry")
    await client.command(item_id, "submit", user="entry-gz")
    response = await client.call("POST", "lifecycle", f"/lifecycle/v1/items/{item_id}/commands/approve",
                                 user="entry-reviewer", expect=403, json={})
    assert response.json()["code"] == "FOUR_EYES_VIOLATION"
