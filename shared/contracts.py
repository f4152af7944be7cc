"""Kafka contracts between services: the event types one service publishes and others consume.

These strings are stable and versioned (``.v1``); a breaking change gets a new version and consumers upcast.
A service's internal events may be richer; only these types are relied on across service boundaries."""

REGISTRY_ITEM_DRAFTED = "registry.item.drafted.v1"  # data: item_id, revision, region_code, elements
REGISTRY_ITEM_REVISED = "registry.item.revised.v1"  # data: item_id, revision, region_code, elements

LIFECYCLE_REGISTRATION_REQUESTED = "lifecycle.item.registration_requested.v1"  # data: revision, elements (coded)
LIFECYCLE_PUBLISHED = "lifecycle.item.published.v1"  # data: item_id, code, revision, phase, phase_label, elements
LIFECYCLE_UNPUBLISHED = "lifecycle.item.unpublished.v1"  # as published + kind, reason
LIFECYCLE_RESUMED = "lifecycle.item.resumed.v1"  # as published
LIFECYCLE_CANCELLED = "lifecycle.item.cancelled.v1"  # data: item_id, code, phase, reason, was_published

# What the national platform may see. Everything else (drafts, reviews, tests) never leaves through the feed.
PUBLIC_LIFECYCLE_EVENTS = frozenset({LIFECYCLE_PUBLISHED, LIFECYCLE_UNPUBLISHED, LIFECYCLE_RESUMED,
                                     LIFECYCLE_CANCELLED})



def is_public_event(event_type: str, data: dict[str, object]) -> bool:
    """May the national platform see this lifecycle event? A cancellation is public only for an item it has seen
    (one that was published); cancelling a draft tells the national platform nothing."""
    if event_type == LIFECYCLE_CANCELLED:
        return bool(data.get("was_published"))
    return event_type in PUBLIC_LIFECYCLE_EVENTS


CODING_CODE_ASSIGNED = "coding.code.assigned.v1"  # data: item_id, code, base_code, collided_with, parts
