"""The coding service in the running suite: codes allocated on registration through the lifecycle (collisions get
the next sequence), decoded over HTTP, 事项服务编码 for a registered item, and an administrator's pinyin override
changing previews but never a code already allocated."""

from __future__ import annotations

import uuid

import pytest

from shixiang.client import ApiError, SuiteClient
from tests.e2e.conftest import HUKOU

pytestmark = pytest.mark.e2e


async def register(client: SuiteClient, short_name: str) -> dict:
    item_id = (await client.create_item({**HUKOU, "name": short_name, "short_name": short_name}))["item_id"]
    await client.wait_for_state(item_id, lambda s: s.get("phase") is not None)
    await client.command(item_id, "submit", user="entry-gz")
    await client.command(item_id, "approve", user="reviewer-gz")
    await client.command(item_id, "record-test", user="tester-gz", body={"result": "pass", "notes": "联调通过"})
    await client.command(item_id, "register", user="publisher-gz")
    return await client.wait_for_state(item_id, lambda s: s.get("code") is not None)


async def test_two_items_with_the_same_elements_get_the_code_and_the_next_sequence(client: SuiteClient) -> None:
    short_name = f"E2E{uuid.uuid4().hex[:6].upper()}户籍证明"  # a name code no other test uses
    first, second = await register(client, short_name), await register(client, short_name)
    assert first["code"][:12] == "014401150203" and first["code"][-2:] != "01"
    assert second["code"] == first["code"][:22] + "01"

    decoded = await client.decode_code(second["code"])
    assert (decoded["status"], decoded["holder_item_id"], decoded["collided_with"]) == (
        "active", second["item_id"], first["item_id"])
    assert [p["meaning"] for p in decoded["parts"][:4]] == ["行政许可", "南沙区", "户政管理", "许可审批"]
    history = await client.item_code(first["item_id"])
    assert history["code"] == first["code"] and [e["type"] for e in history["events"]] == ["coding.code.assigned.v1"]


async def test_a_registered_item_gets_service_codes_that_decode_back(client: SuiteClient) -> None:
    item = await register(client, f"E2E{uuid.uuid4().hex[:6].upper()}居住证签注")
    window = await client.allocate_service_code(item["item_id"], "窗口办理")
    online = await client.allocate_service_code(item["item_id"], "网上办理")
    assert (window["service_code"], online["service_code"]) == (item["code"] + "001", item["code"] + "002")
    decoded = await client.decode_code(online["service_code"])
    assert (decoded["kind"], decoded["holder_item_id"], decoded["service"]["name"]) == (
        "service", item["item_id"], "网上办理")
    with pytest.raises(ApiError) as malformed:
        await client.decode_code(item["code"] + "000")
    assert (malformed.value.status, malformed.value.body["details"]["part"]) == (422, "service_sequence")


async def test_an_override_changes_previews_but_not_allocated_codes(client: SuiteClient) -> None:
    short_name = f"楠溪E2E{uuid.uuid4().hex[:4].upper()}户籍证明"
    item = await register(client, short_name)
    assert item["code"][12:14] == "NX"
    await client.set_pinyin_override("楠溪", "NQ", "端到端测试：改读音")
    try:
        preview = await client.preview_code({k: HUKOU[k] for k in ("item_type", "region_code", "police_type",
                                                                   "service_category")} | {"short_name": short_name})
        assert preview["code"][12:14] == "NQ" and preview["would_collide"] is False
        assert (await client.item_code(item["item_id"]))["code"] == item["code"]
    finally:
        await client.call("DELETE", "coding", "/coding/v1/pinyin-overrides/楠溪", user="admin-gd",
                          params={"reason": "端到端测试结束，恢复"})
