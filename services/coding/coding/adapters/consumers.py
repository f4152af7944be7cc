"""The coding service's consumer of the lifecycle topic: contract events → :class:`CodeLifecycle` calls.

One consumer (``lifecycle-registrations``, wired in ``coding.bootstrap``) acts on :data:`LIFECYCLE_EVENTS`; the
runner (``shared.consumer``) has checked each event against its contract and hands the handler a fetched batch
inside one transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from shared import contracts
from shared.cloudevents import CloudEvent
from shared.eventstore import EventMetadata

from coding.domain.errors import CodingError
from coding.service_layer.allocation import RegistrationRequest
from coding.service_layer.code_lifecycle import CodeLifecycle, EnteredItem, Lineage

# What the consumer acts on (tests/unit/test_event_contracts.py checks it against the contracts).
LIFECYCLE_EVENTS = (contracts.LIFECYCLE_ENTERED, contracts.LIFECYCLE_REGISTRATION_REQUESTED,
                    contracts.LIFECYCLE_CANCELLED, contracts.LIFECYCLE_LINEAGE_RECORDED)


class LifecycleConsumer:
    def __init__(self, lifecycle: CodeLifecycle) -> None:
        self.lifecycle = lifecycle

    async def handle(self, conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
        """A fetched batch of lifecycle events, in order: items entering, registrations (consecutive ones together:
        one round of statements and one append for all), cancellations and split / merge lineage. Refuses, for
        good, events about an item the lifecycle never said exists, and registrations that cannot be coded (an
        unknown or expired table value, nothing codable in the 简称): the others go ahead."""
        entered = [e for e in events if e.type == contracts.LIFECYCLE_ENTERED]
        if entered:
            await self.lifecycle.enter(conn, [EnteredItem(e.subject, e.data["region_code"], e.time) for e in entered])
        others = [e for e in events if e.type != contracts.LIFECYCLE_ENTERED]
        if not others:
            return {}
        known = await self.lifecycle.known(conn, {e.subject for e in others})
        refused: dict[str, str] = {}
        registrations: list[CloudEvent] = []

        async def allocate() -> None:
            if registrations:
                requests = [RegistrationRequest(e.subject, e.data["elements"], _metadata_of(e)) for e in registrations]
                for event, result in zip(registrations, await self.lifecycle.register(conn, requests), strict=True):
                    if isinstance(result, CodingError):
                        refused[event.id] = f"无法赋码：{type(result).__name__} {result.context}"
                registrations.clear()

        for event in others:
            if event.subject not in known:
                refused[event.id] = (f"编码服务从未收到事项 {event.subject} 的录入事件（lifecycle.item.entered），"
                                     "不予处理")
            elif event.type == contracts.LIFECYCLE_REGISTRATION_REQUESTED:
                registrations.append(event)
            else:
                await allocate()  # in order: a registration before a cancellation of the same item comes first
                if event.type == contracts.LIFECYCLE_CANCELLED:
                    successors = [str(s) for s in event.data.get("successors") or []]
                    await self.lifecycle.cancel(conn, event.subject, successors, _metadata_of(event))
                else:
                    data = event.data  # its shape is the contract's (checked by the consumer runner)
                    await self.lifecycle.record_lineage(conn, event.subject, Lineage(
                        data["kind"], data["predecessors"], data["successors"], data.get("reason"), event.time),
                        _metadata_of(event))
        await allocate()
        return refused


def _metadata_of(event: CloudEvent) -> EventMetadata:
    """Coding's events caused by a lifecycle event: actor coding, same correlation, caused by that event."""
    return EventMetadata(actor="coding", correlation_id=event.correlation_id, causation_id=event.id)
