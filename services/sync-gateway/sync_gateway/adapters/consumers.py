"""The sync gateway's consumer of the lifecycle topic (``lifecycle-feed``, wired in ``sync_gateway.bootstrap``): the
public lifecycle events become feed entries (``domain.feed.project``) and refresh the catalogue."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from shared import contracts
from shared.cloudevents import CloudEvent

from sync_gateway.adapters import store
from sync_gateway.domain.feed import project

# The lifecycle events the feed is made of (tests/unit/test_event_contracts.py checks them against the contracts).
FED_EVENTS = tuple(sorted(contracts.PUBLIC_LIFECYCLE_EVENTS))


async def project_public_events(conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
    """Consumer effect, a fetched batch at a time, in the runner's transaction: each public lifecycle event becomes
    a feed entry (in order) and refreshes its item's catalogue row; returns the events refused for good, with why."""
    public = [e for e in events if contracts.is_public_event(e.type, e.data)]
    if not public:
        return {}
    projection = project(public, await store.published_regions(conn, {e.subject for e in public}))
    await store.add_feed_entries(conn, projection.fed)
    return projection.refused
