"""Which region a dead letter's message names (for a caller of some regions, when the service never heard of the
item): its elements' region, its own region_code, else the region part of an item code; nothing otherwise."""

from __future__ import annotations

import json

from shared.dead_letters import payload_region


def test_the_region_a_message_names_is_its_elements_its_own_or_its_code_s() -> None:
    assert payload_region(json.dumps({"elements": {"region_code": "440115"}}).encode()) == "440115"
    assert payload_region(json.dumps({"region_code": "110105", "elements": {}}).encode()) == "110105"
    assert payload_region(json.dumps({"code": "014401030203HKQYSP000000"}).encode()) == "440103"
    assert payload_region(json.dumps({"data": {"elements": {"region_code": "320102"}}}).encode()) == "320102"


def test_a_message_naming_no_region_has_none() -> None:
    assert payload_region(None) is None
    assert payload_region(b"\xff\xfe not json") is None
    assert payload_region(json.dumps({"n": 1}).encode()) is None
    assert payload_region(json.dumps({"region_code": "44"}).encode()) is None  # a prefix is not an item's region
    assert payload_region(json.dumps([1, 2]).encode()) is None
