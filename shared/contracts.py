"""Kafka contracts between services: the event types one service publishes and others consume.

These strings are stable and versioned (``.v1``); a breaking change gets a new version and consumers upcast.
A service's internal events may be richer; only what is written here is relied on across service boundaries.
Every event's Kafka key and CloudEvents ``subject`` is the item id (the stream id)."""

# ---- registry → lifecycle, coding, sync ---------------------------------------------------------------------------
# data: item_id, revision, region_code, elements (the whole element set of that revision, JSON keys as the registry
# API documents them; every consumer may rely on: name, short_name, item_type, police_type, service_category,
# region_code, planned_effective_date, planned_cancel_date (ISO dates or null)), author,
# complete (bool: every element required for review is there), missing (element paths still needed for review),
# source_ref (the caller's own id, unique per region, or null), import_job_id (or null)
REGISTRY_ITEM_DRAFTED = "registry.item.drafted.v1"
# as drafted + changed_fields (list of element keys), maintenance (bool: a non-substantive fix, 维护),
# pending (bool: the item is published; this revision waits for review while the published one stays online)
REGISTRY_ITEM_REVISED = "registry.item.revised.v1"

# ---- lifecycle → coding, registry, sync -----------------------------------------------------------------------------
# The registry follows an item's phase from these and from the public events below:
LIFECYCLE_ENTERED = "lifecycle.item.entered.v1"  # data: revision, author, region_code, elements (形成期 begins)
LIFECYCLE_APPROVED = "lifecycle.item.approved.v1"  # data: revision, at (形成期 → 上线准备期, or an update approved)
# data: revision, elements (the coded elements item_type, region_code, police_type, service_category, short_name).
# Sent on registration and again when an approved update changes a coded element (coding then re-codes: the old
# code is retired and linked to the new one).
LIFECYCLE_REGISTRATION_REQUESTED = "lifecycle.item.registration_requested.v1"
# data: item_id, code, revision, phase, phase_label, elements (the published revision's full elements), at;
# also sent when an approved update replaces the published revision (then update: true)
LIFECYCLE_PUBLISHED = "lifecycle.item.published.v1"
LIFECYCLE_UNPUBLISHED = "lifecycle.item.unpublished.v1"  # as published + kind (suspension/maintenance), reason
LIFECYCLE_RESUMED = "lifecycle.item.resumed.v1"  # as published
# data: item_id, code, phase, phase_label, reason, was_published, at, successors (item ids, for split/merge)
LIFECYCLE_CANCELLED = "lifecycle.item.cancelled.v1"
# data: kind (split | merge), predecessors (item ids), successors (item ids), reason, at.
# Written on the stream of every item involved, so each side sees its lineage.
LIFECYCLE_LINEAGE_RECORDED = "lifecycle.item.lineage_recorded.v1"

# What the national platform may see. Everything else (drafts, reviews, tests) never leaves through the feed.
PUBLIC_LIFECYCLE_EVENTS = frozenset({LIFECYCLE_PUBLISHED, LIFECYCLE_UNPUBLISHED, LIFECYCLE_RESUMED,
                                     LIFECYCLE_CANCELLED})


def is_public_event(event_type: str, data: dict[str, object]) -> bool:
    """May the national platform see this lifecycle event? A cancellation is public only for an item it has seen
    (one that was published); cancelling a draft tells the national platform nothing."""
    if event_type == LIFECYCLE_CANCELLED:
        return bool(data.get("was_published"))
    return event_type in PUBLIC_LIFECYCLE_EVENTS


# ---- coding → lifecycle, registry, sync -----------------------------------------------------------------------------
# data: item_id, code, base_code, collided_with, parts, pinyin_letters, overrides_version, replaces (old code or null)
CODING_CODE_ASSIGNED = "coding.code.assigned.v1"
# data: item_id, code, reason (cancelled | recoded | split | merged), replaced_by (code or null)
CODING_CODE_RETIRED = "coding.code.retired.v1"

# ---- sync-gateway → lifecycle -----------------------------------------------------------------------------------------
# data: item_id, item_version (the lifecycle version of the fed entry), code, feed_sequence, note; actor = national
SYNC_NATIONAL_ACKNOWLEDGED = "sync.national.acknowledged.v1"
# as acknowledged + reason (the national platform's rejection reason)
SYNC_NATIONAL_REJECTED = "sync.national.rejected.v1"
