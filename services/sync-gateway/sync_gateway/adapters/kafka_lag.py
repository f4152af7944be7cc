"""Consumer-group offsets and high watermarks, read from Kafka (the console's lag is Kafka's, not a service's word).

What the embedded Tansu broker answers (checked with aiokafka 0.14; see /work/shared/docs/infrastructure.md):
- ListGroups (``AIOKafkaAdminClient.list_consumer_groups``): works.
- OffsetFetch (``list_consumer_group_offsets``): works **with explicit partitions** only (without them Tansu
  breaks the connection); a partition the group never committed answers -1, and so does an unknown group.
- ListOffsets for the latest offset (``end_offsets``): **wrong** on Tansu once a producer batches (it answered 1 for
  partitions holding 333 messages sent in one batch each). So the high watermark is read the way a consumer learns
  it: from a Fetch response. A group-less consumer is assigned every partition, positioned at the group's committed
  offset (the lowest among the groups read), and polls once with a small fetch size; ``highwater(tp)`` is then the
  broker's high watermark. It reads at most one small batch per partition and never joins or commits to a group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka import PLAINTEXT, KafkaSecurity, make_admin

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupOffsets:
    """One consumer group's partitions: committed offset (-1: nothing committed) and high watermark."""

    group: str
    committed: dict[tuple[str, int], int]
    high_watermarks: dict[tuple[str, int], int]


class KafkaOffsets:
    def __init__(self, bootstrap_servers: str, *, security: KafkaSecurity = PLAINTEXT,
                 timeout_s: float = 5.0) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.security = security
        self.timeout_s = timeout_s

    async def groups(self, prefix: str) -> list[str]:
        """The consumer groups whose names start with ``prefix`` (the suite's: ``{topic_prefix}.``)."""
        admin = make_admin(self.bootstrap_servers, self.security, request_timeout_ms=int(self.timeout_s * 1000))
        await admin.start()
        try:
            return sorted(str(g[0]) for g in await admin.list_consumer_groups() if str(g[0]).startswith(prefix))
        finally:
            await admin.close()

    async def read(self, groups: Mapping[str, Sequence[str]]) -> dict[str, GroupOffsets]:
        """Each group's (name → the topics it reads) committed offsets and the topics' high watermarks."""
        admin = make_admin(self.bootstrap_servers, self.security, request_timeout_ms=int(self.timeout_s * 1000))
        await admin.start()
        try:
            partitions = await self._partitions(admin, {t for topics in groups.values() for t in topics})
            committed: dict[str, dict[tuple[str, int], int]] = {}
            for group, topics in groups.items():
                tps = [tp for tp in partitions if tp.topic in topics]
                answer = await admin.list_consumer_group_offsets(group, partitions=tps) if tps else {}
                committed[group] = {(tp.topic, tp.partition): (meta.offset if meta is not None else -1)
                                    for tp, meta in answer.items()}
                for tp in tps:
                    committed[group].setdefault((tp.topic, tp.partition), -1)
        finally:
            await admin.close()
        start: dict[TopicPartition, int] = {}
        for offsets in committed.values():
            for (topic, partition), offset in offsets.items():
                tp = TopicPartition(topic, partition)
                start[tp] = min(start.get(tp, max(offset, 0)), max(offset, 0))
        high = await self.high_watermarks(start)
        return {group: GroupOffsets(group, offsets, {k: high.get(k, max(v, 0)) for k, v in offsets.items()})
                for group, offsets in committed.items()}

    async def high_watermarks(self, start: Mapping[TopicPartition, int]) -> dict[tuple[str, int], int]:
        """Each partition's high watermark, from one Fetch positioned at ``start`` (see the module doc)."""
        if not start:
            return {}
        consumer = AIOKafkaConsumer(**self.security.client_options(), bootstrap_servers=self.bootstrap_servers,
                                    group_id=None, enable_auto_commit=False, max_partition_fetch_bytes=1024,
                                    fetch_max_wait_ms=10, auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign(list(start))
            for tp, offset in start.items():
                consumer.seek(tp, offset)
            deadline = asyncio.get_running_loop().time() + self.timeout_s
            while True:
                known = {tp: consumer.highwater(tp) for tp in start}
                if all(v is not None for v in known.values()) or asyncio.get_running_loop().time() > deadline:
                    break
                await consumer.getmany(timeout_ms=100, max_records=1)
            return {(tp.topic, tp.partition): int(v) for tp, v in known.items() if v is not None}
        finally:
            await consumer.stop()

    @staticmethod
    async def _partitions(admin: AIOKafkaAdminClient, topics: set[str]) -> list[TopicPartition]:
        if not topics:
            return []
        described = await admin.describe_topics(sorted(topics))
        return sorted(TopicPartition(str(t["topic"]), int(p["partition"]))
                      for t in described if not t.get("error_code") for p in t["partitions"])
