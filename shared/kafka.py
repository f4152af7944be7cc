"""Kafka plumbing shared by relays and consumers: client factories with settings that work on both Apache Kafka
and the embedded Tansu broker, how every client authenticates (:class:`KafkaSecurity`), and idempotent topic
creation. Every Kafka client of the suite is built here, so none can forget the credentials."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from pydantic import SecretStr

from shared.settings import KafkaSaslMechanism, KafkaSecurityProtocol, ServiceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaSecurity:
    """How a client authenticates to the brokers and encrypts (``SHIXIANG_KAFKA_SECURITY_PROTOCOL`` and the
    settings after it). The default, PLAINTEXT, is the embedded broker's: Tansu's memory storage keeps no SCRAM
    credentials (deploy/README.md, "Pointing the suite at an existing secured Kafka")."""

    protocol: KafkaSecurityProtocol = KafkaSecurityProtocol.PLAINTEXT
    mechanism: KafkaSaslMechanism = KafkaSaslMechanism.SCRAM_SHA_512
    username: str | None = None
    password: SecretStr | None = None  # a SecretStr until the client gets it: a logged KafkaConfig shows '**********'
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> KafkaSecurity:
        return cls(protocol=settings.kafka_security_protocol, mechanism=settings.kafka_sasl_mechanism,
                   username=settings.kafka_username, password=settings.kafka_password,
                   cafile=settings.kafka_ssl_cafile, certfile=settings.kafka_ssl_certfile,
                   keyfile=settings.kafka_ssl_keyfile)

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments every aiokafka client (producer, consumer, admin) gets. TLS protocols get an
        ``ssl_context`` that verifies the brokers (against ``cafile``, else the system's CAs) and presents the client
        certificate when one is configured (mTLS)."""
        options: dict[str, Any] = {"security_protocol": self.protocol.value}
        if self.protocol.uses_sasl:
            options |= {"sasl_mechanism": self.mechanism.value, "sasl_plain_username": self.username,
                        "sasl_plain_password": self.password.get_secret_value() if self.password else None}
        if self.protocol.uses_tls:
            options["ssl_context"] = create_ssl_context(cafile=self.cafile, certfile=self.certfile,
                                                        keyfile=self.keyfile)
        return options


PLAINTEXT = KafkaSecurity()


def make_producer(bootstrap_servers: str, security: KafkaSecurity = PLAINTEXT) -> AIOKafkaProducer:
    # acks=all: a send counts only once the broker has it. No enable_idempotence / transactions: Tansu refuses them,
    # and the design does not need them (consumers drop duplicates by event id).
    return AIOKafkaProducer(
        **security.client_options(),
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=2,
        request_timeout_ms=10_000,
        max_batch_size=1_048_576,
        metadata_max_age_ms=5_000,
    )


def make_consumer(bootstrap_servers: str, group_id: str, *topics: str, session_timeout_ms: int = 6_000,
                  security: KafkaSecurity = PLAINTEXT) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        **security.client_options(),
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Joining a group takes about half the session timeout; short values keep rebalances and tests quick.
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=min(500, session_timeout_ms // 3),
        fetch_max_wait_ms=50,
        metadata_max_age_ms=2_000,
        max_poll_records=500,
    )


def make_admin(bootstrap_servers: str, security: KafkaSecurity = PLAINTEXT,
               request_timeout_ms: int = 10_000) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**security.client_options(), bootstrap_servers=bootstrap_servers,
                               request_timeout_ms=request_timeout_ms)


@dataclass(frozen=True)
class KafkaConfig:
    """How this process reaches Kafka and shapes the topics it creates."""

    bootstrap_servers: str
    partitions: int = 4
    replication_factor: int = 1
    session_timeout_ms: int = 6_000
    security: KafkaSecurity = field(default_factory=KafkaSecurity)

    def producer(self) -> AIOKafkaProducer:
        return make_producer(self.bootstrap_servers, self.security)

    def consumer(self, group_id: str, *topics: str) -> AIOKafkaConsumer:
        return make_consumer(self.bootstrap_servers, group_id, *topics, session_timeout_ms=self.session_timeout_ms,
                             security=self.security)

    def admin(self, request_timeout_ms: int = 10_000) -> AIOKafkaAdminClient:
        return make_admin(self.bootstrap_servers, self.security, request_timeout_ms)

    async def ensure_topics(self, topics: list[str], partitions: int | None = None) -> None:
        await ensure_topics(self.bootstrap_servers, topics, partitions or self.partitions, self.replication_factor,
                            security=self.security)


async def ensure_topics(bootstrap_servers: str, topics: list[str], partitions: int,
                        replication_factor: int = 1, *, security: KafkaSecurity = PLAINTEXT) -> None:
    """Create missing topics explicitly (auto-creation would pick its own partition count). Where the principals
    may not create topics, an operator creates them beforehand (deploy/README.md): then none is missing here."""
    admin = make_admin(bootstrap_servers, security)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created them meanwhile
                await admin.create_topics([NewTopic(t, partitions, replication_factor) for t in missing])
            log.info("created topics %s", missing)
    finally:
        await admin.close()
