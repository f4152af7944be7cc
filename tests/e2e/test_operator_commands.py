"""The operator commands against a running suite: dead letters are visible, replayable, and never lost."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from shixiang.client import SuiteClient
from shixiang.suite import Suite
from tests.e2e.conftest import HUKOU, feed_entries_for, send_forged_registration
from tests.integration.conftest import read_topic

pytestmark = pytest.mark.e2e


def shixiang(suite: Suite, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI as an operator would, pointed at the suite by its dev manifest."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIXIANG_")}
    env["SHIXIANG_DEV_ROOT"] = str(suite.root)
    return subprocess.run([sys.executable, "-m", "shixiang.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


async def test_a_forged_registration_is_dead_lettered_listed_replayed_in_vain_and_discarded(suite: Suite) -> None:
    """A well-formed registration request for an item nobody created (produced straight to the lifecycle topic):
    coding refuses it for good — no code is taken — and operators find it with the CLI and over HTTP, replay it
    (it fails again and stays waiting) and discard it."""
    assert suite.broker is not None
    bootstrap = suite.broker.bootstrap_servers
    forged = await send_forged_registration(suite)

    dead = await read_topic(bootstrap, "shixiang.coding.dlt", expect=1, timeout_s=30)
    assert [dict(r.headers)["ce_id"] for r in dead] == [forged.id.encode()]
    assert dict(dead[0].headers)["dlt_kind"] == b"refused"
    assert "从未收到事项" in dict(dead[0].headers)["dlt_error"].decode()

    listed = await asyncio.to_thread(shixiang, suite, "dlt", "list", "--service", "coding")
    assert listed.returncode == 0, listed.stderr
    assert "lifecycle.item.registration_requested.v1" in listed.stdout and forged.subject in listed.stdout
    operator = {"Authorization": f"Bearer {suite.token('operator')}"}
    async with httpx.AsyncClient(base_url=suite.url("coding"), timeout=30) as http:
        page = (await http.get("/coding/v1/dead-letters", headers=operator)).json()
        [letter] = page["items"]
        assert (letter["event_id"], letter["kind"], letter["status"]) == (forged.id, "refused", "waiting")
        not_an_operator = await http.get("/coding/v1/dead-letters",
                                         headers={"Authorization": f"Bearer {suite.token('entry-gz')}"})
        assert not_an_operator.status_code == 403
        code = await http.get(f"/coding/v1/items/{forged.subject}/code", headers=operator)
        assert code.status_code == 404  # nothing was allocated for the item nobody created

    no_reason = await asyncio.to_thread(shixiang, suite, "dlt", "replay", "--service", "coding", str(letter["id"]))
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr  # the CLI says why, as the console must
    replay = await asyncio.to_thread(shixiang, suite, "dlt", "replay", "--service", "coding", str(letter["id"]),
                                     "--reason", "核实后重放", "--actor", "ops-li")
    assert replay.returncode == 1, replay.stderr  # it still cannot succeed: reported, and kept
    assert "1 failed again" in replay.stdout
    discarded = await asyncio.to_thread(shixiang, suite, "dlt", "discard", "--service", "coding", str(letter["id"]),
                                        "--reason", "伪造的注册请求")
    assert discarded.returncode == 0, discarded.stderr
    shown = await asyncio.to_thread(shixiang, suite, "dlt", "show", "--service", "coding", str(letter["id"]))
    assert '"status": "discarded"' in shown.stdout and '"replays": 1' in shown.stdout
    actions = json.loads(shown.stdout)["actions"]  # who did what, why, and how it went: the CLI is recorded too
    assert [(a["action"], a["actor"], a["reason"], a["result"]) for a in actions] == [
        ("replay", "ops-li", "核实后重放", "failed"),
        ("discard", actions[1]["actor"], "伪造的注册请求", "discarded")]
    assert actions[1]["actor"].startswith("cli:")
    again = await asyncio.to_thread(shixiang, suite, "dlt", "discard", "--service", "coding", str(letter["id"]),
                                    "--reason", "再次")
    assert again.returncode == 2 and "DeadLetterResolvedError" in again.stderr


async def test_shixiang_rebuild_rebuilds_every_services_read_models_while_the_suite_runs(
        suite: Suite, client: SuiteClient) -> None:
    """With no service named, every service rebuilds its read models from its log (against the running suite, by its
    dev manifest) and reports them; what the services answer afterwards is what they answered before."""
    item_id = (await client.create_item({**HUKOU, "name": "重建前后一致", "short_name": "重建前后一致"}))["item_id"]
    await client.drive_to_online(item_id)
    await feed_entries_for(client, item_id, want=1)  # everything the services take from each other has arrived
    deadline = asyncio.get_running_loop().time() + 30
    while (await client.registry_item(item_id))["phase"] != "online":
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)

    async def answers() -> tuple[Any, ...]:
        state = await client.item_state(item_id)
        snapshot = (await client.call("GET", "sync", "/sync/v1/snapshot", user="national")).json()
        return (await client.registry_item(item_id), await client.item_code(item_id),
                (state["phase"], state["version"], state["code"]), snapshot)

    before = await answers()
    rebuilt = await asyncio.to_thread(shixiang, suite, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "no read models" not in rebuilt.stdout
    for line in ("registry read models rebuilt from", "coding read models rebuilt from",
                 "lifecycle projections rebuilt from", "sync read models rebuilt from"):
        assert line in rebuilt.stdout, rebuilt.stdout
    assert await answers() == before
