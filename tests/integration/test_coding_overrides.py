"""Pinyin overrides administered as events: every coding process computes with the packaged file plus all override
events (loaded at start-up, refreshed when the stream's version moves), read before the place-name table (which
reads 单县 SX); a code stored on its allocation event is never recomputed, while previews and new allocations use
the new dictionary."""

from __future__ import annotations

import asyncio

from shared.auth import Principal
from shared.eventstore import EventMetadata, load_stream
from tests.integration.test_coding_support import (
    HUKOU,
    deliver,
    item_events,
    new_item_id,
    registration,
    start_coding,
)

from coding.bootstrap import Coding
from coding.domain.events import OVERRIDES_STREAM
from coding.domain.place_names import PlaceNames

ADMIN = EventMetadata(actor="admin-gd", correlation_id="corr-admin")
# The national platform reads codes from the feed only: an operator reads them here, nationwide.
OPERATOR = Principal(subject="operator", roles=frozenset({"operator"}), regions=("*",))
SHANXIAN = {**HUKOU, "region_code": "371722", "short_name": "单县户籍证明"}  # 山东省菏泽市单县
SHANXIAN_SX = "013717220203SXHJZM000000"
SHANXIAN_DX = "013717220203DXHJZM000000"
PLACES = PlaceNames.load().version  # the place-name table's version, recorded beside the overrides' version


def read_with(version: str) -> str:
    return f"{version}/{PLACES}"


def elements(**changes: str) -> dict[str, str]:
    return {k: v for k, v in {**SHANXIAN, **changes}.items() if k != "name"}


async def test_an_override_change_leaves_allocated_codes_alone_and_applies_to_previews_and_new_items(
    coding: Coding,
) -> None:
    engine = coding.runtime.engine
    first = new_item_id()
    await deliver(coding, registration(first, **elements()))
    assert (await coding.item_codes.preview(elements(), OPERATOR))["code"] == SHANXIAN_SX

    change = await coding.catalog.set_phrase(engine, "单县", "DX", "按地方习惯读作 dān", ADMIN)
    assert (change.changed, change.previous_letters, change.overrides_version) == (True, None, "2026.12.1+1")

    preview = await coding.item_codes.preview(elements(), OPERATOR)
    assert (preview["code"], preview["pinyin_letters"], preview["overrides_version"]) == (
        SHANXIAN_DX, "DXHJZM", read_with("2026.12.1+1"))
    assert preview["name_reading"][0] | {"reason": None} == {
        "text": "单", "letter": "D", "position": 1, "in_code": True, "rule": "override", "rule_label": "拼音修正词典",
        "piece": "单县", "reason": None}
    assert preview["would_collide"] is False
    assert (await coding.item_codes.item_code(first, OPERATOR))["code"] == SHANXIAN_SX  # never recomputed

    await deliver(coding, registration(first, **elements()))  # asked again: the same (stored) code, not recomputed
    answers = await item_events(engine, first)
    assert [(e.type, e.data["code"]) for e in answers] == [("coding.code.assigned.v1", SHANXIAN_SX)] * 2

    second = new_item_id()
    await deliver(coding, registration(second, **elements()))
    [assigned] = await item_events(engine, second)
    assert (assigned.data["code"], assigned.data["collided_with"], assigned.data["overrides_version"]) == (
        SHANXIAN_DX, None, read_with("2026.12.1+1"))
    first_assigned, answered_again = await item_events(engine, first)
    assert first_assigned.data["overrides_version"] == answered_again.data["overrides_version"] == read_with(
        "2026.12.1")


async def test_a_recode_compares_short_names_under_one_dictionary(coding: Coding) -> None:
    """After the override change the stored SX code and a request for the same 简称 are the same parts; a
    different 简称 is a change even though both are read with the new dictionary."""
    item = new_item_id()
    await deliver(coding, registration(item, **elements()))
    await coding.catalog.set_phrase(coding.runtime.engine, "单县", "DX", "测试", ADMIN)
    await deliver(coding, registration(item, **elements(short_name="单县户籍证明（补）")))  # BU added: a change
    events = await item_events(coding.runtime.engine, item)
    assert [e.type for e in events][-2:] == ["coding.code.retired.v1", "coding.code.assigned.v1"]
    assert events[-1].data["code"] == "013717220203DXHJZMB00000"


