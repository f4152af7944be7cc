"""Composition root of the registry service."""

from __future__ import annotations

from fastapi import FastAPI

from shared.dictionaries import load_dictionaries
from shared.http import create_service_app
from shared.service import ServiceRuntime

from registry.app import RegistryService, registry_metadata
from registry.config import RegistrySettings
from registry.errors import ERRORS
from registry.http import router

SERVICE = "registry"


SETTINGS = RegistrySettings


def build(settings: RegistrySettings) -> tuple[ServiceRuntime, RegistryService]:
    runtime = ServiceRuntime.build(SERVICE, settings, registry_metadata)
    return runtime, RegistryService(runtime, load_dictionaries())


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    runtime, registry = build(settings)
    app = create_service_app(
        service=SERVICE,
        title="事项登记服务 (registry)",
        description="事项要素的录入、修订与导入导出；每次变更都是一条事件。",
        errors=ERRORS,
        runtime=runtime,
        settings=settings,
    )
    app.state.registry = registry
    app.include_router(router)
    return app
