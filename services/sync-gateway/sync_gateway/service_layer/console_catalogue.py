"""The operators' console's catalogue pages (use cases): the overview (总览), catalogue quality (事项质量) and the
item page (事项详情) with its search. Each checks the console role first (:func:`require_console`), then reads the
other services through their APIs with the caller's own token (``ServiceClients``: each service applies its own role
and region rules, so nothing outside the caller's regions comes back), concurrently, and the gateway's own feed and
national feedback limited to the caller's regions. The shapes are the console's HTTP contract (docs/architecture.md,
"The operators' console: catalogue pages")."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Principal
from shared.chain_routes import chain_view
from shared.contracts import PHASE_LABELS
from shared.dictionaries import load_dictionaries
from shared.eventstore import load_stream, verify_chain

from sync_gateway.adapters import queries
from sync_gateway.adapters.services import SERVICE_LABELS, ServiceClients
from sync_gateway.domain.errors import UpstreamNotFoundError
from sync_gateway.service_layer.console_access import require_console
from sync_gateway.service_layer.feed import region_filter

T = TypeVar("T")

SEARCH_LIMIT = 50  # items one search returns
VERIFIED_BY = ("registry", "coding", "lifecycle", "sync")  # the services keeping a stream of an item, in flow order
REVISIONS_DIFFED = 50  # the latest revisions whose field-level changes the item page shows
# What an item id looks like (the suite's are UUIDs; an import may bring others): a search for one asks for it.
_ITEM_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z._:-]{7,199}")
# A national code (基本编码, 实施编码): digits and capitals, as the national platform prints them.
_NATIONAL_CODE = re.compile(r"[0-9A-Z]{8,64}")


@dataclass(frozen=True)
class Caller:
    """Who asks, and what the console forwards to the other services on their behalf."""

    principal: Principal
    authorization: str
    correlation_id: str | None


class ConsoleCatalogue:
    def __init__(self, engine: AsyncEngine, services: ServiceClients) -> None:
        self.engine = engine
        self.services = services

    async def _get(self, caller: Caller, service: str, path: str, **params: Any) -> Any:
        return await self.services.get_json(service, path, authorization=caller.authorization,
                                            correlation_id=caller.correlation_id, params=params)

    # ---- 总览 ----------------------------------------------------------------------------------------------------
    async def overview(self, caller: Caller, *, region: str | None) -> dict[str, Any]:
        """The lifecycle's statistics for the caller (its own figures, unchanged) and the imports running in the
        caller's regions."""
        require_console(caller.principal)
        stats, jobs = await asyncio.gather(
            self._get(caller, "lifecycle", "/lifecycle/v1/stats", region=region),
            self._get(caller, "registry", "/registry/v1/imports", status="running", limit=100, errors_limit=1))
        return {**stats, "imports_running": [
            {"id": j["job_id"], "filename": j["filename"], "started_by": j["started_by"],
             "started_at": j["started_at"] or j["created_at"], "rows_done": j["rows_processed"],
             "rows_total": j["rows_total"], "status": j["status"], "status_label": j["status_label"]}
            for j in jobs["jobs"]]}

    # ---- 事项质量 ------------------------------------------------------------------------------------------------
    async def quality(self, caller: Caller, *, region: str | None, limit: int) -> dict[str, Any]:
        """The registry's 完备度 and 覆盖度 (GET /registry/v1/quality) and its consistency report (准确度)."""
        require_console(caller.principal)
        quality, consistency = await asyncio.gather(
            self._get(caller, "registry", "/registry/v1/quality", region=region, limit=limit),
            self._get(caller, "registry", "/registry/v1/consistency", region=region))
        return {"completeness": quality["completeness"], "coverage": quality["coverage"], "consistency": consistency}

    # ---- 事项查找 ------------------------------------------------------------------------------------------------
    async def search(self, caller: Caller, q: str) -> dict[str, Any]:
        """Items by 事项编码 (full or prefix, hyphens allowed) or name (substring) from the lifecycle's list, by
        national code (基本编码 / 实施编码) from the registry's, or by id; each once, in that order."""
        require_console(caller.principal)
        q = q.strip()
        if not q:
            return {"items": []}
        by_id = self._by_id(caller, q) if _ITEM_ID.fullmatch(q) else _nothing()
        by_national = self._by_national_code(caller, q) if _NATIONAL_CODE.fullmatch(q) else _nothing()
        listed, by_id_items, national_items = await asyncio.gather(
            self._get(caller, "lifecycle", "/lifecycle/v1/items", q=q, limit=SEARCH_LIMIT), by_id, by_national)
        found: dict[str, dict[str, Any]] = {}
        for item in [*by_id_items, *[_found(r) for r in listed["items"]], *national_items]:
            found.setdefault(item["item_id"], item)
        return {"items": list(found.values())[:SEARCH_LIMIT]}

    async def _by_id(self, caller: Caller, item_id: str) -> list[dict[str, Any]]:
        item = await _or_none(self._get(caller, "registry", f"/registry/v1/items/{quote(item_id, safe='')}"))
        return [] if item is None else [await self._with_code(caller, _registry_found(item))]

    async def _by_national_code(self, caller: Caller, code: str) -> list[dict[str, Any]]:
        page = await self._get(caller, "registry", "/registry/v1/items", national_code=code, limit=SEARCH_LIMIT)
        return list(await asyncio.gather(*(self._with_code(caller, _registry_found(r)) for r in page["items"])))

    async def _with_code(self, caller: Caller, item: dict[str, Any]) -> dict[str, Any]:
        """The registry knows content, the lifecycle the code and the phase."""
        state = await _or_none(self._get(caller, "lifecycle", f"/lifecycle/v1/items/{quote(item['item_id'], safe='')}"))
        if state is None:
            return item
        return {**item, "code": state["code"], "phase": state["phase"], "phase_label": state["phase_label"]}

    # ---- 事项详情 ------------------------------------------------------------------------------------------------
    async def item(self, caller: Caller, item_id: str, *, as_of: datetime | None) -> dict[str, Any]:
        """The item across the services: its lifecycle state (as of a time), its revisions with field-level
        changes, its code history and lineage, its feed entries and national answers, and the hash-chain checks. An
        item the lifecycle does not show the caller (another region, or none) is 404, as there."""
        require_console(caller.principal)
        path = f"/items/{quote(item_id, safe='')}"  # a path segment, whatever the caller typed
        regions = region_filter(caller.principal)
        answers = await asyncio.gather(
            self._get(caller, "lifecycle", f"/lifecycle/v1{path}",
                      as_of=as_of.isoformat() if as_of is not None else None),
            _or_none(self._revisions(caller, item_id)),
            _or_none(self._get(caller, "coding", f"/coding/v1{path}/code")),
            queries.feed_entries_of_item(self.engine, item_id, regions=regions),
            queries.feedback_for_item(self.engine, item_id, regions=regions),
            # each service that keeps a stream of the item checks its chain (a 404: it keeps none)
            *(_or_none(self._get(caller, service, f"/{service}/v1{path}/verify"))
              for service in ("registry", "coding", "lifecycle")),
            self._own_chain(caller.principal, item_id), return_exceptions=True)
        # The lifecycle's answer decides whether the caller may see the item at all (its 404 for another region),
        # whichever answer came first: another service refusing the region (403) must not speak for it.
        if failed := [answer for answer in answers if isinstance(answer, BaseException)]:
            raise answers[0] if isinstance(answers[0], BaseException) else failed[0]
        state, revisions, codes, feed, feedback, *chains = cast("list[Any]", answers)
        verification = [{"service": service, "label": SERVICE_LABELS[service], "ok": chain["verified"],
                         "events": chain["events"], "detail": chain["reason"] or chain["verified_label"],
                         "algorithms": chain["hash_algorithms"]}
                        for service, chain in zip(VERIFIED_BY, chains, strict=True) if chain is not None]
        return {"item_id": item_id, "state": state, "revisions": revisions or [], "codes": codes,
                "feed": feed, "national_feedback": feedback, "verification": verification}

    async def _own_chain(self, principal: Principal, item_id: str) -> dict[str, Any] | None:
        """The gateway's own stream of the item (its national answers), as ``GET /sync/v1/items/{id}/verify``
        answers it; None when it keeps none the caller may see."""
        async with self.engine.connect() as conn:
            region = await queries.item_region(conn, item_id)
            if region is None or not principal.may_access_region(region):
                return None
            events = await load_stream(conn, item_id)
        return chain_view(item_id, verify_chain(events))

    async def _revisions(self, caller: Caller, item_id: str) -> list[dict[str, Any]]:
        """Each revision with what it changed against the one before (the registry's diff); the first has no
        changes (it is the item's creation), and only the latest REVISIONS_DIFFED are diffed."""
        path = f"/registry/v1/items/{quote(item_id, safe='')}"
        summaries = await self._get(caller, "registry", f"{path}/revisions")
        diffed = [s["revision"] for s in summaries if s["revision"] > 1][-REVISIONS_DIFFED:]
        diffs = await asyncio.gather(*(self._get(caller, "registry", f"{path}/diff", **{"from": n - 1, "to": n})
                                       for n in diffed))
        changes = {n: d["changes"] for n, d in zip(diffed, diffs, strict=True)}
        return [{"revision": s["revision"], "at": s["at"], "author": s["author"], "type": s["type"],
                 "maintenance": s["maintenance"], "pending": s["pending"], "complete": s["complete"],
                 "changed_fields": s["changed_fields"],
                 "changes": [{"path": c["field"], "label": c["label"], "change": c["change"], "before": c["before"],
                              "after": c["after"]} for c in changes.get(s["revision"], [])]}
                for s in summaries]


async def _nothing() -> list[dict[str, Any]]:
    return []


async def _or_none(call: Awaitable[T]) -> T | None:
    """What another service answers, or None where it knows no such thing (404)."""
    try:
        return await call
    except UpstreamNotFoundError:
        return None


def _region_name(code: str | None) -> str | None:
    entry = load_dictionaries().regions.get(code) if code else None
    return entry.label if entry else None


def _found(row: dict[str, Any]) -> dict[str, Any]:
    """A search result from a lifecycle list row."""
    phase = row.get("phase")
    return {"item_id": row["item_id"], "name": row.get("name"), "code": row.get("code"), "phase": phase,
            "phase_label": PHASE_LABELS.get(phase) if phase else None, "region_code": row.get("region_code"),
            "region_name": _region_name(row.get("region_code"))}


def _registry_found(item: dict[str, Any]) -> dict[str, Any]:
    """A search result from the registry (an item or a list row): its name, region and phase; no code."""
    name = item["elements"]["name"] if "elements" in item else item.get("name")
    return {"item_id": item["item_id"], "name": name, "code": None, "phase": item.get("phase"),
            "phase_label": item.get("phase_label"), "region_code": item.get("region_code"),
            "region_name": _region_name(item.get("region_code"))}
