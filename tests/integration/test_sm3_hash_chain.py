"""SM3 hash chains (国密, GB/T 32905) on real PostgreSQL: a store chooses its algorithm (SHIXIANG_EVENT_HASH, carried
by its engine), every event records the one it was chained with, so an SM3 chain verifies and shows an edit, a store
switched from SHA-256 to SM3 mid-stream verifies, and concurrent writers of an SM3 store (whose links the writer
computes, PostgreSQL having no SM3) still leave one winner and a linear chain."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import EVENT_HASH_OPTION
from shared.errors import ConcurrencyConflictError
from shared.eventstore import (
    GENESIS_HASH,
    EventMetadata,
    EventStore,
    NewEvent,
    StreamAppend,
    append_batch,
    append_prepared,
    canonical_json,
    hash_content,
    prepare_append,
    verify_chain,
)
from tests.integration.conftest import wait_until

META = EventMetadata(actor="alice", correlation_id="corr-1")


def sm3_store(engine: AsyncEngine) -> AsyncEngine:
    """The same database as an SM3 store (what make_engine(event_hash="sm3") makes, sharing the test's pool)."""
    return engine.execution_options(**{EVENT_HASH_OPTION: "sm3"})


async def recorded_algorithms(engine: AsyncEngine, stream_id: str) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT hash_alg FROM events WHERE stream_id = :s ORDER BY version"),
                                        {"s": stream_id})).scalars())


async def test_an_sm3_store_chains_every_event_with_sm3_records_it_and_verifies(store_engine: AsyncEngine) -> None:
    store = EventStore(sm3_store(store_engine))
    stored = await store.append("item-1", 0, [NewEvent("a.v1", {"n": 1}), NewEvent("a.v1", {"名": "二"})], META)
    async with store.engine.begin() as conn:
        stored += await append_batch(conn, [StreamAppend("item-1", 2, [NewEvent("b.v1", {"n": 3})])], META)
    assert [e.hash_alg for e in stored] == ["sm3"] * 3
    assert await recorded_algorithms(store_engine, "item-1") == ["sm3"] * 3

    events = await store.load("item-1")
    previous = GENESIS_HASH
    for e in events:  # the link is SM3 of the previous hash and the same canonical content SHA-256 covers
        content = hash_content(e.stream_id, e.version, e.event_id, e.type, canonical_json(e.data), e.actor,
                               e.recorded_at)
        assert e.hash == hashlib.new("sm3", (previous + content).encode()).hexdigest()
        previous = e.hash
    assert [e.hash for e in events] == [e.hash for e in stored]
    verdict = verify_chain(events)
    assert verdict.ok and verdict.algorithms == ("sm3",) and verdict.head_hash == events[-1].hash


async def test_an_edited_event_of_an_sm3_chain_breaks_it_at_that_version(store_engine: AsyncEngine) -> None:
    store = EventStore(sm3_store(store_engine))
    for version in range(3):
        await store.append("item-e", version, [NewEvent("a.v1", {"n": version})], META)
    async with store_engine.begin() as conn:
        await conn.execute(text("UPDATE events SET data = '{\"n\": 99}' WHERE stream_id = 'item-e' AND version = 2"))
    verdict = verify_chain(await store.load("item-e"))
    assert not verdict.ok and verdict.broken_at_version == 2


async def test_an_event_relabelled_with_another_algorithm_breaks_the_chain(store_engine: AsyncEngine) -> None:
    """The algorithm is part of what is checked: claiming SHA-256 for an SM3 link does not verify."""
    store = EventStore(sm3_store(store_engine))
    await store.append("item-r", 0, [NewEvent("a.v1", {})], META)
    async with store_engine.begin() as conn:
        await conn.execute(text("UPDATE events SET hash_alg = 'sha256' WHERE stream_id = 'item-r'"))
    assert verify_chain(await store.load("item-r")).broken_at_version == 1


async def test_a_stream_switched_from_sha256_to_sm3_and_back_verifies_each_event_with_its_own_algorithm(
        store_engine: AsyncEngine) -> None:
    sha_store, sm3 = EventStore(store_engine), EventStore(sm3_store(store_engine))
    await sha_store.append("mixed", 0, [NewEvent("a.v1", {"n": 1}), NewEvent("a.v1", {"n": 2})], META)
    await sm3.append("mixed", 2, [NewEvent("a.v1", {"n": 3})], META)
    async with sm3.engine.begin() as conn:
        await append_batch(conn, [StreamAppend("mixed", 3, [NewEvent("a.v1", {"n": 4})])], META)
    await sha_store.append("mixed", 4, [NewEvent("a.v1", {"n": 5})], META)

    assert await recorded_algorithms(store_engine, "mixed") == ["sha256", "sha256", "sm3", "sm3", "sha256"]
    events = await sha_store.load("mixed")
    verdict = verify_chain(events)
    assert verdict.ok and verdict.events == 5 and verdict.algorithms == ("sha256", "sm3")
    # the SHA-256 link after the SM3 ones is computed in the database on the SM3 head: the chain is one
    assert events[4].hash == hashlib.sha256((events[3].hash + hash_content(
        "mixed", 5, events[4].event_id, "a.v1", '{"n":5}', "alice", events[4].recorded_at)).encode()).hexdigest()


