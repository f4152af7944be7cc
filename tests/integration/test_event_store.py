"""The event store on real PostgreSQL: optimistic concurrency, batch appends, global order and the hash chain."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import ConcurrencyConflictError
from shared.eventstore import (
    START,
    EventMetadata,
    EventStore,
    NewEvent,
    StreamAppend,
    append_batch,
    verify_chain,
)

META = EventMetadata(actor="alice", correlation_id="corr-1")


async def test_an_append_with_a_stale_expected_version_is_a_conflict_and_writes_nothing(
        store_engine: AsyncEngine) -> None:
    store = EventStore(store_engine)
    await store.append("item-1", 0, [NewEvent("a.v1", {"n": 1})], META)
    with pytest.raises(ConcurrencyConflictError) as conflict:
        await store.append("item-1", 0, [NewEvent("a.v1", {"n": 2})], META)
    assert conflict.value.context == {"stream_id": "item-1", "expected": 0, "actual": 1}
    with pytest.raises(ConcurrencyConflictError):
        await store.append("item-1", 5, [NewEvent("a.v1", {"n": 3})], META)  # ahead of the stream: no gap allowed
    assert [e.data for e in await store.load("item-1")] == [{"n": 1}]


async def test_of_two_racing_appends_exactly_one_wins(store_engine: AsyncEngine) -> None:
    store = EventStore(store_engine)
    results = await asyncio.gather(
        *(store.append("item-race", 0, [NewEvent("a.v1", {"writer": w})], META) for w in range(8)),
        return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, ConcurrencyConflictError) for r in results if isinstance(r, Exception))


async def test_a_batch_appends_to_many_streams_all_or_nothing(store_engine: AsyncEngine) -> None:
    store = EventStore(store_engine)
    await store.append("item-b", 0, [NewEvent("a.v1", {})], META)
    async with store_engine.begin() as conn:
        stored = await append_batch(conn, [StreamAppend(f"item-{i}", 0, [NewEvent("a.v1", {"i": i})] * 1)
                                           for i in range(100)], META)
    assert [e.position for e in stored] == sorted(e.position for e in stored)
    with pytest.raises(ConcurrencyConflictError):
        async with store_engine.begin() as conn:
            await append_batch(conn, [StreamAppend("item-new", 0, [NewEvent("a.v1", {})]),
                                      StreamAppend("item-b", 0, [NewEvent("a.v1", {})])], META)
    assert await store.version("item-new") == 0  # the good half was not written either


async def test_events_carry_metadata_and_are_read_in_global_order(store_engine: AsyncEngine) -> None:
    store = EventStore(store_engine)
    await store.append("x", 0, [NewEvent("a.v1", {"k": "甲"}), NewEvent("b.v1", {"k": "乙"})], META)
    await store.append("y", 0, [NewEvent("c.v1", {})], EventMetadata(actor="bob", causation_id="cause"))
    first = await store.read_settled(START, 10)
    events = first.events
    assert [(e.stream_id, e.version, e.type) for e in events] == [("x", 1, "a.v1"), ("x", 2, "b.v1"), ("y", 1, "c.v1")]
    assert events[0].actor == "alice" and events[0].correlation_id == "corr-1" and events[2].causation_id == "cause"
    assert not first.held_back
    after_two = await store.read_settled(START, 2)
    assert after_two.events == events[:2]
    assert (await store.read_settled(after_two.cursor, 10)).events == [events[2]]
    assert (await store.read_settled(first.cursor, 10)).events == []


async def test_a_committed_event_is_held_back_while_an_older_transaction_is_still_running(
        store_engine: AsyncEngine) -> None:
    """The reader's horizon: an event committed after an older transaction began waits until that one ends, so a
    cursor can never move past a place where an event may still appear."""
    store = EventStore(store_engine)
    async with store_engine.connect() as older:
        await older.execute(text("SELECT pg_current_xact_id()"))  # a transaction with an id, still open
        await store.append("late", 0, [NewEvent("a.v1", {})], META)  # a younger transaction commits
        blocked = await store.read_settled(START, 10)
        assert (blocked.events, blocked.held_back, blocked.cursor) == ([], True, START)
        await older.rollback()
    released = await store.read_settled(START, 10)
    assert [e.stream_id for e in released.events] == ["late"] and not released.held_back


async def test_each_event_may_carry_its_own_metadata(store_engine: AsyncEngine) -> None:
    store = EventStore(store_engine)
    async with store_engine.begin() as conn:
        await append_batch(conn, [StreamAppend("m", 0, [
            NewEvent("a.v1", {}, metadata=EventMetadata(actor="coding", causation_id="first")),
            NewEvent("b.v1", {}, metadata=EventMetadata(actor="coding", causation_id="second")),
            NewEvent("c.v1", {})])], META)
    assert [(e.actor, e.causation_id) for e in await store.load("m")] == [
        ("coding", "first"), ("coding", "second"), ("alice", None)]
    assert verify_chain(await store.load("m")).ok


async def test_a_batch_that_loses_a_race_names_the_stream_it_lost(store_engine: AsyncEngine) -> None:
    """Without a table lock, two writers may both read a head and insert the same next version: the primary key
    makes the later insert wait for the earlier transaction and then refuses it, and the conflict says which
    stream, so a batch knows which of its items to decide again."""
    store = EventStore(store_engine)
    await store.append("b-1", 0, [NewEvent("a.v1", {})], META)
    async with store_engine.connect() as winner:
        await append_batch(winner, [StreamAppend("b-1", 1, [NewEvent("a.v1", {"winner": True})])], META)

        async def loser() -> None:
            async with store_engine.begin() as conn:  # reads head v1 (the winner has not committed), inserts v2
                await append_batch(conn, [StreamAppend("b-0", 0, [NewEvent("a.v1", {})]),
                                          StreamAppend("b-1", 1, [NewEvent("a.v1", {"winner": False})])], META)

        racing = asyncio.create_task(loser())
        await asyncio.sleep(0.5)
        assert not racing.done()  # waiting on the winner's uncommitted version 2
        await winner.commit()
        with pytest.raises(ConcurrencyConflictError) as conflict:
            await racing
    assert conflict.value.context["stream_id"] == "b-1"
    assert [e.data for e in await store.load("b-1")][1] == {"winner": True}
    assert await store.version("b-0") == 0 and verify_chain(await store.load("b-1")).ok


async def test_a_database_made_by_an_older_version_is_refused_at_start_up_with_what_is_missing(
        store_engine: AsyncEngine) -> None:
    """create_all makes missing tables but never changes existing ones: a service started on an older schema says
    so at once instead of failing on the first statement that needs the new column."""
    from shared.db import OutdatedSchemaError, create_schema
    from shared.eventstore import store_metadata

    async with store_engine.begin() as conn:
        await conn.execute(text("ALTER TABLE events DROP COLUMN tx_id CASCADE"))
    with pytest.raises(OutdatedSchemaError, match=r"events\.tx_id.*shixiang dev --fresh"):
        await create_schema(store_engine, store_metadata)
