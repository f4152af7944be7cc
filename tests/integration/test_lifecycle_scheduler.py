"""Planned dates (计划生效/取消日期) on real PostgreSQL: the scheduler acts at the planned time, survives restarts,
never acts twice (two schedulers at once), and steps aside when a command got there first. Time is the harness's
movable clock: nothing here waits for a real date."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import func, select, text

from shared.db import make_engine
from shared.eventstore import events_table
from tests.integration.test_lifecycle_commands import CODE, HUKOU, Harness, lifecycle_harness

from lifecycle.adapters.tables import schedule_table
from lifecycle.domain.planning import CHINA_STANDARD_TIME
from lifecycle.service_layer.clock import Clock
from lifecycle.service_layer.planned_dates import PlannedDatesScheduler

EFFECTIVE = "2026-03-10"
EFFECTIVE_AT = datetime(2026, 3, 10, tzinfo=CHINA_STANDARD_TIME)
CANCEL_AT = datetime(2026, 6, 30, tzinfo=CHINA_STANDARD_TIME)
DATED = {**HUKOU, "planned_effective_date": EFFECTIVE, "planned_cancel_date": "2026-06-30"}


@pytest.fixture
async def h(database_url: str, topic_prefix: str) -> AsyncIterator[Harness]:
    async with lifecycle_harness(database_url, topic_prefix) as harness:
        yield harness


async def registered_with_dates(h: Harness, n: int = 0) -> str:
    item_id = await h.drafted(DATED)
    await h.to_testing(item_id)
    await h.command(item_id, "record-test", user="tester-gz", result="pass")
    await h.command(item_id, "register", user="publisher-gz")
    await h.code(item_id, f"{CODE[:-2]}{n:02d}")
    return item_id


async def scheduler_events(h: Harness, event_type: str) -> dict[str, int]:
    """How many events of ``event_type`` the scheduler wrote, per item."""
    async with h.engine.connect() as conn:
        rows = await conn.execute(select(events_table.c.stream_id, func.count()).where(
            events_table.c.actor == "scheduler", events_table.c.type == event_type).group_by(events_table.c.stream_id))
        return {r[0]: r[1] for r in rows}


async def test_a_registered_item_goes_online_at_its_planned_effective_date_and_not_before(h: Harness) -> None:
    item_id = await registered_with_dates(h)
    planned = (await h.state(item_id))["planned"]
    assert planned == {"action": "publish", "action_label": "计划上线", "date": EFFECTIVE,
                       "due_at": EFFECTIVE_AT.isoformat(), "revision": 1}

    assert await h.scheduler.run_due() == 0  # the clock is still at 2026-03-02
    assert (await h.state(item_id))["phase"] == "preparing"

    h.clock.current = EFFECTIVE_AT
    assert await h.scheduler.run_due() == 1
    online = await h.state(item_id)
    assert (online["phase"], online["last_transition"]["actor"]) == ("online", "scheduler")
    last = (await h.events(item_id))[-1]
    assert last["data"]["planned_date"] == EFFECTIVE and last["data"]["code"] == online["code"]
    assert online["planned"]["action"] == "cancel"  # the next planned action
    assert await h.scheduler.run_due() == 0


async def test_at_the_planned_cancel_date_an_online_item_is_cancelled(h: Harness) -> None:
    item_id = await registered_with_dates(h)
    h.clock.current = EFFECTIVE_AT
    await h.scheduler.run_due()
    h.clock.current = CANCEL_AT
    assert await h.scheduler.run_due() == 1
    cancelled = await h.state(item_id)
    assert cancelled["phase"] == "cancelled"
    assert cancelled["last_transition"]["reason"] == "计划取消日期（2026-06-30）已到"
    assert cancelled["planned"] is None
    async with h.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(schedule_table)) == 0


async def test_the_worker_loop_acts_when_the_time_comes(h: Harness) -> None:
    item_id = await registered_with_dates(h)
    worker = PlannedDatesScheduler(h.engine, h.service.repository, Clock(h.clock.now), poll_interval_s=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.1)
        assert (await h.state(item_id))["phase"] == "preparing"
        h.clock.current = EFFECTIVE_AT
        for _ in range(200):
            if (await h.state(item_id))["phase"] == "online":
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert (await h.state(item_id))["phase"] == "online"


async def test_planned_actions_survive_a_restart(database_url: str, topic_prefix: str) -> None:
    async with lifecycle_harness(database_url, topic_prefix) as h:
        item_id = await registered_with_dates(h)
    async with lifecycle_harness(database_url, topic_prefix) as restarted:  # a new process: nothing in memory
        restarted.clock.current = EFFECTIVE_AT
        assert await restarted.scheduler.run_due() == 1
        assert (await restarted.state(item_id))["phase"] == "online"


async def test_two_schedulers_at_once_act_on_each_due_item_exactly_once(h: Harness, database_url: str) -> None:
    ids = [await registered_with_dates(h, n) for n in range(30)]
    h.clock.current = EFFECTIVE_AT
    replica_engine = make_engine(database_url, pool_size=5)  # another process: its own connections
    replica = PlannedDatesScheduler(replica_engine, h.service.repository, Clock(h.clock.now))
    try:
        counts = await asyncio.gather(h.scheduler.run_due(), replica.run_due(), h.scheduler.run_due(),
                                      replica.run_due())
    finally:
        await replica_engine.dispose()
    assert sum(counts) == 30
    assert await scheduler_events(h, "lifecycle.item.published.v1") == dict.fromkeys(ids, 1)
    assert {(await h.state(i))["phase"] for i in ids} == {"online"}


async def test_a_command_that_gets_there_first_leaves_the_scheduler_nothing_to_do(h: Harness) -> None:
    published_by_hand = await registered_with_dates(h, 1)
    cancelled_by_hand = await registered_with_dates(h, 2)
    await h.command(published_by_hand, "publish", user="publisher-gz")
    await h.command(cancelled_by_hand, "cancel", user="publisher-gz", reason="停止办理")
    h.clock.current = EFFECTIVE_AT
    await h.scheduler.run_due()
    assert await scheduler_events(h, "lifecycle.item.published.v1") == {}
    assert (await h.state(published_by_hand))["last_transition"]["actor"] == "publisher-gz"


async def test_a_failing_planned_action_is_postponed_with_its_error_instead_of_spinning(h: Harness) -> None:
    item_id = await registered_with_dates(h)
    async with h.engine.begin() as conn:  # a stored event the fold cannot read
        await conn.execute(text("UPDATE events SET data = data - 'result' WHERE stream_id = :id AND version = 4"),
                           {"id": item_id})
    h.clock.current = EFFECTIVE_AT
    outcome = await h.scheduler.run_one()
    assert outcome is not None and (outcome.item_id, outcome.outcome) == (item_id, "failed")
    async with h.engine.connect() as conn:
        row = (await conn.execute(select(schedule_table).where(schedule_table.c.item_id == item_id))).one()
    assert row.attempts == 1 and "KeyError" in row.last_error and row.due_at > EFFECTIVE_AT
    assert await h.scheduler.run_one() is None  # not due again yet
