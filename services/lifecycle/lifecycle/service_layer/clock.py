"""The service's clock, injected so that tests move time instead of waiting (decisions never read a clock: the
service layer passes ``now`` in)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Clock:
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


SYSTEM_CLOCK = Clock()  # the default: the machine's time, in UTC
