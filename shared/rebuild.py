"""What every service's rebuild of its read models shares (``shixiang rebuild``): the locked transaction it runs in
and the report it prints. Each service's ``adapters/rebuild.py`` says which tables it derives from its own log and
how; the lifecycle's (``lifecycle.adapters.rebuild``) folds its log in Python and has its own report.

Consistency, as the lifecycle's: one REPEATABLE READ transaction that first takes its table locks, in the order the
service's writers take them (so a writer half-way through waits instead of deadlocking), the read models in ACCESS
EXCLUSIVE mode (readers and writers wait for the commit) and the tables it reads in SHARE mode (appends wait, reads
go on), and only then takes its snapshot: the log it reads is complete and nothing is appended while it rebuilds.
Running services need not be stopped; their requests and consumers wait for the commit and then carry on against
the new rows. The rows are replaced (TRUNCATE, then INSERT … SELECT or COPY) and committed together: all or
nothing, and running it again gives the same rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import raw_driver

if TYPE_CHECKING:
    from shared.service import ServiceRuntime

LockMode = Literal["ACCESS EXCLUSIVE", "SHARE"]


@dataclass(frozen=True)
class RebuildReport:
    service: str
    events: int  # events in the log it read
    rows: Mapping[str, int]  # read model → rows written
    seconds: float
    # tables it leaves as they are, with why (what they are derived from is not in the service's own log)
    kept: Mapping[str, str] = field(default_factory=dict)
    source: str = "events"  # what ``events`` counts

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        rows = ", ".join(f"{table} {count:,}" for table, count in self.rows.items())
        lines = [(f"{self.service} read models rebuilt from {self.events:,} {self.source}: {rows} "
                  f"in {self.seconds:.2f}s ({self.events_per_second:,.0f} {self.source}/s)")]
        lines += [f"  kept {table}: {why}" for table, why in self.kept.items()]
        return "\n".join(lines)


@asynccontextmanager
async def locked_rebuild(engine: AsyncEngine, locks: Sequence[tuple[str, LockMode]]) -> AsyncIterator[Any]:
    """The driver connection (asyncpg) inside the rebuild's transaction, ``locks`` taken in order; commits when the
    block ends, rolls everything back if it raises."""
    async with engine.connect() as conn:
        driver = await raw_driver(conn)
        async with driver.transaction(isolation="repeatable_read"):
            for table, mode in locks:  # LOCK takes no snapshot: the first query below sees every append before it
                await driver.execute(f"LOCK TABLE {table} IN {mode} MODE")
            await driver.execute("SET LOCAL TimeZone = 'UTC'")
            yield driver



def inserted_rows(status: str) -> int:
    """The rows an ``INSERT`` wrote, from its command status (``INSERT 0 <rows>``)."""
    return int(status.rsplit(" ", 1)[-1])


Report = TypeVar("Report")


async def rebuild_service(runtime: ServiceRuntime, rebuild: Callable[[AsyncEngine], Awaitable[Report]]) -> Report:
    """What ``shixiang rebuild SERVICE`` does around a service's own rebuild: its schema prepared as the service's
    start prepares it (a fresh development database is migrated and rebuilds to empty read models; production
    refuses a database behind its migrations), the rebuild run, the engine closed whatever happens."""
    try:
        await runtime.prepare_schema()
        return await rebuild(runtime.engine)
    finally:
        await runtime.engine.dispose()
