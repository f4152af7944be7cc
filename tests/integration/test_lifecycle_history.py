"""A verifiable history on real PostgreSQL: snapshots that load exactly what the log says, the hash chain checked
through the API (an edited or deleted stored event is found), and every read model rebuilt from the log."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text

from shared.eventstore import load_stream
from tests.integration.test_lifecycle_commands import HUKOU, Harness, lifecycle_harness

from lifecycle.adapters.rebuild import rebuild_projections
from lifecycle.adapters.snapshots import SNAPSHOT_SCHEMA_VERSION
from lifecycle.adapters.tables import PROJECTION_SCHEMA_VERSION, items_table, schedule_table, snapshots_table
from lifecycle.bootstrap import rebuild
from lifecycle.config import LifecycleSettings
from lifecycle.domain.evolve import fold


@pytest.fixture
async def h(database_url: str, topic_prefix: str) -> AsyncIterator[Harness]:
    async with lifecycle_harness(database_url, topic_prefix, snapshot_every=4) as harness:
        yield harness


async def long_item(h: Harness, updates: int = 3) -> str:
    """An online item that went through several updates: a stream long enough for snapshots."""
    item_id = await h.drafted()
    await h.to_online(item_id)
    for n in range(2, 2 + updates):
        await h.revision(item_id, n, author="entry2-gz", elements={**HUKOU, "competent_department": f"部门{n}"})
        await h.command(item_id, "submit", user="entry-gz")
        await h.command(item_id, "approve", user="reviewer-gz")
        await h.command(item_id, "publish", user="publisher-gz")
    return item_id


# ================================================================================================ snapshots
async def test_a_long_stream_is_loaded_from_its_snapshot_and_gives_exactly_the_logs_state(h: Harness) -> None:
    item_id = await long_item(h)
    async with h.engine.connect() as conn:
        snapshots = (await conn.execute(select(snapshots_table.c.version, snapshots_table.c.schema_version).where(
            snapshots_table.c.item_id == item_id))).all()
        from_log = fold(item_id, await load_stream(conn, item_id))
        loaded = await h.service.repository.load(conn, item_id)
    assert len(snapshots) == 1  # one per item: the latest
    assert snapshots[0].schema_version == SNAPSHOT_SCHEMA_VERSION and 4 <= snapshots[0].version <= from_log.version
    assert loaded == from_log and from_log.version == 19


async def test_a_snapshot_of_another_schema_is_ignored(h: Harness) -> None:
    item_id = await long_item(h, updates=1)
    async with h.engine.begin() as conn:
        await conn.execute(snapshots_table.insert().values(
            item_id=item_id, version=99, schema_version=SNAPSHOT_SCHEMA_VERSION + 1,
            state={"shape": "from the future"}))
    state = await h.state(item_id)
    assert state["version"] == 11 and state["published"]["revision"] == 2


async def test_loading_many_items_uses_their_snapshots_too(h: Harness) -> None:
    ids = [await long_item(h, updates=1) for _ in range(3)]
    async with h.engine.connect() as conn:
        many = await h.service.repository.load_many(conn, ids)
        for item_id in ids:
            assert many[item_id] == fold(item_id, await load_stream(conn, item_id))


# ================================================================================================ the hash chain
async def test_an_untouched_history_verifies(h: Harness) -> None:
    item_id = await long_item(h, updates=1)
    report = (await h.call("GET", f"/items/{item_id}/verify", user="operator")).json()
    assert report["verified"] is True and report["verified_label"] == "哈希链完整"
    assert (report["events"], report["head_version"], report["projected_version"]) == (11, 11, 11)
    assert report["broken_at_version"] is None and report["reason"] is None
    events = await h.events(item_id)
    assert report["head_hash"] == events[-1]["hash"]


async def test_an_edited_stored_event_is_detected_through_the_api(h: Harness) -> None:
    item_id = await long_item(h, updates=1)
    async with h.engine.begin() as conn:  # someone with database access rewrites who approved
        await conn.execute(text("UPDATE events SET actor = 'intruder' WHERE stream_id = :id AND version = 3"),
                           {"id": item_id})
    report = (await h.call("GET", f"/items/{item_id}/verify", user="operator")).json()
    assert (report["verified"], report["broken_at_version"]) == (False, 3)
    assert report["reason"] == "第 3 版事件内容与哈希链不符" and report["verified_label"] == "哈希链被破坏"


async def test_an_edited_event_payload_is_detected_through_the_api(h: Harness) -> None:
    item_id = await long_item(h, updates=1)
    async with h.engine.begin() as conn:
        await conn.execute(text("""UPDATE events SET data = jsonb_set(data, '{elements,name}', '"伪造名称"')
                                   WHERE stream_id = :id AND version = 7"""), {"id": item_id})
    report = (await h.call("GET", f"/items/{item_id}/verify", user="operator")).json()
    assert (report["verified"], report["broken_at_version"]) == (False, 7)


async def test_a_deleted_event_in_the_middle_is_detected_through_the_api(h: Harness) -> None:
    item_id = await long_item(h, updates=1)
    async with h.engine.begin() as conn:
        await conn.execute(text("DELETE FROM events WHERE stream_id = :id AND version = 5"), {"id": item_id})
    report = (await h.call("GET", f"/items/{item_id}/verify", user="operator")).json()
    assert (report["verified"], report["broken_at_version"], report["reason"]) == (False, 5, "第 5 版事件缺失")


async def test_a_deleted_last_event_is_detected_by_comparing_with_the_read_model(h: Harness) -> None:
    item_id = await long_item(h, updates=1)
    async with h.engine.begin() as conn:
        await conn.execute(text("DELETE FROM events WHERE stream_id = :id AND version = 11"), {"id": item_id})
    report = (await h.call("GET", f"/items/{item_id}/verify", user="operator")).json()
    assert report["verified"] is False
    assert (report["head_version"], report["projected_version"], report["broken_at_version"]) == (10, 11, 11)
    assert report["reason"] == "读模型记录到第 11 版，事件日志只到第 10 版：末尾的事件已被删除"


async def test_a_lifecycle_switched_to_sm3_chains_its_commands_with_sm3_and_its_history_still_verifies(
        database_url: str, topic_prefix: str) -> None:
    """SHIXIANG_EVENT_HASH=sm3 on a store that has SHA-256 events: the commands after the switch (single ones, one
    statement each, and those due a snapshot, a transaction each) are chained with SM3 onto the SHA-256 head, and
    the chain report verifies both."""
    async with lifecycle_harness(database_url, topic_prefix, snapshot_every=4) as before:
        item_id = await before.drafted()
    async with lifecycle_harness(database_url, topic_prefix, snapshot_every=4, event_hash="sm3") as after:
        await after.to_online(item_id)
        history = await after.events(item_id)
        report = (await after.call("GET", f"/items/{item_id}/verify", user="operator")).json()
    assert history[0]["hash_alg"] == "sha256"
    assert {e["hash_alg"] for e in history[1:]} == {"sm3"} and len(history) > 4
    assert report["verified"] is True and report["hash_algorithms"] == ["sha256", "sm3"]
    assert report["head_hash"] == history[-1]["hash"]


async def test_verification_is_limited_to_the_callers_regions(h: Harness) -> None:
    item_id = await h.drafted()
    response = await h.call("GET", f"/items/{item_id}/verify", user="reviewer-sz", expect=404)
    assert response.json()["code"] == "ITEM_NOT_FOUND"


# ================================================================================================ rebuild
async def read_models(h: Harness) -> tuple[list[dict[str, object]], list[dict[str, object]], list[tuple[str, int]]]:
    async with h.engine.connect() as conn:
        items = [dict(r._mapping) for r in await conn.execute(select(items_table).order_by(items_table.c.item_id))]
        planned = [dict(r._mapping) for r in await conn.execute(
            select(schedule_table.c.item_id, schedule_table.c.action, schedule_table.c.due_at,
                   schedule_table.c.planned_date, schedule_table.c.revision).order_by(schedule_table.c.item_id))]
        snapshots = [(r.item_id, r.version) for r in await conn.execute(
            select(snapshots_table.c.item_id, snapshots_table.c.version).order_by(snapshots_table.c.item_id))]
    for row in items:
        row.pop("updated_at")
    return items, planned, snapshots


async def test_rebuilding_from_the_log_restores_every_read_model(h: Harness) -> None:
    long_one = await long_item(h)
    dated = await h.drafted({**HUKOU, "planned_effective_date": "2030-01-01"})
    await h.to_testing(dated)
    await h.command(dated, "record-test", user="tester-gz", result="pass")
    await h.command(dated, "register", user="publisher-gz")
    await h.code(dated, "014401150203HKQYSP000001")
    for _ in range(3):
        await h.drafted()
    before = await read_models(h)
    assert len(before[0]) == 5 and [p["item_id"] for p in before[1]] == [dated]

    async with h.engine.begin() as conn:  # read models lost or corrupted
        await conn.execute(text("UPDATE lifecycle_items SET phase = 'cancelled', version = 0"))
        await conn.execute(text("DELETE FROM lifecycle_schedule"))
        await conn.execute(text("DELETE FROM lifecycle_snapshots"))
    report = await rebuild_projections(h.engine, h.service.repository)
    assert report is not None
    assert (report.events, report.items, report.planned) == (19 + 6 + 3, 5, 1)
    after = await read_models(h)
    assert after[0] == before[0] and after[1] == before[1]
    # a snapshot at the head of every stream at least one snapshot interval long; none for the short drafts
    assert sorted(after[2]) == sorted([(long_one, 19), (dated, 6)])


async def test_shixiang_rebuild_reports_the_rate(database_url: str, topic_prefix: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    async with lifecycle_harness(database_url, topic_prefix) as h:
        for _ in range(3):
            await h.to_online(await h.drafted())
    await rebuild(LifecycleSettings(database_url=database_url, topic_prefix=topic_prefix, roles="api"))
    out = capsys.readouterr().out
    assert "lifecycle projections rebuilt from 21 events: 3 items" in out and "events/s" in out


async def test_a_newer_projection_schema_rebuilds_at_start_up(database_url: str, topic_prefix: str) -> None:
    async with lifecycle_harness(database_url, topic_prefix) as h:
        item_id = await h.drafted()
        await h.to_testing(item_id)
        async with h.engine.begin() as conn:  # as if written by an older release
            await conn.execute(text("UPDATE lifecycle_projection_meta SET schema_version = 0"))
            await conn.execute(text("UPDATE lifecycle_items SET step = 'stale'"))
    async with lifecycle_harness(database_url, topic_prefix) as h:
        async with h.engine.connect() as conn:
            row = (await conn.execute(select(items_table.c.step).where(items_table.c.item_id == item_id))).one()
            meta = [tuple(r) for r in await conn.execute(text(
                "SELECT name, schema_version, events FROM lifecycle_projection_meta"))]
        assert row.step == "testing"
        assert meta == [("lifecycle", PROJECTION_SCHEMA_VERSION, 3)]
