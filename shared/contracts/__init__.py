"""Contracts between the services and with the outside world, in one place.

- :mod:`shared.contracts.elements`: the item elements (事项要素), declared once: kinds, requirements, columns,
  publication; the registry's validation, columns and schemas, the published elements and the vocabulary below are
  derived from it.
- :mod:`shared.contracts.vocabulary`: the words every service uses (phases, coded elements, maintainable paths).
- :mod:`shared.contracts.events`: every event type that crosses a service boundary, its versioned schema, its
  producer and its consumers; ``check_outgoing`` (producers) and ``read_incoming`` (consumers, with upcasting).
- :mod:`shared.contracts.feed`: the national feed's published-record schema (what leaves the suite).

Every event's Kafka key and CloudEvents ``subject`` is the item id (the stream id), and its ``source`` is
``/shixiang/<producer>``: a consumer refuses an event whose source is not the service that owns the topic."""

from shared.contracts.events import (
    CODING_CODE_ASSIGNED,
    CODING_CODE_RETIRED,
    CONTRACTS,
    INTERNAL_EVENTS,
    LIFECYCLE_APPROVED,
    LIFECYCLE_CANCELLED,
    LIFECYCLE_ENTERED,
    LIFECYCLE_LINEAGE_RECORDED,
    LIFECYCLE_PUBLISHED,
    LIFECYCLE_REGISTRATION_REQUESTED,
    LIFECYCLE_RESUMED,
    LIFECYCLE_UNPUBLISHED,
    REGISTRY_ITEM_DRAFTED,
    REGISTRY_ITEM_DRAFTED_V1,
    REGISTRY_ITEM_REVISED,
    SYNC_NATIONAL_ACKNOWLEDGED,
    SYNC_NATIONAL_REJECTED,
    UPCASTS,
    ContractViolationError,
    EventContract,
    check_outgoing,
    current_type,
    read_incoming,
)
from shared.contracts.vocabulary import (
    CODED_ELEMENTS,
    MAINTAINABLE_PATHS,
    PHASE_CHOICES,
    PHASE_LABELS,
    PHASES,
    PUBLISHED_PHASES,
    Phase,
    phase_named,
)

# What the national platform may see. Everything else (drafts, reviews, tests) never leaves through the feed.
PUBLIC_LIFECYCLE_EVENTS = frozenset({LIFECYCLE_PUBLISHED, LIFECYCLE_UNPUBLISHED, LIFECYCLE_RESUMED,
                                     LIFECYCLE_CANCELLED})


def is_public_event(event_type: str, data: dict[str, object]) -> bool:
    """May the national platform see this lifecycle event? A cancellation is public only for an item it has seen
    (one that was published); cancelling a draft tells the national platform nothing."""
    if event_type == LIFECYCLE_CANCELLED:
        return bool(data.get("was_published"))
    return event_type in PUBLIC_LIFECYCLE_EVENTS


def source_of(service: str) -> str:
    """The CloudEvents ``source`` of every event a service produces (and the only one its topic may carry)."""
    return f"/shixiang/{service}"


__all__ = [
    "CODED_ELEMENTS", "CODING_CODE_ASSIGNED", "CODING_CODE_RETIRED", "CONTRACTS", "INTERNAL_EVENTS",
    "LIFECYCLE_APPROVED", "LIFECYCLE_CANCELLED", "LIFECYCLE_ENTERED", "LIFECYCLE_LINEAGE_RECORDED",
    "LIFECYCLE_PUBLISHED", "LIFECYCLE_REGISTRATION_REQUESTED", "LIFECYCLE_RESUMED", "LIFECYCLE_UNPUBLISHED",
    "MAINTAINABLE_PATHS", "PHASES", "PHASE_CHOICES", "PHASE_LABELS", "PUBLIC_LIFECYCLE_EVENTS", "PUBLISHED_PHASES",
    "REGISTRY_ITEM_DRAFTED", "REGISTRY_ITEM_DRAFTED_V1", "REGISTRY_ITEM_REVISED", "SYNC_NATIONAL_ACKNOWLEDGED",
    "SYNC_NATIONAL_REJECTED",
    "UPCASTS", "ContractViolationError", "EventContract", "Phase", "check_outgoing", "current_type",
    "is_public_event", "phase_named", "read_incoming", "source_of",
]
