"""事项编码 (item code) domain: pure rules, no I/O except :meth:`PinyinOverrides.load`.

``事项编码 = 事项类型编码(2) + 区划代码(6) + 业务警种编码(2) + 服务类别编码(2) + 事项名称编码(12)``: 24 characters,
no separators (see ``docs/domain.md``, "The item code (事项编码) — decided"). ``事项服务编码`` is the item code
followed by a three-digit service sequence ``001``–``999``.

The name code is made from the item's 简称: the uppercase pinyin first letters of its Chinese characters
(pypinyin ``Style.FIRST_LETTER`` with pypinyin's own phrase dictionary), corrected by the project's
:class:`PinyinOverrides` for polyphones pypinyin reads wrongly (单县 → SX, 朝阳 → CY, ...); ASCII letters and digits
are kept (upper-cased); everything else is dropped; the first 12 characters are kept and the rest padded with ``0``.

Structural checks here never consult the reference dictionaries: whether ``440115`` is a valid region on a given
date is the caller's business (``shared.dictionaries``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pypinyin import Style
from pypinyin.constants import PHRASES_DICT
from pypinyin.constants import RE_HANS as _PYPINYIN_HAN_RUN
from pypinyin.converter import UltimateConverter
from pypinyin.core import Pinyin
from pypinyin.seg.mmseg import p_set

from coding.domain.errors import (
    EmptyNameCodeError,
    MalformedCodeError,
    PinyinOverrideInvalidError,
    PinyinOverrideNotFoundError,
    SequenceOutOfRangeError,
)
from coding.domain.place_names import NO_PLACES, Place, PlaceNames

__all__ = [
    "COLLISION_SEQUENCE_MAX",
    "DEFAULT_OVERRIDES_PATH",
    "ITEM_CODE_LENGTH",
    "NAME_CODE_LENGTH",
    "NAME_CODE_PAD",
    "SERVICE_CODE_LENGTH",
    "SERVICE_SEQUENCE_MAX",
    "ItemCodeParts",
    "LetterPiece",
    "PinyinOverrides",
    "clear_pinyin_caches",
    "compose_code",
    "decode_code",
    "decode_service_code",
    "display_code",
    "explain_letters",
    "name_code",
    "name_code_of_letters",
    "name_letters",
    "override_key",
    "service_code",
    "with_collision_sequence",
]

NAME_CODE_LENGTH = 12
ITEM_CODE_LENGTH = 24
SERVICE_SEQUENCE_MAX = 999
COLLISION_SEQUENCE_MAX = 99
SERVICE_CODE_LENGTH = ITEM_CODE_LENGTH + 3
NAME_CODE_PAD = "0"

# The packaged override dictionary (a constant path; nothing is read at import time).
DEFAULT_OVERRIDES_PATH = Path(__file__).resolve().parent.parent / "data" / "pinyin_overrides.json"

# CJK ideographs pypinyin knows about: 〇, Extension A, the URO, compatibility ideographs, Extensions B–I and the
# compatibility supplement (U+20000–U+2FA1F), Extensions G–H (U+30000–U+323AF).
_HAN_CLASS = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f\U00030000-\U000323af"
_HAN_ONLY = re.compile(f"[{_HAN_CLASS}]+")
# A short name, after NFKC, is scanned as runs of Han characters and runs of ASCII letters/digits; the rest is dropped.
_NAME_TOKENS = re.compile(f"([{_HAN_CLASS}]+)|([A-Za-z0-9]+)")
_OVERRIDE_LETTERS = re.compile("[A-Z]+")

# (field, start, end, pattern, Chinese label, expected shape) — the five parts of the 24-character code, in order.
_TWO_DIGITS = re.compile("[0-9]{2}")
_SERVICE_SEQUENCE = re.compile("[0-9]{3}")
_PART_LAYOUT: tuple[tuple[str, int, int, re.Pattern[str], str, str], ...] = (
    ("item_type", 0, 2, _TWO_DIGITS, "事项类型编码", "2位数字"),
    ("region_code", 2, 8, re.compile("[0-9]{6}"), "区划代码", "6位数字"),
    ("police_type", 8, 10, _TWO_DIGITS, "业务警种编码", "2位数字"),
    ("service_category", 10, 12, _TWO_DIGITS, "服务类别编码", "2位数字"),
    ("name_code", 12, 24, re.compile("[0-9A-Z]{12}"), "事项名称编码", "12位数字或大写字母"),
)


# ------------------------------------------------------------------------------------------------- pinyin overrides
@dataclass(frozen=True)
class PinyinOverrides:
    """Project dictionary for polyphones and place names pypinyin reads wrongly.

    ``phrases`` maps a phrase of CJK characters to its uppercase first letters, one letter per character
    (``{"单县": "SX", "朝阳": "CY"}``). Instances are immutable: :meth:`with_phrase` and :meth:`without_phrase`
    return new dictionaries. Keys are NFKC-normalised, like the short names they are matched against.
    """

    phrases: Mapping[str, str] = field(hash=False)
    version: str
    # Why each packaged phrase is there (the data file says; administrators' reasons are on their events).
    reasons: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False, repr=False)
    # The place-name table (地名读音表), read after the phrases and before pypinyin.
    places: PlaceNames = field(default=NO_PLACES, compare=False, repr=False)
    # Distinct phrase lengths, longest first: the matcher tries them in this order (longest match first).
    _lengths: tuple[int, ...] = field(init=False, repr=False, compare=False, hash=False)
    # Characters some phrase starts with: a run containing none of them goes to pypinyin whole, unscanned.
    _first_characters: frozenset[str] = field(init=False, repr=False, compare=False, hash=False)
    # The letters of each Han run read so far (the matcher scans place names at every character): bounded.
    _letters: dict[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not self.version.strip():
            raise PinyinOverrideInvalidError(version=self.version, reason="拼音修正词典的版本号不能为空")
        if not isinstance(self.phrases, Mapping):
            raise PinyinOverrideInvalidError(reason="拼音修正词典的词条必须是“词语 → 首字母”的映射")
        normalised: dict[str, str] = {}
        for raw_phrase, letters in self.phrases.items():
            phrase = _validated_override(raw_phrase, letters)
            if phrase in normalised and normalised[phrase] != letters:
                raise PinyinOverrideInvalidError(phrase=phrase, reason=(
                    f"拼音修正词条“{phrase}”重复且首字母不一致（{normalised[phrase]} / {letters}）"))
            normalised[phrase] = letters
        ordered = dict(sorted(normalised.items()))
        object.__setattr__(self, "phrases", MappingProxyType(ordered))
        object.__setattr__(self, "reasons", MappingProxyType({p: r for p, r in self.reasons.items() if p in ordered}))
        object.__setattr__(self, "_lengths", tuple(sorted({len(p) for p in ordered}, reverse=True)))
        object.__setattr__(self, "_first_characters", frozenset(p[0] for p in ordered))
        object.__setattr__(self, "_letters", {})

    @property
    def dictionary_version(self) -> str:
        """What a code's letters were read with: the phrases' version and the place-name table's (recorded on
        every allocation as ``overrides_version``)."""
        return self.version if self.places is NO_PLACES else f"{self.version}/{self.places.version}"

    @classmethod
    def load(cls, path: Path | None = None, places: PlaceNames | None = None) -> PinyinOverrides:
        """Read an override file ``{"version": ..., "phrases": {phrase: {"letters": ..., "reason": ...}}}`` (a
        phrase may also map to its letters alone); default: the packaged data file, with the packaged place-name
        table."""
        source = Path(path) if path is not None else DEFAULT_OVERRIDES_PATH
        text = source.read_text(encoding="utf-8")
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PinyinOverrideInvalidError(
                source=str(source), reason=f"拼音修正词典文件不是合法的 JSON：{source}（{exc.msg}）") from exc
        if not isinstance(document, dict) or not isinstance(document.get("phrases"), dict):
            raise PinyinOverrideInvalidError(source=str(source), reason=f"拼音修正词典文件缺少 phrases 对象：{source}")
        version = document.get("version")
        if not isinstance(version, str):
            raise PinyinOverrideInvalidError(source=str(source),
                                             reason=f"拼音修正词典文件缺少 version 字符串：{source}")
        phrases: dict[str, Any] = {}
        reasons: dict[str, str] = {}
        for phrase, entry in document["phrases"].items():
            if isinstance(entry, dict):
                phrases[phrase] = entry.get("letters")
                if not isinstance(entry.get("reason"), str) or not entry["reason"].strip():
                    raise PinyinOverrideInvalidError(
                        phrase=phrase, reason=f"拼音修正词条“{phrase}”缺少依据（reason）：{source}")
                reasons[unicodedata.normalize("NFKC", phrase)] = entry["reason"]
            else:
                phrases[phrase] = entry
        if places is None:
            places = PlaceNames.load() if path is None else NO_PLACES
        return cls(phrases=phrases, version=version, reasons=reasons, places=places)

    def with_phrase(self, phrase: str, letters: str, *, version: str | None = None) -> PinyinOverrides:
        """A copy with ``phrase → letters`` added (or replaced); ``version`` defaults to the current one.

        Raises :class:`PinyinOverrideInvalidError` unless ``phrase`` is one or more CJK characters and ``letters`` is
        uppercase ``A``–``Z`` with exactly one letter per character."""
        key = _validated_override(phrase, letters)
        return PinyinOverrides(
            phrases={**self.phrases, key: letters}, version=self.version if version is None else version,
            reasons={p: r for p, r in self.reasons.items() if p != key}, places=self.places)

    def without_phrase(self, phrase: str, *, version: str | None = None) -> PinyinOverrides:
        """A copy without ``phrase``; raises :class:`PinyinOverrideNotFoundError` if it is not in the dictionary."""
        key = unicodedata.normalize("NFKC", phrase) if isinstance(phrase, str) else phrase
        if key not in self.phrases:
            raise PinyinOverrideNotFoundError(phrase=phrase)
        remaining = {p: letters for p, letters in self.phrases.items() if p != key}
        return PinyinOverrides(phrases=remaining, version=self.version if version is None else version,
                               reasons=self.reasons, places=self.places)

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready form (same shape as the data file, without its description)."""
        return {"version": self.version, "phrases": dict(self.phrases)}


