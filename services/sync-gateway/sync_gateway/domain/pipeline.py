"""How the console tells a partition's health from two samples of Kafka's offsets and what the consuming service
reports (pure: the clock is passed in).

- **idle**: nothing to take (lag 0).
- **moving**: lag > 0 and the group's committed offset advanced since the previous sample.
- **lagging**: lag > 0, not advanced since the previous sample, for no longer than the stuck threshold yet.
- **stuck**: the consuming service reports the partition waiting on a message past its threshold (with the message:
  ``stuck_on``), or — when the consumer runs in a process the gateway cannot ask — lag > 0 and the committed offset
  has not advanced for longer than the threshold.

A consumer is ``stuck`` if one of its partitions is, ``lagging`` if one lags, ``ok`` if one is moving, else
``idle``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STATES = ("idle", "moving", "lagging", "stuck")


@dataclass(frozen=True)
class Sample:
    """A partition's committed offset as last seen, and since when it has stayed there (monotonic seconds)."""

    committed: int
    unchanged_since: float


@dataclass(frozen=True)
class Waiting:
    """What the consuming service says its partition waits on (shared.pipeline's ``waiting`` entries)."""

    offset: int
    event_id: str | None
    error: str | None
    for_s: float
    stuck: bool


def next_sample(previous: Sample | None, committed: int, now: float) -> Sample:
    """The sample to keep after reading ``committed`` at ``now``."""
    if previous is None or previous.committed != committed:
        return Sample(committed, now)
    return previous


def partition_state(*, committed: int, high_watermark: int, previous: Sample | None, now: float,
                    stuck_after_s: float, waiting: Waiting | None) -> tuple[str, dict[str, Any] | None]:
    """The partition's state and, when stuck, what on: ``{offset, event_id, error, for_s}``."""
    lag = max(0, high_watermark - committed)
    if waiting is not None and waiting.stuck:
        return "stuck", {"offset": waiting.offset, "event_id": waiting.event_id, "error": waiting.error,
                         "for_s": round(waiting.for_s)}
    if lag == 0:
        return "idle", None
    if previous is None:
        return "lagging", None  # the first sample: whether it moves is known at the next one
    if committed != previous.committed:
        return "moving", None
    unchanged_for = now - previous.unchanged_since
    if unchanged_for > stuck_after_s:
        return "stuck", {"offset": committed, "event_id": None, "error": None, "for_s": round(unchanged_for)}
    return "lagging", None


def consumer_status(states: list[str]) -> str:
    for state, status in (("stuck", "stuck"), ("lagging", "lagging"), ("moving", "ok")):
        if state in states:
            return status
    return "idle"


def lag(committed: int, high_watermark: int) -> int:
    """High watermark less committed (a group that committed nothing reads from the start: committed 0)."""
    return max(0, high_watermark - committed)


def waiting_by_partition(reported: list[Mapping[str, Any]]) -> dict[tuple[str, int], Waiting]:
    """The service's ``waiting`` entries of one consumer, by (topic, partition)."""
    return {(str(w["topic"]), int(w["partition"])): Waiting(int(w["offset"]), w.get("event_id"), w.get("error"),
                                                            float(w.get("for_s") or 0), bool(w.get("stuck")))
            for w in reported}
