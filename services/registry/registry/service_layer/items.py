"""Item commands and reads (service layer). A command loads what it needs, takes one pure decision
(registry/domain/decisions.py) and writes the revision's event and read-model row in one transaction; a read goes
through registry/adapters/queries.py. Role and region checks are made here, never in the routes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.auth import Principal
from shared.dictionaries import Dictionaries
from shared.errors import ConcurrencyConflictError
from shared.eventstore import EventMetadata, StoredEvent
from shared.service import ServiceRuntime

from registry.adapters import queries, store
from registry.domain.decisions import (
    CHANGE_PATH_LABELS,
    NewItem,
    NewRevision,
    Refused,
    change_path,
    decide_revision,
    maintenance_hint,
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
from registry.domain.revisions import changed_fields, diff
from registry.domain.structure import RelatedItems
from registry.service_layer.roles import READ_ROLES, WRITE_ROLES


class Registry:
    """The registry's item commands (create, revise) and reads (an item, its revisions and their diffs, lists,
    the consistency report)."""

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
                if idempotency_key and not await store.claim_idempotency_key(
                        conn, principal.subject, idempotency_key, item_id, now):
                    existing = await store.item_of_idempotency_key(conn, principal.subject, idempotency_key)
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
        """A new revision from the full element set. If-Match names the revision the caller edited. The answer is the
        item's view with the path the change took (``path``, ``path_label``) and, for a change that could have been a
        维护 but was not asked as one, a ``hint`` saying so."""
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
            decision = decide_revision(current, elements, related, now=now, maintenance=maintenance,
                                       problems=problems, require_region=principal.require_region)
            match decision:
                case Refused() as refused:
                    raise refused.as_error()
                case NewRevision() as revision:
                    write = store.revised(current, elements, author=principal.subject,
                                          changed=revision.changed_fields, maintenance=revision.maintenance,
                                          pending=revision.pending, now=revision.at)
                    await store.write_items(conn, [write], EventMetadata(
                        actor=principal.subject, correlation_id=correlation_id, recorded_at=revision.at))
            path = change_path(decision, current.phase)
            view = await self._view(conn, item_id)  # Unchanged: no new revision
        return {**view, "path": path.value, "path_label": CHANGE_PATH_LABELS[path],
                "hint": maintenance_hint(current.elements, elements, phase=current.phase, path=path)}

    # ---- reads --------------------------------------------------------------------------------------------------
    async def get(self, item_id: str, principal: Principal) -> dict[str, Any]:
        principal.require_role(*READ_ROLES)
        async with self.runtime.engine.connect() as conn:
            view = await self._view(conn, item_id)
        if not principal.may_access_region(view["region_code"]):
            raise ItemNotFoundError(item_id=item_id)
        return view

    async def revisions(self, item_id: str, principal: Principal) -> list[dict[str, Any]]:
        return [queries.revision_summary(e) for e in await self._stream(item_id, principal)]

    async def revision(self, item_id: str, number: int, principal: Principal) -> dict[str, Any]:
        event = _revision(await self._stream(item_id, principal), number, item_id)
        return {**queries.revision_summary(event), "elements": event.data["elements"]}

    async def diff(self, item_id: str, principal: Principal, *, from_revision: int,
                   to_revision: int) -> dict[str, Any]:
        events = await self._stream(item_id, principal)
        before = _revision(events, from_revision, item_id).data["elements"]
        after = _revision(events, to_revision, item_id).data["elements"]
        return {"item_id": item_id, "from_revision": from_revision, "to_revision": to_revision,
                "changed_fields": changed_fields(before, after), "changes": diff(before, after)}

    async def list_items(self, principal: Principal, filters: queries.ItemFilter, *, cursor: str | None,
                         limit: int) -> dict[str, Any]:
        """A page of the items the filter selects in the caller's regions, and the cursor of the next."""
        principal.require_role(*READ_ROLES)
        return await queries.list_items(self.runtime.engine, principal, filters, cursor=cursor, limit=limit)

    async def consistency(self, principal: Principal, *, region: str | None, limit: int) -> dict[str, Any]:
        """Records of the same item whose names or types differ (see queries.consistency_report)."""
        principal.require_role(*READ_ROLES)
        return await queries.consistency_report(self.runtime.engine, principal, self.dictionaries, region=region,
                                                limit=limit)

    async def quality(self, principal: Principal, *, region: str | None, cap: int) -> dict[str, Any]:
        """完备度 and 覆盖度 of the items in the caller's regions (see registry/domain/quality.py)."""
        principal.require_role(*READ_ROLES)
        return await queries.quality_report(self.runtime.engine, principal, self.dictionaries, region=region,
                                            cap=cap, today=self.now().date())

    async def _stream(self, item_id: str, principal: Principal) -> list[StoredEvent]:
        principal.require_role(*READ_ROLES)
        async with self.runtime.engine.connect() as conn:
            events = await queries.item_events(conn, item_id)
        if not events or not principal.may_access_region(events[-1].data["region_code"]):
            raise ItemNotFoundError(item_id=item_id)
        return events

    async def _view(self, conn: AsyncConnection, item_id: str) -> dict[str, Any]:
        view = await queries.item_view(conn, item_id)
        if view is None:
            raise ItemNotFoundError(item_id=item_id)
        return view


def parse_if_match(value: str | None) -> int:
    """``3``, ``"3"`` and ``W/"3"`` all name revision 3 (clients echo the ETag we send)."""
    if value is None or not value.strip():
        raise RevisionRequiredError()
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,9})"?\s*', value)
    if not match:
        raise MalformedRevisionError(value=value)
    return int(match[1])


def _revision(events: list[StoredEvent], number: int, item_id: str) -> StoredEvent:
    if not 1 <= number <= len(events):
        raise RevisionNotFoundError(item_id=item_id, revision=number, latest=len(events))
    return events[number - 1]
