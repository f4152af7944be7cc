"""Parameter types routes share (here rather than in shared.http so that modules shared.http installs, such as
shared.audit's routes, can use them too; shared.http re-exports them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _in_utc_range(value: datetime) -> datetime:
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("换算为 UTC 后超出可表示的时间范围（0001-01-01 至 9999-12-31）") from None
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_in_utc_range)]
"""A datetime parameter that can be compared with a timestamptz column: one whose UTC time falls outside years
1–9999 (9999-12-31T23:59:59-14:00) is a validation error, not an OverflowError in the database driver."""
