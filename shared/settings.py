"""Settings every service process shares, read from ``SHIXIANG_*`` environment variables.

Each service subclasses :class:`ServiceSettings` with its own fields; the composition root builds the settings
object once (never at import time)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth import ASYMMETRIC_ALGORITHMS, ROLES, ClaimMapping
from shared.hashing import HashAlgorithm

# Public on purpose: tests (and a development process started without an issuer) sign HS256 tokens with it;
# production never verifies HS256 (it requires SHIXIANG_AUTH_ISSUER, see ServiceSettings).
DEVELOPMENT_JWT_SECRET = "shixiang-development-secret-do-not-use-in-production"  # noqa: S105


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class KafkaSecurityProtocol(StrEnum):
    """Kafka's own names (``security.protocol``): SASL_* authenticate by user and password, SSL by a client
    certificate (mTLS) when one is given; *_SSL encrypt."""

    PLAINTEXT = "PLAINTEXT"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"
    SSL = "SSL"

    @property
    def uses_sasl(self) -> bool:
        return self in (KafkaSecurityProtocol.SASL_PLAINTEXT, KafkaSecurityProtocol.SASL_SSL)

    @property
    def uses_tls(self) -> bool:
        return self in (KafkaSecurityProtocol.SASL_SSL, KafkaSecurityProtocol.SSL)


class KafkaSaslMechanism(StrEnum):
    SCRAM_SHA_512 = "SCRAM-SHA-512"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    PLAIN = "PLAIN"


class ProcessRole(StrEnum):
    """What one process of a service does. One image, several roles (api, relay, consume)."""

    api = "api"
    relay = "relay"
    consume = "consume"


class ServiceSettings(BaseSettings):
    # hide_input_in_errors: a refused setting's message would otherwise end with the inputs, secrets included
    # (the Kafka password, the JWT secret), in the log of a process that failed to start.
    model_config = SettingsConfigDict(env_prefix="SHIXIANG_", extra="ignore", hide_input_in_errors=True)

    environment: Environment = Field(
        Environment.development,
        description="development/test allow HS256 tokens of SHIXIANG_JWT_SECRET when no SHIXIANG_AUTH_ISSUER is set, "
                    "and a PLAINTEXT Kafka; production requires an issuer and refuses PLAINTEXT."
    )
    database_url: str = Field(
        "postgresql+asyncpg://postgres@localhost/shixiang",
        description="SQLAlchemy URL of this service's own database (postgresql+asyncpg://…).",
    )
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated Kafka bootstrap servers.")
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        KafkaSecurityProtocol.PLAINTEXT,
        description="PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL. Production refuses PLAINTEXT (anyone on the network "
                    "could write events) unless SHIXIANG_KAFKA_ALLOW_PLAINTEXT=true.")
    kafka_sasl_mechanism: KafkaSaslMechanism = Field(
        KafkaSaslMechanism.SCRAM_SHA_512,
        description="SASL mechanism of the SASL_* protocols: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (PLAIN sends the "
                    "password itself: only over SASL_SSL).")
    kafka_username: str | None = Field(
        None, description="SASL user (the service's Kafka principal: shixiang-registry, shixiang-coding, "
                          "shixiang-lifecycle or shixiang-sync); required by the SASL_* protocols.")
    kafka_password: SecretStr | None = Field(None, description="SASL password; required by the SASL_* protocols.")
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM file of the CA(s) that signed the brokers' certificates (SSL, SASL_SSL); unset: the "
                          "system's CAs.")
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM client certificate for mTLS (SSL); its principal is the certificate's subject.")
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM private key of SHIXIANG_KAFKA_SSL_CERTFILE.")
    kafka_allow_plaintext: bool = Field(
        False, description="Lets production reach Kafka over PLAINTEXT without authentication (a network where "
                           "only the suite can reach the brokers); never needed in development.")
    topic_prefix: str = Field("shixiang", description="Prefix of every topic name, e.g. shixiang.lifecycle.events.")
    access_log: bool = Field(
        False, description="One JSON line per HTTP request on the shixiang.access logger. Off unless asked for: "
                           "it costs ≈ 0.1–0.3 ms of CPU per lifecycle command (1.1 → 1.2–1.4 ms at 500 commands/s, "
                           "bench.lifecycle_bench); `shixiang dev` turns it on.")
    topic_partitions: int = Field(4, ge=1, description="Partitions of each topic this service creates.")
    topic_replication_factor: int = Field(
        1, ge=1, description="Replication factor of the topics this service creates (3 on a production cluster)."
    )
    jwt_secret: SecretStr = Field(
        SecretStr(DEVELOPMENT_JWT_SECRET),
        description="HS256 secret of bearer tokens, used only without SHIXIANG_AUTH_ISSUER outside production (tests).")
    jwt_issuer: str = Field("shixiang", description="Expected `iss` claim of the HS256 tokens (tests).")
    auth_issuer: str | None = Field(
        None, description="The identity provider's issuer URL: the `iss` its tokens carry, and where its "
                          "/.well-known/openid-configuration is. Set: tokens are verified against its JWKS "
                          "(docs/identity.md). Required in production.")
    auth_jwks_url: str | None = Field(
        None, description="The provider's JWKS URL; unset: the `jwks_uri` of the issuer's discovery document.")
    auth_audience: str | None = Field(
        None, description="The `aud` every token must carry (the suite's client id or audience at the provider); "
                          "required with SHIXIANG_AUTH_ISSUER.")
    auth_algorithms: str = Field(
        "RS256,ES256", description="Comma-separated signature algorithms accepted from the provider: asymmetric ones "
                                   f"only ({', '.join(ASYMMETRIC_ALGORITHMS)}); never none or HS*.")
    auth_subject_claim: str = Field("sub", description="Dotted path of the claim naming the user.")
    auth_roles_claim: str = Field(
        "roles", description="Dotted path of the list of roles (Keycloak's realm roles: realm_access.roles).")
    auth_regions_claim: str = Field("regions", description="Dotted path of the list of GB/T 2260 region prefixes.")
    auth_role_map: dict[str, str] = Field(
        default_factory=dict,
        description="JSON object from the provider's role names to the suite's (entry, reviewer, tester, publisher, "
                    "admin, operator, national); a role not in it keeps its name.")
    auth_leeway_s: float = Field(30.0, ge=0, le=300, description="Clock skew allowed on exp, nbf and iat.")
    auth_jwks_refresh_s: float = Field(
        300.0, gt=0, description="The JWKS is fetched again this often (a key the provider removed stops working "
                                 "then).")
    auth_jwks_min_interval_s: float = Field(
        5.0, ge=0, description="A token naming an unknown key makes the JWKS be fetched again, at most this often "
                               "(unknown kids cannot make the service hammer the provider).")
    auth_http_timeout_s: float = Field(5.0, gt=0, description="Timeout of one request to the provider.")
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
    event_hash: HashAlgorithm = Field(
        HashAlgorithm.sha256,
        description="The hash new events of this service's store are chained with: sha256 or sm3 (GB/T 32905, 国密). "
                    "Each event records its own, so a store switched to sm3 keeps verifying its older events.")

    audit_retention_days: int = Field(
        180, ge=1, description="Days the audit log of reads keeps a record (等保 2.0: at least six months); older "
                               "records are deleted on start and every hour.")
    audit_batch_size: int = Field(500, ge=1, description="Audit records written per transaction (at most).")
    audit_flush_interval_s: float = Field(
        0.2, gt=0, description="Longest wait before waiting audit records are written.")
    audit_queue_limit: int = Field(
        100_000, ge=1, description="Audit records a process keeps waiting while the audit log cannot be written; "
                                   "beyond it new records are dropped, counted (shixiang_audit_dropped_total) and "
                                   "logged: a read never waits on the audit writer.")

    @field_validator("auth_issuer", "auth_jwks_url", "auth_audience")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None  # compose passes an unset optional variable as ""

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric_algorithms_only(cls, value: str) -> str:
        names = [a.strip() for a in value.split(",") if a.strip()]
        refused = [a for a in names if a not in ASYMMETRIC_ALGORITHMS]
        if refused or not names:
            raise ValueError(f"SHIXIANG_AUTH_ALGORITHMS may name only {', '.join(ASYMMETRIC_ALGORITHMS)} (refused: "
                             f"{', '.join(refused) or 'an empty list'}): none and HS* would let anyone holding the "
                             "provider's public key sign tokens")
        return ",".join(names)

    @field_validator("auth_role_map")
    @classmethod
    def _roles_are_ours(cls, value: dict[str, str]) -> dict[str, str]:
        if unknown := sorted(set(value.values()) - set(ROLES)):
            raise ValueError(f"SHIXIANG_AUTH_ROLE_MAP maps to unknown roles {unknown}; ours are {', '.join(ROLES)}")
        return value

    @model_validator(mode="after")
    def _check_identity_provider(self) -> Self:
        if self.auth_issuer and not self.auth_audience:
            raise ValueError("SHIXIANG_AUTH_AUDIENCE is required with SHIXIANG_AUTH_ISSUER: without an audience a "
                             "token the provider issued to any other application would be accepted")
        if self.environment is Environment.production and not self.auth_issuer:
            raise ValueError("SHIXIANG_AUTH_ISSUER is required in production: tokens are verified against the "
                             "identity provider's keys (docs/identity.md); HS256 with a shared secret is for tests")
        return self

    @model_validator(mode="after")
    def _check_kafka_security(self) -> Self:
        if problems := kafka_security_problems(self):
            raise ValueError("; ".join(problems))
        return self

    @property
    def uses_identity_provider(self) -> bool:
        """Tokens verified against an issuer's JWKS (else HS256 with SHIXIANG_JWT_SECRET: tests, development)."""
        return bool(self.auth_issuer)

    @property
    def claim_mapping(self) -> ClaimMapping:
        return ClaimMapping(subject=self.auth_subject_claim, roles=self.auth_roles_claim,
                            regions=self.auth_regions_claim, role_map=dict(self.auth_role_map))

    @property
    def accepted_algorithms(self) -> tuple[str, ...]:
        return tuple(self.auth_algorithms.split(","))

    @property
    def process_roles(self) -> frozenset[ProcessRole]:
        return frozenset(ProcessRole(r.strip()) for r in self.roles.split(",") if r.strip())

    def topic(self, service: str, kind: str = "events") -> str:
        """Topic names are configuration: ``<prefix>.<service>.<kind>`` (kind: events or dlt)."""
        return f"{self.topic_prefix}.{service}.{kind}"


