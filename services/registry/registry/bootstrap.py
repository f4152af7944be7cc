"""Composition root of the registry service: the only place that builds its engine, store, relay and consumer."""

from __future__ import annotations

from fastapi import FastAPI

from shared.audit_rules import AuditPolicy
from shared.chain_routes import chain_router
from shared.dictionaries import load_dictionaries
from shared.http import ServiceRoute, create_service_app, error_responses
from shared.rebuild import rebuild_service
from shared.service import ServiceRuntime

from registry.adapters import queries
from registry.adapters.consumers import LifecyclePhases
from registry.adapters.http import router
from registry.adapters.migrations import HISTORY
from registry.adapters.rebuild import rebuild_read_models
from registry.adapters.schemas import document_request_models
from registry.config import RegistrySettings
from registry.domain.events import FOLLOWED_LIFECYCLE_EVENTS
from registry.errors import ERRORS
from registry.service_layer.imports.jobs import ImportJobs
from registry.service_layer.items import Registry
from registry.service_layer.roles import READ_ROLES

SERVICE = "registry"


SETTINGS = RegistrySettings


# The audit trail's flags (shared.audit_rules): the exports of whole lists, and the other lists.
AUDIT_POLICY = AuditPolicy(
    exports=frozenset({"/registry/v1/exports/items.xlsx", "/registry/v1/exports/items.csv"}),
    lists=frozenset({"/registry/v1/items", "/registry/v1/consistency", "/registry/v1/quality",
                     "/registry/v1/imports"}))


def build(settings: RegistrySettings) -> tuple[ServiceRuntime, Registry]:
    runtime = ServiceRuntime.build(SERVICE, settings, HISTORY)
    registry = Registry(runtime, load_dictionaries())
    # The lifecycle says which phase each item is in: what may still change, and what becomes a pending revision.
    runtime.consumers.append(runtime.consumer_spec("lifecycle-phases", "lifecycle", FOLLOWED_LIFECYCLE_EVENTS,
                                                   LifecyclePhases(registry.now)))
    return runtime, registry


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    runtime, registry = build(settings)
    imports = ImportJobs(registry, chunk_size=settings.import_chunk_size,
                         max_bytes=settings.import_max_mb * 1024 * 1024, spool_dir=settings.import_spool_dir,
                         max_running=settings.import_max_running, drain_seconds=settings.import_drain_seconds)
    app = create_service_app(
        service=SERVICE,
        title="事项登记服务 (registry)",
        description="事项要素的录入、修订、版本比对与清单导入导出；每次变更都是一条事件（registry.item.drafted.v2 / "
                    "registry.item.revised.v1）。",
        errors=ERRORS,
        runtime=runtime,
        api_prefix="/registry/v1",
        settings=settings,
        item_region=queries.item_region,
        audit_policy=AUDIT_POLICY,
        on_start=imports.prepare_spool_dir,
        on_stop=imports.close,
    )
    app.state.registry = registry
    app.state.imports = imports
    app.include_router(router)
    app.include_router(chain_router("/registry/v1", roles=READ_ROLES, region_of=queries.item_region,
                                    route_class=ServiceRoute, responses=error_responses(ERRORS)))
    document_request_models(app)
    return app


async def rebuild(settings: RegistrySettings) -> int:
    """``shixiang rebuild registry``: every read model derived from the registry's log, with the rate."""
    runtime, _ = build(settings)
    report = await rebuild_service(runtime, rebuild_read_models)
    print(report.summary())
    return 0
