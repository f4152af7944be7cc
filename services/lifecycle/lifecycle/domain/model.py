"""The lifecycle's state: ``ItemState`` (frozen, what decisions read) and the parts it is made of, plus ``Draft``,
the mutable working copy ``evolve`` folds events into before freezing it once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lifecycle.domain.vocabulary import (
    ALLOWED,
    CODED_ELEMENTS,
    Command,
    Phase,
    Step,
    SyncResult,
    UpdateStage,
)


@dataclass(frozen=True)
class Revision:
    number: int
    author: str
    elements: dict[str, Any]
    # The registry's word on whether every element review needs is there (domain.md: submission requires complete
    # elements); revisions from before it said so count as complete.
    complete: bool = True
    missing: tuple[str, ...] = ()

    def coded(self) -> dict[str, Any]:
        return {k: self.elements.get(k) for k in CODED_ELEMENTS}


@dataclass(frozen=True)
class PendingUpdate:
    """A revision on its way to replace the published one (更新, 先审后用)."""

    revision: int
    stage: UpdateStage = UpdateStage.received
    submitted_by: str | None = None


@dataclass(frozen=True)
class NationalSync:
    """The national platform's answer to one fed lifecycle version (同步)."""

    item_version: int
    result: SyncResult
    reason: str | None
    feed_sequence: int | None
    at: datetime


@dataclass(frozen=True)
class Lineage:
    """One split or merge this item took part in (事项调整: 主子项拆分 / 合并)."""

    adjustment_id: str | None
    kind: str  # split | merge
    role: str  # predecessor | successor
    predecessors: tuple[str, ...]
    successors: tuple[str, ...]
    reason: str | None
    actor: str | None
    at: datetime


@dataclass(frozen=True)
class Transition:
    command: str
    event: str
    actor: str | None
    at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class ItemState:
    item_id: str
    version: int = 0
    phase: Phase | None = None
    step: Step = Step.none
    region_code: str | None = None
    # Only the revisions the state still refers to (latest, under review / approved, published, pending update);
    # the full history is in the log.
    revisions: Mapping[int, Revision] = field(default_factory=dict)
    latest_revision: int = 0
    review_revision: int | None = None  # revision last submitted for the first review (kept after approval)
    submitted_by: str | None = None
    published_revision: int | None = None
    published_code: str | None = None  # the code the published revision went online with
    published_version: int | None = None  # the item version that last put content online (published, 维护 too)
    update: PendingUpdate | None = None
    test_result: str | None = None
    code: str | None = None  # the item's current code, as coding assigned it
    code_elements: Mapping[str, Any] | None = None  # the coded elements that code stands for
    requested_code_elements: Mapping[str, Any] | None = None  # of the last registration request
    retired_codes: tuple[str, ...] = ()  # earlier codes of this item (re-coding after an update)
    national_sync: Mapping[int, NationalSync] = field(default_factory=dict)
    lineage: tuple[Lineage, ...] = ()
    last_transition: Transition | None = None

    @property
    def exists(self) -> bool:
        return self.phase is not None

    def allowed(self) -> frozenset[Command]:
        if self.phase is None:
            return frozenset()
        return ALLOWED.get((self.phase, self.step), frozenset())

    def allowed_commands(self) -> list[str]:
        return sorted(c.value for c in self.allowed())

    def under_review(self) -> tuple[Revision, str | None]:
        """The revision a reviewer decides on now, and who submitted it."""
        if self.update is not None:
            return self.revisions[self.update.revision], self.update.submitted_by
        return self.revisions[self.review_revision or self.latest_revision], self.submitted_by

    def reviewed_revision(self) -> Revision | None:
        """The content that passed review and is (or is about to be) online: published, else approved."""
        if self.published_revision is not None:
            return self.revisions.get(self.published_revision)
        if self.phase is Phase.preparing and self.review_revision is not None:
            return self.revisions.get(self.review_revision)
        return None

    def national_rejection(self) -> NationalSync | None:
        """The national platform's rejection the item stands under (同步退回), or ``None``: its latest answer is a
        rejection and no content was published after the rejected version. Such an item's published content is not
        sent again as it is: only a corrected revision, reviewed and published (a newer version), clears it — or
        the national platform's acknowledgement of a version, which is then the latest answer."""
        if not self.national_sync:
            return None
        latest = self.national_sync[max(self.national_sync)]
        if latest.result is not SyncResult.rejected:
            return None
        if self.published_version is not None and self.published_version > latest.item_version:
            return None
        return latest

    def standing_national_answer(self) -> SyncResult | None:
        """The national platform's answer as it stands (the items list's ``national_sync``): a rejection only
        while :meth:`national_rejection` holds (newer content is awaiting its answer once published), else the
        latest answer."""
        if not self.national_sync:
            return None
        latest = self.national_sync[max(self.national_sync)]
        if latest.result is SyncResult.rejected and self.national_rejection() is None:
            return None
        return latest.result

    def coded_elements(self) -> dict[str, Any]:
        revision = self.revisions.get(self.review_revision or self.latest_revision)
        return revision.coded() if revision else dict.fromkeys(CODED_ELEMENTS)

    def current_code_elements(self) -> Mapping[str, Any] | None:
        """What the current code stands for (the published content's coded elements when coding did not say)."""
        if self.code_elements is not None:
            return self.code_elements
        published = self.revisions.get(self.published_revision or 0)
        return published.coded() if published else None


# The working copy is a plain dict of ItemState's fields: mutating a dict is several times cheaper than building a
# frozen dataclass per event, which is what makes rebuilding a million events fast. Nested values (revisions,
# national_sync, lineage) are still replaced, never mutated, because frozen states share them.
Draft = dict[str, Any]
