"""How the console tells idle, moving, lagging and stuck partitions apart (sync_gateway.domain.pipeline): from two
samples of Kafka's committed offset and what the consuming service reports. The clock is passed in."""

from __future__ import annotations

from sync_gateway.domain.pipeline import Sample, Waiting, consumer_status, next_sample, partition_state

STUCK_AFTER = 60.0


def state(committed: int, high: int, previous: Sample | None, now: float,
          waiting: Waiting | None = None) -> tuple[str, object]:
    return partition_state(committed=committed, high_watermark=high, previous=previous, now=now,
                           stuck_after_s=STUCK_AFTER, waiting=waiting)


def test_a_partition_with_nothing_to_take_is_idle_however_long_its_offset_stays() -> None:
    assert state(10, 10, Sample(10, 0.0), 1000.0) == ("idle", None)


def test_lag_with_an_offset_that_advanced_since_the_last_sample_is_moving() -> None:
    assert state(12, 20, Sample(10, 0.0), 1000.0) == ("moving", None)


def test_lag_without_advance_is_lagging_until_the_threshold_then_stuck_on_the_committed_offset() -> None:
    assert state(10, 20, None, 0.0) == ("lagging", None)  # the first sample cannot tell
    assert state(10, 20, Sample(10, 0.0), STUCK_AFTER) == ("lagging", None)
    stuck, on = state(10, 20, Sample(10, 0.0), STUCK_AFTER + 1)
    assert stuck == "stuck" and on == {"offset": 10, "event_id": None, "error": None, "for_s": 61}


def test_a_partition_the_service_reports_waiting_past_its_threshold_is_stuck_on_that_message() -> None:
    waiting = Waiting(offset=7, event_id="e-7", error="RuntimeError: boom", for_s=90.4, stuck=True)
    assert state(7, 9, Sample(6, 0.0), 1.0, waiting) == (
        "stuck", {"offset": 7, "event_id": "e-7", "error": "RuntimeError: boom", "for_s": 90})
    not_yet = Waiting(offset=7, event_id="e-7", error=None, for_s=1.0, stuck=False)
    assert state(7, 9, Sample(6, 0.0), 1.0, not_yet) == ("moving", None)


def test_the_sample_keeps_the_time_the_offset_last_moved() -> None:
    first = next_sample(None, 5, 1.0)
    assert next_sample(first, 5, 9.0) == Sample(5, 1.0)
    assert next_sample(first, 6, 9.0) == Sample(6, 9.0)


def test_a_consumer_is_as_bad_as_its_worst_partition() -> None:
    assert consumer_status(["idle", "moving", "stuck"]) == "stuck"
    assert consumer_status(["moving", "lagging"]) == "lagging"
    assert consumer_status(["idle", "moving"]) == "ok"
    assert consumer_status(["idle"]) == consumer_status([]) == "idle"
