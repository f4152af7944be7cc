"""What a submitted element set does to an item (pure): one decision for a change made over HTTP and for every row of
an import, so that the two can never judge the same content differently.

:func:`decide_revision` answers one of
- :class:`NewItem` — there is no such item yet: its first revision (a draft, 形成期);
- :class:`NewRevision` — the content differs: the item's next revision, with the fields it changes; *pending* once
  the item has been published (在线期, 离线期: the published revision stays what the public sees until the lifecycle
  reviews and publishes this one, 先审后用), a *maintenance* fix if the caller said so;
- :class:`Unchanged` — the content is what the item holds: no revision (importing a file again changes nothing,
  a cancelled item's row included: re-importing an unedited export is no attempt to change it);
- :class:`Refused` — why not: the problems of the content, or a domain error (a cancelled item, 注销期: its content
  is final, so any *change* to it is refused).

What it needs is loaded before (the item as stored, what the rules between items need of the others, the editor's
region check); nothing here reads a store or a clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from shared.contracts import PUBLISHED_PHASES
from shared.errors import DomainError, RegionDeniedError

from registry.domain.errors import ElementsInvalidError, ItemCancelledError
from registry.domain.problems import Problem
from registry.domain.revisions import (
    CANCELLED,
    FORMING,
    MAINTAINABLE_LABELS,
    changed_fields,
    maintenance_problems,
)
from registry.domain.structure import RelatedItems, structure_problems

SOURCE_REF_MAX = 100


class StoredItem(Protocol):
    """An item as stored: its latest revision and the lifecycle phase it is in."""

    @property
    def item_id(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def phase(self) -> str: ...
    @property
    def elements(self) -> dict[str, Any]: ...
    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class NewItem:
    """The item's first revision."""

    at: datetime


@dataclass(frozen=True)
class NewRevision:
    """The item's next revision (``revision``), changing ``changed_fields``."""

    revision: int
    changed_fields: list[str]
    pending: bool  # the item is published: this revision waits for review while the published one stays online
    maintenance: bool  # a non-substantive fix (维护) that needs no new review
    at: datetime


@dataclass(frozen=True)
class Unchanged:
    """The content is what the item holds already: no new revision."""


@dataclass(frozen=True)
class Refused:
    """No revision: ``error`` if the item cannot change at all (it then comes first), else ``problems``. Both are
    kept for a caller that reports everything (an import row lists the problems it was sent with too)."""

    problems: Sequence[Problem] = ()
    error: DomainError | None = None

    def as_error(self) -> DomainError:
        """The refusal as the error a single change answers with."""
        return self.error or ElementsInvalidError.of(list(self.problems))


RevisionDecision = NewItem | NewRevision | Unchanged | Refused
_UNCHANGED = Unchanged()


def decide_revision(current: StoredItem | None, elements: dict[str, Any], refs: RelatedItems, *, now: datetime,
                    maintenance: bool = False, problems: Sequence[Problem] = (),
                    require_region: Callable[[str], None] | None = None) -> RevisionDecision:
    """What submitting ``elements`` for the item ``current`` (None: a new item, ``refs.item_id``) does.

    ``refs``: what the rules between items need of the others, loaded for these elements (may be left empty when
    ``problems`` is not). ``problems``: what the caller found wrong with the content already (validation, a
    changed 来源编号, references it could not resolve): they refuse it. ``require_region``: the service layer's
    check that the editor may write in the item's (new) region; it raises :class:`RegionDeniedError`.

    Checked in this order, and the first that fails is the answer: the item is not cancelled, unless the content is
    exactly what it holds (that is :class:`Unchanged`, not a change); the content has no ``problems``; the editor
    may write in its region (so that nobody outside it learns what the rules between items would say); a
    maintenance fix touches only maintenance fields, and the rules between items hold (both reported together)."""
    if current is not None and current.phase == CANCELLED:
        if not problems and not changed_fields(current.elements, elements):
            return _UNCHANGED
        return Refused(problems, ItemCancelledError(name=current.name))
    if problems:
        return Refused(problems)
    if require_region is not None:
        try:
            require_region(elements["region_code"])
        except RegionDeniedError as denied:
            return Refused(error=denied)
    before = current.elements if current is not None else None
    found = maintenance_problems(before, elements) if maintenance and before is not None else []
    found += structure_problems(elements, refs, before=before)
    if found:
        return Refused(found)
    if current is None:
        return NewItem(now)
    changed = changed_fields(current.elements, elements)
    if not changed:
        return _UNCHANGED
    return NewRevision(current.revision + 1, changed, current.phase in PUBLISHED_PHASES, maintenance, now)


# ---- which path a change took, for the caller (a PUT answers it) ---------------------------------------------------
class ChangePath(StrEnum):
    """What a change became: it decides who must act next, so the caller is told."""

    draft = "draft"  # not yet published: the item's next revision, reviewed when it is submitted (again)
    update = "update"  # published: a pending revision, reviewed before it replaces the published one (更新, 先审后用)
    maintenance = "maintenance"  # published or reviewed: a non-substantive fix, in force without review (维护)
    unchanged = "unchanged"  # the content is what the item holds: no revision


CHANGE_PATH_LABELS = {
    ChangePath.draft: "修改（须提交审核；审核中或上线准备期的事项退回录入）",
    ChangePath.update: "更新（待审核，审核上线前已发布版本继续对外）",
    ChangePath.maintenance: "维护（免审核生效）",
    ChangePath.unchanged: "未变（没有产生新版本）",
}


def change_path(decision: RevisionDecision, phase: str) -> ChangePath:
    """The path of an accepted change of an item in ``phase``. A 维护 of an item never reviewed (形成期) is an
    ordinary revision: the lifecycle has no reviewed content it could keep in force."""
    match decision:
        case NewRevision(maintenance=True) if phase != FORMING:
            return ChangePath.maintenance
        case NewRevision(pending=True):
            return ChangePath.update
        case NewRevision() | NewItem():
            return ChangePath.draft
    return ChangePath.unchanged


def maintenance_hint(before: dict[str, Any], after: dict[str, Any], *, phase: str, path: ChangePath) -> str | None:
    """A change that could have been a 维护 (only maintainable elements, an item with reviewed content) but was not
    asked as one: say so, since it now waits for review. The path taken stays what was asked."""
    if path not in (ChangePath.draft, ChangePath.update) or phase == FORMING or before == after:
        return None
    if maintenance_problems(before, after):
        return None
    return (f"本次只修改了维护要素（{MAINTAINABLE_LABELS}），可以作为维护免审核生效：修改时加 ?maintenance=true。"
            f"本次已按{CHANGE_PATH_LABELS[path]}处理")


# ---- the 来源编号 (source_ref): the caller's own id of an item, unique in its region, fixed once the item exists -----
def read_source_ref(raw: Any) -> tuple[str | None, list[Problem]]:
    """A submitted 来源编号, trimmed (blank: none)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, []
    if not isinstance(raw, str):
        return None, [Problem("source_ref", "NOT_TEXT", "来源编号必须是文本")]
    if len(raw.strip()) > SOURCE_REF_MAX:
        return None, [Problem("source_ref", "TOO_LONG", f"来源编号不能超过 {SOURCE_REF_MAX} 个字符")]
    return raw.strip(), []


def source_ref_change_problems(stored: str | None, submitted: Any) -> list[Problem]:
    """A revision may repeat the item's 来源编号, never change it (a body that leaves it out repeats it)."""
    if submitted != stored:
        return [Problem("source_ref", "NOT_ALLOWED_VALUE", "来源编号在事项创建后不能修改")]
    return []

