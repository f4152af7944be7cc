"""拼音修正词典 as every coding process sees it: the packaged data file plus every event of the
``pinyin-overrides`` stream (administrators' changes through the API).

How a process stays current — a version check, not LISTEN: before every computation that makes a code (a preview,
an allocation batch) :meth:`OverrideCatalog.refresh` asks the store for the stream's version, one primary-key
lookup, in the *same transaction* as the computation; only when it moved are the new events read and folded in.
LISTEN/NOTIFY would save that lookup but would be eventually consistent: an allocation could start between an
override's commit and the notification's arrival and use the old dictionary, so the same database state could give
two different codes. With the check, an allocation uses exactly the dictionary its transaction sees, and records
that dictionary's version on its event. Codes already allocated are never recomputed: they live on their events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.auth import Principal
from shared.errors import ConcurrencyConflictError
from shared.eventstore import EventMetadata, NewEvent, StoredEvent, append_events, current_version, load_stream

from coding.domain.codes import PinyinOverrides
from coding.domain.events import OVERRIDE_REMOVED, OVERRIDE_SET, OVERRIDES_STREAM
from coding.domain.overrides import (
    OverrideChange,
    apply_override_event,
    decide_remove,
    decide_set,
    overrides_version,
)
from coding.service_layer.roles import OVERRIDE_ROLES

# Concurrent administrators: a command that lost the race on the stream version is re-decided on the new state.
_COMMAND_ATTEMPTS = 5


@dataclass(frozen=True)
class OverrideSnapshot:
    """The dictionary at one version of the stream."""

    stream_version: int
    overrides: PinyinOverrides


class OverrideCatalog:
    """The dictionary as this process knows it (kept current by :meth:`refresh`), and its commands."""

    def __init__(self, packaged: PinyinOverrides) -> None:
        self.packaged = packaged
        self._snapshot = OverrideSnapshot(0, packaged)
        self._lock = asyncio.Lock()

    @property
    def snapshot(self) -> OverrideSnapshot:
        """The last dictionary loaded (what :meth:`refresh` returns while the stream has not moved)."""
        return self._snapshot

    async def refresh(self, conn: AsyncConnection, *, stream_version: int | None = None) -> OverrideSnapshot:
        """The dictionary as of ``conn``'s view of the stream: a version check, then only the new events.
        ``stream_version``: the version the caller has just read in this transaction (saves the check)."""
        version = await current_version(conn, OVERRIDES_STREAM) if stream_version is None else stream_version
        known = self._snapshot
        if version == known.stream_version:
            return known
        async with self._lock:  # one reader folds; the others wait for it instead of reading the same events
            known = self._snapshot
            if version < known.stream_version:
                # Another transaction has loaded a newer state already; this one's view is older, so rebuild what
                # it sees rather than hand it a dictionary from its future.
                return self._fold(OverrideSnapshot(0, self.packaged), await self._events(conn, 0, version))
            if version > known.stream_version:
                self._snapshot = self._fold(known, await self._events(conn, known.stream_version, version))
            return self._snapshot

    @staticmethod
    async def _events(conn: AsyncConnection, after: int, upto: int) -> list[StoredEvent]:
        return [e for e in await load_stream(conn, OVERRIDES_STREAM, after_version=after) if e.version <= upto]

    def _fold(self, start: OverrideSnapshot, events: Sequence[StoredEvent]) -> OverrideSnapshot:
        overrides = start.overrides
        version = start.stream_version
        for event in events:
            version = event.version
            overrides = apply_override_event(overrides, event.type, event.data,
                                             overrides_version(self.packaged.version, version))
        return OverrideSnapshot(version, overrides)

    async def load(self, engine: AsyncEngine) -> OverrideSnapshot:
        """At start-up: the packaged file plus every event so far."""
        async with engine.connect() as conn:
            return await self.refresh(conn)

    # ---- commands (the admin role is checked by PinyinOverrideAdministration) ----------------------------------
    async def set_phrase(self, engine: AsyncEngine, phrase: str, letters: str, reason: str,
                         metadata: EventMetadata) -> OverrideChange:
        """Add or change ``phrase → letters``. Repeating the same request changes nothing (and writes nothing)."""
        return await self._command(engine, OVERRIDE_SET, lambda current: decide_set(current, phrase, letters),
                                   reason, metadata)

    async def remove_phrase(self, engine: AsyncEngine, phrase: str, reason: str,
                            metadata: EventMetadata) -> OverrideChange:
        """Remove ``phrase`` (packaged or added by an administrator): the place-name table or pypinyin reads it
        again."""
        return await self._command(engine, OVERRIDE_REMOVED, lambda current: decide_remove(current, phrase),
                                   reason, metadata)

    async def _command(self, engine: AsyncEngine, event_type: str,
                       decide: Callable[[PinyinOverrides], OverrideChange], reason: str,
                       metadata: EventMetadata) -> OverrideChange:
        for attempt in range(1, _COMMAND_ATTEMPTS + 1):
            try:
                async with engine.begin() as conn:
                    snapshot = await self.refresh(conn)
                    change = decide(snapshot.overrides)
                    if not change.changed:
                        return change
                    next_version = overrides_version(self.packaged.version, snapshot.stream_version + 1)
                    data: dict[str, Any] = {"phrase": change.phrase, "previous_letters": change.previous_letters,
                                            "reason": reason, "overrides_version": next_version}
                    if event_type == OVERRIDE_SET:
                        data["letters"] = change.letters
                    await append_events(conn, OVERRIDES_STREAM, snapshot.stream_version,
                                        [NewEvent(event_type, data)], metadata)
                return replace(change, overrides_version=next_version)
            except ConcurrencyConflictError:
                if attempt == _COMMAND_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def describe(self, engine: AsyncEngine) -> dict[str, Any]:
        """The dictionary now: every phrase with where it comes from, and the administrators' change history."""
        async with engine.connect() as conn:
            snapshot = await self.refresh(conn)
            events = await self._events(conn, 0, snapshot.stream_version)
        last_change: dict[str, StoredEvent] = {}
        for event in events:
            last_change[event.data["phrase"]] = event
        phrases = []
        for phrase, letters in snapshot.overrides.phrases.items():
            change = last_change.get(phrase)
            phrases.append({
                "phrase": phrase, "letters": letters, "source": "admin" if change else "packaged",
                "reason": change.data.get("reason") if change else self.packaged.reasons.get(phrase),
                "changed_by": change.actor if change else None,
                "changed_at": _iso(change.recorded_at) if change else None,
            })
        places = snapshot.overrides.places
        return {
            "version": snapshot.overrides.version,
            "packaged_version": self.packaged.version,
            "stream_version": snapshot.stream_version,
            "dictionary_version": snapshot.overrides.dictionary_version,
            "reading_order": "拼音修正词典（本表）优先，其次地名读音表，最后 pypinyin；简称中按最长匹配、从左到右",
            "place_names": {"version": places.version, "texts": len(places),
                            "generated_by": "scripts/generate_place_names.py"},
            "phrases": phrases,
            "history": [{"version": overrides_version(self.packaged.version, e.version),
                         "type": "set" if e.type == OVERRIDE_SET else "removed",
                         "phrase": e.data["phrase"], "letters": e.data.get("letters"),
                         "previous_letters": e.data.get("previous_letters"), "reason": e.data.get("reason"),
                         "actor": e.actor, "recorded_at": _iso(e.recorded_at)} for e in events],
        }


class PinyinOverrideAdministration:
    """The API's use cases on the dictionary: read it, set and remove phrases; administrators only."""

    def __init__(self, engine: AsyncEngine, catalog: OverrideCatalog) -> None:
        self.engine = engine
        self.catalog = catalog

    async def dictionary(self, principal: Principal) -> dict[str, Any]:
        principal.require_role(*OVERRIDE_ROLES)
        return await self.catalog.describe(self.engine)

    async def set_override(self, phrase: str, letters: str, reason: str, principal: Principal,
                           correlation_id: str) -> OverrideChange:
        principal.require_role(*OVERRIDE_ROLES)
        return await self.catalog.set_phrase(self.engine, phrase, letters, reason,
                                             EventMetadata(actor=principal.subject, correlation_id=correlation_id))

    async def remove_override(self, phrase: str, reason: str, principal: Principal,
                              correlation_id: str) -> OverrideChange:
        principal.require_role(*OVERRIDE_ROLES)
        return await self.catalog.remove_phrase(self.engine, phrase, reason,
                                                EventMetadata(actor=principal.subject, correlation_id=correlation_id))


def _iso(moment: datetime) -> str:
    return moment.isoformat()
