"""Retirement and lineage from the lifecycle's events: a changed coded element re-codes the item (old code retired
with replaced_by, new code assigned with replaces); cancellation retires; split / merge link predecessors and
successors, whose codes are resolved when read."""

from __future__ import annotations

import pytest

from shared.auth import Principal
from shared.consumer import PermanentError
from shared.eventstore import EventMetadata
from tests.integration.test_coding_support import (
    HUKOU_CODE,
    cancellation,
    deliver,
    item_events,
    lineage,
    new_item_id,
    registration,
)

from coding.adapters import queries
from coding.bootstrap import Coding
from coding.service_layer import item_services

# The national platform reads codes from the feed only: an operator reads them here, nationwide.
OPERATOR = Principal(subject="operator", roles=frozenset({"operator"}), regions=("*",))


async def test_a_changed_coded_element_retires_the_old_code_and_assigns_a_linked_new_one(
    coding: Coding,
) -> None:
    item = new_item_id()
    await deliver(coding, registration(item))
    recode = registration(item, police_type="01")
    await deliver(coding, recode)
    new_code = "014401150103HKQYSP000000"
    events = await item_events(coding.runtime.engine, item)
    assert [e.type for e in events] == ["coding.code.assigned.v1", "coding.code.retired.v1",
                                        "coding.code.assigned.v1"]
    retired, assigned = events[1], events[2]
    assert retired.data == {"item_id": item, "code": HUKOU_CODE, "reason": "recoded", "replaced_by": new_code}
    assert assigned.data["code"] == new_code and assigned.data["replaces"] == HUKOU_CODE
    assert retired.causation_id == assigned.causation_id == recode.id

    view = await coding.item_codes.item_code(item, OPERATOR)
    assert view["code"] == new_code and view["status"] == "active"
    assert [(h["code"], h["status"], h["replaced_by"], h["replaces"]) for h in view["history"]] == [
        (HUKOU_CODE, "retired", new_code, None), (new_code, "active", None, HUKOU_CODE)]
    old = await coding.item_codes.code_info(HUKOU_CODE, OPERATOR)
    assert (old["status"], old["retire_reason"], old["replaced_by"], old["holder_item_id"]) == (
        "retired", "recoded", new_code, item)

    await deliver(coding, registration(item, police_type="01"))  # the same parts again: the same code, answered
    events = await item_events(coding.runtime.engine, item)
    assert len(events) == 4 and (events[3].data["code"], events[3].data["repeated"]) == (new_code, True)
    assert (await coding.item_codes.item_code(item, OPERATOR))["code"] == new_code


async def test_a_changed_short_name_recodes_and_its_services_follow_the_new_code(coding: Coding) -> None:
    item = new_item_id()
    await deliver(coding, registration(item))
    outcome = await item_services.allocate_service(coding.runtime.engine, item, "窗口办理", EventMetadata(actor="t"),
                                                   coding.clock())
    assert outcome.service["service_code"] == HUKOU_CODE + "001"
    await deliver(coding, registration(item, short_name="户口迁入审批"))
    new_code = "014401150203HKQRSP000000"
    [service] = await queries.list_services(coding.runtime.engine, item)
    assert service["service_code"] == new_code + "001" and service["status"] == "active"
    types = [e.type for e in await item_events(coding.runtime.engine, item)]
    assert types[-3:] == ["coding.code.retired.v1", "coding.code.assigned.v1", "coding.item_service.recoded.v1"]


async def test_cancellation_retires_the_code_and_withdraws_its_services(coding: Coding) -> None:
    item = new_item_id()
    await deliver(coding, registration(item))
    await item_services.allocate_service(coding.runtime.engine, item, "网上办理", EventMetadata(actor="t"),
                                         coding.clock())
    await deliver(coding, cancellation(item))
    await deliver(coding, cancellation(item))  # a repeat changes nothing
    events = await item_events(coding.runtime.engine, item)
    assert [e.type for e in events] == ["coding.code.assigned.v1", "coding.item_service.allocated.v1",
                                        "coding.code.retired.v1", "coding.item_service.withdrawn.v1"]
    assert events[2].data == {"item_id": item, "code": HUKOU_CODE, "reason": "cancelled", "replaced_by": None}
    view = await coding.item_codes.item_code(item, OPERATOR)
    assert view["code"] is None and view["status"] == "retired"
    [service] = await queries.list_services(coding.runtime.engine, item)
    assert (service["status"], service["withdraw_reason"]) == ("withdrawn", "cancelled")


async def test_a_cancelled_item_is_never_coded_again(coding: Coding) -> None:
    item = new_item_id()
    await deliver(coding, registration(item))
    await deliver(coding, cancellation(item))
    with pytest.raises(PermanentError, match="ItemCodeEndedError"):
        await deliver(coding, registration(item))


async def test_cancelling_an_uncoded_item_writes_nothing(coding: Coding) -> None:
    item = new_item_id()
    await deliver(coding, cancellation(item))
    assert await item_events(coding.runtime.engine, item) == []


