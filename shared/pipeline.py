"""A service's own view of its event pipeline (``GET {prefix}/pipeline``, operators; the console's 链路健康 page
reads it from every service): how far its store has grown (head), how far its relay has published, what each of its
consumers is waiting on in this process, and its dead letters.

A process knows only what it runs (process roles: api, relay, consume). The store, the relay's checkpoint and the
dead letters are in the database, so every process reports them; a consumer's waiting partitions (which message,
since when, with which error) are known only to the process that runs it, and are reported with ``runs_here``
true. Consumer-group offsets and high watermarks are Kafka's: the sync gateway reads those itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from shared import dead_letters
from shared.consumer import ConsumerRunner
from shared.eventstore import events_table, relay_checkpoints_table
from shared.metrics import DEAD_LETTERS_WAITING, RELAY_POSITION, STORE_HEAD
from shared.service import ServiceRuntime
from shared.settings import ProcessRole

RELAY_NAME = "kafka"  # the name the runtime's relay keeps its checkpoint under (Relay's default)

# Events the relay has not published: after its checkpoint in the store's (tx_id, position) order (the index the
# relay reads by), counted rather than subtracted, since rolled-back inserts leave gaps in the positions.
_UNPUBLISHED = text("SELECT count(*) FROM events WHERE (tx_id, position) > (:tx, :pos)")


async def service_pipeline(runtime: ServiceRuntime) -> dict[str, Any]:
    """What this process knows of the service's pipeline (the shape is documented on the route)."""
    checkpoint = relay_checkpoints_table
    async with runtime.engine.connect() as conn:
        head = int(await conn.scalar(select(func.coalesce(func.max(events_table.c.position), 0))) or 0)
        row = (await conn.execute(select(checkpoint.c.tx_id, checkpoint.c.position, checkpoint.c.updated_at)
                                  .where(checkpoint.c.relay == RELAY_NAME))).first()
        tx, position = (int(row.tx_id), int(row.position)) if row else (0, 0)
        unpublished = int(await conn.scalar(_UNPUBLISHED, {"tx": tx, "pos": position}) or 0)
    counts = await dead_letters.counts(runtime.engine)
    waiting = await dead_letters.waiting_by_consumer(runtime.engine)
    observe(runtime.service, head, position, waiting, [spec.name for spec in runtime.consumers])
    roles = runtime.settings.process_roles
    runs_consumers = ProcessRole.consume in roles
    return {
        "service": runtime.service,
        "roles": sorted(role.value for role in roles),
        "store_head": head,
        "relay_position": position,
        "relay_lag": unpublished,
        "relay_updated_at": row.updated_at.isoformat() if row else None,
        "stuck_after_s": runtime.settings.consumer_stuck_after_s,
        "consumers": [consumer_report(runtime.consumer_runner(spec) if runs_consumers else None, spec.name,
                                      list(spec.topics), waiting.get(spec.name, 0))
                      for spec in runtime.consumers],
        "dead_letters": {status.value: counts.get(status.value, 0) for status in dead_letters.Status},
    }


def consumer_report(runner: ConsumerRunner | None, name: str, topics: list[str], dead_waiting: int) -> dict[str, Any]:
    """One consumer as this process knows it: ``runner`` is None when the process does not run it."""
    report: dict[str, Any] = {"name": name, "topics": topics, "runs_here": runner is not None,
                              "status": None, "waiting": [], "committed": [], "dead_letters_waiting": dead_waiting}
    if runner is None:
        return report
    report["status"] = runner.status()
    report["waiting"] = [{"topic": w.topic, "partition": w.partition, "offset": w.offset, "event_id": w.event_id,
                          "error": w.error, "for_s": round(w.waited_s, 1), "stuck": w.stuck}
                         for w in runner.waiting()]
    report["committed"] = [{"topic": topic, "partition": partition, "offset": offset}
                           for (topic, partition), offset in sorted(runner.committed().items())]
    return report


def observe(service: str, head: int, relay_position: int, waiting: dict[str, int], consumers: list[str]) -> None:
    """The gauges the report measures anyway (also refreshed on every /metrics scrape)."""
    STORE_HEAD.labels(service).set(head)
    RELAY_POSITION.labels(service).set(relay_position)
    for name in consumers:
        DEAD_LETTERS_WAITING.labels(name).set(waiting.get(name, 0))
