"""Builders shared by the coding service's integration tests (this module holds no tests itself; their ``coding``
fixture, one process started by ``start_coding``, is in conftest.py).

The coding service is wired exactly as in production (``coding.bootstrap.build``) on a fresh database per test;
consumer logic is driven through the consumer runner without Kafka (``deliver``): contract checks, handler and
tracking row in one transaction, as for a message from the broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared import contracts
from shared.auth import mint_token
from shared.cloudevents import CloudEvent
from shared.consumer import PermanentError
from shared.eventstore import StoredEvent, load_stream
from shared.service import ServiceRuntime
from shared.settings import DEVELOPMENT_JWT_SECRET

from coding.bootstrap import Coding, build
from coding.config import CodingSettings

# 01 行政许可 · 440115 广州市南沙区 · 02 户政管理 · 03 许可审批 · 户口迁移审批 → HKQYSP
HUKOU = {"name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "region_code": "440115",
         "police_type": "02", "service_category": "03"}
HUKOU_CODE = "014401150203HKQYSP000000"


def new_item_id() -> str:
    return f"item-{uuid.uuid4().hex[:12]}"


def lifecycle_event(event_type: str, item_id: str, data: dict[str, Any]) -> CloudEvent:
    return CloudEvent(id=str(uuid.uuid4()), type=event_type, source="/shixiang/lifecycle", subject=item_id,
                      time=datetime.now(UTC), data=data, sequence=1, correlation_id=f"corr-{item_id}")


def registration(item_id: str, **changes: Any) -> CloudEvent:
    """lifecycle.item.registration_requested.v1 with the coded elements of HUKOU, changed as given."""
    elements = {**HUKOU, **changes}
    coded = {k: elements[k] for k in ("item_type", "region_code", "police_type", "service_category", "short_name")}
    return lifecycle_event(contracts.LIFECYCLE_REGISTRATION_REQUESTED, item_id,
                           {"revision": 1, "elements": coded, "at": datetime.now(UTC).isoformat()})


def cancellation(item_id: str, *, successors: list[str] | None = None) -> CloudEvent:
    return lifecycle_event(contracts.LIFECYCLE_CANCELLED, item_id, {
        "item_id": item_id, "code": None, "phase": "cancelled", "phase_label": "注销期", "reason": "事项取消",
        "was_published": True, "at": datetime.now(UTC).isoformat(), "successors": successors or []})


def lineage(subject: str, kind: str, predecessors: list[str], successors: list[str]) -> CloudEvent:
    return lifecycle_event(contracts.LIFECYCLE_LINEAGE_RECORDED, subject, {
        "kind": kind, "predecessors": predecessors, "successors": successors, "reason": "主子项调整",
        "at": datetime.now(UTC).isoformat()})


def entered(item_id: str, **changes: Any) -> CloudEvent:
    """lifecycle.item.entered.v1 of HUKOU: the lifecycle tells every service about an item before anything else."""
    elements = {**HUKOU, **changes}
    return lifecycle_event(contracts.LIFECYCLE_ENTERED, item_id, {
        "revision": 1, "author": "entry-gz", "region_code": elements["region_code"], "elements": elements})


async def deliver(coding: Coding, event: CloudEvent, *, known: bool = True) -> None:
    """What the consumer runner does with one lifecycle message (its contract checked, the handler and the tracking
    row in one transaction), the item having entered first unless ``known`` is false. A message the consumer
    refuses for good raises PermanentError with the reason (the runner would dead-letter it)."""
    [runner] = coding.runtime.consumer_runners().values()
    if known:
        await runner.deliver(entered(event.subject))
    outcome = await runner.deliver(event)
    if outcome.startswith("refused"):
        raise PermanentError(outcome)


async def item_events(engine: AsyncEngine, item_id: str) -> list[StoredEvent]:
    async with engine.connect() as conn:
        return await load_stream(conn, item_id)


def token(*roles: str, regions: tuple[str, ...] = ("44",), subject: str = "tester") -> str:
    return mint_token(DEVELOPMENT_JWT_SECRET, subject=subject, roles=roles, regions=regions)


async def start_coding(database_url: str, clock: Callable[[], datetime] | None = None,
                       **settings: Any) -> tuple[ServiceRuntime, Coding]:
    """One coding process (API role only: no relay, no consumers) on ``database_url``."""
    configured = CodingSettings(database_url=database_url, roles="api", db_pool_size=30, **settings)
    runtime, coding = build(configured) if clock is None else build(configured, clock=clock)
    await runtime.start()
    await coding.start()
    return runtime, coding