async def test_every_process_sees_a_change_made_by_another_without_restarting(database_url: str) -> None:
    runtime_a, process_a = await start_coding(database_url)
    runtime_b, process_b = await start_coding(database_url)
    try:
        # b has loaded the dictionary
        assert (await process_b.item_codes.preview(elements(), OPERATOR))["code"] == SHANXIAN_SX
        await process_a.catalog.set_phrase(runtime_a.engine, "单县", "DX", "测试", ADMIN)
        seen_by_b = await process_b.item_codes.preview(elements(), OPERATOR)
        assert (seen_by_b["code"], seen_by_b["overrides_version"]) == (SHANXIAN_DX, read_with("2026.12.1+1"))
        item = new_item_id()
        await deliver(process_b, registration(item, **elements()))
        assert (await item_events(runtime_b.engine, item))[0].data["code"] == SHANXIAN_DX
    finally:
        await runtime_a.close()
        await runtime_b.close()
    runtime_c, process_c = await start_coding(database_url)  # a process started later loads the events
    try:
        assert process_c.catalog.snapshot.overrides.phrases["单县"] == "DX"
        assert process_c.catalog.snapshot.overrides.version == "2026.12.1+1"
    finally:
        await runtime_c.close()


async def test_repeating_a_change_writes_nothing_and_removal_restores_the_place_table(
        coding: Coding) -> None:
    engine = coding.runtime.engine
    added = await coding.catalog.set_phrase(engine, "单县", "DX", "测试：按单字读音", ADMIN)
    assert (added.changed, added.previous_letters, added.overrides_version) == (True, None, "2026.12.1+1")
    again = await coding.catalog.set_phrase(engine, "单县", "DX", "重复提交", ADMIN)
    assert again.changed is False and again.overrides_version == "2026.12.1+1"
    # the override wins over the place table
    assert (await coding.item_codes.preview(elements(), OPERATOR))["code"] == SHANXIAN_DX
    removed = await coding.catalog.remove_phrase(engine, "单县", "恢复地名读音", ADMIN)
    assert (removed.previous_letters, removed.overrides_version) == ("DX", "2026.12.1+2")
    restored = await coding.item_codes.preview(elements(), OPERATOR)
    assert restored["code"] == SHANXIAN_SX and restored["name_reading"][0]["rule"] == "place"
    assert restored["name_reading"][0]["place"]["code"] == "371722"
    async with engine.connect() as conn:
        stream = await load_stream(conn, OVERRIDES_STREAM)
    assert [(e.type, e.data["phrase"], e.actor) for e in stream] == [
        ("coding.pinyin_override.set.v1", "单县", "admin-gd"),
        ("coding.pinyin_override.removed.v1", "单县", "admin-gd")]
    described = await coding.catalog.describe(engine)
    assert described["version"] == "2026.12.1+2" and described["stream_version"] == 2
    assert described["place_names"]["version"] == PLACES and described["place_names"]["texts"] > 6000
    assert described["phrases"] == []


async def test_concurrent_administrators_each_get_their_own_version(coding: Coding) -> None:
    phrases = ["户口", "迁移", "审批", "居民", "身份"]
    await asyncio.gather(*(coding.catalog.set_phrase(coding.runtime.engine, p, "AB", f"并发 {p}", ADMIN)
                           for p in phrases))
    described = await coding.catalog.describe(coding.runtime.engine)
    assert described["stream_version"] == 5
    assert sorted(h["phrase"] for h in described["history"]) == sorted(phrases)
    assert [h["version"] for h in described["history"]] == [f"2026.12.1+{n}" for n in range(1, 6)]
