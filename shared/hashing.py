"""The hash algorithms a store may chain its events with: SHA-256, or SM3 (GB/T 32905-2016, one of the national
algorithms 国密 that reviews such as 密评 expect), both 256-bit digests from OpenSSL through ``hashlib``. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from enum import StrEnum
from functools import cache


class HashAlgorithm(StrEnum):
    sha256 = "sha256"
    sm3 = "sm3"


@cache  # one per algorithm: verify_chain asks for each event's
def hex_digester(algorithm: str) -> Callable[[bytes], str]:
    """The function that hashes bytes to lowercase hex with ``algorithm`` (ValueError for one this suite does not
    know: a stored event naming it cannot be verified, never silently hashed with another)."""
    if algorithm == HashAlgorithm.sha256:
        return lambda data: hashlib.sha256(data).hexdigest()
    if algorithm == HashAlgorithm.sm3:
        # hashlib.new looks the name up in OpenSSL on every call; copying an empty hasher skips that (a third
        # less CPU per event link of a few hundred bytes)
        empty = hashlib.new("sm3")

        def sm3(data: bytes) -> str:
            h = empty.copy()
            h.update(data)
            return h.hexdigest()
        return sm3
    raise ValueError(f"unknown hash algorithm {algorithm!r}")
