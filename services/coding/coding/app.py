"""Code allocation (事项编码): idempotent per item, unique across items, collisions resolved by the lowest free
two-digit sequence, retired codes never reused. The allocation row and the ``coding.code.assigned.v1`` event are
written in one transaction (inside the consumer's tracking transaction when driven by the lifecycle)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, MetaData, Table, Text, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shared import contracts
from shared.cloudevents import CloudEvent
from shared.consumer import PermanentError
from shared.dictionaries import Dictionaries, DictionaryError
from shared.errors import DomainError
from shared.eventstore import EventMetadata, NewEvent, append_events, current_version, load_stream
from shared.service import ServiceRuntime

from coding.domain.codes import (
    CodingDomainError,
    ItemCodeParts,
    MalformedCodeError,
    PinyinOverrides,
    compose_code,
    decode_code,
    name_code,
    name_letters,
    with_collision_sequence,
)

EVENT_CODE_ASSIGNED = contracts.CODING_CODE_ASSIGNED
MAX_COLLISION_SEQUENCE = 99

coding_metadata = MetaData()
item_codes_table = Table(
    "item_codes",
    coding_metadata,
    Column("code", Text, primary_key=True),  # unique across active AND retired codes: never reused
    Column("item_id", Text, nullable=False),
    Column("status", Text, nullable=False),  # active / retired
    Column("base_code", Text, nullable=False),
    Column("collided_with", Text),
    Column("parts", JSONB, nullable=False),
    Column("allocated_at", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True)),
)
Index("item_codes_one_active_per_item", item_codes_table.c.item_id, unique=True,
      postgresql_where=text("status = 'active'"))


class CodeElementsInvalidError(DomainError):
    """The coded elements cannot form a code (unknown dictionary value, empty name code…)."""


class CodeMalformedError(DomainError):
    """A code given to decode is not 24 characters of the right shape; ``part`` names the bad part."""


class CodeNotFoundError(DomainError):
    """No item holds (or held) this code."""


class CodeSpaceExhaustedError(DomainError):
    """All 99 collision sequences of a base code are taken (an administrator must change the 简称)."""


class CodingService:
    def __init__(self, runtime: ServiceRuntime, dictionaries: Dictionaries, overrides: PinyinOverrides,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.runtime = runtime
        self.dictionaries = dictionaries
        self.overrides = overrides
        self.now = now

    # ---- pure-ish computations -----------------------------------------------------------------------------------
    def parts_for(self, elements: dict[str, Any], on: date) -> ItemCodeParts:
        problems = []
        for key, dictionary in (("item_type", self.dictionaries.item_types),
                                ("region_code", self.dictionaries.regions),
                                ("police_type", self.dictionaries.police_types),
                                ("service_category", self.dictionaries.service_categories)):
            try:
                dictionary.lookup(str(elements.get(key) or ""), on=on)
            except DictionaryError as exc:
                problems.append({"field": key, "code": type(exc).__name__, "message": exc.message})
        try:
            letters = name_code(str(elements.get("short_name") or ""), self.overrides)
        except CodingDomainError as exc:
            problems.append({"field": "short_name", "code": exc.code, "message": exc.message})
            letters = ""
        if problems:
            raise CodeElementsInvalidError(problems=problems)
        return ItemCodeParts(item_type=elements["item_type"], region_code=elements["region_code"],
                             police_type=elements["police_type"], service_category=elements["service_category"],
                             name_code=letters)

    def describe(self, code: str) -> dict[str, Any]:
        """Decode a code into labelled parts."""
        try:
            parts = decode_code(code)
        except MalformedCodeError as exc:
            raise CodeMalformedError(code=code, part=exc.part, reason=exc.message) from exc
        d = self.dictionaries

        def label(dictionary: Any, value: str) -> str | None:
            entry = dictionary.get(value)
            return entry.label if entry else None

        return {
            "code": code,
            "parts": [
                {"part": "item_type", "label": "事项类型编码", "value": parts.item_type,
                 "meaning": label(d.item_types, parts.item_type)},
                {"part": "region_code", "label": "区划代码", "value": parts.region_code,
                 "meaning": label(d.regions, parts.region_code)},
                {"part": "police_type", "label": "业务警种编码", "value": parts.police_type,
                 "meaning": label(d.police_types, parts.police_type)},
                {"part": "service_category", "label": "服务类别编码", "value": parts.service_category,
                 "meaning": label(d.service_categories, parts.service_category)},
                {"part": "name_code", "label": "事项名称编码", "value": parts.name_code, "meaning": None},
            ],
        }

    async def preview(self, elements: dict[str, Any]) -> dict[str, Any]:
        parts = self.parts_for(elements, self.now().date())
        code = compose_code(parts)
        async with self.runtime.engine.connect() as conn:
            holder = await conn.scalar(select(item_codes_table.c.item_id).where(item_codes_table.c.code == code))
        return {**self.describe(code), "pinyin_letters": name_letters(elements["short_name"], self.overrides),
                "name_code": parts.name_code, "would_collide": holder is not None, "held_by": holder,
                "overrides_version": self.overrides.version}

    # ---- allocation ----------------------------------------------------------------------------------------------
    async def allocate(self, conn: AsyncConnection, item_id: str, elements: dict[str, Any], *,
                       metadata: EventMetadata) -> str:
        """Allocate (or return) the item's code inside ``conn``'s transaction."""
        existing = await conn.scalar(select(item_codes_table.c.code).where(
            item_codes_table.c.item_id == item_id, item_codes_table.c.status == "active"))
        if existing:
            return str(existing)  # idempotent: asked again, same code
        now = metadata.recorded_at or self.now()
        parts = self.parts_for(elements, now.date())
        base = compose_code(parts)
        code, collided_with = await self._claim(conn, item_id, base, parts, now)
        version = await current_version(conn, item_id)
        await append_events(conn, item_id, version, [NewEvent(EVENT_CODE_ASSIGNED, {
            "item_id": item_id, "code": code, "base_code": base, "collided_with": collided_with,
            "parts": _parts_dict(parts), "pinyin_letters": name_letters(elements["short_name"], self.overrides),
            "overrides_version": self.overrides.version,
        })], metadata)
        return code

    async def _claim(self, conn: AsyncConnection, item_id: str, base: str, parts: ItemCodeParts,
                     now: datetime) -> tuple[str, str | None]:
        """Insert the base code, or the lowest free collision sequence. The primary key decides races: a loser's
        INSERT waits for the winner's commit, then finds the code taken and moves on."""
        if await self._insert(conn, base, item_id, base, None, parts, now):
            return base, None
        holder = await conn.scalar(select(item_codes_table.c.item_id).where(item_codes_table.c.code == base))
        candidates = [with_collision_sequence(base, n) for n in range(1, MAX_COLLISION_SEQUENCE + 1)]
        while True:
            taken = set((await conn.scalars(select(item_codes_table.c.code).where(
                item_codes_table.c.code.in_(candidates)))).all())
            free = [c for c in candidates if c not in taken and c != base]
            if not free:
                raise CodeSpaceExhaustedError(base_code=base)
            if await self._insert(conn, free[0], item_id, base, holder, parts, now):
                return free[0], holder

    async def _insert(self, conn: AsyncConnection, code: str, item_id: str, base: str, collided_with: str | None,
                      parts: ItemCodeParts, now: datetime) -> bool:
        result = await conn.execute(pg_insert(item_codes_table).values(
            code=code, item_id=item_id, status="active", base_code=base, collided_with=collided_with,
            parts=_parts_dict(parts), allocated_at=now).on_conflict_do_nothing().returning(item_codes_table.c.code))
        return result.first() is not None

    # ---- queries -------------------------------------------------------------------------------------------------
    async def code_info(self, code: str) -> dict[str, Any]:
        info = self.describe(code)
        async with self.runtime.engine.connect() as conn:
            row = (await conn.execute(select(item_codes_table).where(item_codes_table.c.code == code))).first()
        if row is None:
            return {**info, "holder_item_id": None, "status": "unallocated"}
        return {**info, "holder_item_id": row.item_id, "status": row.status, "base_code": row.base_code,
                "collided_with": row.collided_with, "allocated_at": row.allocated_at.isoformat(),
                "retired_at": row.retired_at.isoformat() if row.retired_at else None}

    async def item_code(self, item_id: str) -> dict[str, Any]:
        async with self.runtime.engine.connect() as conn:
            rows = (await conn.execute(select(item_codes_table).where(item_codes_table.c.item_id == item_id)
                                       .order_by(item_codes_table.c.allocated_at))).all()
            events = await load_stream(conn, item_id)
        if not rows:
            raise CodeNotFoundError(item_id=item_id)
        current = next((r.code for r in rows if r.status == "active"), None)
        return {"item_id": item_id, "code": current,
                "history": [{"code": r.code, "status": r.status, "allocated_at": r.allocated_at.isoformat(),
                             "retired_at": r.retired_at.isoformat() if r.retired_at else None,
                             "collided_with": r.collided_with} for r in rows],
                "events": [{"type": e.type, "version": e.version, "recorded_at": e.recorded_at.isoformat(),
                            "data": e.data} for e in events]}

    # ---- consumer ------------------------------------------------------------------------------------------------
    async def on_lifecycle_event(self, conn: AsyncConnection, event: CloudEvent) -> None:
        if event.type != contracts.LIFECYCLE_REGISTRATION_REQUESTED:
            return
        try:
            await self.allocate(conn, event.subject, event.data["elements"], metadata=EventMetadata(
                actor="coding", correlation_id=event.correlation_id, causation_id=event.id))
        except (CodeElementsInvalidError, CodeSpaceExhaustedError) as exc:
            # Retrying cannot help; the dead-letter topic keeps it for an operator (after the 简称 is fixed).
            raise PermanentError(f"{type(exc).__name__}: {exc.context}") from exc


def _parts_dict(parts: ItemCodeParts) -> dict[str, str]:
    return {"item_type": parts.item_type, "region_code": parts.region_code, "police_type": parts.police_type,
            "service_category": parts.service_category, "name_code": parts.name_code}
