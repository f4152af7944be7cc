"""The coding service's writes, and the reads its writes decide on, inside the caller's transaction (``conn``).

Every function is one statement (or one ``append_batch``) on the tables of :mod:`coding.adapters.tables` or the
event store. The rules that say what to write are the service layer's and the domain's; see
:mod:`coding.service_layer.allocation` for how allocation uses these statements to stay unique under concurrency
(primary key over every code ever allocated, ``ON CONFLICT DO NOTHING``, rows sorted by code)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.eventstore import EventMetadata, NewEvent, StreamAppend, append_batch

from coding.adapters.tables import (
    ACTIVE,
    RETIRED,
    WITHDRAWN,
    item_codes_table,
    item_lineage_table,
    item_services_table,
    known_items_table,
)

# ---- item codes ------------------------------------------------------------------------------------------------
_TAKEN_SQL = text("""
SELECT c.code, c.item_id FROM unnest(CAST(:prefixes AS text[])) AS p(prefix)
JOIN item_codes c ON c.code >= p.prefix COLLATE "C" AND c.code <= (p.prefix || 'ZZ') COLLATE "C"
""")

_INSERT_SQL = text("""
INSERT INTO item_codes (code, item_id, status, base_code, collided_with, parts, elements, pinyin_letters,
                        overrides_version, replaces, allocated_at)
SELECT n.code, n.item_id, 'active', n.base_code, n.collided_with, n.parts::jsonb, n.elements::jsonb, n.letters,
       :overrides_version, n.replaces, :now
FROM unnest(CAST(:codes AS text[]), CAST(:item_ids AS text[]), CAST(:bases AS text[]), CAST(:collided AS text[]),
            CAST(:parts AS text[]), CAST(:elements AS text[]), CAST(:letters AS text[]), CAST(:replaces AS text[]))
     AS n(code, item_id, base_code, collided_with, parts, elements, letters, replaces)
ORDER BY n.code COLLATE "C"
ON CONFLICT (code) DO NOTHING
RETURNING code
""")

_STREAM_VERSIONS_SQL = text("""
SELECT stream_id, max(version) AS version FROM events WHERE stream_id = ANY(CAST(:ids AS text[])) GROUP BY stream_id
""")

_SET_REPLACED_BY_SQL = text("""
UPDATE item_codes SET replaced_by = n.new_code
FROM unnest(CAST(:old AS text[]), CAST(:new AS text[])) AS n(old_code, new_code)
WHERE item_codes.code = n.old_code
""")


async def lock_code_rows(conn: AsyncConnection, item_ids: Sequence[str],
                         ended_reasons: Sequence[str]) -> Sequence[Row[Any]]:
    """The items' active code rows and those retired for one of ``ended_reasons``, locked: a re-code, a
    cancellation and a service allocation of one item take turns."""
    return (await conn.execute(select(item_codes_table).where(
        item_codes_table.c.item_id.in_(item_ids),
        or_(item_codes_table.c.status == ACTIVE, item_codes_table.c.retire_reason.in_(ended_reasons)),
    ).with_for_update())).all()


async def codes_taken(conn: AsyncConnection, prefixes: Iterable[str]) -> dict[str, str]:
    """Every code ever allocated (active or retired) under these 22-character prefixes → the item that took it."""
    return dict((await conn.execute(_TAKEN_SQL, {"prefixes": sorted(set(prefixes))})).tuples().all())


async def insert_codes(conn: AsyncConnection, *, codes: list[str | None], item_ids: list[str], bases: list[str],
                       collided: list[str | None], parts: list[str], elements: list[str], letters: list[str],
                       replaces: list[str | None], overrides_version: str, now: datetime) -> set[str]:
    """Insert active codes (parallel lists, one entry per code; ``parts`` and ``elements`` as JSON text); returns
    those inserted (the others are held by someone else)."""
    return set((await conn.execute(_INSERT_SQL, {
        "codes": codes, "item_ids": item_ids, "bases": bases, "collided": collided, "parts": parts,
        "elements": elements, "letters": letters, "replaces": replaces, "overrides_version": overrides_version,
        "now": now,
    })).scalars())


async def retire_codes(conn: AsyncConnection, codes: Sequence[str], reason: str, now: datetime) -> None:
    await conn.execute(update(item_codes_table).where(item_codes_table.c.code.in_(codes)).values(
        status=RETIRED, retired_at=now, retire_reason=reason))


async def reactivate_codes(conn: AsyncConnection, codes: Sequence[str]) -> None:
    await conn.execute(update(item_codes_table).where(item_codes_table.c.code.in_(codes)).values(
        status=ACTIVE, retired_at=None, retire_reason=None))


async def set_replaced_by(conn: AsyncConnection, old_codes: Sequence[str], new_codes: Sequence[str]) -> None:
    await conn.execute(_SET_REPLACED_BY_SQL, {"old": list(old_codes), "new": list(new_codes)})


async def retire_active_code(conn: AsyncConnection, item_id: str, reason: str, replaced_by: str | None,
                             now: datetime) -> str | None:
    """Retire the item's active code; returns it, or ``None`` if the item holds none."""
    row = (await conn.execute(update(item_codes_table).where(
        item_codes_table.c.item_id == item_id, item_codes_table.c.status == ACTIVE).values(
        status=RETIRED, retired_at=now, retire_reason=reason, replaced_by=replaced_by).returning(
        item_codes_table.c.code))).first()
    return None if row is None else str(row.code)