def override_key(phrase: object, letters: object) -> str:
    """Check one override entry (what :meth:`PinyinOverrides.with_phrase` accepts); returns the phrase as the
    dictionary keys it (NFKC-normalised). Raises :class:`PinyinOverrideInvalidError` (with the phrase and letters
    as given, and the reason)."""
    return _validated_override(phrase, letters)


def _validated_override(phrase: object, letters: object) -> str:
    """Check one override entry; returns the NFKC-normalised phrase."""
    if not isinstance(phrase, str) or not phrase:
        raise PinyinOverrideInvalidError(phrase=phrase, letters=letters, reason="拼音修正词条不能为空")
    key = unicodedata.normalize("NFKC", phrase)
    if not _HAN_ONLY.fullmatch(key):
        raise PinyinOverrideInvalidError(phrase=phrase, letters=letters, reason=f"拼音修正词条“{phrase}”只能由汉字组成")
    if not isinstance(letters, str) or not _OVERRIDE_LETTERS.fullmatch(letters):
        raise PinyinOverrideInvalidError(
            phrase=phrase, letters=letters, reason=f"拼音修正词条“{phrase}”的首字母“{letters}”只能由大写字母 A–Z 组成")
    if len(letters) != len(key):
        raise PinyinOverrideInvalidError(
            phrase=phrase, letters=letters,
            reason=f"拼音修正词条“{phrase}”有{len(key)}个汉字，首字母“{letters}”却有{len(letters)}个")
    return key


