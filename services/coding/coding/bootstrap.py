"""Composition root of the coding service."""

from __future__ import annotations

from fastapi import FastAPI

from shared.dictionaries import load_dictionaries
from shared.http import create_service_app
from shared.service import ServiceRuntime

from coding.app import CodingService, coding_metadata
from coding.config import CodingSettings
from coding.domain.codes import PinyinOverrides
from coding.errors import ERRORS
from coding.http import router

SERVICE = "coding"


SETTINGS = CodingSettings


def build(settings: CodingSettings) -> tuple[ServiceRuntime, CodingService]:
    runtime = ServiceRuntime.build(SERVICE, settings, coding_metadata)
    coding = CodingService(runtime, load_dictionaries(), PinyinOverrides.load())
    runtime.consumers.append(
        runtime.consumer_spec("lifecycle-registrations", [settings.topic("lifecycle")], coding.on_lifecycle_event))
    return runtime, coding


def create_app(settings: CodingSettings | None = None) -> FastAPI:
    settings = settings or CodingSettings()
    runtime, coding = build(settings)
    app = create_service_app(
        service=SERVICE,
        title="事项编码服务 (coding)",
        description="事项编码 = 事项类型编码(2) + 区划代码(6) + 业务警种编码(2) + 服务类别编码(2) + 事项名称编码(12)。"
                    "分配、重码、注销与沿革。",
        errors=ERRORS,
        runtime=runtime,
        settings=settings,
    )
    app.state.coding = coding
    app.include_router(router)
    return app
