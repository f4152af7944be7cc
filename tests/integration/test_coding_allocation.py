"""Allocation on the real database: idempotent per item, unique under real concurrency (exactly one racer gets
the base code, the others the lowest free sequences 01, 02, …), retired codes never reused (also not as a
collision sequence), a code valid only on its allocation date."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from shared.consumer import PermanentError
from shared.eventstore import EventMetadata
from tests.integration.test_coding_support import (
    HUKOU_CODE,
    cancellation,
    deliver,
    entered,
    item_events,
    new_item_id,
    registration,
    start_coding,
)

from coding.adapters.tables import item_codes_table
from coding.bootstrap import Coding
from coding.domain.codes import with_collision_sequence
from coding.domain.place_names import PlaceNames
from coding.service_layer.allocation import Allocation, RegistrationRequest


async def codes_of(coding: Coding) -> dict[str, tuple[str, str]]:
    """code → (item id, status) of every code ever allocated."""
    async with coding.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(item_codes_table.c.code, item_codes_table.c.item_id,
                                          item_codes_table.c.status))).all()
    return {r.code: (r.item_id, r.status) for r in rows}


async def active_code(coding: Coding, item_id: str) -> str | None:
    async with coding.runtime.engine.connect() as conn:
        return await conn.scalar(select(item_codes_table.c.code).where(
            item_codes_table.c.item_id == item_id, item_codes_table.c.status == "active"))


def seq(n: int) -> str:
    return with_collision_sequence(HUKOU_CODE, n)


async def test_first_registration_assigns_the_base_code_with_one_event(coding: Coding) -> None:
    item = new_item_id()
    await deliver(coding, registration(item))
    assert await active_code(coding, item) == HUKOU_CODE
    [assigned] = await item_events(coding.runtime.engine, item)
    assert assigned.type == "coding.code.assigned.v1"
    assert assigned.data == {
        "item_id": item, "code": HUKOU_CODE, "base_code": HUKOU_CODE, "collided_with": None,
        "parts": {"item_type": "01", "region_code": "440115", "police_type": "02", "service_category": "03",
                  "name_code": "HKQYSP000000"},
        "pinyin_letters": "HKQYSP", "overrides_version": f"2026.12.1/{PlaceNames.load().version}", "replaces": None,
        # the coded elements the code was computed from: what its item_codes row keeps, so a rebuild gives it back
        "elements": {"item_type": "01", "region_code": "440115", "police_type": "02", "service_category": "03",
                     "short_name": "户口迁移审批"},
    }
    assert assigned.actor == "coding" and assigned.correlation_id == f"corr-{item}"


async def test_asking_again_returns_the_same_code_and_allocates_nothing_new(coding: Coding) -> None:
    item = new_item_id()
    await deliver(coding, registration(item))
    await deliver(coding, registration(item))
    await deliver(coding, registration(item, short_name="户口迁移审批。"))  # same name code: no change of parts
    assert await active_code(coding, item) == HUKOU_CODE
    assert list(await codes_of(coding)) == [HUKOU_CODE]
    # Every request is answered (the lifecycle waits for the answer), always with the same code.
    events = await item_events(coding.runtime.engine, item)
    assert [(e.type, e.data["code"], e.data.get("repeated", False)) for e in events] == [
        ("coding.code.assigned.v1", HUKOU_CODE, False), ("coding.code.assigned.v1", HUKOU_CODE, True),
        ("coding.code.assigned.v1", HUKOU_CODE, True)]


async def test_a_second_item_with_the_same_elements_gets_sequence_01_and_records_the_collision(
    coding: Coding,
) -> None:
    first, second = new_item_id(), new_item_id()
    await deliver(coding, registration(first))
    await deliver(coding, registration(second))
    assert await active_code(coding, second) == "014401150203HKQYSP000001"
    [assigned] = await item_events(coding.runtime.engine, second)
    assert assigned.data["collided_with"] == first and assigned.data["base_code"] == HUKOU_CODE


@pytest.mark.parametrize("racers", [2, 12, 24])
async def test_racing_items_get_the_base_code_once_and_then_the_lowest_free_sequences(
    coding: Coding, racers: int
) -> None:
    items = [new_item_id() for _ in range(racers)]
    gate = asyncio.Event()

    async def register(item: str) -> None:
        await gate.wait()
        await deliver(coding, registration(item))

    tasks = [asyncio.create_task(register(item)) for item in items]
    await asyncio.sleep(0.05)
    gate.set()  # every racer starts its transaction at once, each on its own connection
    await asyncio.gather(*tasks)

    held = {code: holder for code, (holder, _) in (await codes_of(coding)).items()}
    assert sorted(held) == [HUKOU_CODE, *(seq(n) for n in range(1, racers))]  # no gaps, no duplicates
    assert sorted(held.values()) == sorted(items)  # one code per item
    winner = held[HUKOU_CODE]
    for item in items:
        events = await item_events(coding.runtime.engine, item)
        assert [e.type for e in events] == ["coding.code.assigned.v1"]  # one event per allocation
        expected_collision = None if item == winner else winner
        assert events[0].data["collided_with"] == expected_collision

    await asyncio.gather(*(deliver(coding, registration(item)) for item in items))  # asking again, concurrently
    assert {code: holder for code, (holder, _) in (await codes_of(coding)).items()} == held
    for item in items:
        answers = await item_events(coding.runtime.engine, item)  # the repeated request answered with the same code
        assert len(answers) == 2 and answers[1].data["repeated"] and answers[1].data["code"] == answers[0].data["code"]


async def test_a_loser_waits_for_the_winners_uncommitted_code_then_takes_the_next(
    coding: Coding,
) -> None:
    """The race made deterministic: the winner has inserted the base code but not committed when the loser
    tries it; the loser waits on the primary key, then sees the code taken and takes 01."""
    winner, loser = new_item_id(), new_item_id()
    engine = coding.runtime.engine
    async with engine.begin() as conn:
        await coding.lifecycle_consumer.handle(conn, [entered(winner), registration(winner)])
        losing = asyncio.create_task(deliver(coding, registration(loser)))

        async def loser_is_blocked() -> bool:
            async with engine.connect() as probe:
                waiting = await probe.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE '%INSERT INTO item_codes%'"))
            return bool(waiting)

        for _ in range(200):
            if await loser_is_blocked():
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the loser never waited on the winner's row")
        assert not losing.done()
    await losing
    assert await active_code(coding, winner) == HUKOU_CODE
    assert await active_code(coding, loser) == seq(1)


async def test_a_retired_code_is_never_reused_neither_as_base_nor_as_sequence(coding: Coding) -> None:
    a, b, c, d = (new_item_id() for _ in range(4))
    await deliver(coding, registration(a))  # base
    await deliver(coding, registration(b))  # 01
    await deliver(coding, cancellation(a))
    await deliver(coding, cancellation(b))
    await deliver(coding, registration(c))
    await deliver(coding, registration(d))
    assert await active_code(coding, c) == seq(2)  # not the retired base, not the retired 01
    assert await active_code(coding, d) == seq(3)
    codes = await codes_of(coding)
    assert codes[HUKOU_CODE] == (a, "retired") and codes[seq(1)] == (b, "retired")
    [assigned_c] = await item_events(coding.runtime.engine, c)
    assert assigned_c.data["collided_with"] == a  # the holder of the base code, retired or not


async def test_a_code_retired_by_recoding_is_not_reused_either(coding: Coding) -> None:
    item, other = new_item_id(), new_item_id()
    await deliver(coding, registration(item))
    await deliver(coding, registration(item, police_type="01"))  # re-coded away from the base code
    await deliver(coding, registration(other))
    assert await active_code(coding, other) == seq(1)


async def test_all_99_sequences_taken_is_a_permanent_error(coding: Coding) -> None:
    prefix = HUKOU_CODE[:22]
    async with coding.runtime.engine.begin() as conn:  # 100 earlier holders of the whole code space
        await conn.execute(item_codes_table.insert(), [
            {"code": code, "item_id": f"old-{n}", "status": "retired", "base_code": HUKOU_CODE, "parts": {},
             "elements": {}, "pinyin_letters": "", "overrides_version": "x", "allocated_at": datetime.now(UTC)}
            for n, code in enumerate([HUKOU_CODE, *(f"{prefix}{n:02d}" for n in range(1, 100))])])
    item = new_item_id()
    with pytest.raises(PermanentError, match="CodeSpaceExhaustedError"):
        await deliver(coding, registration(item))
    assert await active_code(coding, item) is None


async def test_the_region_must_be_valid_on_the_allocation_date(database_url: str) -> None:
    """440102 东山区 was abolished in 2005 (GB/T 2260): codable in 2004, refused now."""
    runtime, in_2004 = await start_coding(database_url, clock=lambda: datetime(2004, 6, 1, tzinfo=UTC))
    try:
        item = new_item_id()
        await deliver(in_2004, registration(item, region_code="440102"))
        assert await active_code(in_2004, item) == "014401020203HKQYSP000000"
    finally:
        await runtime.close()
    runtime, today = await start_coding(database_url)
    try:
        with pytest.raises(PermanentError, match="region_code"):
            await deliver(today, registration(new_item_id(), region_code="440102"))
    finally:
        await runtime.close()


async def test_invalid_elements_are_a_permanent_error_naming_each_bad_element(coding: Coding) -> None:
    with pytest.raises(PermanentError) as caught:
        await deliver(coding, registration(new_item_id(), item_type="77", short_name="（）"))
    assert "item_type" in str(caught.value) and "short_name" in str(caught.value)


async def test_a_registration_without_elements_is_a_permanent_error(coding: Coding) -> None:
    event = registration(new_item_id())
    del event.data["elements"]
    with pytest.raises(PermanentError):
        await deliver(coding, event)


async def test_a_batch_in_one_transaction_codes_each_item_once_with_collisions_inside_the_batch(
    coding: Coding,
) -> None:
    """Several queued requests in one transaction: same rules as one by one (the bench's batched path)."""
    items = [new_item_id() for _ in range(5)]
    metadata = EventMetadata(actor="coding")
    requests = [RegistrationRequest(item, registration(item).data["elements"], metadata) for item in items]
    requests.append(RegistrationRequest(items[0], registration(items[0]).data["elements"], metadata))  # a repeat
    requests.append(RegistrationRequest(new_item_id(), {**registration("x").data["elements"], "item_type": "99"},
                                        metadata))  # cannot be coded: fails alone
    async with coding.runtime.engine.begin() as conn:
        results = await coding.allocator.register(conn, requests)
    codes = [r.code for r in results[:5] if isinstance(r, Allocation)]
    assert codes == [HUKOU_CODE, *(seq(n) for n in range(1, 5))]
    assert isinstance(results[5], Allocation) and (results[5].code, results[5].outcome) == (HUKOU_CODE, "unchanged")
    assert not isinstance(results[6], Allocation)
    for item in items:  # the repeat of items[0] is answered with the same code, nothing new allocated
        assert len(await item_events(coding.runtime.engine, item)) == (2 if item == items[0] else 1)