# ------------------------------------------------------------------------------------------------------- name code
def name_letters(short_name: str, overrides: PinyinOverrides) -> str:
    """The full (untruncated) uppercase letter string of a 简称.

    The name is NFKC-normalised (full-width ``Ｃ１`` → ``C1``), then read as runs of Han characters and runs of ASCII
    letters/digits; everything else (punctuation, brackets, spaces, other scripts) is dropped. ASCII runs are
    upper-cased. Each Han run is read left to right: at every character an override phrase that starts there wins
    (the longest), else a place name (the longest: 南沙区, else 南沙), else the character is left for pypinyin; the
    text between matches is handed to pypinyin in one piece so that its phrase dictionary still sees whole words
    (重新申领 → CXSL, 银行 → YH). :func:`explain_letters` says which rule gave each letter.
    """
    if not isinstance(short_name, str):
        raise TypeError(f"short_name must be str, not {type(short_name).__name__}")
    text = unicodedata.normalize("NFKC", short_name)
    pieces: list[str] = []
    for match in _NAME_TOKENS.finditer(text):
        han, ascii_alnum = match.groups()
        pieces.append(_han_letters(han, overrides) if han else ascii_alnum.upper())
    return "".join(pieces)


@dataclass(frozen=True)
class LetterPiece:
    """A part of a short name and the letters it gave, with the rule that gave them."""

    text: str
    letters: str
    rule: str  # override | place | phrase | character | latin | dropped
    place: Place | None = None  # the place a ``place`` piece names

    @property
    def rule_label(self) -> str:
        return RULE_LABELS[self.rule]


