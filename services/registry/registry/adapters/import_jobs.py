"""Import jobs' rows and their row errors (writes; the job's view is read in queries.py). The job row holds the
job's status, heartbeat and counters; each chunk moves its counters in the chunk's own transaction, beside the
chunk's row errors, so that what the job reports is exactly what is stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from registry.adapters.tables import import_errors_table, import_jobs_table
from registry.domain import tabular
from registry.domain.problems import Problem

jobs_t, errors_t = import_jobs_table, import_errors_table


async def insert_job(conn: AsyncConnection, job_id: str, *, subject: str, regions: Sequence[str],
                     filename: str | None, fmt: str, now: datetime) -> None:
    """A new job, queued; ``regions``: its starter's, within which its rows may write."""
    await conn.execute(jobs_t.insert().values(job_id=job_id, subject=subject, regions=list(regions),
                                              filename=filename, format=fmt, status="queued", created_at=now,
                                              heartbeat_at=now))


async def update_job(conn: AsyncConnection, job_id: str, **values: Any) -> None:
    await conn.execute(update(jobs_t).where(jobs_t.c.job_id == job_id).values(**values))


async def insert_row_errors(conn: AsyncConnection, job_id: str, failures: Sequence[tuple[int, Problem]], *,
                            first_seq: int, tabular_file: bool) -> None:
    """The problems of rows (row number, problem), numbered from ``first_seq`` in the order given."""
    if not failures:
        return
    rows = []
    for seq, (row, problem) in enumerate(failures, start=first_seq):
        rows.append({"job_id": job_id, "seq": seq, "row": row, "field": problem.field or None,
                     "column": _column(problem, tabular_file=tabular_file),
                     "code": problem.code, "message": problem.message})
    await conn.execute(errors_t.insert(), rows)


def _column(problem: Problem, *, tabular_file: bool) -> str | None:
    """Where the user looks: the Chinese column header in a sheet (unknown columns are named as they are), the
    field path in ndjson."""
    if not tabular_file:
        return problem.field or None
    column = tabular.column_for(problem.field)
    if column is not None:
        return column.header
    return problem.field if problem.code == "UNKNOWN_COLUMN" else None
