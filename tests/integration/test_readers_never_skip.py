"""The store's global order under racing writers: a reader that polls "after my last place" never skips an event,
and a control reader that follows plain positions (the ordering removed) does skip — the bug the order prevents.

Each writer's transaction takes its position at INSERT and commits a few milliseconds later, so transactions
commit out of position order all the time, as they do under load."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.eventstore import START, EventMetadata, EventStore, NewEvent, StreamAppend, append_batch

WRITERS = 16
EVENTS_PER_WRITER = 60


async def write_slowly_committing(engine: AsyncEngine, writer: int) -> None:
    rng = random.Random(writer)
    for n in range(EVENTS_PER_WRITER):
        async with engine.begin() as conn:
            await append_batch(conn, [StreamAppend(f"w{writer}-{n}", 0, [NewEvent("test.v1", {"n": n})])],
                               EventMetadata(actor=f"writer-{writer}"))
            await conn.execute(text("SELECT pg_sleep(:s)"), {"s": rng.uniform(0, 0.006)})


async def store_reader(store: EventStore, seen: list[str], writing: asyncio.Event) -> None:
    cursor = START
    while True:
        # Whether the writers were still at it is taken *before* the read: taken after, a read made just before the
        # last commits would look final, and the reader would stop with those events unread (the test's race, not
        # the store's; seen once in a full run).
        done_writing = not writing.is_set()
        batch = await store.read_settled(cursor, 100)
        seen += [str(e.event_id) for e in batch.events]
        cursor = batch.cursor
        if not batch.events and not batch.held_back and done_writing:
            return
        await asyncio.sleep(0.001)


async def position_reader(engine: AsyncEngine, seen: list[str], writing: asyncio.Event) -> None:
    """The control: "events after the last position I saw", in position order, with nothing holding it back."""
    last = 0
    while True:
        done_writing = not writing.is_set()  # before the read, as in store_reader
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT position, event_id FROM events WHERE position > :p "
                                            "ORDER BY position LIMIT 100"), {"p": last})).all()
        seen += [str(r.event_id) for r in rows]
        if rows:
            last = rows[-1].position
        elif done_writing:
            return
        await asyncio.sleep(0.001)


async def test_a_polling_reader_never_skips_while_sixteen_writers_race_and_a_position_reader_does(
        store_engine: AsyncEngine) -> None:
    store = EventStore(store_engine)
    writing = asyncio.Event()
    writing.set()
    by_store: list[str] = []
    by_position: list[str] = []
    readers = [asyncio.create_task(store_reader(store, by_store, writing)),
               asyncio.create_task(position_reader(store_engine, by_position, writing))]
    await asyncio.gather(*(write_slowly_committing(store_engine, w) for w in range(WRITERS)))
    writing.clear()
    await asyncio.gather(*readers)

    stored = [str(e.event_id) async for batch in store.read_all() for e in batch]
    assert len(stored) == WRITERS * EVENTS_PER_WRITER
    assert sorted(by_store) == sorted(stored), (
        f"the store's reader skipped {len(set(stored) - set(by_store))} and doubled "
        f"{len(by_store) - len(set(by_store))} events")
    skipped = set(stored) - set(by_position)
    assert skipped, "the control never skipped: the writers did not commit out of order, so the test shows nothing"
