"""The console's pipeline health (链路健康) and dead letters (死信), as the operators' console reads them.

Each service reports its own pipeline (``GET {prefix}/pipeline``: store head, relay position, what its consumers wait
on in the process that runs them, dead letters); the gateway reads the other three with the caller's token (a
service that cannot be reached is shown ``reachable: false`` with the error, the page still answers), reads every
consumer group's committed offsets and high watermarks from Kafka itself, and keeps the previous sample in memory
to tell a partition that is moving from one that is stuck (``domain/pipeline.py``). Dead letters stay in the service
that owns them: the console lists, shows and acts on them through that service's API; replay and discard are the
administrators' (the owning service checks it too, and records who, why, when and the outcome)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared import dead_letters
from shared.auth import Principal
from shared.consumer import discard_dead_letter, replay_dead_letter
from shared.db import RegionOf
from shared.errors import DeadLetterReasonRequiredError
from shared.metrics import CONSUMER_GROUP_LAG, CONSUMER_GROUP_STUCK
from shared.pipeline import service_pipeline
from shared.service import ServiceRuntime

from sync_gateway.adapters.kafka_lag import GroupOffsets, KafkaOffsets
from sync_gateway.adapters.national_progress import national_progress
from sync_gateway.adapters.services import SERVICE_LABELS, ServiceClients, refused_or_json
from sync_gateway.domain import pipeline as rules
from sync_gateway.domain.errors import ServiceUnavailableError, UpstreamRefusedError
from sync_gateway.errors import ERRORS
from sync_gateway.service_layer.console_access import require_console
from sync_gateway.service_layer.feed import region_filter
from sync_gateway.service_layer.roles import CONSOLE_ADMIN_ROLES

log = logging.getLogger(__name__)

SELF = "sync"
# The other services' API prefixes (what shixiang.services names; services never import each other's code).
PREFIXES = {"registry": "/registry/v1", "coding": "/coding/v1", "lifecycle": "/lifecycle/v1", SELF: "/sync/v1"}
SERVICES = tuple(PREFIXES)


class ConsolePipeline:
    def __init__(self, runtime: ServiceRuntime, services: ServiceClients, offsets: KafkaOffsets, *,
                 region_of: RegionOf | None = None, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.runtime = runtime
        self.services = services
        self.offsets = offsets
        self.region_of = region_of  # the gateway's own dead letters, for callers of some regions (as every service)
        self.clock = clock
        self.now = now
        self.stuck_after_s = runtime.settings.consumer_stuck_after_s
        # (group, topic, partition) → the committed offset last seen and since when it has not moved
        self._samples: dict[tuple[str, str, int], rules.Sample] = {}

    # ---- pipeline health -------------------------------------------------------------------------------------------
    async def pipeline(self, principal: Principal, *, authorization: str, correlation_id: str | None) -> dict[str, Any]:
        require_console(principal)
        reports = await asyncio.gather(*(self._report(name, authorization, correlation_id) for name in SERVICES))
        groups = {c["name"]: c["topics"] for r in reports if r["reachable"] for c in r["consumers"]}
        kafka_error = None
        try:
            offsets = await self.offsets.read(groups)
        except Exception as exc:  # the broker down is a finding of this page, not its failure
            log.warning("console: consumer-group offsets could not be read", exc_info=True)
            offsets, kafka_error = {}, f"{type(exc).__name__}: {exc}"
        now = self.clock()
        services = [self._service(report, offsets, now) for report in reports]
        return {"checked_at": self.now().isoformat(), "kafka_error": kafka_error,
                "stuck_after_s": self.stuck_after_s, "services": services,
                "national": await national_progress(self.runtime.engine, regions=region_filter(principal))}

    async def _report(self, service: str, authorization: str, correlation_id: str | None) -> dict[str, Any]:
        try:
            if service == SELF:
                report = await service_pipeline(self.runtime)
            else:
                report = await self.services.get_json(service, f"{PREFIXES[service]}/pipeline",
                                                      authorization=authorization, correlation_id=correlation_id)
        except (ServiceUnavailableError, UpstreamRefusedError) as exc:
            # the page answers with what it could read: the error is shown in its place, in its own words
            return {"service": service, "reachable": False, "error": ERRORS.render(exc)[1]["message"],
                    "consumers": []}
        return {**report, "reachable": True, "error": None}

    def _service(self, report: dict[str, Any], offsets: dict[str, GroupOffsets], now: float) -> dict[str, Any]:
        service = report["service"]
        out: dict[str, Any] = {
            "service": service, "label": SERVICE_LABELS.get(service, service), "reachable": report["reachable"],
            "error": report["error"], "roles": report.get("roles"), "store_head": report.get("store_head"),
            "relay_position": report.get("relay_position"), "relay_lag": report.get("relay_lag"),
            "consumers": [], "dead_letters": report.get("dead_letters")}
        for consumer in report["consumers"]:
            waiting = rules.waiting_by_partition(consumer.get("waiting") or [])
            group: GroupOffsets | None = offsets.get(consumer["name"])
            partitions: list[dict[str, Any]] = []
            for (topic, partition), answered in sorted(group.committed.items()) if group else ():
                assert group is not None
                committed = max(answered, 0)  # nothing committed (-1): the group reads from the start
                high = group.high_watermarks[(topic, partition)]
                key = (consumer["name"], topic, partition)
                previous = self._samples.get(key)
                state, stuck_on = rules.partition_state(
                    committed=committed, high_watermark=high, previous=previous, now=now,
                    stuck_after_s=self.stuck_after_s, waiting=waiting.get((topic, partition)))
                self._samples[key] = rules.next_sample(previous, committed, now)
                lag = rules.lag(committed, high)
                CONSUMER_GROUP_LAG.labels(consumer["name"], topic, partition).set(lag)
                CONSUMER_GROUP_STUCK.labels(consumer["name"], topic, partition).set(int(state == "stuck"))
                partitions.append({"partition": partition, "topic": topic, "committed": committed,
                                   "high_watermark": high, "lag": lag, "state": state, "stuck_on": stuck_on})
            out["consumers"].append({
                "name": consumer["name"], "topic": (consumer.get("topics") or [None])[0],
                "runs_here": consumer.get("runs_here"), "reported_status": consumer.get("status"),
                "status": rules.consumer_status([p["state"] for p in partitions]),
                "dead_letters_waiting": consumer.get("dead_letters_waiting", 0), "partitions": partitions})
        return out

    # ---- dead letters ----------------------------------------------------------------------------------------------
    async def dead_letters(self, principal: Principal, *, service: str | None, params: dict[str, Any],
                           authorization: str, correlation_id: str | None) -> dict[str, Any]:
        require_console(principal)
        names = [service] if service else list(SERVICES)
        pages = await asyncio.gather(*(self._dead_letter_page(principal, name, params, authorization,
                                                              correlation_id) for name in names))
        items = [item for page in pages for item in page["items"]]
        items.sort(key=lambda d: d.get("last_failed_at") or "", reverse=True)
        return {"items": items, "counts": {p["service"]: p["counts"] for p in pages},
                "unreachable": {p["service"]: p["error"] for p in pages if p["error"]}}

    async def _dead_letter_page(self, principal: Principal, service: str, params: dict[str, Any],
                                authorization: str, correlation_id: str | None) -> dict[str, Any]:
        try:
            listed: dict[str, Any]
            if service == SELF:
                engine = self.runtime.engine
                page = await dead_letters.listing(engine, dead_letters.Listing(**params))
                listed = {"items": [letter for letter in page if await dead_letters.visible_to(
                                        engine, principal, self.region_of, letter["id"], letter["subject"])],
                          "counts": await dead_letters.counts(engine)}
            else:
                listed = await self.services.get_json(service, f"{PREFIXES[service]}/dead-letters", params=params,
                                                      authorization=authorization, correlation_id=correlation_id)
        except ServiceUnavailableError as exc:
            return {"service": service, "items": [], "counts": None, "error": ERRORS.render(exc)[1]["message"]}
        counts = {status.value: int(listed["counts"].get(status.value, 0)) for status in dead_letters.Status}
        return {"service": service, "items": [{**item, "service": service} for item in listed["items"]],
                "counts": counts, "error": None}

    async def dead_letter(self, principal: Principal, service: str, dead_letter_id: int, *, authorization: str,
                          correlation_id: str | None) -> dict[str, Any]:
        require_console(principal)
        if service == SELF:
            await dead_letters.require_visible(self.runtime.engine, principal, self.region_of, dead_letter_id)
            shown = await dead_letters.describe(self.runtime.engine, dead_letter_id)
        else:
            shown = await self.services.get_json(service, f"{PREFIXES[service]}/dead-letters/{dead_letter_id}",
                                                 authorization=authorization, correlation_id=correlation_id)
        return {**shown, "service": service}

    async def act(self, principal: Principal, service: str, dead_letter_id: int, action: str, reason: str, *,
                  authorization: str, correlation_id: str | None) -> dict[str, Any]:
        """Replay or discard (``action``) one dead letter in the service that owns it: administrators only, with a
        reason (recorded there with the caller, the time and the outcome)."""
        require_console(principal)
        principal.require_role(*CONSOLE_ADMIN_ROLES)
        if not reason.strip():
            raise DeadLetterReasonRequiredError(id=dead_letter_id, action=dead_letters.ACTION_LABELS[action])
        if service == SELF:
            runtime = self.runtime
            await dead_letters.require_visible(runtime.engine, principal, self.region_of, dead_letter_id)
            if action == dead_letters.Action.replay:
                outcome = await replay_dead_letter(runtime.consumer_runners(), dead_letter_id,
                                                   actor=principal.subject, reason=reason)
                answer: dict[str, Any] = {"result": outcome.result, "detail": outcome.detail}
            else:
                await discard_dead_letter(runtime.engine, dead_letter_id, actor=principal.subject, reason=reason)
                answer = {"result": "discarded", "detail": reason.strip()}
        else:
            response = await self.services.call(
                service, "POST", f"{PREFIXES[service]}/dead-letters/{dead_letter_id}/{action}",
                authorization=authorization, correlation_id=correlation_id, json={"reason": reason})
            body = refused_or_json(service, response)
            answer = ({"result": body["result"], "detail": body["detail"]} if action == dead_letters.Action.replay
                      else {"result": "discarded", "detail": body.get("resolution")})
        shown = await self.dead_letter(principal, service, dead_letter_id, authorization=authorization,
                                       correlation_id=correlation_id)
        return {**answer, "dead_letter": shown}
