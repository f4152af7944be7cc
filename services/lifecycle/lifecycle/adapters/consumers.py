"""The lifecycle's Kafka consumer handlers (wired in bootstrap.py, one per topic it reads): each translates a
contract event (shared.contracts.events) into one pure fact decision (``domain.facts``) and leaves loading, folding
and saving the batch to the service layer's ``FactRecorder``. A fact the lifecycle cannot take for good (about an
item it never heard of, or a version it does not have) is refused with a Chinese reason and becomes a dead
letter."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from shared import contracts
from shared.cloudevents import CloudEvent

from lifecycle.domain.errors import UnknownItemVersionError
from lifecycle.domain.events import DomainEvent
from lifecycle.domain.facts import on_code_assigned, on_national_feedback, on_revision
from lifecycle.domain.model import ItemState
from lifecycle.domain.vocabulary import SyncResult
from lifecycle.service_layer.facts import FactRecorder, FactRefused

_SYNC_RESULTS = {contracts.SYNC_NATIONAL_ACKNOWLEDGED: SyncResult.acknowledged,
                 contracts.SYNC_NATIONAL_REJECTED: SyncResult.rejected}


class LifecycleConsumers:
    def __init__(self, facts: FactRecorder) -> None:
        self.facts = facts

    async def on_registry_events(self, conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
        """Drafts and revisions written in the registry (``on_revision``). A revision of an item the lifecycle
        never received a draft of is refused: the registry drafts every item before it revises it."""
        return await self.facts.record(conn, events, _revision, actor=lambda e: e.actor or "registry")

    async def on_coding_events(self, conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
        """Codes assigned by coding (``on_code_assigned``); a code for an item the lifecycle does not have is
        refused."""
        return await self.facts.record(conn, events, _code, actor=lambda _: "coding")

    async def on_sync_events(self, conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
        """The national platform's acknowledgements and rejections (``on_national_feedback``); an answer about an
        item or a version the lifecycle does not have is refused."""
        return await self.facts.record(conn, events, _national_feedback, actor=lambda e: e.actor or "national")


def _revision(state: ItemState, event: CloudEvent) -> list[DomainEvent]:
    data = event.data
    if event.type == contracts.REGISTRY_ITEM_REVISED and not state.exists:
        raise FactRefused(f"生命周期中没有事项 {state.item_id}：收到修订，却从未收到草稿")
    return on_revision(state, revision=data["revision"], author=event.actor or data["author"],
                       region_code=data["region_code"], elements=data["elements"],
                       maintenance=bool(data.get("maintenance")), now=event.time,
                       complete=data.get("complete"), missing=data.get("missing"))


def _code(state: ItemState, event: CloudEvent) -> list[DomainEvent]:
    if not state.exists:
        raise FactRefused(f"生命周期中没有事项 {state.item_id}，不能记录其编码")
    return on_code_assigned(state, code=event.data["code"], replaces=event.data.get("replaces"))


def _national_feedback(state: ItemState, event: CloudEvent) -> list[DomainEvent]:
    if not state.exists:
        raise FactRefused(f"生命周期中没有事项 {state.item_id}，不能记录国家平台的答复")
    try:
        return on_national_feedback(state, item_version=event.data["item_version"],
                                    result=_SYNC_RESULTS[event.type], reason=event.data.get("reason"),
                                    feed_sequence=event.data.get("feed_sequence"))
    except UnknownItemVersionError as exc:
        raise FactRefused(f"国家平台答复的版本不存在：{exc.context}") from exc
