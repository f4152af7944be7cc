"""Settings every service process shares, read from ``SHIXIANG_*`` environment variables.

Each service subclasses :class:`ServiceSettings` with its own fields; the composition root builds the settings
object once (never at import time)."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Public on purpose: development and tests sign demo tokens with it; production refuses it (see ServiceSettings).
DEVELOPMENT_JWT_SECRET = "shixiang-development-secret-do-not-use-in-production"  # noqa: S105
MIN_PRODUCTION_SECRET_LENGTH = 32


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class ProcessRole(StrEnum):
    """What one process of a service does. One image, several roles (api, relay, consume)."""

    api = "api"
    relay = "relay"
    consume = "consume"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHIXIANG_", extra="ignore")

    environment: Environment = Field(
        Environment.development, description="development/test allow the built-in JWT secret; production refuses it."
    )
    database_url: str = Field(
        "postgresql+asyncpg://postgres@localhost/shixiang",
        description="SQLAlchemy URL of this service's own database (postgresql+asyncpg://…).",
    )
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated Kafka bootstrap servers.")
    topic_prefix: str = Field("shixiang", description="Prefix of every topic name, e.g. shixiang.lifecycle.events.")
    access_log: bool = Field(
        False, description="One JSON line per HTTP request on the shixiang.access logger. Off unless asked for: "
                           "it costs ≈ 0.1–0.3 ms of CPU per lifecycle command (1.1 → 1.2–1.4 ms at 500 commands/s, "
                           "bench.lifecycle_bench); `shixiang dev` turns it on.")
    topic_partitions: int = Field(4, ge=1, description="Partitions of each topic this service creates.")
    topic_replication_factor: int = Field(
        1, ge=1, description="Replication factor of the topics this service creates (3 on a production cluster)."
    )
    jwt_secret: SecretStr = Field(SecretStr(DEVELOPMENT_JWT_SECRET), description="HS256 secret of bearer tokens.")
    jwt_issuer: str = Field("shixiang", description="Expected `iss` claim of bearer tokens.")
    roles: str = Field(
        "api,relay,consume",
        description="Comma-separated process roles: api (HTTP), relay (store → Kafka), consume (Kafka → effects).",
    )
    kafka_session_timeout_ms: int = Field(
        6000, ge=1000, description="Consumer group session timeout; joining a group takes about half of it."
    )
    relay_batch_size: int = Field(500, ge=1, description="Events the relay publishes per batch.")
    relay_poll_interval_s: float = Field(
        0.05, gt=0,
        description="Longest wait between two reads of the store by an idle relay (it reads again within 2 ms after "
                    "finding events, then waits twice as long after each empty read, up to this).")
    relay_linger_s: float = Field(
        0.02, ge=0,
        description="Under load (a batch of more than one event), the relay waits this long before reading the next "
                    "batch, so that batches grow; single events are published at once.",
    )
    consumer_max_attempts: int = Field(
        5, ge=1, description="Attempts per message before it goes to the dead-letter topic.")
    consumer_retry_backoff_s: float = Field(0.2, ge=0, description="First retry delay; doubles each attempt.")
    consumer_batch_size: int = Field(
        500, ge=1, description="Messages a consumer takes per poll and applies in one transaction.")
    consumer_stuck_after_s: float = Field(
        60.0, gt=0,
        description="A partition whose oldest fetched message has waited longer than this (an outage, retries) makes "
                    "/readyz report degraded, naming it.")
    db_pool_size: int = Field(10, ge=1, description="SQLAlchemy pool size per process.")

    @model_validator(mode="after")
    def _refuse_development_secret_in_production(self) -> Self:
        secret = self.jwt_secret.get_secret_value()
        if self.environment is Environment.production and (
            secret == DEVELOPMENT_JWT_SECRET or len(secret) < MIN_PRODUCTION_SECRET_LENGTH
        ):
            raise ValueError(
                f"SHIXIANG_JWT_SECRET must be a real secret of at least {MIN_PRODUCTION_SECRET_LENGTH} characters "
                "in production"
            )
        return self

    @property
    def process_roles(self) -> frozenset[ProcessRole]:
        return frozenset(ProcessRole(r.strip()) for r in self.roles.split(",") if r.strip())

    def topic(self, service: str, kind: str = "events") -> str:
        """Topic names are configuration: ``<prefix>.<service>.<kind>`` (kind: events or dlt)."""
        return f"{self.topic_prefix}.{service}.{kind}"
