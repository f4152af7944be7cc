"""The event store on real PostgreSQL: optimistic concurrency, batch appends, global order and the hash chain."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import ConcurrencyConflictError
from shared.eventstore import (
    GENESIS_HASH,
    EventMetadata,
    EventStore,
    NewEvent,
    StreamAppend,
    append_batch,
    append_prepared,
    prepare_append,
    verify_chain,
)

META = EventMetadata(actor="alice", correlation_id="corr-1")


async def test_an_append_with_a_stale_expected_version_is_a_conflict_and_writes_nothing(store_engine: AsyncEngine) -> None:
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
    events = await store.read_after(0, 10)
    assert [(e.stream_id, e.version, e.type) for e in events] == [("x", 1, "a.v1"), ("x", 2, "b.v1"), ("y", 1, "c.v1")]
    assert events[0].actor == "alice" and events[0].correlation_id == "corr-1" and events[2].causation_id == "cause"
    assert await store.read_after(events[1].position, 10) == [events[2]]


async def test_the_hash_chain_detects_an_edited_or_deleted_event(store_engine: AsyncEngine) -> None:
    store = EventStore(store_engine)
    for n in range(5):
        await store.append("item-h", n, [NewEvent("a.v1", {"n": n, "名称": "户口迁移"})], META)
    verdict = verify_chain(await store.load("item-h"))
    assert verdict.ok and verdict.events == 5

    async with store_engine.begin() as conn:
        await conn.execute(text("UPDATE events SET data = jsonb_set(data, '{n}', '99') "
                                "WHERE stream_id = 'item-h' AND version = 3"))
    edited = verify_chain(await store.load("item-h"))
    assert (edited.ok, edited.broken_at_version) == (False, 3)

    async with store_engine.begin() as conn:
        await conn.execute(text("UPDATE events SET data = jsonb_set(data, '{n}', '2') "
                                "WHERE stream_id = 'item-h' AND version = 3"))
        await conn.execute(text("DELETE FROM events WHERE stream_id = 'item-h' AND version = 2"))
    deleted = verify_chain(await store.load("item-h"))
    assert (deleted.ok, deleted.broken_at_version) == (False, 2)


async def test_events_prepared_ahead_are_appended_only_onto_the_heads_they_were_chained_to(
        store_engine: AsyncEngine) -> None:
    store = EventStore(store_engine)
    first = await store.append("item-p", 0, [NewEvent("a.v1", {"n": 1})], META)
    head = (1, first[-1].hash)
    ready = prepare_append([StreamAppend("item-p", 1, [NewEvent("a.v1", {"n": 2})]),
                            StreamAppend("item-q", 0, [NewEvent("a.v1", {"n": 1})])], META,
                           {"item-p": head, "item-q": (0, GENESIS_HASH)})
    moved = prepare_append([StreamAppend("item-p", 1, [NewEvent("a.v1", {"n": 3})])], META, {"item-p": head})
    async with store_engine.begin() as conn:
        stored = await append_prepared(conn, ready)
    assert [(e.stream_id, e.version) for e in stored] == [("item-p", 2), ("item-q", 1)]
    assert verify_chain(await store.load("item-p")).ok and verify_chain(await store.load("item-q")).ok
    with pytest.raises(ConcurrencyConflictError) as conflict:  # item-p moved on since `moved` was prepared
        async with store_engine.begin() as conn:
            await append_prepared(conn, moved)
    assert conflict.value.context == {"stream_id": "item-p", "expected": 1, "actual": 2}
    forged = prepare_append([StreamAppend("item-q", 1, [NewEvent("a.v1", {"n": 2})])], META,
                            {"item-q": (1, GENESIS_HASH)})  # the right version, but not the stored event's hash
    with pytest.raises(ConcurrencyConflictError):
        async with store_engine.begin() as conn:
            await append_prepared(conn, forged)
    with pytest.raises(ConcurrencyConflictError):  # a head that is not at the expected version is refused at once
        prepare_append([StreamAppend("item-q", 0, [NewEvent("a.v1", {})])], META, {"item-q": (1, "x")})
    assert [e.version for e in await store.load("item-p")] == [1, 2] and len(await store.load("item-q")) == 1
