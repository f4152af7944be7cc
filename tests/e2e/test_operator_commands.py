"""The operator commands against a running suite: dead letters are visible, replayable, and never lost."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest

from shared.cloudevents import CloudEvent
from shared.kafka import make_producer
from shixiang.suite import Suite
from tests.integration.conftest import read_topic

pytestmark = pytest.mark.e2e


def shixiang(suite: Suite, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI as an operator would, pointed at the suite by its dev manifest."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIXIANG_")}
    env["SHIXIANG_DEV_ROOT"] = str(suite.root)
    return subprocess.run([sys.executable, "-m", "shixiang.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


async def test_a_registration_that_can_never_be_coded_is_dead_lettered_and_replay_keeps_it(suite: Suite) -> None:
    assert suite.broker is not None
    bootstrap = suite.broker.bootstrap_servers
    poison = CloudEvent(id=str(uuid.uuid4()), type="lifecycle.item.registration_requested.v1",
                        source="/shixiang/lifecycle", subject=str(uuid.uuid4()), time=datetime.now(UTC),
                        data={"revision": 1, "elements": {"item_type": "77", "region_code": "440115",
                                                          "police_type": "02", "service_category": "03",
                                                          "short_name": "（）"}}, sequence=3)
    key, value, headers = poison.to_kafka()
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("shixiang.lifecycle.events", value=value, key=key, headers=headers)
    finally:
        await producer.stop()

    dead = await read_topic(bootstrap, "shixiang.coding.dlt", expect=1, timeout_s=30)
    assert [dict(r.headers)["ce_id"] for r in dead] == [poison.id.encode()]
    assert b"CodeElementsInvalidError" in dict(dead[0].headers)["dlt_error"]

    replay = await asyncio.to_thread(shixiang, suite, "dlt", "replay", "--service", "coding")
    assert replay.returncode == 1, replay.stderr  # it still cannot succeed: reported, and kept
    assert "0 replayed, 0 already applied, 1 failed again" in replay.stdout
    kept = await read_topic(bootstrap, "shixiang.coding.dlt", expect=2, timeout_s=30)
    assert [dict(r.headers)["ce_id"] for r in kept] == [poison.id.encode()] * 2
