"""Deciding one chunk of an import on the store (reads only): each valid row is matched to its item by its 来源编号
in its region, its references (来源编号 or item ids) are resolved, and :func:`decide_revision` — the same decision as
a change over HTTP — says whether it creates an item, revises one (pending once published), changes nothing, or
fails; a refused row becomes row problems. The chunk's writes are then serialised and chained, ready for
pipeline.py to write them."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asyncpg.pgproto import pgproto
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.eventstore import EventMetadata, store_hash

from registry.adapters import store
from registry.adapters.import_reading import Chunk, PreparedRow
from registry.domain.decisions import NewRevision, Refused, Unchanged, decide_revision
from registry.domain.elements import REFERENCE_LISTS
from registry.domain.errors import ItemCancelledError
from registry.domain.problems import Problem, index_path
from registry.domain.structure import ReferencedItem, RelatedItems, restructures

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def random_uuids(count: int) -> Iterator[uuid.UUID]:
    """``count`` random (version 4) UUIDs from one read of the system's randomness. An imported row needs two (its
    item's and its event's): uuid.uuid4() and str() of it cost ≈3 µs each, asyncpg's UUID (a uuid.UUID that
    asyncpg sends as it is and whose str() is done in C) cut from one buffer ≈0.6 µs."""
    raw = bytearray(os.urandom(16 * count))
    for start in range(0, 16 * count, 16):
        raw[start + 6] = (raw[start + 6] & 0x0F) | 0x40  # version 4
        raw[start + 8] = (raw[start + 8] & 0x3F) | 0x80  # the RFC 4122 variant
        yield pgproto.UUID(bytes(raw[start:start + 16]))


def zero_counts() -> dict[str, int]:
    return {"created": 0, "revised": 0, "unchanged": 0, "failed": 0, "rows_processed": 0}


@dataclass
class ChunkDecision:
    """What one chunk writes (decided, not yet committed) and what its own new items are called, for the chunk
    decided while this one is being written (``local*``: its items, their serial predecessors, and the item id of
    each of its (region, 来源编号))."""

    chunk: Chunk
    final: bool
    now: datetime
    writes: list[store.ItemWrite] = field(default_factory=list)
    prepared: store.PreparedWrites | None = None  # the writes, serialised and chained (once decided)
    failures: list[tuple[int, Problem]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=zero_counts)
    deferred: list[PreparedRow] = field(default_factory=list)  # rows referring to rows further down the file
    local: dict[str, ReferencedItem] = field(default_factory=dict)
    local_edges: dict[str, list[str]] = field(default_factory=dict)
    local_refs: dict[tuple[str, str], str] = field(default_factory=dict)  # (region, 来源编号) → item id
    needs_committed_state: bool = False  # decided beside a chunk in flight, but must see it committed


async def decide_chunk(conn: AsyncConnection, chunk: Chunk, *, job_id: str, author: str, now: datetime,
                       final: bool, ahead: Sequence[ChunkDecision]) -> ChunkDecision:
    """What one chunk writes and which of its rows fail (reads only). Unless ``final``, a row whose only problem
    is a reference not found yet is put aside for the end of the file (an export lists items by name, not
    parents first). ``ahead``: the chunks being written meanwhile — their items count as existing."""
    valid = [r for r in chunk.rows if not r.problems]
    existing = await existing_items(conn, valid)
    d = ChunkDecision(chunk, final, now, failures=[(r.row, p) for r in chunk.rows for p in r.problems])
    d.counts["failed"] = len({r.row for r in chunk.rows if r.problems})
    # What earlier rows of the file that are not committed yet (this chunk's, the chunks ahead's) are called.
    local = {k: v for a in ahead for k, v in a.local.items()}
    local_edges = {k: v for a in ahead for k, v in a.local_edges.items()}
    local_refs = {k: v for a in ahead for k, v in a.local_refs.items()}
    ids = random_uuids(2 * len(valid))  # an item id and an event id per row, drawn at once
    for row in valid:
        region, ref = row.elements["region_code"], row.source_ref or ""
        current = existing.get((region, ref))
        item_id, event_id = (current.item_id if current else str(next(ids))), next(ids)
        refers = referenced_any(row.elements)
        elements, problems = await resolve_references(conn, row, local_refs) if refers else (row.elements, [])
        if problems and not final and all(p.code == "REFERENCE_NOT_FOUND" for p in problems):
            d.deferred.append(row)
            continue
        if current is not None and ahead and restructures(current.elements, elements):
            # Its sub-items may be in the chunk ahead, which the store does not show yet: decide on the store
            # once that chunk is in.
            d.needs_committed_state = True
            return d
        if problems or (current is None and not refers):
            related = RelatedItems(item_id)  # nothing to look up
        else:
            related = await store.load_related(conn, item_id, elements,
                                               before=current.elements if current else None,
                                               unwritten=local, unwritten_edges=local_edges)
        decision = decide_revision(current, elements, related, now=now, problems=problems)
        if isinstance(decision, Refused):
            d.failures += [(row.row, p) for p in row_problems(decision, ref)]
            d.counts["failed"] += 1
            continue
        if isinstance(decision, Unchanged):
            d.counts["unchanged"] += 1
            continue
        # the reader's canonical JSON of the elements, unless references were resolved into them here
        encoded = row.elements_json if elements is row.elements else None
        if isinstance(decision, NewRevision) and current is not None:
            d.writes.append(store.revised(current, elements, author=author,
                                          changed=decision.changed_fields, maintenance=decision.maintenance,
                                          pending=decision.pending, now=decision.at,
                                          import_job_id=job_id, missing=row.missing,
                                          elements_json=encoded, event_id=event_id))
            d.counts["revised"] += 1
        else:  # a new item
            d.writes.append(store.drafted(elements, author=author, source_ref=ref, now=decision.at,
                                          item_id=item_id, import_job_id=job_id,
                                          missing=row.missing, elements_json=encoded, event_id=event_id))
            d.counts["created"] += 1
        named = ReferencedItem(item_id, elements["name"], elements["composition"], elements["tier"])
        edges = list(elements["serial_predecessor_ids"])
        local_refs[(region, ref)] = d.local_refs[(region, ref)] = item_id
        local[item_id] = d.local[item_id] = named
        local_edges[item_id] = d.local_edges[item_id] = edges
    d.counts["rows_processed"] = len(chunk.rows) - len(d.deferred)
    # Serialised and hash-chained now, while the chunk before is still being written: its write then only
    # sends what is ready.
    d.prepared = store.prepare_writes(d.writes, EventMetadata(actor=author, correlation_id=job_id, recorded_at=now),
                                      store_hash(conn))
    return d


async def existing_items(conn: AsyncConnection,
                         rows: list[PreparedRow]) -> dict[tuple[str, str], store.CurrentItem]:
    """Existing items by (region, 来源编号). An export names items that have no 来源编号 by their item id, so a
    re-imported export finds them by that id."""
    keys = {(r.elements["region_code"], r.source_ref or "") for r in rows}
    existing = await store.load_by_source_refs(conn, keys)
    ids = [ref for key in keys - set(existing) if _UUID.fullmatch(ref := key[1])]
    for item in (await store.load_many(conn, ids)).values():
        if (item.region_code, item.item_id) in keys and item.source_ref in (None, item.item_id):
            existing[(item.region_code, item.item_id)] = item
    return existing


async def resolve_references(conn: AsyncConnection, row: PreparedRow,
                             local_refs: dict[tuple[str, str], str]) -> tuple[dict[str, Any], list[Problem]]:
    """References in a sheet are 来源编号 (or item ids): turn them into item ids, earlier rows of this chunk
    included. Unknown ones are row problems on their cell."""
    e = row.elements
    refs = {ref for _, ref in _reference_slots(e)}
    if not refs:
        return e, []
    region = e["region_code"]
    found = await store.resolve_references(conn, region, refs)
    found.update({ref: local_refs[(region, ref)] for ref in refs if (region, ref) in local_refs})
    problems = [Problem(path, "REFERENCE_NOT_FOUND", f"在本文件和系统中都找不到来源编号或事项ID为“{ref}”的事项")
                for path, ref in _reference_slots(e) if ref not in found]
    resolved = dict(e)
    for key in REFERENCE_LISTS:
        resolved[key] = [found.get(r, r) for r in e[key]]
    if e["parent_item_id"]:
        resolved["parent_item_id"] = found.get(e["parent_item_id"], e["parent_item_id"])
    return resolved, problems


def referenced_any(elements: dict[str, Any]) -> bool:
    return bool(elements.get("parent_item_id") or any(elements.get(k) for k in REFERENCE_LISTS))


def row_problems(refused: Refused, source_ref: str) -> list[Problem]:
    """A refused row's problems as its report lists them: those it was sent with, and a cancelled item named by the
    row's 来源编号."""
    if isinstance(refused.error, ItemCancelledError):
        name = refused.error.context["name"]
        cancelled = f"来源编号“{source_ref}”对应的事项“{name}”已注销，内容不能再修改"
        return [*refused.problems, Problem("source_ref", "ITEM_CANCELLED", cancelled)]
    if refused.error is not None:
        raise refused.error  # nothing else refuses a row as a whole
    return list(refused.problems)


def _reference_slots(e: dict[str, Any]) -> list[tuple[str, str]]:
    slots = [(index_path(key, i), ref) for key in REFERENCE_LISTS for i, ref in enumerate(e[key])]
    if e["parent_item_id"]:
        slots.append(("parent_item_id", e["parent_item_id"]))
    return slots
