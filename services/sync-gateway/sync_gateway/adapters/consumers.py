"""The sync gateway's consumers (wired in ``sync_gateway.bootstrap``): of the lifecycle topic (``lifecycle-feed``:
the public lifecycle events become feed entries (``domain.feed.project``) and refresh the catalogue), and of every
service's topic (``ops-<service>``: the operations log, ``adapters.operations``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from shared import contracts
from shared.cloudevents import CloudEvent
from shared.consumer import Handler

from sync_gateway.adapters import operations, store
from sync_gateway.domain import operations as operations_domain
from sync_gateway.domain.feed import SyncRound, project

# The lifecycle events the feed is made of (tests/unit/test_event_contracts.py checks them against the contracts).
FED_EVENTS = tuple(sorted(contracts.PUBLIC_LIFECYCLE_EVENTS))


async def project_public_events(conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
    """Consumer effect, a fetched batch at a time, in the runner's transaction: each public lifecycle event becomes
    a feed entry (in order) and refreshes its item's catalogue row; returns the events refused for good, with why.
    One batch is one sync round: its entries share a batch id and a sync time (a retried batch is a new round, its
    first attempt having left nothing behind)."""
    public = [e for e in events if contracts.is_public_event(e.type, e.data)]
    if not public:
        return {}
    sync_round = SyncRound(batch=str(uuid.uuid4()), synced_at=datetime.now(UTC))
    projection = project(public, await store.published_regions(conn, {e.subject for e in public}), sync_round)
    await store.add_feed_entries(conn, projection.fed)
    return projection.refused


def log_operations(retention_days: int) -> Handler:
    """The effect of the operations-log consumer of every service's topic (``ops``): every event becomes a log row
    (``domain.operations.project``, by the service that produced it: its source) and updates what is known of its
    item; an event older than the retention is left out (a re-read of the topics does not bring pruned rows back)."""
    producers = {contracts.source_of(service): service for service in operations_domain.SERVICES}

    async def handler(conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
        now = datetime.now(UTC)
        await operations.record(conn, [operations_domain.project(producers[e.source], e) for e in events
                                       if operations_domain.within_retention(e.time, now, retention_days)])
        return {}

    return handler