async def test_a_split_retires_the_predecessor_and_shows_successor_codes_once_they_exist(
    coding: Coding,
) -> None:
    old, left, right = new_item_id(), new_item_id(), new_item_id()
    await deliver(coding, registration(old))
    for subject in (old, left, right):  # the lifecycle writes the lineage event on every involved stream
        await deliver(coding, lineage(subject, "split", [old], [left, right]))
    retired = (await item_events(coding.runtime.engine, old))[-1]
    assert retired.data == {"item_id": old, "code": HUKOU_CODE, "reason": "split", "replaced_by": None}
    assert await item_events(coding.runtime.engine, left) == []  # successors get links, no events

    before = await coding.item_codes.item_code(old, OPERATOR)
    assert sorted((s["item_id"], s["code"], s["code_status"]) for s in before["lineage"]["successors"]) == sorted([
        (left, None, "uncoded"), (right, None, "uncoded")])

    await deliver(coding, registration(left, short_name="户口迁入审批"))
    await deliver(coding, registration(right, short_name="户口迁出审批"))
    after = await coding.item_codes.code_info(HUKOU_CODE, OPERATOR)
    assert (after["status"], after["retire_reason"]) == ("retired", "split")
    assert sorted((s["item_id"], s["code"], s["kind"]) for s in after["lineage"]["successors"]) == sorted([
        (left, "014401150203HKQRSP000000", "split"), (right, "014401150203HKQCSP000000", "split")])
    successor = await coding.item_codes.item_code(left, OPERATOR)
    assert [(p["item_id"], p["code"], p["code_status"]) for p in successor["lineage"]["predecessors"]] == [
        (old, HUKOU_CODE, "retired")]


async def test_a_merge_retires_each_predecessor_replaced_by_the_coded_successor(coding: Coding) -> None:
    a, b, merged = new_item_id(), new_item_id(), new_item_id()
    await deliver(coding, registration(a, short_name="户口迁入审批"))
    await deliver(coding, registration(b, short_name="户口迁出审批"))
    await deliver(coding, registration(merged))
    for subject in (a, b, merged):
        await deliver(coding, lineage(subject, "merge", [a, b], [merged]))
    for predecessor, code in ((a, "014401150203HKQRSP000000"), (b, "014401150203HKQCSP000000")):
        retired = (await item_events(coding.runtime.engine, predecessor))[-1]
        assert retired.data == {"item_id": predecessor, "code": code, "reason": "merged",
                                "replaced_by": HUKOU_CODE}
    view = await coding.item_codes.item_code(merged, OPERATOR)
    assert view["code"] == HUKOU_CODE
    assert sorted(p["item_id"] for p in view["lineage"]["predecessors"]) == sorted([a, b])
    assert [e.type for e in await item_events(coding.runtime.engine, merged)] == ["coding.code.assigned.v1"]


async def test_the_retirement_reason_does_not_depend_on_which_event_comes_first(coding: Coding) -> None:
    """The lifecycle cancels a predecessor listing its successors; handled before the lineage event, the code is
    still retired as split (several successors) or merged (one, whose code it is replaced by)."""
    split_away, left, right = new_item_id(), new_item_id(), new_item_id()
    merged_away, target = new_item_id(), new_item_id()
    await deliver(coding, registration(split_away))
    await deliver(coding, registration(merged_away, short_name="户口迁入审批"))
    await deliver(coding, registration(target, short_name="户口迁出审批"))
    await deliver(coding, cancellation(split_away, successors=[left, right]))
    await deliver(coding, cancellation(merged_away, successors=[target]))
    await deliver(coding, lineage(split_away, "split", [split_away], [left, right]))  # no second retirement
    split_events = await item_events(coding.runtime.engine, split_away)
    assert [e.type for e in split_events] == ["coding.code.assigned.v1", "coding.code.retired.v1"]
    assert split_events[-1].data["reason"] == "split"
    merged = (await item_events(coding.runtime.engine, merged_away))[-1].data
    assert (merged["reason"], merged["replaced_by"]) == ("merged", "014401150203HKQCSP000000")


async def test_the_main_item_of_a_split_keeps_its_code(coding: Coding) -> None:
    main, sub = new_item_id(), new_item_id()
    await deliver(coding, registration(main))
    await deliver(coding, lineage(main, "split", [main], [main, sub]))
    assert (await coding.item_codes.item_code(main, OPERATOR))["code"] == HUKOU_CODE
    assert [s["item_id"] for s in (await coding.item_codes.item_code(main, OPERATOR))["lineage"]["successors"]] == [sub]


async def test_a_lineage_event_of_an_unknown_kind_is_a_permanent_error(coding: Coding) -> None:
    item = new_item_id()
    with pytest.raises(PermanentError):
        await deliver(coding, lineage(item, "fold", [item], []))
