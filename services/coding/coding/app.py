"""The coding service's handlers: preview and decode (reads), the lifecycle consumer (allocation, re-coding,
retirement, lineage), 事项服务编码 and the pinyin override administration. Each write is one transaction that
updates the tables and appends the events saying so (see ``coding.allocation`` for the allocation rules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shared import contracts
from shared.auth import Principal
from shared.cloudevents import CloudEvent
from shared.dictionaries import Dictionaries, DictionaryError
from shared.errors import DomainError
from shared.eventstore import EventMetadata, load_stream
from shared.service import ServiceRuntime

from coding import item_services
from coding.allocation import (
    CodeAllocator,
    CodeElementsInvalidError,
    RegistrationRequest,
    codes_taken,
)
from coding.domain.allocation import (
    COLLISION_PREFIX_LENGTH,
    cancellation_retirement,
    code_parts,
    lineage_retirement,
    lowest_free_code,
)
from coding.domain.codes import (
    ITEM_CODE_LENGTH,
    NAME_CODE_LENGTH,
    SERVICE_CODE_LENGTH,
    ItemCodeParts,
    MalformedCodeError,
    PinyinOverrides,
    compose_code,
    decode_code,
    decode_service_code,
    display_code,
    explain_letters,
)
from coding.domain.dictionary_views import (
    DictionaryQuery,
    DictionaryQueryError,
    catalogue,
    query_dictionary,
    region_detail,
)
from coding.overrides import OverrideCatalog, OverrideChange
from coding.tables import ACTIVE, item_codes_table, item_lineage_table, known_items_table

_PART_LABELS = (("item_type", "事项类型编码"), ("region_code", "区划代码"), ("police_type", "业务警种编码"),
                ("service_category", "服务类别编码"), ("name_code", "事项名称编码"))

# The code each item holds now, or else the last it held: how lineage shows the codes of related items.
_LATEST_CODES_SQL = text("""
SELECT DISTINCT ON (item_id) item_id, code, status FROM item_codes WHERE item_id = ANY(CAST(:ids AS text[]))
ORDER BY item_id, status = 'active' DESC, allocated_at DESC
""")


class CodeMalformedError(DomainError):
    """A code given to decode is not of the right shape; ``part`` names the bad part."""


class CodeNotFoundError(DomainError):
    """The item has never held a code."""


class DictionaryNotFoundError(DomainError):
    """Unknown dictionary name."""


class DictionaryEntryNotFoundError(DomainError):
    """Unknown code in a dictionary (e.g. a region)."""


class DictionaryQueryInvalidError(DomainError):
    """A dictionary query parameter the table cannot answer."""


class CodingService:
    def __init__(self, runtime: ServiceRuntime, dictionaries: Dictionaries, catalog: OverrideCatalog,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.runtime = runtime
        self.dictionaries = dictionaries
        self.catalog = catalog
        self.clock = clock
        self.allocator = CodeAllocator(dictionaries, catalog, clock)

    async def start(self) -> None:
        """Every process loads the override dictionary at start-up (and refreshes it before each computation)."""
        await self.catalog.load(self.runtime.engine)

    # ---- decode and preview --------------------------------------------------------------------------------------
    def describe(self, code: str) -> dict[str, Any]:
        """Decode an item code into its parts with their labels (structure only; no database)."""
        try:
            parts = decode_code(code)
        except MalformedCodeError as exc:
            raise CodeMalformedError(code=code, part=exc.part, reason=exc.message) from exc
        return {"code": code, "display": display_code(code), "parts": self._labelled(parts)}

    def _labelled(self, parts: ItemCodeParts) -> list[dict[str, Any]]:
        tables = {"item_type": self.dictionaries.item_types, "region_code": self.dictionaries.regions,
                  "police_type": self.dictionaries.police_types,
                  "service_category": self.dictionaries.service_categories}
        labelled = []
        for part, label in _PART_LABELS:
            value = getattr(parts, part)
            entry = tables[part].get(value) if part in tables else None
            labelled.append({"part": part, "label": label, "value": value,
                             "meaning": entry.label if entry else None})
        return labelled

    async def preview(self, elements: dict[str, Any]) -> dict[str, Any]:
        """The code these elements would get today, without allocating: parts, pinyin letters, and whether it
        collides (then also the code an allocation now would give)."""
        async with self.runtime.engine.connect() as conn:
            overrides = (await self.catalog.refresh(conn)).overrides
            parts, letters, problems = code_parts(elements, self.dictionaries, overrides, on=self.clock().date())
            if parts is None:
                raise CodeElementsInvalidError(problems=[asdict(p) for p in problems])
            code = compose_code(parts)
            taken = await codes_taken(conn, [code[:COLLISION_PREFIX_LENGTH]])
        return {**self.describe(code), "pinyin_letters": letters, "name_code": parts.name_code,
                "name_reading": name_reading(elements["short_name"], overrides),
                "would_collide": code in taken, "held_by": taken.get(code),
                "code_if_allocated_now": lowest_free_code(code, taken),
                "overrides_version": overrides.dictionary_version}

    # ---- reads -----------------------------------------------------------------------------------------------------
    async def code_info(self, code: str, principal: Principal) -> dict[str, Any]:
        """Decode a code (24-character item code or 27-character service code) and say who holds it."""
        if len(code) == SERVICE_CODE_LENGTH:
            return await self._service_code_info(code, principal)
        info = self.describe(code)
        async with self.runtime.engine.connect() as conn:
            row = (await conn.execute(select(item_codes_table).where(item_codes_table.c.code == code))).first()
            if row is None:
                return {**info, "kind": "item", "status": "unallocated", "holder_item_id": None}
            principal.require_region(row.parts["region_code"])
            lineage = await self._lineage(conn, row.item_id)
        return {**info, "kind": "item", **_code_row(row), "holder_item_id": row.item_id, "lineage": lineage}

    async def _service_code_info(self, code: str, principal: Principal) -> dict[str, Any]:
        try:
            parts, sequence = decode_service_code(code)
        except MalformedCodeError as exc:
            raise CodeMalformedError(code=code, part=exc.part, reason=exc.message) from exc
        item_code = code[:ITEM_CODE_LENGTH]
        info = {"code": code, "kind": "service", "display": f"{display_code(item_code)}-{sequence:03d}",
                "parts": [*self._labelled(parts), {"part": "service_sequence", "label": "事项服务序号",
                                                   "value": f"{sequence:03d}", "meaning": None}],
                "item_code": item_code}
        async with self.runtime.engine.connect() as conn:
            service = await item_services.service_by_code(conn, code)
        if service is None:
            return {**info, "status": "unallocated", "holder_item_id": None, "service": None}
        principal.require_region(parts.region_code)
        return {**info, "status": service.status, "holder_item_id": service.item_id,
                "service": item_services.service_view(service)}

    async def item_code(self, item_id: str, principal: Principal) -> dict[str, Any]:
        """The item's current code, every code it held (with why each ended), its lineage and its coding events."""
        async with self.runtime.engine.connect() as conn:
            rows = (await conn.execute(select(item_codes_table).where(item_codes_table.c.item_id == item_id)
                                       .order_by(item_codes_table.c.allocated_at))).all()
            lineage = await self._lineage(conn, item_id)
            events = await load_stream(conn, item_id)
        if not rows and not (lineage["predecessors"] or lineage["successors"]):
            raise CodeNotFoundError(item_id=item_id)
        if rows:
            principal.require_region(rows[-1].parts["region_code"])
        current = next((r for r in rows if r.status == ACTIVE), None)
        return {
            "item_id": item_id,
            "code": current.code if current else None,
            "status": "active" if current else ("retired" if rows else "uncoded"),
            "history": [{**_code_row(r), "display": display_code(r.code)} for r in rows],
            "lineage": lineage,
            "events": [{"type": e.type, "version": e.version, "recorded_at": e.recorded_at.isoformat(),
                        "actor": e.actor, "data": e.data} for e in events],
        }

    async def _lineage(self, conn: AsyncConnection, item_id: str) -> dict[str, list[dict[str, Any]]]:
        """Predecessors and successors of a split or merge, with their codes resolved now (a successor may have
        been coded after the lineage was recorded, or not yet)."""
        links = (await conn.execute(select(item_lineage_table).where(or_(
            item_lineage_table.c.predecessor == item_id, item_lineage_table.c.successor == item_id))
            .order_by(item_lineage_table.c.recorded_at, item_lineage_table.c.predecessor,
                      item_lineage_table.c.successor))).all()
        related = sorted(({link.predecessor for link in links} | {link.successor for link in links}) - {item_id})
        codes = {r.item_id: r for r in (await conn.execute(_LATEST_CODES_SQL, {"ids": related})).all()} \
            if related else {}

        def side(other: str, link: Any) -> dict[str, Any]:
            held = codes.get(other)
            return {"item_id": other, "kind": link.kind, "reason": link.reason,
                    "recorded_at": link.recorded_at.isoformat(),
                    "code": held.code if held else None, "code_status": held.status if held else "uncoded"}

        return {"predecessors": [side(link.predecessor, link) for link in links
                                 if link.successor == item_id and link.predecessor != item_id],
                "successors": [side(link.successor, link) for link in links
                               if link.predecessor == item_id and link.successor != item_id]}

    # ---- the lifecycle consumer ------------------------------------------------------------------------------------
    async def on_lifecycle_events(self, conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
        """A fetched batch of lifecycle events, in order, in the consumer's transaction: an item entering (coding
        notes that it exists), registrations (allocate or re-code; consecutive ones together, one round of
        statements and one append for all), cancellations (retire) and split / merge lineage. Refuses, for good,
        events about an item the lifecycle never said exists, and registrations that cannot be coded (an unknown or
        expired table value, nothing codable in the 简称): the others go ahead."""
        entered = [e for e in events if e.type == contracts.LIFECYCLE_ENTERED]
        if entered:
            await conn.execute(pg_insert(known_items_table).values([
                {"item_id": e.subject, "region_code": e.data["region_code"], "entered_at": e.time} for e in entered
            ]).on_conflict_do_nothing())
        others = [e for e in events if e.type != contracts.LIFECYCLE_ENTERED]
        if not others:
            return {}
        known = await _known_items(conn, {e.subject for e in others})
        refused: dict[str, str] = {}
        registrations: list[CloudEvent] = []

        async def allocate() -> None:
            if registrations:
                requests = [RegistrationRequest(e.subject, e.data["elements"], _metadata_of(e)) for e in registrations]
                for event, result in zip(registrations, await self.allocator.register(conn, requests), strict=True):
                    if isinstance(result, DomainError):
                        refused[event.id] = f"无法赋码：{type(result).__name__} {result.context}"
                registrations.clear()

        for event in others:
            if event.subject not in known:
                refused[event.id] = f"编码服务从未收到事项 {event.subject} 的录入事件（lifecycle.item.entered），不予处理"
            elif event.type == contracts.LIFECYCLE_REGISTRATION_REQUESTED:
                registrations.append(event)
            else:
                await allocate()  # in order: a registration before a cancellation of the same item comes first
                if event.type == contracts.LIFECYCLE_CANCELLED:
                    await self._on_cancelled(conn, event, _metadata_of(event))
                else:
                    await self._on_lineage_recorded(conn, event, _metadata_of(event))
        await allocate()
        return refused

    async def _on_cancelled(self, conn: AsyncConnection, event: CloudEvent, metadata: EventMetadata) -> None:
        successors = [str(s) for s in event.data.get("successors") or []]
        await self.allocator.retire(conn, event.subject, cancellation_retirement(successors), metadata,
                                    replaced_by=await self._sole_successor_code(conn, successors))

    async def _sole_successor_code(self, conn: AsyncConnection, successors: list[str]) -> str | None:
        """A merge's (or a 1:1 split's) successor code, if it is coded already; else the link is made when read."""
        if len(successors) != 1:
            return None
        code = await conn.scalar(select(item_codes_table.c.code).where(
            item_codes_table.c.item_id == successors[0], item_codes_table.c.status == ACTIVE))
        return str(code) if code else None

    async def _on_lineage_recorded(self, conn: AsyncConnection, event: CloudEvent, metadata: EventMetadata) -> None:
        data = event.data  # its shape is the contract's (checked by the consumer runner)
        kind, predecessors, successors = data["kind"], data["predecessors"], data["successors"]
        links = [{"predecessor": p, "successor": s, "kind": kind, "reason": data.get("reason"),
                  "recorded_at": event.time or self.clock()}
                 for p in predecessors for s in successors if p != s]
        if links:  # the event is on every involved item's stream: the first to arrive records the links
            await conn.execute(pg_insert(item_lineage_table).values(links).on_conflict_do_nothing())
        reason = lineage_retirement(event.subject, kind, predecessors, successors)
        if reason is None:
            return
        await self.allocator.retire(conn, event.subject, reason, metadata,
                                    replaced_by=await self._sole_successor_code(conn, successors))

    # ---- 事项服务编码 ----------------------------------------------------------------------------------------------
    async def _require_item_region(self, item_id: str, principal: Principal) -> None:
        region = await item_services.item_region(self.runtime.engine, item_id)
        if region is None:
            raise item_services.ItemNotCodedError(item_id=item_id)
        principal.require_region(region)

    async def allocate_service(self, item_id: str, name: str, principal: Principal,
                               correlation_id: str) -> item_services.ServiceOutcome:
        principal.require_role("publisher")
        await self._require_item_region(item_id, principal)
        return await item_services.allocate_service(
            self.runtime.engine, item_id, name, EventMetadata(actor=principal.subject, correlation_id=correlation_id),
            self.clock())

    async def withdraw_service(self, item_id: str, sequence: int, reason: str, principal: Principal,
                               correlation_id: str) -> dict[str, Any]:
        principal.require_role("publisher")
        await self._require_item_region(item_id, principal)
        return await item_services.withdraw_service(
            self.runtime.engine, item_id, sequence, reason,
            EventMetadata(actor=principal.subject, correlation_id=correlation_id), self.clock())

    async def services(self, item_id: str, principal: Principal) -> dict[str, Any]:
        await self._require_item_region(item_id, principal)
        return {"item_id": item_id, "services": await item_services.list_services(self.runtime.engine, item_id)}

    # ---- pinyin overrides (admin) ----------------------------------------------------------------------------------
    async def overrides(self, principal: Principal) -> dict[str, Any]:
        _require_admin(principal)
        return await self.catalog.describe(self.runtime.engine)

    async def set_override(self, phrase: str, letters: str, reason: str, principal: Principal,
                           correlation_id: str) -> OverrideChange:
        _require_admin(principal)
        return await self.catalog.set_phrase(self.runtime.engine, phrase, letters, reason,
                                             EventMetadata(actor=principal.subject, correlation_id=correlation_id))

    async def remove_override(self, phrase: str, reason: str, principal: Principal,
                              correlation_id: str) -> OverrideChange:
        _require_admin(principal)
        return await self.catalog.remove_phrase(self.runtime.engine, phrase, reason,
                                                EventMetadata(actor=principal.subject, correlation_id=correlation_id))

    # ---- dictionaries ----------------------------------------------------------------------------------------------
    def dictionary_catalogue(self) -> dict[str, Any]:
        return catalogue(self.dictionaries)

    def dictionary(self, name: str, query: DictionaryQuery) -> dict[str, Any]:
        try:
            table = self.dictionaries.by_name(name)
        except KeyError as exc:
            raise DictionaryNotFoundError(name=name, available="、".join(self.dictionaries.names)) from exc
        try:
            return query_dictionary(table, query)
        except DictionaryQueryError as exc:
            raise DictionaryQueryInvalidError(parameter=exc.parameter, reason=exc.message) from exc
        except DictionaryError as exc:  # an unknown parent region
            raise DictionaryEntryNotFoundError(dictionary=name, code=query.parent, reason=exc.message) from exc

    def region(self, code: str, valid_on: date | None) -> dict[str, Any]:
        try:
            return region_detail(self.dictionaries.regions, code, valid_on)
        except DictionaryQueryError as exc:
            raise DictionaryQueryInvalidError(parameter=exc.parameter, reason=exc.message) from exc
        except DictionaryError as exc:
            raise DictionaryEntryNotFoundError(dictionary="regions", code=code, reason=exc.message) from exc


def name_reading(short_name: str, overrides: PinyinOverrides) -> list[dict[str, Any]]:
    """How the 简称 was read, letter by letter: which part of it gave each letter and by which rule (拼音修正词典,
    地名读音表 with the place it names, pypinyin's phrase dictionary, a single character, Latin letters kept), and
    whether the letter is within the 12 the name code keeps; dropped text is listed too, with no letter."""
    out: list[dict[str, Any]] = []
    position = 0
    for piece in explain_letters(short_name, overrides):
        detail: dict[str, Any] = {}
        if piece.place is not None:
            place = piece.place
            detail = {"place": {"code": place.code, "name": place.name, "reading": place.reading,
                                "source": place.source, "current": place.current}}
        elif piece.rule == "override":
            detail = {"reason": overrides.reasons.get(piece.text)}
        if not piece.letters:
            out.append({"text": piece.text, "letter": None, "position": None, "in_code": False, "rule": piece.rule,
                        "rule_label": piece.rule_label, **detail})
        for index, letter in enumerate(piece.letters):
            out.append({"text": piece.text[index] if len(piece.text) == len(piece.letters) else piece.text,
                        "letter": letter, "position": position + 1, "in_code": position < NAME_CODE_LENGTH,
                        "rule": piece.rule, "rule_label": piece.rule_label, "piece": piece.text, **detail})
            position += 1
    return out


def _require_admin(principal: Principal) -> None:
    # Only the admin role: require_role("admin") passes admins only (admin holds every role, nobody else holds admin).
    principal.require_role("admin")


def _code_row(row: Any) -> dict[str, Any]:
    """What is known about one allocated code (its parts are shown labelled by the caller, or not at all)."""
    return {"code": row.code, "status": row.status, "base_code": row.base_code, "collided_with": row.collided_with,
            "pinyin_letters": row.pinyin_letters, "overrides_version": row.overrides_version,
            "allocated_at": row.allocated_at.isoformat(), "replaces": row.replaces,
            "retired_at": row.retired_at.isoformat() if row.retired_at else None,
            "retire_reason": row.retire_reason, "replaced_by": row.replaced_by}


def _metadata_of(event: CloudEvent) -> EventMetadata:
    """Coding's events caused by a lifecycle event: actor coding, same correlation, caused by that event."""
    return EventMetadata(actor="coding", correlation_id=event.correlation_id, causation_id=event.id)


async def _known_items(conn: AsyncConnection, item_ids: set[str]) -> set[str]:
    """Which of these items coding knows: entered (the lifecycle said so), or holding a code already."""
    rows = await conn.execute(_KNOWN_SQL, {"ids": sorted(item_ids)})
    return set(rows.scalars())


_KNOWN_SQL = text("""
SELECT item_id FROM coding_known_items WHERE item_id = ANY(CAST(:ids AS text[]))
UNION SELECT item_id FROM item_codes WHERE item_id = ANY(CAST(:ids AS text[]))""")
