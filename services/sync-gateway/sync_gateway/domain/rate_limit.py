"""A token bucket (令牌桶), pure: the caller keeps the buckets and passes the clock in.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second; a request takes one. An empty bucket
says how long until the next token."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    at: float  # the clock reading the tokens were counted at


def take(bucket: Bucket | None, now: float, *, rate: float, burst: int) -> tuple[Bucket, int]:
    """The bucket after one request at ``now`` (a new client starts full) and the seconds to wait before asking again:
    0 when the request may go ahead (it took a token), else at least 1 (whole seconds, as Retry-After says)."""
    tokens = float(burst) if bucket is None else min(float(burst), bucket.tokens + max(0.0, now - bucket.at) * rate)
    if tokens >= 1.0:
        return Bucket(tokens - 1.0, now), 0
    return Bucket(tokens, now), max(1, math.ceil((1.0 - tokens) / rate))


def is_full(bucket: Bucket, now: float, *, rate: float, burst: int) -> bool:
    """Whether the bucket would be full at ``now`` (a full bucket is the same as none: it can be forgotten)."""
    return bucket.tokens + max(0.0, now - bucket.at) * rate >= burst
