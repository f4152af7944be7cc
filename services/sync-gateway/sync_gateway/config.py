from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator

from shared.settings import Environment, ServiceSettings

from sync_gateway.domain.exchange import RowSignature
from sync_gateway.domain.webhooks import DEFAULT_RETRY_SCHEDULE_S

# Where a local receiver listens: the hosts and networks webhooks may reach out of the box in development and tests.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
LOCAL_NETWORKS = ("127.0.0.0/8", "::1/128")
MIN_SIGNING_KEY_LENGTH = 32  # characters of the exchange signing key (an HMAC key of at least 256 bits)


class SyncSettings(ServiceSettings):
    feed_max_wait_s: float = Field(30.0, gt=0, description="Longest long-poll a feed client may ask for (wait=).")
    # The operators' console reads the other services through their APIs, forwarding the operator's own token (so
    # every role and region check stays in the service that owns the data).
    registry_url: str = Field("http://127.0.0.1:8001", description="Base URL of the registry's API (the console).")
    coding_url: str = Field("http://127.0.0.1:8002", description="Base URL of the coding service's API (the console).")
    lifecycle_url: str = Field("http://127.0.0.1:8003",
                               description="Base URL of the lifecycle service's API (the console).")
    service_timeout_s: float = Field(10.0, gt=0, description="Timeout of one console call to another service.")
    console_dir: Path | None = Field(
        None, description="Folder of the operators' console pages (index.html and vendor/); unset: the source tree's "
                          "services/sync-gateway/console/site. The image sets it to /app/console.")
    # The operations log (the console's live events): how long its rows are kept, and how often older ones are
    # pruned (by the API process; a log consumer also leaves out events older than that).
    operations_log_days: int = Field(30, ge=1, description="Days of events the operations log keeps.")
    operations_prune_interval_s: float = Field(3600.0, gt=0, description="How often the operations log is pruned.")
    stream_keepalive_s: float = Field(15.0, gt=0, description="Keepalive comment interval of the live event stream.")
    operations_log_linger_s: float = Field(
        0.25, ge=0, description="How long the operations-log consumer waits for a fuller batch (fewer transactions; "
                                "the console shows an event that much later).")
    # The exchange database (前置库, docs/exchange.md): a separate PostgreSQL database the national side reads the
    # up_* tables from and writes dn_audit_abnormal into. Unset: the channel is off.
    exchange_database_url: str | None = Field(
        None, description="SQLAlchemy URL of the exchange database (前置库, postgresql+asyncpg://…); unset: off.")
    exchange_data_source: str = Field("shixiang", min_length=1, max_length=100,
                                      description="数据来源 (data_source) written on every exchange row.")
    exchange_batch_size: int = Field(500, ge=1, le=50_000,
                                     description="Most feed entries one sync round (one cd_batch) takes.")
    exchange_poll_interval_s: float = Field(
        0.2, gt=0, description="How often the exchange writer looks for new feed entries and national rejections.")
    exchange_signature: RowSignature = Field(
        RowSignature.none,
        description="Sign every up_* row (row_signature, docs/exchange.md) where the national side asks for it: none, "
                    "hmac-sha256 or hmac-sm3 (国密); needs SHIXIANG_EXCHANGE_SIGNING_KEY.")
    exchange_signing_key: SecretStr | None = Field(
        None, description="The key shared with the national side for exchange row signatures (its UTF-8 bytes are "
                          "the HMAC key; at least 32 characters).")
    # The public guide (办事指南, anonymous): a token bucket per client address, and how long caches may keep a page.
    public_rate_per_s: float = Field(5.0, gt=0, description="Public guide: requests a second per client address.")
    public_burst: int = Field(30, ge=1, description="Public guide: requests a client address may make at once.")
    public_max_age_s: int = Field(300, ge=0, description="Public guide: Cache-Control max-age of its answers.")
    # Webhooks (回调推送, docs/webhooks.md): delivered by the process that runs the consumers.
    webhook_allowed_hosts: str | None = Field(
        None, description="Comma-separated hosts webhooks may be sent to (a name or address, or *.suffix for its "
                          "subdomains). Unset: 127.0.0.1, localhost and ::1 in development and test, none in "
                          "production (no webhook until configured).")
    webhook_allowed_networks: str | None = Field(
        None, description="Comma-separated networks (CIDR) that an allowed host may resolve to besides public "
                          "addresses. Unset: loopback in development and test, none in production.")
    webhook_retry_schedule_s: tuple[float, ...] = Field(
        DEFAULT_RETRY_SCHEDULE_S, min_length=1,
        description="Longest wait before each retry of a failed delivery (full jitter: each wait is drawn between 0 "
                    "and it); when spent, the subscription is disabled. JSON list of seconds.")
    webhook_secret_overlap_s: float = Field(
        86400.0, ge=0, description="How long the previous secret keeps signing beside the new one after a rotation.")
    webhook_timeout_s: float = Field(10.0, gt=0, description="Timeout of one delivery attempt (connect to answer).")
    webhook_concurrency: int = Field(64, ge=1, description="Subscriptions delivered to at once (one message each).")
    webhook_poll_interval_s: float = Field(
        1.0, gt=0, description="Longest wait of an idle delivery worker before it looks for due retries again.")
    webhook_lease_s: float = Field(
        60.0, gt=0, description="How long a delivery worker holds a subscription without news before another "
                                "process may take it over (a worker that died); at least 3 × the timeout.")

    webhook_log_days: float = Field(14.0, gt=0, description="Days of delivery attempts the delivery log keeps.")

    @model_validator(mode="after")
    def _signing_has_its_key(self) -> Self:
        # A signature nobody can check (no key) or anyone can forge (a short one) is worse than none: it is refused.
        if self.exchange_signature is not RowSignature.none:
            key = self.exchange_signing_key.get_secret_value() if self.exchange_signing_key else ""
            if len(key) < MIN_SIGNING_KEY_LENGTH:
                raise ValueError(f"SHIXIANG_EXCHANGE_SIGNATURE={self.exchange_signature.value} needs "
                                 f"SHIXIANG_EXCHANGE_SIGNING_KEY of at least {MIN_SIGNING_KEY_LENGTH} characters")
        return self

    @property
    def exchange_signing(self) -> tuple[RowSignature, bytes]:
        """How exchange rows are signed, and the key (empty when they are not)."""
        key = self.exchange_signing_key.get_secret_value().encode() if self.exchange_signing_key else b""
        return self.exchange_signature, key if self.exchange_signature is not RowSignature.none else b""

    @model_validator(mode="after")
    def _lease_outlasts_attempts(self) -> Self:
        # The worker renews its lease at least every third of it, between attempts: an attempt longer than that
        # could let the lease lapse and a second process deliver beside it.
        if self.webhook_lease_s < 3 * self.webhook_timeout_s:
            raise ValueError("SHIXIANG_WEBHOOK_LEASE_S must be at least three times SHIXIANG_WEBHOOK_TIMEOUT_S")
        return self

    def _local_default(self, value: str | None, local: tuple[str, ...]) -> tuple[str, ...]:
        if value is not None:
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return () if self.environment is Environment.production else local

    @property
    def webhook_hosts(self) -> tuple[str, ...]:
        return self._local_default(self.webhook_allowed_hosts, LOCAL_HOSTS)

    @property
    def webhook_networks(self) -> tuple[str, ...]:
        return self._local_default(self.webhook_allowed_networks, LOCAL_NETWORKS)
