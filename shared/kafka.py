"""Kafka plumbing shared by relays and consumers: client factories with settings that work on both Apache Kafka
and the embedded Tansu broker, and idempotent topic creation."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)


def make_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    # acks=all: a send counts only once the broker has it. No enable_idempotence / transactions: Tansu refuses them,
    # and the design does not need them (consumers drop duplicates by event id).
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=2,
        request_timeout_ms=10_000,
        max_batch_size=1_048_576,
        metadata_max_age_ms=5_000,
    )


def make_consumer(bootstrap_servers: str, group_id: str, *topics: str,
                  session_timeout_ms: int = 6_000) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
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


@dataclass(frozen=True)
class KafkaConfig:
    """How this process reaches Kafka and shapes the topics it creates."""

    bootstrap_servers: str
    partitions: int = 4
    replication_factor: int = 1
    session_timeout_ms: int = 6_000

    def producer(self) -> AIOKafkaProducer:
        return make_producer(self.bootstrap_servers)

    def consumer(self, group_id: str, *topics: str) -> AIOKafkaConsumer:
        return make_consumer(self.bootstrap_servers, group_id, *topics, session_timeout_ms=self.session_timeout_ms)

    async def ensure_topics(self, topics: list[str], partitions: int | None = None) -> None:
        await ensure_topics(self.bootstrap_servers, topics, partitions or self.partitions, self.replication_factor)


async def ensure_topics(bootstrap_servers: str, topics: list[str], partitions: int,
                        replication_factor: int = 1) -> None:
    """Create missing topics explicitly (auto-creation would pick its own partition count)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
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
