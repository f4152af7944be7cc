from pathlib import Path

from pydantic import Field

from shared.settings import ServiceSettings


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
    # The public guide (办事指南, anonymous): a token bucket per client address, and how long caches may keep a page.
    public_rate_per_s: float = Field(5.0, gt=0, description="Public guide: requests a second per client address.")
    public_burst: int = Field(30, ge=1, description="Public guide: requests a client address may make at once.")
    public_max_age_s: int = Field(300, ge=0, description="Public guide: Cache-Control max-age of its answers.")
