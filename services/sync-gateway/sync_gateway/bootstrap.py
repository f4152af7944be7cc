"""Composition root of the sync gateway: the only place that builds its engine, store, relay, consumer and feed
reader."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from shared.contracts.feed import FeedEntry
from shared.http import create_service_app, document_models
from shared.rebuild import rebuild_service
from shared.service import ServiceRuntime

from sync_gateway.adapters.console_pipeline_http import router as console_pipeline_router
from sync_gateway.adapters.consumers import FED_EVENTS, project_public_events
from sync_gateway.adapters.http import router
from sync_gateway.adapters.kafka_lag import KafkaOffsets
from sync_gateway.adapters.queries import FeedReader
from sync_gateway.adapters.rebuild import rebuild_read_models
from sync_gateway.adapters.services import ServiceClients
from sync_gateway.adapters.tables import sync_metadata
from sync_gateway.config import SyncSettings
from sync_gateway.errors import ERRORS
from sync_gateway.service_layer.console_pipeline import ConsolePipeline
from sync_gateway.service_layer.feed import NationalFeed
from sync_gateway.service_layer.feedback import NationalFeedback

SERVICE = "sync"


SETTINGS = SyncSettings


@dataclass(frozen=True)
class SyncGateway:
    """The sync gateway as :func:`build` wires it: the feed reader (listening while the app runs) and the use
    cases over one runtime."""

    runtime: ServiceRuntime
    reader: FeedReader
    national_feed: NationalFeed
    national_feedback: NationalFeedback
    services: ServiceClients  # the other services' APIs, read by the operators' console
    console_pipeline: ConsolePipeline  # the console's pipeline health and dead letters

    async def start(self) -> None:
        await self.reader.start()
        await self.services.start()

    async def stop(self) -> None:
        await self.services.stop()
        await self.reader.stop()


def build(settings: SyncSettings) -> tuple[ServiceRuntime, SyncGateway]:
    runtime = ServiceRuntime.build(SERVICE, settings, sync_metadata)
    runtime.consumers.append(runtime.consumer_spec("lifecycle-feed", "lifecycle", FED_EVENTS, project_public_events))
    reader = FeedReader(runtime.engine)
    feed = NationalFeed(runtime.engine, reader, max_wait_s=settings.feed_max_wait_s)
    services = ServiceClients({"registry": settings.registry_url, "coding": settings.coding_url,
                               "lifecycle": settings.lifecycle_url}, timeout_s=settings.service_timeout_s)
    console_pipeline = ConsolePipeline(runtime, services, KafkaOffsets(settings.kafka_bootstrap_servers,
                                                                       timeout_s=settings.service_timeout_s))
    return runtime, SyncGateway(runtime, reader, feed, NationalFeedback(runtime.engine), services, console_pipeline)


def create_app(settings: SyncSettings | None = None) -> FastAPI:
    settings = settings or SyncSettings()
    runtime, sync = build(settings)
    app = create_service_app(
        service=SERVICE,
        title="同步网关 (sync-gateway)",
        description="面向国家政务服务平台的同步源：只含已发布的事项内容，按序、可重放。",
        errors=ERRORS,
        runtime=runtime,
        api_prefix="/sync/v1",
        settings=settings,
        on_start=sync.start,
        on_stop=sync.stop,
    )
    app.state.sync = sync
    app.state.national_feed = sync.national_feed
    app.state.national_feedback = sync.national_feedback
    app.include_router(router)
    app.state.console_pipeline = sync.console_pipeline
    app.include_router(console_pipeline_router)
    document_models(app, FeedEntry)
    return app


async def rebuild(settings: SyncSettings) -> int:
    """``shixiang rebuild sync``: every read model derived from the feed and the gateway's log, with the rate."""
    runtime, _ = build(settings)
    report = await rebuild_service(runtime, rebuild_read_models)
    print(report.summary())
    return 0
