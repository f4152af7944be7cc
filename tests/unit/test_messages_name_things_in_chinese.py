"""Every message a person reads names elements, commands, roles and code parts by their Chinese names; the English
keys stay in the machine-readable details (``missing``, ``command``, ``required``, ``part``)."""

from __future__ import annotations

import re
from datetime import date

import pytest

from shared.auth import Principal
from shared.dictionaries import load_dictionaries
from shared.errors import COMMON_ERRORS, ErrorTable, PermissionDeniedError
from tests.unit.test_lifecycle_domain import T0, Story, in_review

from coding.domain.codes import decode_code
from coding.domain.errors import MalformedCodeError
from coding.errors import ERRORS as CODING_ERRORS
from lifecycle.domain.adjustments import Adjustment, AdjustmentKind, check_shape
from lifecycle.domain.decide import ItemCommand, decide
from lifecycle.domain.errors import ElementsIncompleteError, ReasonRequiredError
from lifecycle.domain.vocabulary import Command
from lifecycle.errors import ERRORS as LIFECYCLE_ERRORS
from registry.domain.elements import validate_elements

ENGLISH_KEY = re.compile(r"[a-z]+_[a-z_]+|\b(reject|unpublish|cancel|entry|reviewer|free)\b")


def test_an_incomplete_submission_lists_the_missing_elements_by_their_chinese_names() -> None:
    story = Story()
    story.when_revision(1, missing=["competent_department", "service_guide.steps", "legal_basis[0].article"])
    with pytest.raises(ElementsIncompleteError) as caught:
        story.when(Command.submit, "bob")
    status, body = LIFECYCLE_ERRORS.render(caught.value)
    assert status == 422
    assert body["message"].endswith("（缺少 3 项：主管部门、办事指南·办理流程、设定依据第1条·条款）")
    assert not ENGLISH_KEY.search(body["message"])
    assert body["details"]["missing"] == ["competent_department", "service_guide.steps", "legal_basis[0].article"]


@pytest.mark.parametrize(("command", "label"), [(Command.reject, "审核退回"), (Command.cancel, "注销")])
def test_a_command_without_its_reason_is_named_by_its_chinese_name(command: Command, label: str) -> None:
    if command is Command.reject:
        state = in_review().state
    else:
        story = Story()
        story.when_revision(1)
        state = story.state
    with pytest.raises(ReasonRequiredError) as caught:
        decide(state, ItemCommand(command), actor="carol", now=T0)
    _, body = LIFECYCLE_ERRORS.render(caught.value)
    assert body["message"] == f"执行“{label}”必须填写原因"
    assert body["details"]["command"] == command.value


def test_an_adjustment_without_a_reason_is_named_by_its_chinese_name() -> None:
    with pytest.raises(ReasonRequiredError) as caught:
        check_shape(Adjustment("a-1", AdjustmentKind.split, ("p",), ("s1", "s2"), reason=" "))
    assert LIFECYCLE_ERRORS.render(caught.value)[1]["message"] == "执行“拆分”必须填写原因"


def test_a_missing_role_is_named_by_its_chinese_name() -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        Principal("bob", frozenset({"tester"}), ("44",)).require_role("entry", "reviewer")
    _, body = ErrorTable(COMMON_ERRORS).render(caught.value)
    assert body["message"] == "当前用户没有执行此操作所需的角色（需要：录入、审核）"
    assert body["details"]["required"] == "entry/reviewer"


@pytest.mark.parametrize("code", ["01440115X203HKQYSP000000", "0144011502", "014401150203hkqysp000000"])
def test_a_malformed_code_names_its_bad_part_in_chinese(code: str) -> None:
    with pytest.raises(MalformedCodeError) as caught:
        decode_code(code)
    _, body = CODING_ERRORS.render(caught.value)
    assert body["message"].startswith("编码格式错误：事项")
    assert body["details"]["part"] not in body["message"]


def test_fees_neither_free_nor_listed_are_explained_without_json_keys() -> None:
    _, problems = validate_elements({"service_guide": {"fees": {"free": "也许", "items": []}}}, load_dictionaries(),
                                    date(2026, 11, 22))
    fee = next(p for p in problems if p.field == "service_guide.fees.free")
    assert "free:" not in fee.message and "不收费" in fee.message
