"""The 拼音修正词典's commands and events as pure functions: what setting or removing a phrase decides on the
dictionary as it is, how a stored event changes the dictionary, and how its version is written."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from coding.domain.codes import PinyinOverrides, override_key
from coding.domain.errors import PinyinOverrideNotFoundError
from coding.domain.events import OVERRIDE_REMOVED, OVERRIDE_SET


@dataclass(frozen=True)
class OverrideChange:
    """What a command did: ``changed`` is False for a repeated request that found the dictionary as asked."""

    changed: bool
    phrase: str
    letters: str | None
    previous_letters: str | None
    overrides_version: str


def overrides_version(packaged_version: str, stream_version: int) -> str:
    """``2026.11.1`` for the packaged file alone, ``2026.11.1+3`` after three administrators' changes."""
    return packaged_version if stream_version == 0 else f"{packaged_version}+{stream_version}"


def apply_override_event(overrides: PinyinOverrides, event_type: str, data: dict[str, Any],
                         version: str) -> PinyinOverrides:
    """Fold one stored override event into the dictionary."""
    if event_type == OVERRIDE_SET:
        return overrides.with_phrase(data["phrase"], data["letters"], version=version)
    if event_type == OVERRIDE_REMOVED:
        return overrides.without_phrase(data["phrase"], version=version)
    return overrides


def decide_set(current: PinyinOverrides, phrase: str, letters: str) -> OverrideChange:
    """Set ``phrase → letters``: a change unless the dictionary reads the phrase so already. Raises
    :class:`~coding.domain.errors.PinyinOverrideInvalidError` for an entry the dictionary cannot hold."""
    key = override_key(phrase, letters)
    previous = current.phrases.get(key)
    return OverrideChange(previous != letters, key, letters, previous, current.version)


def decide_remove(current: PinyinOverrides, phrase: str) -> OverrideChange:
    """Remove ``phrase`` (packaged or added by an administrator). Raises
    :class:`~coding.domain.errors.PinyinOverrideNotFoundError` if the dictionary does not have it."""
    key = unicodedata.normalize("NFKC", phrase)
    if key not in current.phrases:
        raise PinyinOverrideNotFoundError(phrase=phrase)
    return OverrideChange(True, key, None, current.phrases[key], current.version)
