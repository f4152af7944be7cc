"""The national feed's content: the lifecycle's public events translated into published records
(``shared.contracts.feed``), pure.

Only published content enters (``contracts.is_public_event``): drafts, reviews, tests and the cancellation of an
item that was never published never leave. What enters is not the lifecycle's event but a published record made
from it (:func:`published_record`): the national platform's contract, versioned on its own. Each entry is a
structured CloudEvent whose ``subject`` is the item id and whose ``sequence`` (the feed cursor) is added when read.
:func:`project` decides a batch: which events become entries, which are refused for good and why."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from shared import contracts
from shared.contracts.feed import CHANGES, FEED_SOURCE, PublishedElements, PublishedItemRecord


class PublicEvent(Protocol):
    """What the translation reads of a lifecycle event (``shared.cloudevents.CloudEvent`` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def time(self) -> datetime: ...
    @property
    def data(self) -> dict[str, Any]: ...


class UnpublishableError(ValueError):
    """A public event that cannot become a published record (its content does not fit the published schema). Not
    an error of the API: the consumer refuses the event with this reason."""


@dataclass(frozen=True, slots=True)
class FedEntry:
    """One event's feed entry, with what the feed's tables index it by."""

    event_id: str
    item_id: str
    item_version: int
    entry: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SyncRound:
    """One sync round (同步轮次): the batch id (批次号, the exchange's ``cd_batch``) and the sync time (同步时间,
    ``cd_time``) every entry of one consumed batch carries. Made by the caller: the domain makes no ids and reads no
    clock."""

    batch: str
    synced_at: datetime


@dataclass(frozen=True)
class Projection:
    """What a batch of public events does to the feed: the entries, in order, and the events refused for good
    (event id → why, in Chinese)."""

    fed: list[FedEntry]
    refused: dict[str, str]


def project(events: Iterable[PublicEvent], regions: Mapping[str, str | None], sync_round: SyncRound) -> Projection:
    """The feed entries of a batch of public lifecycle events, in order, each of ``sync_round``. ``regions``: the
    region the feed last published for each of the batch's items it has published (a cancellation carries no
    elements). Refused for good:
    an unpublish, resume or cancellation of an item the feed never saw published, and content that does not fit the
    published schema."""
    known = dict(regions)
    refused: dict[str, str] = {}
    fed: list[FedEntry] = []
    for event in events:
        if event.type != contracts.LIFECYCLE_PUBLISHED and event.subject not in known:
            refused[event.id] = f"同步源从未发布过事项 {event.subject}，不能记录其{event.type}"
            continue
        try:
            record = published_record(event, known.get(event.subject), sync_round)
        except UnpublishableError as exc:
            refused[event.id] = f"无法转换为对外发布记录：{exc}"
            continue
        known[event.subject] = record["region_code"]
        fed.append(FedEntry(event.id, event.subject, event.sequence, feed_entry(event, record)))
    return Projection(fed, refused)


def published_record(event: PublicEvent, known_region: str | None, sync_round: SyncRound) -> dict[str, Any]:
    """The published record (shared.contracts.feed) of one public lifecycle event, fed in ``sync_round``.
    ``known_region``: the item's region as the feed last published it (a cancellation carries no elements)."""
    data = event.data
    if event.type == contracts.LIFECYCLE_PUBLISHED:
        change = "maintained" if data.get("maintenance") else "updated" if data.get("update") else "published"
    else:
        change = {contracts.LIFECYCLE_UNPUBLISHED: "unpublished", contracts.LIFECYCLE_RESUMED: "resumed",
                  contracts.LIFECYCLE_CANCELLED: "cancelled"}[event.type]
    _, label, operation = CHANGES[change]
    cancelled = change == "cancelled"
    try:
        elements = None if cancelled else PublishedElements.model_validate(
            {k: v for k, v in data["elements"].items() if k in PublishedElements.model_fields})
        state = contracts.Phase(data["phase"])
        # Validated from a mapping, as the constructor does (the literal-typed fields are checked at run time).
        record = PublishedItemRecord.model_validate({
            "item_id": event.subject, "item_version": event.sequence, "change": change, "change_label": label,
            "operation": operation, "state": state.value, "state_label": contracts.PHASE_LABELS[state],
            "code": data.get("code"),
            "previous_code": data.get("previous_code") if data.get("previous_code") != data.get("code") else None,
            "region_code": data["elements"]["region_code"] if elements else known_region or "",
            "revision": None if cancelled else data["revision"], "elements": elements,
            "offline_kind": data.get("kind") if change == "unpublished" else None,
            "reason": data.get("reason") if change in ("unpublished", "cancelled") else None,
            "successors": list(data.get("successors") or []) if cancelled else [], "effective_at": data["at"],
            "batch": sync_round.batch, "synced_at": sync_round.synced_at})
    except (ValidationError, KeyError, ValueError) as exc:
        raise UnpublishableError(str(exc)) from exc
    return record.model_dump(mode="json")


def feed_entry(event: PublicEvent, record: dict[str, Any]) -> dict[str, Any]:
    """A feed entry: a structured CloudEvent of the feed's own vocabulary around a published record (its
    ``sequence``, the cursor, is added when read)."""
    return {"specversion": "1.0", "id": event.id, "type": CHANGES[record["change"]][0], "source": FEED_SOURCE,
            "subject": event.subject, "time": event.time.isoformat(), "datacontenttype": "application/json",
            "itemversion": event.sequence, "data": record}