RULE_LABELS = {"override": "拼音修正词典", "place": "地名读音表", "phrase": "词组读音（pypinyin 词典）",
               "character": "单字读音（pypinyin）", "latin": "字母数字照录", "dropped": "不参与编码"}


def explain_letters(short_name: str, overrides: PinyinOverrides) -> list[LetterPiece]:
    """:func:`name_letters`, piece by piece: every part of the 简称 with the letters it gave and the rule that gave
    them (an override, a place name, a phrase of pypinyin's dictionary, a single character, Latin letters and
    digits kept, or dropped). Joined, the pieces' letters are exactly :func:`name_letters`."""
    text = unicodedata.normalize("NFKC", short_name)
    pieces: list[LetterPiece] = []
    position = 0
    for match in _NAME_TOKENS.finditer(text):
        if match.start() > position:
            pieces.append(LetterPiece(text[position:match.start()], "", "dropped"))
        han, ascii_alnum = match.groups()
        pieces += _han_pieces(han, overrides) if han else [LetterPiece(ascii_alnum, ascii_alnum.upper(), "latin")]
        position = match.end()
    if position < len(text):
        pieces.append(LetterPiece(text[position:], "", "dropped"))
    return pieces


def name_code(short_name: str, overrides: PinyinOverrides) -> str:
    """The 12-character 事项名称编码: the first 12 of :func:`name_letters`, right-padded with ``0``."""
    return name_code_of_letters(short_name, name_letters(short_name, overrides))


def name_code_of_letters(short_name: str, letters: str) -> str:
    """:func:`name_code` from the letters :func:`name_letters` read from ``short_name`` (for callers that need
    both and should read the 简称 only once)."""
    if not letters:
        raise EmptyNameCodeError(short_name=short_name, reason=(
            f"简称“{short_name}”不含可编码的汉字、字母或数字，无法生成事项名称编码，请修改简称"))
    return letters[:NAME_CODE_LENGTH].ljust(NAME_CODE_LENGTH, NAME_CODE_PAD)


_READ_RUNS_KEPT = 1 << 16  # runs whose letters one dictionary remembers (a short name is one or two runs)


def _han_letters(run: str, overrides: PinyinOverrides) -> str:
    known = overrides._letters
    letters = known.get(run)
    if letters is None:
        if len(known) >= _READ_RUNS_KEPT:
            known.clear()
        letters = known[run] = "".join(p.letters for p in _han_pieces(run, overrides))
    return letters


def _han_pieces(run: str, overrides: PinyinOverrides) -> list[LetterPiece]:
    """The one reading of a Han run: override phrases, then place names, matched left to right (longest first at
    each character), the text between them read by pypinyin."""
    phrases, lengths, first_characters = overrides.phrases, overrides._lengths, overrides._first_characters
    places = overrides.places
    pieces: list[LetterPiece] = []
    plain_start = position = 0
    while position < len(run):
        found: LetterPiece | None = None
        if run[position] in first_characters:
            for length in lengths:
                letters = phrases.get(run[position:position + length])
                if letters is not None:
                    found = LetterPiece(run[position:position + length], letters, "override")
                    break
        if found is None:
            for length in places.lengths_from(run[position]):
                match = places.get(run[position:position + length])
                if match is not None:
                    found = LetterPiece(match.text, match.letters, "place", match.place)
                    break
        if found is None:
            position += 1
            continue
        pieces += _pypinyin_pieces(run[plain_start:position])
        pieces.append(found)
        position += len(found.text)
        plain_start = position
    pieces += _pypinyin_pieces(run[plain_start:])
    return pieces