def kafka_security_problems(settings: ServiceSettings) -> list[str]:
    """What is wrong with the Kafka security settings (empty: nothing). The files are looked at now, so that a
    wrong path stops the process at start, not at its first connection, which the relay and consumers retry
    forever."""
    problems = []
    protocol = settings.kafka_security_protocol
    if protocol.uses_sasl and not (settings.kafka_username and settings.kafka_password
                                   and settings.kafka_password.get_secret_value()):
        problems.append(f"SHIXIANG_KAFKA_SECURITY_PROTOCOL={protocol} needs SHIXIANG_KAFKA_USERNAME and "
                        "SHIXIANG_KAFKA_PASSWORD")
    files = {"SHIXIANG_KAFKA_SSL_CAFILE": settings.kafka_ssl_cafile,
             "SHIXIANG_KAFKA_SSL_CERTFILE": settings.kafka_ssl_certfile,
             "SHIXIANG_KAFKA_SSL_KEYFILE": settings.kafka_ssl_keyfile}
    problems += [f"{name}={path} is not a readable file" for name, path in files.items()
                 if path is not None and not path.is_file()]
    if settings.kafka_ssl_keyfile is not None and settings.kafka_ssl_certfile is None:
        problems.append("SHIXIANG_KAFKA_SSL_KEYFILE is set without SHIXIANG_KAFKA_SSL_CERTFILE")
    if (settings.environment is Environment.production and protocol is KafkaSecurityProtocol.PLAINTEXT
            and not settings.kafka_allow_plaintext):
        problems.append("SHIXIANG_KAFKA_SECURITY_PROTOCOL=PLAINTEXT is refused in production: anyone who reaches the "
                        "brokers could write events. Use SASL_SSL (or SSL with a client certificate), or set "
                        "SHIXIANG_KAFKA_ALLOW_PLAINTEXT=true if only the suite can reach them")
    return problems
