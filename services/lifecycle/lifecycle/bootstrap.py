"""Composition root of the lifecycle service: the only place that builds its engine, store, relay, consumers and
the planned-dates worker."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from shared import contracts
from shared.audit_rules import AuditPolicy
from shared.http import create_service_app
from shared.rebuild import rebuild_service
from shared.service import ServiceRuntime
from shared.settings import ProcessRole

from lifecycle.adapters import queries
from lifecycle.adapters.consumers import LifecycleConsumers
from lifecycle.adapters.http import router
from lifecycle.adapters.migrations import HISTORY
from lifecycle.adapters.rebuild import rebuild_projections
from lifecycle.adapters.store import ItemRepository
from lifecycle.config import LifecycleSettings
from lifecycle.errors import ERRORS
from lifecycle.service_layer.adjustments import Adjustments
from lifecycle.service_layer.batches import BatchCommands
from lifecycle.service_layer.clock import Clock
from lifecycle.service_layer.facts import FactRecorder
from lifecycle.service_layer.items import LifecycleService
from lifecycle.service_layer.planned_dates import PlannedDatesScheduler

SERVICE = "lifecycle"


SETTINGS = LifecycleSettings


@dataclass(frozen=True)
class Lifecycle:
    """Everything one lifecycle process runs besides the shared runtime."""

    service: LifecycleService
    batches: BatchCommands
    adjustments: Adjustments
    consumers: LifecycleConsumers
    scheduler: PlannedDatesScheduler

    @property
    def repository(self) -> ItemRepository:
        return self.service.repository


# The audit trail's flags (shared.audit_rules): no export; the items list and the statistics are lists.
AUDIT_POLICY = AuditPolicy(lists=frozenset({"/lifecycle/v1/items", "/lifecycle/v1/stats"}))


def build(settings: LifecycleSettings, *, clock: Clock | None = None) -> tuple[ServiceRuntime, Lifecycle]:
    clock = clock or Clock()
    runtime = ServiceRuntime.build(SERVICE, settings, HISTORY)
    engine = runtime.engine
    repository = ItemRepository(tz=settings.planned_dates_tz, snapshot_every=settings.snapshot_every)
    service = LifecycleService(runtime, repository=repository, item_arrival_wait_s=settings.item_arrival_wait_s,
                               clock=clock)
    batches = BatchCommands(engine, repository, clock=clock, chunk_size=settings.batch_chunk_size)
    adjustments = Adjustments(engine, repository, clock=clock, item_arrival_wait_s=settings.item_arrival_wait_s)
    consumers = LifecycleConsumers(FactRecorder(repository, clock=clock))
    runtime.consumers += [
        runtime.consumer_spec("registry-revisions", "registry",
                              (contracts.REGISTRY_ITEM_DRAFTED, contracts.REGISTRY_ITEM_REVISED),
                              consumers.on_registry_events),
        runtime.consumer_spec("coding-codes", "coding", (contracts.CODING_CODE_ASSIGNED,), consumers.on_coding_events),
        runtime.consumer_spec("national-feedback", "sync",
                              (contracts.SYNC_NATIONAL_ACKNOWLEDGED, contracts.SYNC_NATIONAL_REJECTED),
                              consumers.on_sync_events),
    ]
    scheduler = PlannedDatesScheduler(engine, repository, clock, poll_interval_s=settings.scheduler_poll_interval_s)
    return runtime, Lifecycle(service, batches, adjustments, consumers, scheduler)


async def start(runtime: ServiceRuntime, lifecycle: Lifecycle) -> None:
    """After the shared runtime started: bring read models built by an older projection schema up to date, and run
    the planned-dates worker beside the consumers."""
    await rebuild_projections(runtime.engine, lifecycle.repository, only_if_stale=True)
    if ProcessRole.consume in runtime.settings.process_roles:
        runtime.workers.start(f"{SERVICE}-planned-dates", lifecycle.scheduler.run)


def create_app(settings: LifecycleSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or LifecycleSettings()
    runtime, lifecycle = build(settings, clock=clock)

    async def on_start() -> None:
        await start(runtime, lifecycle)

    app = create_service_app(
        service=SERVICE,
        title="事项生命周期服务 (lifecycle)",
        description="事项的五个状态与十项管理工作：形成期、上线准备期、在线期、离线期、注销期。状态由事项事件日志重建。",
        errors=ERRORS,
        runtime=runtime,
        api_prefix="/lifecycle/v1",
        settings=settings,
        item_region=queries.item_region,
        audit_policy=AUDIT_POLICY,
        on_start=on_start,
    )
    app.state.lifecycle = lifecycle.service
    app.state.batches = lifecycle.batches
    app.state.adjustments = lifecycle.adjustments
    app.state.scheduler = lifecycle.scheduler
    app.include_router(router)
    return app


async def rebuild(settings: LifecycleSettings) -> int:
    """``shixiang rebuild --service lifecycle``: every read model from the log, with the rate."""
    runtime, lifecycle = build(settings)
    report = await rebuild_service(runtime, lambda engine: rebuild_projections(engine, lifecycle.repository))
    assert report is not None  # None only when asked to rebuild just a stale projection (start-up)
    print(report.summary())
    return 0