def _pypinyin_pieces(text: str) -> list[LetterPiece]:
    """pypinyin's reading of ``text``, a piece per segment of its segmenter: a phrase of its dictionary, or one
    character."""
    return [LetterPiece(segment, _segment_letters(segment), "phrase" if len(segment) > 1 else "character")
            for segment in _pypinyin_segments(text)]


# What ``pypinyin.lazy_pinyin(text, style=Style.FIRST_LETTER, errors="ignore")`` does, taken apart so that it can
# be memoised with byte-identical results (unit tests compare with lazy_pinyin on real names and generated text):
# - pypinyin converts each segment on its own (the conversion of a segment depends on nothing but the segment), and
#   that conversion costs ~3 µs per character: it is cached per segment. Names are built from a small vocabulary
#   (机动车, 驾驶证, 许可, 登记 …), so nearly every segment is a cache hit.
# - pypinyin segments a Han run by forward maximum matching over its phrase dictionary (pypinyin.seg.mmseg, strict
#   mode), restarting after each segment, so the segmentation of what follows a segment depends on nothing but that
#   tail. :func:`_han_run_segments` replays the same steps and caches each tail: 南沙户口迁移审批 costs the step for
#   南沙, and the tail 户口迁移审批 is known from every other county's name.
_PINYIN_CONVERTER = UltimateConverter()  # lazy_pinyin's converter with its defaults (no v→ü, no tone sandhi)
_PINYIN = Pinyin(_PINYIN_CONVERTER)
_SEGMENT_CACHE_SIZE = 1 << 16
_TAIL_CACHE_SIZE = 1 << 18
_LONGEST_MEMOISED_RUN = 200  # the tail cache recurses once per segment; longer runs take pypinyin's own path


def _pypinyin_segments(text: str) -> tuple[str, ...]:
    if not text:
        return ()
    # A run pypinyin itself counts as all-Han goes straight to the segmenter (what Pinyin.seg does after splitting
    # Han from non-Han text); anything else takes pypinyin's whole path.
    if _PYPINYIN_HAN_RUN.match(text) and len(text) <= _LONGEST_MEMOISED_RUN:
        return _han_run_segments(text)
    return tuple(_PINYIN.seg(text))


@lru_cache(maxsize=_TAIL_CACHE_SIZE)
def _han_run_segments(remain: str) -> tuple[str, ...]:
    """One step of pypinyin's strict forward maximum matching (``Seg.cut`` with ``no_non_phrases=True``), then the
    tail. The longest prefix that is a phrase is a segment; if none is, the first character is; if the whole run
    is a chain of phrase prefixes without any phrase, pypinyin emits every character alone."""
    if not remain:
        return ()
    phrase_end = 0
    for end in range(1, len(remain) + 1):
        word = remain[:end]
        if word not in p_set:  # the phrase prefixes pypinyin's own segmenter walks
            break
        if word in PHRASES_DICT:
            phrase_end = end
    else:
        if not phrase_end:
            return tuple(remain)
    if not phrase_end:
        phrase_end = 1
    return (remain[:phrase_end], *_han_run_segments(remain[phrase_end:]))


def clear_pinyin_caches() -> None:
    """Forget every memoised segment and tail (for benchmarks that measure the cold path)."""
    _han_run_segments.cache_clear()
    _segment_letters.cache_clear()


@lru_cache(maxsize=_SEGMENT_CACHE_SIZE)
def _segment_letters(segment: str) -> str:
    readings = _PINYIN_CONVERTER.convert(segment, Style.FIRST_LETTER, False, "ignore", True)
    initials = "".join(chain.from_iterable(readings)).upper()
    # Characters pypinyin has no reading for are dropped (errors="ignore"); keep strictly A–Z.
    return "".join(ch for ch in initials if "A" <= ch <= "Z")


# ------------------------------------------------------------------------------------------------------- item code
@dataclass(frozen=True)
class ItemCodeParts:
    """The five parts of a 事项编码. Construction checks each part's shape (not its dictionary meaning) and raises
    :class:`~coding.domain.errors.MalformedCodeError` naming the first bad part."""

    item_type: str
    region_code: str
    police_type: str
    service_category: str
    name_code: str

    def __post_init__(self) -> None:
        for part, _start, _end, pattern, label, shape in _PART_LAYOUT:
            value = getattr(self, part)
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise _malformed_part(part, value, label, shape, given="".join(map(_shown, self.as_tuple())))

    def code(self) -> str:
        """The 24-character code: the parts concatenated without separators."""
        return self.item_type + self.region_code + self.police_type + self.service_category + self.name_code

    def as_tuple(self) -> tuple[str, str, str, str, str]:
        return (self.item_type, self.region_code, self.police_type, self.service_category, self.name_code)


