"""The registry among the other services (separate uvicorn processes): it learns each item's phase from the
lifecycle topic, so a change to an online item waits for review and a cancelled item stays as it is; and
``shixiang import`` loads a filled-in template through the API with a progress bar."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from shared.dictionaries import load_dictionaries
from shixiang.client import ApiError, SuiteClient
from shixiang.suite import Suite
from tests.e2e.conftest import HUKOU

from registry.domain.tabular import format_row

pytestmark = pytest.mark.e2e

GUIDE = {"conditions": ["符合迁入条件"], "materials": [], "steps": ["申请", "审核", "办结"],
         "statutory_time_limit_days": 20, "promised_time_limit_days": 10, "fees": {"free": True, "items": []},
         "place": "南沙区政务服务中心", "hours": "工作日 9:00-17:00", "consultation_contact": "020-12345678",
         "complaint_contact": "12345"}
COMPLETE = {**HUKOU, "competent_department": "广州市公安局", "implementing_agency": "广州市公安局南沙区分局",
            "exercise_levels": ["4"], "service_guide": GUIDE,
            "legal_basis": [{"rank": "行政法规", "title": "中华人民共和国户口登记条例", "article": "第十条",
                             "text": "公民迁出本户口管辖区，由本人或者户主在迁出前向户口登记机关申报迁出登记。"}]}


async def registry_view(client: SuiteClient, item_id: str, done: Callable[[dict[str, Any]], bool],
                        timeout_s: float = 30) -> dict[str, Any]:
    """The registry's view of the item once ``done`` holds (the lifecycle's events arrive through Kafka)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        view = await client.registry_item(item_id)
        if done(view) or asyncio.get_running_loop().time() > deadline:
            return view
        await asyncio.sleep(0.1)


async def test_a_change_to_an_online_item_waits_for_review_beside_the_published_one(client: SuiteClient) -> None:
    draft = await client.create_item({**COMPLETE, "name": "户口迁入审批", "short_name": "户口迁入审批"})
    assert draft["complete"] is True
    await client.drive_to_online(draft["item_id"])
    online = await registry_view(client, draft["item_id"], lambda v: v["phase"] == "online")
    assert online["phase_label"] == "在线期" and online["published"]["revision"] == 1

    updated = await client.revise_item(draft["item_id"], {**online["elements"], "implementing_agency": "广州市公安局"},
                                       online["revision"])
    assert updated["revision"] == 2 and updated["pending"]["changed_fields"] == ["implementing_agency"]
    assert updated["published"]["elements"]["implementing_agency"] == "广州市公安局南沙区分局"


async def test_a_cancelled_item_refuses_every_change(client: SuiteClient) -> None:
    draft = await client.create_item({**HUKOU, "name": "临时户口登记", "short_name": "临时户口登记"})
    await client.wait_for_state(draft["item_id"], lambda s: s.get("phase") == "forming")
    await client.command(draft["item_id"], "cancel", user="publisher-gz", body={"reason": "并入户口登记事项"})
    cancelled = await registry_view(client, draft["item_id"], lambda v: v["phase"] == "cancelled")
    assert cancelled["phase_label"] == "注销期"
    with pytest.raises(ApiError) as refused:
        await client.revise_item(draft["item_id"], {**HUKOU, "name": "临时户口登记（新）"}, 1)
    assert refused.value.status == 409 and refused.value.code == "ITEM_CANCELLED"


async def test_shixiang_import_loads_a_filled_in_template_with_a_progress_bar(suite: Suite, client: SuiteClient,
                                                                             tmp_path: Path) -> None:
    template = await client.call("GET", "registry", "/registry/v1/imports/template.xlsx", user="entry-gz")
    book = openpyxl.load_workbook(io.BytesIO(template.content))
    dictionaries = load_dictionaries()
    names = ["出生登记", "分户登记", "曾用名登记"]
    for i, name in enumerate(names):
        elements = {**HUKOU, "name": name, "short_name": name}
        book["事项清单"].append(format_row(f"CLI-{i}", elements, dictionaries, {}))
    book["事项清单"].append(format_row("CLI-9", {**HUKOU, "item_type": "77"}, dictionaries, {}))
    path = tmp_path / "南沙区事项清单.xlsx"
    book.save(path)

    command = [sys.executable, "-m", "shixiang.cli", "import", str(path), "--url", suite.url("registry"),
               "--token", suite.token("entry-gz")]
    run = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 1, run.stderr  # one row reported
    assert "100.0%" in run.stderr and "█" in run.stderr
    assert "新建 3" in run.stdout and "有误 1" in run.stdout
    assert "第 5 行  事项类型  UNKNOWN_CODE" in run.stdout
    again = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120, check=False)
    assert "新建 0" in again.stdout and "未变 3" in again.stdout


async def test_shixiang_import_needs_nothing_but_the_file_against_the_running_dev_suite(
        suite: Suite, client: SuiteClient, tmp_path: Path) -> None:
    template = await client.call("GET", "registry", "/registry/v1/imports/template.xlsx", user="entry-gz")
    book = openpyxl.load_workbook(io.BytesIO(template.content))
    book["事项清单"].append(format_row("NOFLAGS-1", {**HUKOU, "name": "户口簿补领", "short_name": "户口簿补领"},
                                    load_dictionaries(), {}))
    path = tmp_path / "清单.xlsx"
    book.save(path)
    env = {k: v for k, v in os.environ.items() if k not in ("SHIXIANG_REGISTRY_URL", "SHIXIANG_TOKEN")}
    run = await asyncio.to_thread(  # the suite's manifest (suite.json) is where `shixiang dev` leaves it
        subprocess.run, [sys.executable, "-m", "shixiang.cli", "import", str(path)], capture_output=True, text=True,
        timeout=120, check=False, env={**env, "SHIXIANG_DEV_ROOT": str(suite.root)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "新建 1" in run.stdout
