"""The coding service's error hierarchy: every expected failure, each once, with one name.

Each error carries keyword context (``shared.errors.DomainError``); ``coding.errors.ERRORS`` maps each class to its
HTTP status, stable code and Chinese message template, which the context fills. Errors whose Chinese explanation
depends on what exactly was wrong carry it as ``reason``, made where that is known (the domain rules)."""

from __future__ import annotations

from shared.errors import DomainError


class CodingError(DomainError):
    """Base of the coding service's expected failures."""


# ---- item codes (事项编码) -------------------------------------------------------------------------------------
class MalformedCodeError(CodingError):
    """A code (事项编码 or 事项服务编码) does not have the required shape. Context: ``code`` (as given), ``part``
    (``length``, ``item_type``, ``region_code``, ``police_type``, ``service_category``, ``name_code`` or
    ``service_sequence``) and ``reason``."""


class EmptyNameCodeError(CodingError):
    """The 简称 contains nothing that can be coded (no Chinese character, ASCII letter or digit). Context:
    ``short_name``, ``reason``."""


class SequenceOutOfRangeError(CodingError, ValueError):
    """A collision or service sequence outside its range (also a ``ValueError``: the service computes every
    sequence itself, so meeting one is a bug). Context: ``sequence``, ``maximum``, ``reason``."""


class CodeElementsInvalidError(CodingError):
    """The coded elements cannot form a code (unknown or expired table value, nothing codable in the 简称).
    Context: ``problems`` (field, code, message each)."""


class CodeSpaceExhaustedError(CodingError):
    """All 99 collision sequences of a base code are taken (an administrator must change the 简称)."""


class ItemCodeEndedError(CodingError):
    """The item's code was retired for good (cancelled, split or merged): it gets no new code."""


class CodeNotFoundError(CodingError):
    """The item has never held a code."""


# ---- 事项服务编码 ------------------------------------------------------------------------------------------------
class ItemNotCodedError(CodingError):
    """The item holds no active code (never registered, or cancelled): it cannot have service codes."""


class ServiceSequenceExhaustedError(CodingError):
    """All 999 service sequences of the item have been issued."""


class ItemServiceNotFoundError(CodingError):
    """No service with this sequence for the item."""


class ItemServiceWithdrawnError(CodingError):
    """The service was withdrawn already."""


# ---- reference tables (代码表) ---------------------------------------------------------------------------------
class DictionaryNotFoundError(CodingError):
    """Unknown dictionary name."""


class DictionaryEntryNotFoundError(CodingError):
    """Unknown code in a dictionary (e.g. a region)."""


class DictionaryQueryInvalidError(CodingError):
    """A dictionary query the table cannot answer. Context: ``parameter`` (the one at fault), ``reason``."""


# ---- 拼音修正词典 ------------------------------------------------------------------------------------------------
class PinyinOverrideInvalidError(CodingError):
    """An override entry (phrase and letters), or the override file itself, is not acceptable. Context:
    ``reason``, and ``phrase`` / ``letters`` for an entry (as given)."""


class PinyinOverrideNotFoundError(CodingError):
    """A phrase that is not in the override dictionary."""