async def test_prepared_appends_chain_with_the_algorithm_they_are_given(store_engine: AsyncEngine) -> None:
    """The registry's import path: events chained ahead of their transaction onto the heads read."""
    sha_store = EventStore(store_engine)
    first = await sha_store.append("p", 0, [NewEvent("a.v1", {})], META)
    prepared = prepare_append([StreamAppend("p", 1, [NewEvent("a.v1", {"n": 2})]),
                               StreamAppend("q", 0, [NewEvent("a.v1", {"n": 1})])], META,
                              {"p": (1, first[0].hash)}, hash_alg="sm3")
    async with store_engine.begin() as conn:
        stored = await append_prepared(conn, prepared)
    assert [e.hash_alg for e in stored] == ["sm3", "sm3"]
    assert await recorded_algorithms(store_engine, "p") == ["sha256", "sm3"]
    assert verify_chain(await sha_store.load("p")).ok and verify_chain(await sha_store.load("q")).ok


async def test_of_racing_appends_to_an_sm3_store_exactly_one_wins_and_the_chain_stays_linear(
        store_engine: AsyncEngine) -> None:
    store = EventStore(sm3_store(store_engine))
    await store.append("race", 0, [NewEvent("a.v1", {})], META)
    results = await asyncio.gather(
        *(store.append("race", 1, [NewEvent("a.v1", {"writer": w})], META) for w in range(8)),
        return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, ConcurrencyConflictError) for r in results if isinstance(r, Exception))
    events = await store.load("race")
    assert [e.version for e in events] == [1, 2] and verify_chain(events).ok


async def test_an_sm3_writer_chained_onto_a_head_another_writer_moves_meanwhile_loses(
        store_engine: AsyncEngine) -> None:
    """Both read head v1 and chain v2 onto it: the later insert waits for the earlier transaction, then the primary
    key refuses it; a writer arriving after the commit fails the head check. No fork either way."""
    engine = sm3_store(store_engine)
    store = EventStore(engine)
    await store.append("b-1", 0, [NewEvent("a.v1", {})], META)
    async with engine.connect() as winner:
        await append_batch(winner, [StreamAppend("b-1", 1, [NewEvent("a.v1", {"winner": True})])], META)

        async def loser() -> None:
            async with engine.begin() as conn:  # reads head v1 (the winner has not committed), inserts v2
                await append_batch(conn, [StreamAppend("b-1", 1, [NewEvent("a.v1", {"winner": False})])], META)

        racing = asyncio.create_task(loser())
        await wait_until(lambda: _waiting_on_a_lock(store_engine), what="the loser waiting on the winner's version")
        await winner.commit()
        with pytest.raises(ConcurrencyConflictError) as conflict:
            await racing
    assert conflict.value.context["stream_id"] == "b-1"
    with pytest.raises(ConcurrencyConflictError):  # after the commit: the head it expects has moved
        async with engine.begin() as conn:
            await append_batch(conn, [StreamAppend("b-1", 1, [NewEvent("a.v1", {"late": True})])], META)
    events = await store.load("b-1")
    assert [e.data for e in events] == [{}, {"winner": True}] and verify_chain(events).ok


async def test_the_append_function_refuses_a_link_it_cannot_compute(store_engine: AsyncEngine) -> None:
    """PostgreSQL computes SHA-256 only: an SM3 append without its links is an error, never a mislabelled chain."""
    async with store_engine.connect() as conn:
        with pytest.raises(Exception, match="sha256 links only"):
            await conn.execute(text(
                "SELECT * FROM shixiang_append(ARRAY['s'], ARRAY[0], ARRAY[1], ARRAY[gen_random_uuid()], ARRAY['a.v1'],"
                " ARRAY['{}'], ARRAY['x'], ARRAY[NULL::text], ARRAY[NULL::text], ARRAY[now()], ARRAY['c'], 'sm3',"
                " NULL, NULL)"))


async def _waiting_on_a_lock(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return bool(await conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")))
