"""Composition root of the coding service: the only place that builds its engine, store, relay and consumers."""

from __future__ import annotations

from fastapi import FastAPI

from shared import contracts
from shared.dictionaries import load_dictionaries
from shared.http import create_service_app
from shared.service import ServiceRuntime

from coding.app import CodingService
from coding.config import CodingSettings
from coding.domain.codes import PinyinOverrides
from coding.errors import ERRORS
from coding.http import router
from coding.overrides import OverrideCatalog
from coding.tables import coding_metadata

SERVICE = "coding"


SETTINGS = CodingSettings


def build(settings: CodingSettings) -> tuple[ServiceRuntime, CodingService]:
    runtime = ServiceRuntime.build(SERVICE, settings, coding_metadata)
    coding = CodingService(runtime, load_dictionaries(), OverrideCatalog(PinyinOverrides.load()))
    # One consumer of the lifecycle topic: items entering (known items), registrations (allocate / re-code),
    # cancellations (retire) and split / merge lineage. The name is kept from when it handled registrations only: it is the consumer group
    # and the tracking key, so renaming it would make a deployed service re-read the topic from the start.
    runtime.consumers.append(runtime.consumer_spec(
        "lifecycle-registrations", "lifecycle", (contracts.LIFECYCLE_ENTERED, contracts.LIFECYCLE_REGISTRATION_REQUESTED,
                                                 contracts.LIFECYCLE_CANCELLED, contracts.LIFECYCLE_LINEAGE_RECORDED),
        coding.on_lifecycle_events))
    return runtime, coding


def create_app(settings: CodingSettings | None = None) -> FastAPI:
    settings = settings or CodingSettings()
    runtime, coding = build(settings)
    app = create_service_app(
        service=SERVICE,
        title="事项编码服务 (coding)",
        description="事项编码 = 事项类型编码(2) + 区划代码(6) + 业务警种编码(2) + 服务类别编码(2) + 事项名称编码(12)；"
                    "事项服务编码 = 事项编码 + 序号(3)。分配、重码、调整、注销与沿革；代码表；拼音修正词典。",
        errors=ERRORS,
        runtime=runtime,
        api_prefix="/coding/v1",
        settings=settings,
        on_start=coding.start,
    )
    app.state.coding = coding
    app.include_router(router)
    return app
