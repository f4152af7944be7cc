"""The catalogue's and the public guide's pure rules: which regions a catalogue read covers, and the token bucket."""

from __future__ import annotations

import pytest

from sync_gateway.domain.catalogue import region_prefixes
from sync_gateway.domain.errors import FeedEpochChangedError
from sync_gateway.domain.rate_limit import Bucket, is_full, take
from sync_gateway.service_layer.feed import check_epoch


def test_a_region_filter_narrows_the_callers_regions_and_never_widens_them() -> None:
    assert region_prefixes(None, None) is None  # nationwide, no filter: everything
    assert region_prefixes(None, "4403") == ("4403",)
    assert region_prefixes(("4401",), None) == ("4401",)
    assert region_prefixes(("4401",), "44") == ("4401",)  # wider than the caller's: the caller's
    assert region_prefixes(("4401",), "440115") == ("440115",)  # narrower: the filter
    assert region_prefixes(("4401",), "4403") == ()  # outside: nothing
    assert region_prefixes(("4401", "4403"), "44") == ("4401", "4403")


def test_a_bucket_lets_a_burst_through_then_says_how_long_to_wait_and_refills_with_time() -> None:
    bucket = None
    for _ in range(3):
        bucket, wait = take(bucket, 100.0, rate=0.5, burst=3)
        assert wait == 0
    assert bucket is not None
    bucket, wait = take(bucket, 100.0, rate=0.5, burst=3)
    assert wait == 2  # one token at 0.5 a second
    bucket, wait = take(bucket, 102.0, rate=0.5, burst=3)
    assert wait == 0
    assert not is_full(bucket, 102.0, rate=0.5, burst=3) and is_full(bucket, 110.0, rate=0.5, burst=3)
    assert take(Bucket(0.0, 50.0), 40.0, rate=1.0, burst=3)[1] == 1  # a clock going back adds nothing


def test_an_epoch_is_checked_only_when_the_caller_names_one() -> None:
    check_epoch(None, "e2")
    check_epoch("e2", "e2")
    with pytest.raises(FeedEpochChangedError) as refused:
        check_epoch("e1", "e2")
    assert refused.value.context == {"epoch": "e1", "current": "e2", "snapshot_url": "/sync/v1/snapshot"}
