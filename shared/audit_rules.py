"""The audit trail's pure rules: which reads are recorded, how a read is flagged, what one record's chain link
covers, and how a chain is verified. No I/O: ``shared.audit`` records, stores and serves what these decide.

Flags (``AuditFlag``):

- ``export`` — a read of a whole list as a file or in one go: the registry's exports, the catalogue's csv/xlsx, the
  snapshot. Which routes those are is each service's :class:`AuditPolicy` (route templates).
- ``many_regions`` — a caller whose regions span more than one province (``*``, or prefixes of two provinces)
  reading a list, a page or an export without narrowing it to one province (a ``region`` query parameter of at
  least two digits, the filter every list route of the suite takes). One item read is never flagged: it names its
  item.
- ``query_truncated`` — the query string was longer than :data:`MAX_QUERY_CHARS` and only its start was kept."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from shared import jsoncodec

ANONYMOUS = "anonymous"  # the subject of a read made without a token (a public guide page, or a refused read)
AUDITED_METHODS = frozenset({"GET", "HEAD"})  # reads; writes are in each service's event store with their actor
MAX_QUERY_CHARS = 1024  # enough for every filter of every list route; a longer query string is cut, and flagged
GENESIS_HASH = "0" * 64  # the previous hash of a service's first audit record
ALL_REGIONS = "*"
REGION_PARAM = "region"  # the query parameter every list route narrows its regions by


class AuditFlag(StrEnum):
    export = "export"
    many_regions = "many_regions"
    query_truncated = "query_truncated"


FLAG_LABELS: dict[str, str] = {AuditFlag.export: "整表导出", AuditFlag.many_regions: "跨省读取",
               AuditFlag.query_truncated: "查询串过长已截断"}


@dataclass(frozen=True)
class AuditPolicy:
    """What one service's routes are, for the flags: route templates (as FastAPI's router has them, prefix
    included) of its exports of whole lists, and of its other lists and pages."""

    exports: frozenset[str] = frozenset()
    lists: frozenset[str] = frozenset()
    # What is recorded: paths under the service's API prefix (the audit API's own included: reads of the audit log
    # are audited). The process's own endpoints (health, metrics, API docs, the console's static files) are not.
    api_prefix: str = "/"

    def records(self, method: str, path: str) -> bool:
        """Whether a request is recorded: a read (GET/HEAD) of a path of the service's API (a route or not: a
        probe of a wrong path is worth seeing too)."""
        return method in AUDITED_METHODS and path.startswith(self.api_prefix)


def provinces(regions: Iterable[str]) -> frozenset[str]:
    """The provinces (two-digit prefixes) of region claims; ``*`` stands for every province."""
    return frozenset(ALL_REGIONS if r == ALL_REGIONS else r[:2] for r in regions)


def spans_many_provinces(regions: Iterable[str]) -> bool:
    found = provinces(regions)
    return ALL_REGIONS in found or len(found) > 1


def narrowed_to_one_province(query: Mapping[str, Sequence[str]]) -> bool:
    """Whether the query narrows a list to one province: every ``region`` value of at least two digits, and all of
    one province."""
    values = [v for v in query.get(REGION_PARAM, ()) if v]
    return bool(values) and all(len(v) >= 2 and v[:2].isdigit() for v in values) and len({v[:2] for v in values}) == 1


def flags_for(policy: AuditPolicy, route: str, query: Mapping[str, Sequence[str]], regions: Sequence[str],
              *, query_truncated: bool = False) -> tuple[str, ...]:
    """The flags of one read (sorted, stable)."""
    flags = set()
    whole = route in policy.exports
    if whole:
        flags.add(AuditFlag.export)
    if (whole or route in policy.lists) and spans_many_provinces(regions) and not narrowed_to_one_province(query):
        flags.add(AuditFlag.many_regions)
    if query_truncated:
        flags.add(AuditFlag.query_truncated)
    return tuple(sorted(flags))


def bounded_query(query: str) -> tuple[str, bool]:
    """The query string as recorded (at most :data:`MAX_QUERY_CHARS` characters) and whether it was cut."""
    return (query, False) if len(query) <= MAX_QUERY_CHARS else (query[:MAX_QUERY_CHARS], True)


@dataclass(frozen=True)
class AuditRecord:
    """One read: who, with which roles and regions, from where, when, what, the answer and its flags."""

    at: datetime
    subject: str
    roles: tuple[str, ...]
    regions: tuple[str, ...]
    client: str | None
    method: str
    route: str
    path: str
    query: str
    status: int
    flags: tuple[str, ...] = field(default=())

    def content(self) -> str:
        """What the record's chain link covers besides the previous hash: its fields as canonical JSON (sorted
        keys, the time in UTC to the microsecond, as PostgreSQL gives it back)."""
        return jsoncodec.canonical({
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"), "subject": self.subject,
            "roles": list(self.roles), "regions": list(self.regions), "client": self.client, "method": self.method,
            "route": self.route, "path": self.path, "query": self.query, "status": self.status,
            "flags": list(self.flags)})


def link(previous: str, record: AuditRecord) -> str:
    """A record's hash: sha256(previous hash ‖ its content)."""
    return hashlib.sha256((previous + record.content()).encode()).hexdigest()


def chain(previous: str, records: Iterable[AuditRecord]) -> list[tuple[str, str]]:
    """(previous hash, hash) of each record appended after ``previous``, in order."""
    links = []
    for record in records:
        current = link(previous, record)
        links.append((previous, current))
        previous = current
    return links


@dataclass(frozen=True)
class StoredRecord:
    seq: int
    record: AuditRecord
    previous_hash: str
    hash: str


@dataclass
class ChainCheck:
    """Verifies a chain read in pages (oldest first): feed it every page, then read :meth:`verdict`. The first row
    kept is the anchor: its previous hash is trusted as it is (pruning removed what it pointed to), every later row
    must point at the hash of the row before it, and every row's hash must be its content's."""

    records: int = 0
    anchor: str | None = None
    head: str | None = None
    broken_at: int | None = None
    reason: str | None = None
    oldest: datetime | None = None

    def feed(self, rows: Iterable[StoredRecord]) -> None:
        for row in rows:
            if self.broken_at is not None:
                return
            if self.anchor is None:
                self.anchor, self.oldest = row.previous_hash, row.record.at
            elif row.previous_hash != self.head:
                self._break(row.seq, "前一条记录的哈希不符（记录被删除、插入或调换）")
                return
            if link(row.previous_hash, row.record) != row.hash:
                self._break(row.seq, "记录内容与其哈希不符（记录被修改）")
                return
            self.records += 1
            self.head = row.hash

    def _break(self, seq: int, reason: str) -> None:
        self.broken_at, self.reason = seq, reason

    @property
    def ok(self) -> bool:
        return self.broken_at is None
