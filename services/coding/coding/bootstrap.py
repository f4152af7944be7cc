"""Composition root of the coding service: the only place that builds its engine, store, relay and consumers."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import FastAPI

from shared.audit_rules import AuditPolicy
from shared.chain_routes import chain_router
from shared.dictionaries import Dictionaries, load_dictionaries
from shared.http import ServiceRoute, create_service_app, error_responses
from shared.rebuild import rebuild_service
from shared.service import ServiceRuntime

from coding.adapters import queries
from coding.adapters.consumers import LIFECYCLE_EVENTS, LifecycleConsumer
from coding.adapters.http import router
from coding.adapters.migrations import HISTORY
from coding.adapters.rebuild import LogPredatesRebuildError, rebuild_read_models
from coding.config import CodingSettings
from coding.domain.codes import PinyinOverrides
from coding.errors import ERRORS
from coding.service_layer.allocation import CodeAllocator
from coding.service_layer.code_lifecycle import CodeLifecycle
from coding.service_layer.codes import ItemCodes
from coding.service_layer.dictionaries import DictionaryViews
from coding.service_layer.item_services import ItemServices
from coding.service_layer.overrides import OverrideCatalog, PinyinOverrideAdministration
from coding.service_layer.roles import READ_ROLES

SERVICE = "coding"


SETTINGS = CodingSettings


# The audit trail's flags (shared.audit_rules): the coding service has no export, and no list of items by region
# (its lists are the reference tables).
AUDIT_POLICY = AuditPolicy()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Coding:
    """The coding service as :func:`build` wires it: one object per area of the service layer, over one runtime,
    one set of reference tables, one override catalogue and one clock."""

    runtime: ServiceRuntime
    dictionaries: Dictionaries
    catalog: OverrideCatalog
    clock: Callable[[], datetime]
    allocator: CodeAllocator
    lifecycle: CodeLifecycle
    item_codes: ItemCodes
    item_services: ItemServices
    dictionary_views: DictionaryViews
    override_administration: PinyinOverrideAdministration
    lifecycle_consumer: LifecycleConsumer

    async def start(self) -> None:
        """Every process loads the override dictionary at start-up (and refreshes it before each computation)."""
        await self.catalog.load(self.runtime.engine)


def build(settings: CodingSettings, *, clock: Callable[[], datetime] = _now) -> tuple[ServiceRuntime, Coding]:
    runtime = ServiceRuntime.build(SERVICE, settings, HISTORY)
    engine, dictionaries = runtime.engine, load_dictionaries()
    catalog = OverrideCatalog(PinyinOverrides.load())
    allocator = CodeAllocator(dictionaries, catalog, clock)
    lifecycle = CodeLifecycle(allocator, clock)
    coding = Coding(
        runtime=runtime, dictionaries=dictionaries, catalog=catalog, clock=clock, allocator=allocator,
        lifecycle=lifecycle, item_codes=ItemCodes(engine, dictionaries, catalog, clock),
        item_services=ItemServices(engine, clock), dictionary_views=DictionaryViews(dictionaries),
        override_administration=PinyinOverrideAdministration(engine, catalog),
        lifecycle_consumer=LifecycleConsumer(lifecycle))
    # One consumer of the lifecycle topic: items entering (known items), registrations (allocate / re-code),
    # cancellations (retire) and split / merge lineage. The name is kept from when it handled registrations only:
    # it is the consumer group and the tracking key, so renaming it would make a deployed service re-read the topic
    # from the start.
    runtime.consumers.append(runtime.consumer_spec(
        "lifecycle-registrations", "lifecycle", LIFECYCLE_EVENTS, coding.lifecycle_consumer.handle))
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
        item_region=queries.known_region,
        audit_policy=AUDIT_POLICY,
        on_start=coding.start,
    )
    app.state.coding = coding
    app.state.item_codes = coding.item_codes
    app.state.item_services = coding.item_services
    app.state.dictionary_views = coding.dictionary_views
    app.state.override_administration = coding.override_administration
    app.include_router(router)
    app.include_router(chain_router("/coding/v1", roles=READ_ROLES, region_of=queries.known_region,
                                    route_class=ServiceRoute, responses=error_responses(ERRORS)))
    return app


async def rebuild(settings: CodingSettings) -> int:
    """``shixiang rebuild coding``: every read model derived from the coding log, with the rate."""
    runtime, _ = build(settings)
    try:
        report = await rebuild_service(runtime, rebuild_read_models)
    except LogPredatesRebuildError as exc:  # nothing was changed: say why in one line
        print(f"coding: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
