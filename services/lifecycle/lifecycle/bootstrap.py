"""Composition root of the lifecycle service: the only place that builds its engine, store, relay and consumers."""

from __future__ import annotations

from fastapi import FastAPI

from shared.http import create_service_app
from shared.service import ServiceRuntime

from lifecycle.app import LifecycleService, lifecycle_metadata
from lifecycle.config import LifecycleSettings
from lifecycle.errors import ERRORS
from lifecycle.http import router

SERVICE = "lifecycle"


SETTINGS = LifecycleSettings


def build(settings: LifecycleSettings) -> tuple[ServiceRuntime, LifecycleService]:
    runtime = ServiceRuntime.build(SERVICE, settings, lifecycle_metadata)
    lifecycle = LifecycleService(runtime, item_arrival_wait_s=settings.item_arrival_wait_s)
    runtime.consumers += [
        runtime.consumer_spec("registry-revisions", [settings.topic("registry")], lifecycle.on_registry_event),
        runtime.consumer_spec("coding-codes", [settings.topic("coding")], lifecycle.on_coding_event),
    ]
    return runtime, lifecycle


def create_app(settings: LifecycleSettings | None = None) -> FastAPI:
    settings = settings or LifecycleSettings()
    runtime, lifecycle = build(settings)
    app = create_service_app(
        service=SERVICE,
        title="事项生命周期服务 (lifecycle)",
        description="事项的五个状态与十项管理工作：形成期、上线准备期、在线期、离线期、注销期。状态由事项事件日志重建。",
        errors=ERRORS,
        runtime=runtime,
        settings=settings,
    )
    app.state.lifecycle = lifecycle
    app.include_router(router)
    return app
