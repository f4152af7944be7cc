"""The reference client (``shixiang follow``) against the running suite: a follower killed with SIGKILL anywhere and
restarted mirrors the catalogue exactly, and a follower of a gone feed epoch is told so (410) and starts again from
the snapshot."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from shixiang.client import SuiteClient
from shixiang.services import SERVICES
from shixiang.suite import Suite
from tests.e2e.conftest import HUKOU, feed_entries_for

pytestmark = pytest.mark.e2e


def unique(name: str) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:4].upper()
    return {**HUKOU, "name": f"{name}{tag}", "short_name": f"{name}{tag}"}


def follow_command(suite: Suite, db: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "shixiang.cli", "follow", suite.url("sync"), "--db", str(db),
            "--token", suite.token("national"), *extra]


def mirror(db: Path) -> dict[str, tuple[int, str | None, str]]:
    """The follower's catalogue: its online items (id → item version, code, state)."""
    with sqlite3.connect(db) as conn:
        return {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
            "SELECT item_id, item_version, code, state FROM items WHERE state = 'online'")}


def follower_position(db: Path) -> tuple[str, int] | None:
    if not db.exists():
        return None
    with sqlite3.connect(db) as conn:
        try:
            row = conn.execute("SELECT epoch, cursor FROM follower").fetchone()
        except sqlite3.OperationalError:  # not made yet
            return None
    return None if row is None else (row[0], int(row[1]))


async def catalogue(client: SuiteClient) -> dict[str, tuple[int, str | None, str]]:
    found: dict[str, tuple[int, str | None, str]] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        body = (await client.call("GET", "sync", "/sync/v1/catalog", user="national", params=params)).json()
        found.update({i["item_id"]: (i["item_version"], i["code"], i["state"]) for i in body["items"]})
        cursor = body["next_cursor"]
        if cursor is None:
            return found


async def until(check: Any, what: str, timeout_s: float = 60.0) -> None:
    """Wait for a condition (the follower is another process): not a timing assertion, a bound on waiting."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


async def run_once(suite: Suite, db: Path) -> str:
    process = await asyncio.create_subprocess_exec(*follow_command(suite, db, "--once"),
                                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, out.decode()
    return out.decode()


async def test_a_follower_killed_anywhere_and_restarted_mirrors_the_catalogue_and_survives_a_new_epoch(
        suite: Suite, client: SuiteClient, tmp_path: Path) -> None:
    db = tmp_path / "mirror.sqlite"
    before = [(await client.create_item(unique(f"户口迁移审批{i}")))["item_id"] for i in range(2)]
    for item_id in before:
        await client.drive_to_online(item_id)
    await feed_entries_for(client, before[-1], want=1)

    follower = await asyncio.create_subprocess_exec(*follow_command(suite, db, "--wait", "1"),
                                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                    start_new_session=True)
    try:
        await until(lambda: follower_position(db) is not None, "the follower took its snapshot")
        # Changes while it follows: a new item online, an update, a suspension and a cancellation.
        added = (await client.create_item(unique("普通护照签发")))["item_id"]
        await client.drive_to_online(added)
        draft = await client.registry_item(before[0])
        await client.revise_item(before[0], {**draft["elements"], "competent_department": "广东省公安厅"},
                                 draft["revision"])
        await client.wait_for_state(before[0], lambda s: s["step"] == "update_entry")
        await client.command(before[0], "submit", user="entry-gz")
        await client.command(before[0], "approve", user="reviewer-gz")
        await client.command(before[0], "publish", user="publisher-gz")
        [entry] = await feed_entries_for(client, added, want=1)
        await until(lambda: (follower_position(db) or ("", 0))[1] >= int(entry["sequence"]),
                    "the follower read past the new item")
    finally:
        os.killpg(follower.pid, signal.SIGKILL)  # mid-run: between polls or in the middle of one
        await follower.wait()

    # Changes while it is dead.
    await client.command(before[1], "unpublish", user="publisher-gz", body={"kind": "suspension", "reason": "系统升级"})
    await client.command(before[1], "cancel", user="publisher-gz", body={"reason": "职能调整"})
    await feed_entries_for(client, before[1], want=3)
    await feed_entries_for(client, before[0], want=2)

    await run_once(suite, db)
    expected = await catalogue(client)
    assert mirror(db) == expected
    assert added in expected and before[1] not in expected and expected[before[0]][0] > 0

    # The feed's store made anew (here: its epoch renewed, as after a restore): the follower is answered 410 and
    # replaces its mirror from a new snapshot.
    position = follower_position(db)
    assert position is not None
    renew = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shixiang.cli", "feed-epoch", "--renew", "--database-url",
        suite.postgres.url(SERVICES["sync"].database), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    renewed, _ = await asyncio.wait_for(renew.communicate(), 60)
    assert renew.returncode == 0 and "renewed" in renewed.decode(), renewed.decode()
    later = (await client.create_item(unique("居民身份证办理")))["item_id"]
    await client.drive_to_online(later)
    await feed_entries_for(client, later, want=1)

    out = await run_once(suite, db)
    assert "410" in out and "snapshot:" in out
    new_position = follower_position(db)
    assert new_position is not None and new_position[0] != position[0]
    assert mirror(db) == await catalogue(client)
    assert later in mirror(db)
