"""Item content rules (pure): which elements an item has and how they are checked against the reference
dictionaries. Returns every problem at once, each with a field path, a stable code and a Chinese message."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared import contracts
from shared.dictionaries import (
    Dictionaries,
    Dictionary,
    DictionaryError,
    ExpiredCodeError,
    NotYetValidCodeError,
    UnknownCodeError,
)
from shared.errors import DomainError

EVENT_DRAFTED = contracts.REGISTRY_ITEM_DRAFTED
EVENT_REVISED = contracts.REGISTRY_ITEM_REVISED

# The elements every client is written against (architecture.md); the full model grows here.
CODED_ELEMENTS = ("item_type", "region_code", "police_type", "service_category", "short_name")
ELEMENT_LABELS = {
    "name": "事项名称", "short_name": "简称", "item_type": "事项类型", "police_type": "业务警种",
    "service_category": "服务类别", "region_code": "区划代码",
}
DICTIONARY_PROBLEM_CODES = {
    UnknownCodeError: "UNKNOWN_CODE",
    ExpiredCodeError: "EXPIRED_CODE",
    NotYetValidCodeError: "NOT_YET_VALID_CODE",
}
NAME_MAX = 200
SHORT_NAME_MAX = 60


@dataclass(frozen=True)
class Problem:
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class ElementsInvalidError(DomainError):
    """One or more elements broke a rule; ``problems`` lists them all."""


def check_elements(elements: dict[str, Any], dictionaries: Dictionaries, today: date) -> list[Problem]:
    """Every problem of ``elements`` at once (a civil servant fixes a form in one pass, not one error at a time)."""
    problems: list[Problem] = []
    present: dict[str, str] = {}
    for key, label in ELEMENT_LABELS.items():
        value = elements.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            problems.append(Problem(key, "REQUIRED", f"{label}为必填项"))
        elif not isinstance(value, str):
            problems.append(Problem(key, "NOT_TEXT", f"{label}必须是文本"))
        else:
            present[key] = value
    if len(present.get("name", "")) > NAME_MAX:
        problems.append(Problem("name", "TOO_LONG", f"事项名称不能超过 {NAME_MAX} 个字"))
    if "short_name" in present:
        short = present["short_name"]
        if len(short) > SHORT_NAME_MAX:
            problems.append(Problem("short_name", "TOO_LONG", f"简称不能超过 {SHORT_NAME_MAX} 个字"))
        if not _has_codable_character(short):
            problems.append(Problem("short_name", "NO_CODABLE_CHARACTER",
                                    "简称至少需要一个汉字、字母或数字（用于生成事项名称编码）"))
    for key, dictionary in (("item_type", dictionaries.item_types), ("police_type", dictionaries.police_types),
                            ("service_category", dictionaries.service_categories)):
        if key in present:
            problems += _check_code(key, present[key], dictionary, today)
    if "region_code" in present:
        if not re.fullmatch(r"\d{6}", present["region_code"]):
            problems.append(Problem("region_code", "MALFORMED", "区划代码必须是 6 位数字（GB/T 2260）"))
        else:
            problems += _check_code("region_code", present["region_code"], dictionaries.regions, today)
    return problems


def _check_code(key: str, value: str, dictionary: Dictionary, today: date) -> list[Problem]:
    try:
        dictionary.lookup(value, on=today)
    except DictionaryError as exc:
        return [Problem(key, DICTIONARY_PROBLEM_CODES.get(type(exc), "INVALID_CODE"), exc.message)]
    return []


def _has_codable_character(text: str) -> bool:
    for ch in unicodedata.normalize("NFKC", text):
        if ch.isascii() and ch.isalnum():
            return True
        if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
            return True
    return False


def normalise(elements: dict[str, Any]) -> dict[str, Any]:
    """Trim whitespace around text elements so that the same item never differs by a stray space."""
    return {k: v.strip() if isinstance(v, str) else v for k, v in elements.items()}
