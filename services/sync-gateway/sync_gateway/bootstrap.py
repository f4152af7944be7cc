"""Composition root of the sync gateway."""

from __future__ import annotations

from fastapi import FastAPI

from shared.contracts.feed import FeedEntry
from shared.http import create_service_app, document_models
from shared.service import ServiceRuntime

from sync_gateway.config import SyncSettings
from sync_gateway.errors import ERRORS
from sync_gateway.feed import FED_EVENTS, FeedReader, project_public_events, sync_metadata
from sync_gateway.feedback import NationalFeedback, feedback_metadata
from sync_gateway.http import router

SERVICE = "sync"


SETTINGS = SyncSettings


def build(settings: SyncSettings) -> tuple[ServiceRuntime, FeedReader]:
    runtime = ServiceRuntime.build(SERVICE, settings, sync_metadata, feedback_metadata)
    runtime.consumers.append(runtime.consumer_spec("lifecycle-feed", "lifecycle", FED_EVENTS, project_public_events))
    return runtime, FeedReader(runtime.engine)


def create_app(settings: SyncSettings | None = None) -> FastAPI:
    settings = settings or SyncSettings()
    runtime, reader = build(settings)
    app = create_service_app(
        service=SERVICE,
        title="同步网关 (sync-gateway)",
        description="面向国家政务服务平台的同步源：只含已发布的事项内容，按序、可重放。",
        errors=ERRORS,
        runtime=runtime,
        api_prefix="/sync/v1",
        settings=settings,
        on_start=reader.start,
        on_stop=reader.stop,
    )
    app.state.feed_reader = reader
    app.state.national_feedback = NationalFeedback(runtime.engine)
    app.include_router(router)
    document_models(app, FeedEntry)
    return app
