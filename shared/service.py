"""What every service process is made of: settings, its database engine and event store, its relay and its
consumers, started according to the process roles. Each service's ``bootstrap.py`` (its one composition root)
builds a :class:`ServiceRuntime` and adds its own handlers, routes and consumers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import contracts
from shared.consumer import ConsumerRunner, ConsumerSpec, Handler
from shared.db import make_engine
from shared.eventstore import EventStore
from shared.kafka import KafkaConfig, KafkaSecurity
from shared.migrations import History, prepare_schema
from shared.relay import Relay
from shared.runtime import BackgroundWorkers
from shared.settings import ProcessRole, ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class ServiceRuntime:
    service: str  # registry, coding, lifecycle, sync (also the CloudEvents source and the topic segment)
    settings: ServiceSettings
    engine: AsyncEngine
    store: EventStore
    history: History  # the database's migration history (its models: ``metadata``)
    consumers: list[ConsumerSpec] = field(default_factory=list)
    workers: BackgroundWorkers = field(default_factory=BackgroundWorkers)
    _runners: dict[str, ConsumerRunner] = field(default_factory=dict)

    @classmethod
    def build(cls, service: str, settings: ServiceSettings, history: History) -> ServiceRuntime:
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size, event_hash=settings.event_hash)
        return cls(service=service, settings=settings, engine=engine, store=EventStore(engine), history=history)

    @property
    def metadata(self) -> Sequence[MetaData]:
        """The service's tables (the event store's, the dead letters' and its own)."""
        return self.history.metadata

    async def prepare_schema(self) -> None:
        """Development and tests: upgrade the database to head; production: refuse one that is not at head."""
        await prepare_schema(self.engine, self.history, self.settings.environment)

    @property
    def source(self) -> str:
        return contracts.source_of(self.service)

    @property
    def events_topic(self) -> str:
        return self.settings.topic(self.service)

    @property
    def dead_letter_topic(self) -> str:
        return self.settings.topic(self.service, "dlt")

    def consumer_spec(self, name: str, producer: str, accepts: Sequence[str], handler: Handler) -> ConsumerSpec:
        """A consumer of ``producer``'s topic that acts on the event types ``accepts`` (current versions; older
        ones are upcast) and refuses any event on that topic whose source is not ``producer``."""
        return ConsumerSpec(name=f"{self.settings.topic_prefix}.{self.service}.{name}",
                            sources={self.settings.topic(producer): contracts.source_of(producer)},
                            accepts=frozenset(accepts), handler=handler, dead_letter_topic=self.dead_letter_topic)

    @property
    def kafka(self) -> KafkaConfig:
        s = self.settings
        return KafkaConfig(s.kafka_bootstrap_servers, s.topic_partitions, s.topic_replication_factor,
                           s.kafka_session_timeout_ms, KafkaSecurity.from_settings(s))

    def relay(self) -> Relay:
        s = self.settings
        return Relay(engine=self.engine, kafka=self.kafka, topic=self.events_topic, source=self.source,
                     batch_size=s.relay_batch_size, poll_interval_s=s.relay_poll_interval_s, linger_s=s.relay_linger_s)

    def consumer_runner(self, spec: ConsumerSpec) -> ConsumerRunner:
        """The runner of a consumer (one per consumer and process, so that its health can be asked for)."""
        runner = self._runners.get(spec.name)
        if runner is None:
            s = self.settings
            runner = self._runners[spec.name] = ConsumerRunner(
                spec=spec, engine=self.engine, kafka=self.kafka, max_attempts=s.consumer_max_attempts,
                retry_backoff_s=s.consumer_retry_backoff_s, max_batch=s.consumer_batch_size,
                stuck_after_s=s.consumer_stuck_after_s)
        return runner

    def consumer_runners(self) -> dict[str, ConsumerRunner]:
        return {spec.name: self.consumer_runner(spec) for spec in self.consumers}

    async def start(self) -> None:
        await self.prepare_schema()
        roles = self.settings.process_roles
        if ProcessRole.relay in roles:
            self.workers.start(f"{self.service}-relay", self.relay().run)
        if ProcessRole.consume in roles:
            for spec in self.consumers:
                self.workers.start(spec.name, self.consumer_runner(spec).run)

    async def close(self) -> None:
        await self.workers.shutdown()
        await self.engine.dispose()

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            checks["database"] = f"error: {exc}"
        checks.update(self.workers.health())
        if ProcessRole.consume in self.settings.process_roles:
            checks.update({name: runner.status() for name, runner in self.consumer_runners().items()})
        return checks


def runtime_lifespan(
    runtime: ServiceRuntime,
    on_start: Callable[[], Awaitable[None]] | None = None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        if on_start is not None:
            await on_start()
        try:
            yield
        finally:
            if on_stop is not None:
                await on_stop()
            await runtime.close()

    return lifespan