async def active_code(conn: AsyncConnection, item_id: str) -> str | None:
    code = await conn.scalar(select(item_codes_table.c.code).where(
        item_codes_table.c.item_id == item_id, item_codes_table.c.status == ACTIVE))
    return str(code) if code else None


async def locked_active_code(conn: AsyncConnection, item_id: str) -> Row[Any, Any] | None:
    """The item's active code row (code, parts), locked: allocation, re-coding and cancellation of one item take
    turns."""
    return (await conn.execute(select(item_codes_table.c.code, item_codes_table.c.parts).where(
        item_codes_table.c.item_id == item_id, item_codes_table.c.status == ACTIVE).with_for_update())).first()


# ---- known items and lineage ------------------------------------------------------------------------------------
_KNOWN_SQL = text("""
SELECT item_id FROM coding_known_items WHERE item_id = ANY(CAST(:ids AS text[]))
UNION SELECT item_id FROM item_codes WHERE item_id = ANY(CAST(:ids AS text[]))""")


async def record_known_items(conn: AsyncConnection, items: Sequence[Mapping[str, Any]]) -> None:
    """Items the lifecycle said exist ({item_id, region_code, entered_at}); a repeat changes nothing."""
    await conn.execute(pg_insert(known_items_table).values(list(items)).on_conflict_do_nothing())


async def known_items(conn: AsyncConnection, item_ids: Iterable[str]) -> set[str]:
    """Which of these items coding knows: entered (the lifecycle said so), or holding a code already."""
    rows = await conn.execute(_KNOWN_SQL, {"ids": sorted(item_ids)})
    return set(rows.scalars())


async def record_lineage_links(conn: AsyncConnection, links: Sequence[Mapping[str, Any]]) -> None:
    """Predecessor → successor links ({predecessor, successor, kind, reason, recorded_at}); a repeat changes
    nothing."""
    await conn.execute(pg_insert(item_lineage_table).values(list(links)).on_conflict_do_nothing())


# ---- 事项服务 ------------------------------------------------------------------------------------------------------
async def services_of(conn: AsyncConnection, item_id: str, *, active_only: bool = False) -> Sequence[Row[Any]]:
    """The item's services (every one ever allocated, or the active ones), in sequence order."""
    condition = [item_services_table.c.item_id == item_id]
    if active_only:
        condition.append(item_services_table.c.status == ACTIVE)
    return (await conn.execute(select(item_services_table).where(*condition)
                               .order_by(item_services_table.c.sequence))).all()


async def service_of(conn: AsyncConnection, item_id: str, sequence: int) -> Row[Any] | None:
    return (await conn.execute(select(item_services_table).where(
        item_services_table.c.item_id == item_id, item_services_table.c.sequence == sequence))).first()


async def insert_service(conn: AsyncConnection, item_id: str, sequence: int, name: str, service_code: str,
                         now: datetime) -> Row[Any]:
    return (await conn.execute(item_services_table.insert().values(
        item_id=item_id, sequence=sequence, name=name, service_code=service_code, status=ACTIVE,
        created_at=now).returning(*item_services_table.c))).one()


async def withdraw_services(conn: AsyncConnection, item_id: str, reason: str, now: datetime, *,
                            only_sequence: int | None = None) -> list[Row[Any]]:
    """Withdraw the item's active services (or one of them); returns the withdrawn rows (sequence, name,
    service_code), in sequence order."""
    condition = [item_services_table.c.item_id == item_id, item_services_table.c.status == ACTIVE]
    if only_sequence is not None:
        condition.append(item_services_table.c.sequence == only_sequence)
    rows = (await conn.execute(update(item_services_table).where(*condition).values(
        status=WITHDRAWN, withdrawn_at=now, withdraw_reason=reason).returning(
        item_services_table.c.sequence, item_services_table.c.name, item_services_table.c.service_code))).all()
    return sorted(rows, key=lambda r: r.sequence)


async def set_service_code(conn: AsyncConnection, item_id: str, sequence: int, service_code: str) -> None:
    await conn.execute(update(item_services_table).where(
        item_services_table.c.item_id == item_id, item_services_table.c.sequence == sequence).values(
        service_code=service_code))


# ---- events -------------------------------------------------------------------------------------------------------
async def stream_versions(conn: AsyncConnection, stream_ids: Sequence[str]) -> dict[str, int]:
    """Current version of each stream (absent: 0, a new stream)."""
    return dict((await conn.execute(_STREAM_VERSIONS_SQL, {"ids": list(stream_ids)})).tuples().all())


async def append_item_events(conn: AsyncConnection, batches: Sequence[tuple[str, list[NewEvent], EventMetadata]],
                             versions: Mapping[str, int] | None = None) -> None:
    """Append each item's events (with its own metadata: actor, correlation, causation) to its stream at
    ``versions`` (read now if not given), all in one ``append_batch``. Call last in the transaction: it takes the
    events table lock."""
    batches = [b for b in batches if b[1]]
    if not batches:
        return
    if versions is None:
        versions = await stream_versions(conn, [b[0] for b in batches])
    await append_batch(conn, [StreamAppend(item_id, versions.get(item_id, 0), events, metadata)
                              for item_id, events, metadata in batches])
