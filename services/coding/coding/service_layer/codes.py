"""Item codes as the API reads them: decode a code (事项编码 or 事项服务编码) and say who holds it, preview the code
elements would get, and an item's codes with their history and lineage. Reads only, for the roles of
``roles.READ_ROLES``; the caller's region is checked against the code's, and a preview names the item holding a code
only within the caller's regions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Principal
from shared.dictionaries import Dictionaries
from shared.eventstore import load_stream

from coding.adapters import queries, store
from coding.adapters.tables import ACTIVE
from coding.domain.allocation import COLLISION_PREFIX_LENGTH, code_parts, lowest_free_code
from coding.domain.codes import (
    ITEM_CODE_LENGTH,
    NAME_CODE_LENGTH,
    SERVICE_CODE_LENGTH,
    ItemCodeParts,
    PinyinOverrides,
    compose_code,
    decode_code,
    decode_service_code,
    display_code,
    explain_letters,
)
from coding.domain.errors import CodeElementsInvalidError, CodeNotFoundError
from coding.service_layer.overrides import OverrideCatalog
from coding.service_layer.roles import READ_ROLES

_PART_LABELS = (("item_type", "事项类型编码"), ("region_code", "区划代码"), ("police_type", "业务警种编码"),
                ("service_category", "服务类别编码"), ("name_code", "事项名称编码"))


class ItemCodes:
    def __init__(self, engine: AsyncEngine, dictionaries: Dictionaries, catalog: OverrideCatalog,
                 clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.dictionaries = dictionaries
        self.catalog = catalog
        self.clock = clock

    # ---- decode and preview --------------------------------------------------------------------------------------
    def describe(self, code: str) -> dict[str, Any]:
        """Decode an item code into its parts with their labels (structure only; no database)."""
        return {"code": code, "display": display_code(code), "parts": self._labelled(decode_code(code))}

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

    async def preview(self, elements: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """The code these elements would get today, without allocating: parts, pinyin letters, and whether it
        collides (then also the code an allocation now would give). The item holding the code is named only when
        the code's region lies within the caller's: anyone may ask about any region's elements, and learns that a
        code is taken, never which item of another region took it."""
        principal.require_role(*READ_ROLES)
        async with self.engine.connect() as conn:
            overrides = (await self.catalog.refresh(conn)).overrides
            parts, letters, problems = code_parts(elements, self.dictionaries, overrides, on=self.clock().date())
            if parts is None:
                raise CodeElementsInvalidError(problems=[asdict(p) for p in problems])
            code = compose_code(parts)
            taken = await store.codes_taken(conn, [code[:COLLISION_PREFIX_LENGTH]])
        return {**self.describe(code), "pinyin_letters": letters, "name_code": parts.name_code,
                "name_reading": name_reading(elements["short_name"], overrides),
                "would_collide": code in taken,
                "held_by": taken.get(code) if principal.may_access_region(parts.region_code) else None,
                "code_if_allocated_now": lowest_free_code(code, taken),
                "overrides_version": overrides.dictionary_version}

    # ---- reads -----------------------------------------------------------------------------------------------------
    async def code_info(self, code: str, principal: Principal) -> dict[str, Any]:
        """Decode a code (24-character item code or 27-character service code) and say who holds it."""
        principal.require_role(*READ_ROLES)
        if len(code) == SERVICE_CODE_LENGTH:
            return await self._service_code_info(code, principal)
        info = self.describe(code)
        async with self.engine.connect() as conn:
            row = await queries.code_row(conn, code)
            if row is None:
                return {**info, "kind": "item", "status": "unallocated", "holder_item_id": None}
            principal.require_region(row.parts["region_code"])
            lineage = await queries.lineage(conn, row.item_id)
        return {**info, "kind": "item", **queries.code_view(row), "holder_item_id": row.item_id, "lineage": lineage}

    async def _service_code_info(self, code: str, principal: Principal) -> dict[str, Any]:
        parts, sequence = decode_service_code(code)
        item_code = code[:ITEM_CODE_LENGTH]
        info = {"code": code, "kind": "service", "display": f"{display_code(item_code)}-{sequence:03d}",
                "parts": [*self._labelled(parts), {"part": "service_sequence", "label": "事项服务序号",
                                                   "value": f"{sequence:03d}", "meaning": None}],
                "item_code": item_code}
        async with self.engine.connect() as conn:
            service = await queries.service_by_code(conn, code)
        if service is None:
            return {**info, "status": "unallocated", "holder_item_id": None, "service": None}
        principal.require_region(parts.region_code)
        return {**info, "status": service.status, "holder_item_id": service.item_id,
                "service": queries.service_view(service)}

    async def item_code(self, item_id: str, principal: Principal) -> dict[str, Any]:
        """The item's current code, every code it held (with why each ended), its lineage and its coding events."""
        principal.require_role(*READ_ROLES)
        async with self.engine.connect() as conn:
            rows = await queries.codes_of_item(conn, item_id)
            lineage = await queries.lineage(conn, item_id)
            # An item never coded may still have a lineage (a successor of a split): its region is the one it was
            # entered with.
            region = rows[-1].parts["region_code"] if rows else await queries.entered_region(conn, item_id)
            events = await load_stream(conn, item_id)
        if not rows and not (lineage["predecessors"] or lineage["successors"]):
            raise CodeNotFoundError(item_id=item_id)
        if region is None and not principal.nationwide:
            raise CodeNotFoundError(item_id=item_id)  # whose it is cannot be told: only nationwide callers see it
        if region is not None:
            principal.require_region(region)
        current = next((r for r in rows if r.status == ACTIVE), None)
        return {
            "item_id": item_id,
            "code": current.code if current else None,
            "status": "active" if current else ("retired" if rows else "uncoded"),
            "history": [{**queries.code_view(r), "display": display_code(r.code)} for r in rows],
            "lineage": lineage,
            "events": [{"type": e.type, "version": e.version, "recorded_at": e.recorded_at.isoformat(),
                        "actor": e.actor, "data": e.data} for e in events],
        }


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
