"""Composition root of the sync gateway: the only place that builds its engine, store, relay, consumer and feed
reader."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from fastapi import FastAPI

from shared.audit_rules import AuditPolicy
from shared.chain_routes import chain_router
from shared.consumer import ConsumerSpec
from shared.contracts import source_of
from shared.contracts.feed import FeedEntry
from shared.db import make_engine
from shared.dictionaries import load_dictionaries
from shared.http import ServiceRoute, create_service_app, document_models, error_responses
from shared.rebuild import rebuild_service
from shared.service import ServiceRuntime
from shared.settings import ProcessRole

from sync_gateway.adapters import (
    catalogue_http,
    console_audit_http,
    console_catalogue_http,
    console_pipeline_http,
    console_stream_http,
    webhooks_http,
)
from sync_gateway.adapters.console_frontend_http import default_console_directory, mount_console
from sync_gateway.adapters.consumers import FED_EVENTS, log_operations, project_public_events
from sync_gateway.adapters.feed_epoch import ensure_feed_epoch
from sync_gateway.adapters.http import router
from sync_gateway.adapters.kafka_lag import KafkaOffsets
from sync_gateway.adapters.migrations import HISTORY
from sync_gateway.adapters.notify import NotifyListener
from sync_gateway.adapters.operations import OperationsReader
from sync_gateway.adapters.queries import FeedReader, item_region, known_region
from sync_gateway.adapters.rebuild import rebuild_read_models
from sync_gateway.adapters.services import ServiceClients
from sync_gateway.adapters.store import FEED_CHANNEL
from sync_gateway.adapters.webhook_sender import WebhookSender, resolve
from sync_gateway.config import SyncSettings
from sync_gateway.domain.operations import SERVICES, accepted_types
from sync_gateway.errors import ERRORS
from sync_gateway.service_layer.catalogue import NationalCatalogue, PublicGuide
from sync_gateway.service_layer.console_audit import ConsoleAudit
from sync_gateway.service_layer.console_catalogue import ConsoleCatalogue
from sync_gateway.service_layer.console_pipeline import ConsolePipeline
from sync_gateway.service_layer.console_stream import ConsoleEvents
from sync_gateway.service_layer.exchange import ExchangeSync
from sync_gateway.service_layer.feed import NationalFeed
from sync_gateway.service_layer.feedback import NationalFeedback
from sync_gateway.service_layer.roles import CONSOLE_ROLES
from sync_gateway.service_layer.webhooks import WebhookDispatcher, WebhookSubscriptions

SERVICE = "sync"

log = logging.getLogger(__name__)


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
    console_events: ConsoleEvents  # the operations log: live stream, pages, activity
    console_pipeline: ConsolePipeline  # the console's pipeline health and dead letters
    console_catalogue: ConsoleCatalogue  # the console's overview, quality and item pages
    webhook_subscriptions: WebhookSubscriptions
    webhook_dispatcher: WebhookDispatcher  # runs where the consumers run (the consume role)
    prune_interval_s: float = 3600.0
    exchange: ExchangeSync | None = None  # the exchange database channel (前置库), when configured
    _pruner: list[asyncio.Task[None]] = field(default_factory=list)
    _exchange_task: list[asyncio.Task[None]] = field(default_factory=list)
    _exchange_stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        await ensure_feed_epoch(self.runtime.engine)  # a store made anew starts a new feed epoch
        await self.reader.start()
        await self.console_events.reader.start()
        await self.services.start()
        if ProcessRole.consume in self.runtime.settings.process_roles:
            self.runtime.workers.start("sync-webhooks", self.webhook_dispatcher.run)
        self._pruner.append(asyncio.create_task(self._prune_periodically()))
        if self.exchange is not None and ProcessRole.consume in self.runtime.settings.process_roles:
            # beside the consumers; it creates the exchange tables itself (an unreachable exchange database delays
            # the channel, never the gateway)
            self._exchange_task.append(asyncio.create_task(self.exchange.run(self._exchange_stop)))

    async def stop(self) -> None:
        self.console_events.closing.set()  # open streams end (if the server did not say so already)
        for task in self._pruner:
            task.cancel()
        await asyncio.gather(*self._pruner, return_exceptions=True)
        await self.services.stop()
        await self.console_events.reader.stop()
        await self.reader.stop()
        if self.exchange is not None:
            self._exchange_stop.set()
            await asyncio.gather(*self._exchange_task, return_exceptions=True)
            await self.exchange.exchange_engine.dispose()

    async def _prune_periodically(self) -> None:
        """The operations log keeps ``operations_log_days`` of events: older rows are deleted at start and then
        every ``operations_prune_interval_s``."""
        while True:
            try:
                pruned = await self.console_events.prune()
                if pruned:
                    log.info("operations log: %d rows older than the retention pruned", pruned)
            except Exception:
                log.warning("operations log: pruning failed; trying again later", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.console_events.closing.wait(), self.prune_interval_s)
                return


# The audit trail's flags (shared.audit_rules): the snapshot and the catalogue's files are exports of whole lists;
# the feed's pages, the catalogue and the console's lists are lists (the feed takes no region filter: a nationwide
# reader's feed pages are all flagged many_regions, which is what they are).
AUDIT_POLICY = AuditPolicy(
    exports=frozenset({"/sync/v1/snapshot", "/sync/v1/catalog.csv", "/sync/v1/catalog.xlsx"}),
    lists=frozenset({"/sync/v1/feed", "/sync/v1/catalog", "/sync/v1/console/overview", "/sync/v1/console/quality",
                     "/sync/v1/console/items", "/sync/v1/console/events", "/sync/v1/console/activity"}))


def build(settings: SyncSettings) -> tuple[ServiceRuntime, SyncGateway]:
    runtime = ServiceRuntime.build(SERVICE, settings, HISTORY)
    runtime.consumers.append(runtime.consumer_spec("lifecycle-feed", "lifecycle", FED_EVENTS, project_public_events))
    # The operations log: one consumer of every service's topic (its own included), taking every event type on them.
    # One, not one per topic, and lingering for larger batches: its transactions (a table lock and a NOTIFY each)
    # and its fetches cost the whole suite's CPU; the console may show an event a quarter second later.
    runtime.consumers.append(ConsumerSpec(
        name=f"{settings.topic_prefix}.{SERVICE}.ops", sources={settings.topic(p): source_of(p) for p in SERVICES},
        accepts=frozenset(t for p in SERVICES for t in accepted_types(p)),
        handler=log_operations(settings.operations_log_days), dead_letter_topic=runtime.dead_letter_topic,
        linger_s=settings.operations_log_linger_s, observer=True))
    reader = FeedReader(runtime.engine)
    feed = NationalFeed(runtime.engine, reader, max_wait_s=settings.feed_max_wait_s)
    services = ServiceClients({"registry": settings.registry_url, "coding": settings.coding_url,
                               "lifecycle": settings.lifecycle_url}, timeout_s=settings.service_timeout_s)
    console_events = ConsoleEvents(OperationsReader(runtime.engine, load_dictionaries()),
                                   keepalive_s=settings.stream_keepalive_s,
                                   retention_days=settings.operations_log_days)
    console_pipeline = ConsolePipeline(runtime, services, KafkaOffsets(settings.kafka_bootstrap_servers,
                                                                       security=runtime.kafka.security,
                                                                       timeout_s=settings.service_timeout_s),
                                       region_of=known_region)
    feedback = NationalFeedback(runtime.engine)
    exchange = None if not settings.exchange_database_url else ExchangeSync(
        runtime.engine, make_engine(settings.exchange_database_url, pool_size=2), feedback,
        data_source=settings.exchange_data_source, batch_size=settings.exchange_batch_size,
        poll_interval_s=settings.exchange_poll_interval_s, listener=NotifyListener(runtime.engine, FEED_CHANNEL),
        environment=settings.environment, signing=settings.exchange_signing)
    subscriptions = WebhookSubscriptions(
        runtime.engine, allowed_hosts=lambda: settings.webhook_hosts,
        allowed_networks=lambda: settings.webhook_networks, resolver=resolve,
        secret_overlap_s=settings.webhook_secret_overlap_s)
    sender = WebhookSender(timeout_s=settings.webhook_timeout_s,
                           networks=lambda: settings.webhook_networks)
    dispatcher = WebhookDispatcher(
        runtime.engine, sender, NotifyListener(runtime.engine, FEED_CHANNEL),
        allowed_hosts=lambda: settings.webhook_hosts, schedule=settings.webhook_retry_schedule_s,
        concurrency=settings.webhook_concurrency, poll_interval_s=settings.webhook_poll_interval_s,
        lease_s=settings.webhook_lease_s, log_days=settings.webhook_log_days)
    return runtime, SyncGateway(runtime, reader, feed, feedback, services, console_events,
                                console_pipeline, ConsoleCatalogue(runtime.engine, services), subscriptions,
                                dispatcher, prune_interval_s=settings.operations_prune_interval_s, exchange=exchange)


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
        item_region=known_region,
        audit_policy=AUDIT_POLICY,
        on_start=sync.start,
        on_stop=sync.stop,
    )
    app.state.sync = sync
    app.state.national_feed = sync.national_feed
    app.state.national_feedback = sync.national_feedback
    app.state.console_events = sync.console_events
    app.state.on_exit = [sync.console_events.closing.set]  # the server's signal ends open streams (shixiang.cli)
    app.include_router(router)
    app.state.console_catalogue = sync.console_catalogue
    app.state.console_pipeline = sync.console_pipeline
    app.include_router(console_stream_http.router)
    app.include_router(console_catalogue_http.router)
    app.include_router(console_pipeline_http.router)
    app.state.console_audit = ConsoleAudit(sync.runtime, sync.services)
    app.include_router(console_audit_http.router)
    app.state.webhook_subscriptions = sync.webhook_subscriptions
    app.include_router(webhooks_http.router)
    webhooks_http.document_webhook(app)
    # The gateway's stream of an item (national answers) is the operators' to check, like its dead letters.
    app.include_router(chain_router("/sync/v1", roles=CONSOLE_ROLES, region_of=item_region, route_class=ServiceRoute,
                                    responses=error_responses(ERRORS)))
    # The catalogue (事项目录) and the public guide (办事指南).
    app.state.national_catalogue = NationalCatalogue(runtime.engine)
    app.state.public_guide = PublicGuide(runtime.engine, rate=settings.public_rate_per_s, burst=settings.public_burst)
    app.include_router(catalogue_http.router)
    app.include_router(catalogue_http.public_router)
    document_models(app, FeedEntry)
    mount_console(app, settings.console_dir or default_console_directory())
    return app


async def rebuild(settings: SyncSettings) -> int:
    """``shixiang rebuild sync``: every read model derived from the feed and the gateway's log, with the rate."""
    runtime, _ = build(settings)
    report = await rebuild_service(runtime, rebuild_read_models)
    print(report.summary())
    return 0
