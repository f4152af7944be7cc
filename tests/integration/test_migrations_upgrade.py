"""The upgrade test (issue 16): each service's database filled by the real services (items entered, reviewed,
tested, registered, coded, published, the feed written) and brought back to its first revision, then upgraded to
head: nothing is lost — every stream's hash chain verifies, the stored events are the same rows (every one chained
with SHA-256, the only algorithm before the event store's revision 2), and each service's read models rebuilt from
its log (``shixiang rebuild``'s path, shared/rebuild.py) are row for row what they were.

(The services fill their databases at head and the test downgrades them: since the event store's revision 2 (each
event's hash algorithm, issue 18) this version's code cannot write to a revision-1 event store. What the downgrade
leaves is the schema and rows revision 1 had.)"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import mint_token
from shared.db import make_engine
from shared.eventstore import EventStore, verify_chain
from shared.infra import EmbeddedBroker, EmbeddedPostgres
from shared.migrations import current_revision, downgrade, upgrade
from shared.settings import DEVELOPMENT_JWT_SECRET
from shixiang.client import SuiteClient
from shixiang.suite import DEMO_USERS
from tests.integration.conftest import SERVICE_BOOTSTRAPS, InProcessRouting, services_in_process, wait_until
from tests.integration.test_rebuild_read_models import snapshot
from tests.integration.test_registry_helpers import FULL, MINIMAL

READ_MODELS = {  # table → order, per service: what its rebuild derives from its log
    "registry": {"registry_items": "item_id"},
    "coding": {"item_codes": "code", "item_services": "item_id, sequence"},
    "lifecycle": {"lifecycle_items": "item_id", "lifecycle_schedule": "item_id",
                  "lifecycle_snapshots": "item_id, version"},
    "sync": {"catalog": "item_id", "national_feedback": "item_id, item_version"},
}
# the read models this test's items fill (the lifecycle's schedule and snapshots need planned dates and many events)
FILLED = {"registry_items", "item_codes", "item_services", "lifecycle_items", "catalog", "national_feedback"}
STORED = {"events": "position", "feed_entries": "position"}  # what nothing rebuilds: the logs themselves


async def fill(client: SuiteClient) -> None:
    """Two items published (coded, fed, one acknowledged by the national platform), one left in draft, a service
    code allocated."""
    published = [(await client.create_item({**FULL, "name": f"户口迁移审批{n}", "short_name": f"户口迁移{n}"}))
                 ["item_id"] for n in range(2)]
    draft = (await client.create_item({**MINIMAL, "name": "出入境证件换发", "short_name": "出入境证件换发"}))["item_id"]
    for item_id in published:
        await client.drive_to_online(item_id)
    await client.wait_for_state(draft, lambda s: s.get("phase") is not None)
    await client.allocate_service_code(published[0], "网上办理")

    async def fed() -> bool:
        entries, _ = await client.feed(0, limit=100)
        return {e["subject"] for e in entries} >= set(published)

    await wait_until(fed, what="both published items in the national feed")
    entries, _ = await client.feed(0, limit=100)
    first = next(e for e in entries if e["subject"] == published[0])
    await client.national_feedback(published[0], first["itemversion"], "acknowledged")


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"))).scalars())


async def test_a_database_at_revision_1_filled_by_the_services_upgrades_to_head_losing_nothing(
        postgres: EmbeddedPostgres, broker: EmbeddedBroker, topic_prefix: str) -> None:
    async with services_in_process(postgres, broker, topic_prefix, roles="api,relay,consume") as services:
        client = SuiteClient(
            urls={name: f"http://{name}" for name in services},
            tokens={user: mint_token(DEVELOPMENT_JWT_SECRET, subject=user, roles=roles, regions=regions)
                    for user, (roles, regions) in DEMO_USERS.items()},
            http=httpx.AsyncClient(transport=InProcessRouting({n: s.app for n, s in services.items()}), timeout=60))
        try:
            await fill(client)
        finally:
            await client.close()
        urls = {name: s.app.state.runtime.settings.database_url for name, s in services.items()}
        histories = {name: s.app.state.runtime.history for name, s in services.items()}

    for name, url in urls.items():
        history, bootstrap = histories[name], SERVICE_BOOTSTRAPS[name]
        engine = make_engine(url, pool_size=2)
        try:
            await downgrade(engine, history, history.first)
            assert await current_revision(engine) == history.first
            stored = {t: o for t, o in STORED.items() if t in await table_names(engine)}
            models_before, stored_before = await snapshot(engine, READ_MODELS[name]), await snapshot(engine, stored)
            assert all(models_before[t] for t in FILLED & set(models_before)), f"{name}: a read model is empty"

            await upgrade(engine, history)
            # the pooled connections' prepared `SELECT *`s describe the tables as they were (asyncpg refuses them)
            await engine.dispose()

            assert await current_revision(engine) == history.head
            stored_after = await snapshot(engine, stored)
            assert {row.pop("hash_alg") for row in stored_after["events"]} == {"sha256"}
            assert stored_after == stored_before
            store = EventStore(engine)
            streams = {row["stream_id"] for row in stored_before["events"]}
            for stream in streams:
                verdict = verify_chain(await store.load(stream))
                assert verdict.ok, f"{name}: the chain of {stream} breaks at {verdict.broken_at_version}"
            settings: Any = bootstrap.SETTINGS(database_url=url, environment="test", topic_prefix=topic_prefix,
                                               kafka_bootstrap_servers=broker.bootstrap_servers)
            assert await bootstrap.rebuild(settings) == 0
            assert await snapshot(engine, READ_MODELS[name]) == models_before, f"{name}: rebuilt read models differ"
        finally:
            await engine.dispose()