def _malformed_part(part: str, value: object, label: str, shape: str, *, given: str) -> MalformedCodeError:
    """The error naming a part of the code ``given`` (as the caller gave it) that does not have its shape."""
    return MalformedCodeError(code=given, part=part, reason=f"事项编码中的{label}应为{shape}，实际为“{_shown(value)}”")


def _shown(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def compose_code(parts: ItemCodeParts) -> str:
    """The 24-character 事项编码 of ``parts``."""
    return parts.code()


def decode_code(code: str) -> ItemCodeParts:
    """Split a 24-character 事项编码 into its parts, checking only their shape.

    Raises :class:`MalformedCodeError` with ``part`` = ``"length"`` for a wrong length, else the name of the first
    malformed part. The canonical form only: no hyphens, no surrounding spaces, uppercase name code."""
    if not isinstance(code, str):
        raise TypeError(f"code must be str, not {type(code).__name__}")
    if len(code) != ITEM_CODE_LENGTH:
        raise MalformedCodeError(
            code=code, part="length", reason=f"事项编码应为{ITEM_CODE_LENGTH}位，实际为{len(code)}位：“{code}”")
    return ItemCodeParts(*(code[start:end] for _part, start, end, *_rest in _PART_LAYOUT))


def with_collision_sequence(code: str, sequence: int) -> str:
    """``code`` with the last two characters of its name code replaced by ``f"{sequence:02d}"`` (``01``–``99``)."""
    decode_code(code)
    _check_sequence(sequence, COLLISION_SEQUENCE_MAX, "冲突序号")
    return code[: ITEM_CODE_LENGTH - 2] + f"{sequence:02d}"


def service_code(item_code: str, sequence: int) -> str:
    """The 27-character 事项服务编码: ``item_code`` followed by ``f"{sequence:03d}"`` (``001``–``999``)."""
    decode_code(item_code)
    _check_sequence(sequence, SERVICE_SEQUENCE_MAX, "事项服务序号")
    return item_code + f"{sequence:03d}"


def decode_service_code(code: str) -> tuple[ItemCodeParts, int]:
    """Split a 27-character 事项服务编码 into its item code's parts and its service sequence (1–999).

    Raises :class:`MalformedCodeError` naming ``length``, a part of the item code, or ``service_sequence``."""
    if not isinstance(code, str):
        raise TypeError(f"code must be str, not {type(code).__name__}")
    if len(code) != SERVICE_CODE_LENGTH:
        raise MalformedCodeError(
            code=code, part="length", reason=f"事项服务编码应为{SERVICE_CODE_LENGTH}位，实际为{len(code)}位：“{code}”")
    for part, start, end, pattern, label, shape in _PART_LAYOUT:  # the error names the service code given
        if not pattern.fullmatch(code[start:end]):
            raise _malformed_part(part, code[start:end], label, shape, given=code)
    parts = ItemCodeParts(*(code[start:end] for _part, start, end, *_rest in _PART_LAYOUT))
    sequence = code[ITEM_CODE_LENGTH:]
    if not _SERVICE_SEQUENCE.fullmatch(sequence) or sequence == "000":
        raise MalformedCodeError(
            code=code, part="service_sequence",
            reason=f"事项服务编码中的事项服务序号应为001至{SERVICE_SEQUENCE_MAX}，实际为“{sequence}”")
    return parts, int(sequence)


def display_code(code: str) -> str:
    """The hyphenated form for people: ``01-440115-02-01-HKQYSP000000``."""
    return "-".join(decode_code(code).as_tuple())


def _check_sequence(sequence: int, maximum: int, label: str) -> None:
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 1 <= sequence <= maximum:
        raise SequenceOutOfRangeError(
            sequence=repr(sequence), maximum=maximum, reason=f"{label}应为1至{maximum}之间的整数，实际为“{sequence}”")
