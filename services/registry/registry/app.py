"""Registry handlers: load → decide (pure domain) → write the revision event and the read-model row in one
transaction. Queries read the item streams (views, revisions, diffs) or the read model (lists, exports, reports)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.auth import Principal
from shared.cloudevents import CloudEvent
from shared.dictionaries import Dictionaries
from shared.errors import ConcurrencyConflictError
from shared.eventstore import EventMetadata, StoredEvent, load_stream
from shared.service import ServiceRuntime

from registry.adapters import store
from registry.adapters.tables import idempotency_keys_table, registry_item_phases_table, registry_items_table
from registry.domain.decisions import (
    NewItem,
    NewRevision,
    Refused,
    decide_revision,
    read_source_ref,
    source_ref_change_problems,
)
from registry.domain.elements import validate_elements
from registry.domain.errors import (
    ElementsInvalidError,
    ItemNotFoundError,
    MalformedRevisionError,
    RevisionNotFoundError,
    RevisionRequiredError,
    SourceRefTakenError,
)
from registry.domain.events import phase_after, revision_changed_fields
from registry.domain.revisions import FORMING, PHASE_LABELS, PUBLISHED_PHASES, changed_fields, diff
from registry.domain.structure import RelatedItems

WRITE_ROLES = ("entry",)
# Registry content includes drafts: the national platform reads published content through the sync feed only.
READ_ROLES = ("entry", "reviewer", "tester", "publisher", "operator")


class Registry:
    def __init__(self, runtime: ServiceRuntime, dictionaries: Dictionaries,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.runtime = runtime
        self.dictionaries = dictionaries
        self.now = now

    # ---- commands -----------------------------------------------------------------------------------------------
    async def create(self, principal: Principal, body: dict[str, Any], *, idempotency_key: str | None,
                     correlation_id: str) -> tuple[dict[str, Any], bool]:
        """Create a draft; returns (item view, created?). A repeated Idempotency-Key, or a source_ref already in the
        region with the same content, returns the existing item; the same source_ref with other content is a 409."""
        principal.require_role(*WRITE_ROLES)
        now = self.now()
        body = dict(body)
        source_ref, problems = read_source_ref(body.pop("source_ref", None))
        elements, element_problems = validate_elements(body, self.dictionaries, now.date())
        problems += element_problems
        if problems:
            raise ElementsInvalidError.of(problems)
        principal.require_region(elements["region_code"])
        item_id = str(uuid.uuid4())
        try:
            async with self.runtime.engine.begin() as conn:
                if idempotency_key and not await _claim(conn, principal.subject, idempotency_key, item_id, now):
                    existing = await conn.scalar(select(idempotency_keys_table.c.item_id).where(
                        idempotency_keys_table.c.subject == principal.subject,
                        idempotency_keys_table.c.key == idempotency_key))
                    return await self._view(conn, existing), False
                if source_ref is not None:
                    same = await self._same_source_ref(conn, elements["region_code"], source_ref, elements)
                    if same is not None:
                        return same, False
                related = await store.load_related(conn, item_id, elements)
                match decide_revision(None, elements, related, now=now):
                    case Refused() as refused:
                        raise refused.as_error()
                    case NewItem(at=at):
                        write = store.drafted(elements, author=principal.subject, source_ref=source_ref, now=at,
                                              item_id=item_id)
                        await store.write_items(conn, [write], EventMetadata(
                            actor=principal.subject, correlation_id=correlation_id, recorded_at=at))
                return await self._view(conn, item_id), True
        except IntegrityError:
            # A concurrent create took the same source_ref between our check and our insert.
            async with self.runtime.engine.connect() as conn:
                same = await self._same_source_ref(conn, elements["region_code"], source_ref or "", elements)
                if same is not None:
                    return same, False
            raise

    async def _same_source_ref(self, conn: AsyncConnection, region_code: str, source_ref: str,
                               elements: dict[str, Any]) -> dict[str, Any] | None:
        found = (await store.load_by_source_refs(conn, [(region_code, source_ref)])).get((region_code, source_ref))
        if found is None:
            return None
        if found.elements != elements:
            raise SourceRefTakenError(source_ref=source_ref, region_code=region_code, item_id=found.item_id)
        return await self._view(conn, found.item_id)

    async def revise(self, item_id: str, principal: Principal, body: dict[str, Any], *, if_match: str | None,
                     maintenance: bool, correlation_id: str) -> dict[str, Any]:
        """A new revision from the full element set. If-Match names the revision the caller edited."""
        principal.require_role(*WRITE_ROLES)
        expected = parse_if_match(if_match)
        now = self.now()
        async with self.runtime.engine.begin() as conn:
            current = await store.load_current(conn, item_id, for_update=True)
            if current is None or not principal.may_access_region(current.region_code):
                raise ItemNotFoundError(item_id=item_id)
            if expected != current.revision:
                raise ConcurrencyConflictError(stream_id=item_id, expected=expected, actual=current.revision)
            body = dict(body)
            problems = source_ref_change_problems(current.source_ref, body.pop("source_ref", current.source_ref))
            elements, element_problems = validate_elements(body, self.dictionaries, now.date())
            problems += element_problems
            related = (RelatedItems(item_id) if problems
                       else await store.load_related(conn, item_id, elements, before=current.elements))
            match decide_revision(current, elements, related, now=now, maintenance=maintenance, problems=problems,
                                  require_region=principal.require_region):
                case Refused() as refused:
                    raise refused.as_error()
                case NewRevision() as revision:
                    write = store.revised(current, elements, author=principal.subject,
                                          changed=revision.changed_fields, maintenance=revision.maintenance,
                                          pending=revision.pending, now=revision.at)
                    await store.write_items(conn, [write], EventMetadata(
                        actor=principal.subject, correlation_id=correlation_id, recorded_at=revision.at))
            return await self._view(conn, item_id)  # Unchanged: no new revision

    # ---- queries ------------------------------------------------------------------------------------------------
    async def get(self, item_id: str, principal: Principal) -> dict[str, Any]:
        principal.require_role(*READ_ROLES)
        async with self.runtime.engine.connect() as conn:
            view = await self._view(conn, item_id)
        if not principal.may_access_region(view["region_code"]):
            raise ItemNotFoundError(item_id=item_id)
        return view

    async def revisions(self, item_id: str, principal: Principal) -> list[dict[str, Any]]:
        return [_revision_summary(e) for e in await self._stream(item_id, principal)]

    async def revision(self, item_id: str, number: int, principal: Principal) -> dict[str, Any]:
        event = _revision(await self._stream(item_id, principal), number, item_id)
        return {**_revision_summary(event), "elements": event.data["elements"]}

    async def diff(self, item_id: str, principal: Principal, *, from_revision: int,
                   to_revision: int) -> dict[str, Any]:
        events = await self._stream(item_id, principal)
        before = _revision(events, from_revision, item_id).data["elements"]
        after = _revision(events, to_revision, item_id).data["elements"]
        return {"item_id": item_id, "from_revision": from_revision, "to_revision": to_revision,
                "changed_fields": changed_fields(before, after), "changes": diff(before, after)}

    async def _stream(self, item_id: str, principal: Principal) -> list[StoredEvent]:
        principal.require_role(*READ_ROLES)
        async with self.runtime.engine.connect() as conn:
            events = await load_stream(conn, item_id)
        if not events or not principal.may_access_region(events[-1].data["region_code"]):
            raise ItemNotFoundError(item_id=item_id)
        return events

    async def _view(self, conn: AsyncConnection, item_id: str) -> dict[str, Any]:
        events = await load_stream(conn, item_id)
        if not events:
            raise ItemNotFoundError(item_id=item_id)
        phase_row = (await conn.execute(select(registry_item_phases_table).where(
            registry_item_phases_table.c.item_id == item_id))).first()
        return item_view(events, phase_row.phase if phase_row else FORMING,
                         phase_row.published_revision if phase_row else None)

    # ---- lifecycle facts (consumer; runs inside the runner's tracking transaction) ------------------------------
    async def on_lifecycle_events(self, conn: AsyncConnection, events: list[CloudEvent]) -> dict[str, str]:
        """Follow each item's phase from the lifecycle's events, a fetched batch at a time (in order per item; an
        older lifecycle version never overwrites a newer one). Refuses, for good, events about an item the
        registry never had: the lifecycle only knows items the registry told it about."""
        item_ids = sorted({e.subject for e in events})
        known = set((await conn.execute(select(registry_items_table.c.item_id).where(
            registry_items_table.c.item_id.in_(item_ids)))).scalars())
        t = registry_item_phases_table
        rows = {r.item_id: r for r in await conn.execute(select(t).where(t.c.item_id.in_(item_ids)))}
        current: dict[str, tuple[str | None, int, int | None]] = {
            i: (r.phase, r.lifecycle_version, r.published_revision) for i, r in rows.items()}
        changed: set[str] = set()
        refused: dict[str, str] = {}
        for event in events:
            if event.subject not in known:
                refused[event.id] = f"登记服务中没有事项 {event.subject}（生命周期事件所指的事项从未录入）"
                continue
            phase, version, published = current.get(event.subject, (None, 0, None))
            if version >= event.sequence:
                continue  # an older event replayed after a newer one
            after = phase_after(phase, event.type, event.data)
            if after is None:
                continue
            new_phase, new_published = after
            current[event.subject] = (new_phase, event.sequence,
                                      new_published if new_published is not None else published)
            changed.add(event.subject)
        if changed:
            now = self.now()
            values = [{"item_id": i, "phase": current[i][0], "lifecycle_version": current[i][1],
                       "published_revision": current[i][2], "updated_at": now} for i in sorted(changed)]
            await conn.execute(_UPSERT_PHASES, values)
        return refused


_phases_insert = pg_insert(registry_item_phases_table)
# Newer lifecycle versions only: a redelivered older batch never moves an item's phase back.
_UPSERT_PHASES = _phases_insert.on_conflict_do_update(
    index_elements=["item_id"],
    set_={k: _phases_insert.excluded[k] for k in ("phase", "lifecycle_version", "published_revision", "updated_at")},
    where=registry_item_phases_table.c.lifecycle_version < _phases_insert.excluded.lifecycle_version)


async def _claim(conn: AsyncConnection, subject: str, key: str, item_id: str, now: datetime) -> bool:
    claimed = await conn.execute(
        pg_insert(idempotency_keys_table).values(subject=subject, key=key, item_id=item_id, created_at=now)
        .on_conflict_do_nothing().returning(idempotency_keys_table.c.item_id))
    return claimed.first() is not None


def parse_if_match(value: str | None) -> int:
    """``3``, ``"3"`` and ``W/"3"`` all name revision 3 (clients echo the ETag we send)."""
    if value is None or not value.strip():
        raise RevisionRequiredError()
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,9})"?\s*', value)
    if not match:
        raise MalformedRevisionError(value=value)
    return int(match[1])


def item_view(events: list[StoredEvent], phase: str, published_revision: int | None) -> dict[str, Any]:
    """The item as clients read it: the latest revision, its phase, and — once published — the published revision
    beside the pending one that waits for review (先审后用)."""
    first, last = events[0], events[-1]
    data = last.data
    view: dict[str, Any] = {
        "item_id": first.stream_id,
        "revision": data["revision"],
        "region_code": data["region_code"],
        "source_ref": data.get("source_ref"),
        "elements": data["elements"],
        "complete": data.get("complete"),
        "missing": data.get("missing"),
        "phase": phase,
        "phase_label": PHASE_LABELS.get(phase, phase),
        "author": first.actor,
        "created_at": first.recorded_at.isoformat(),
        "updated_by": last.actor,
        "updated_at": last.recorded_at.isoformat(),
        "published": None,
        "pending": None,
    }
    if published_revision is not None and published_revision <= len(events):
        published = events[published_revision - 1]
        view["published"] = {"revision": published_revision, "elements": published.data["elements"],
                             "at": published.recorded_at.isoformat()}
        if phase in PUBLISHED_PHASES and data["revision"] > published_revision:
            view["pending"] = {"revision": data["revision"], "elements": data["elements"],
                               "changed_fields": changed_fields(published.data["elements"], data["elements"]),
                               "maintenance": bool(data.get("maintenance"))}
    return view


def _revision_summary(event: StoredEvent) -> dict[str, Any]:
    d = event.data
    return {"revision": d["revision"], "type": event.type, "author": event.actor,
            "at": event.recorded_at.isoformat(), "changed_fields": revision_changed_fields(event.type, d),
            "maintenance": bool(d.get("maintenance")), "pending": bool(d.get("pending")),
            "complete": d.get("complete"), "import_job_id": d.get("import_job_id")}


def _revision(events: list[StoredEvent], number: int, item_id: str) -> StoredEvent:
    if not 1 <= number <= len(events):
        raise RevisionNotFoundError(item_id=item_id, revision=number, latest=len(events))
    return events[number - 1]

