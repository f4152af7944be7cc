"""bench/chaos.py's pure parts: the seeded fault schedule, and the checks made after the faults, which must see a
lost, doubled or diverging item (tests/e2e/test_chaos.py runs the whole exercise)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

from bench.chaos import (
    BROKER,
    FOLLOWER,
    POSTGRES,
    PUBLISHED,
    Driver,
    Observed,
    Retrier,
    fault_schedule,
    server_errors,
    settled_problems,
)
from shixiang.services import SERVICES

EVERY_PART = sorted([*SERVICES, BROKER, POSTGRES, FOLLOWER])
CODES = {"a": "A" * 24, "b": "B" * 24}


def converged() -> Observed:
    """Two items online once each, every view equal."""
    return Observed(
        lifecycle={i: {"item_id": i, "phase": "online", "step": "published", "code": c} for i, c in CODES.items()},
        feed=[{"subject": i, "type": PUBLISHED, "itemversion": 1, "data": {"code": c}} for i, c in CODES.items()],
        catalogue={i: (1, c, "online") for i, c in CODES.items()},
        exchange={i: [(1, "I", c, "online")] for i, c in CODES.items()},
        mirror={i: (1, c, "online") for i, c in CODES.items()},
    )


def problems_with(**changes: Any) -> list[str]:
    seen = converged()
    for name, value in changes.items():
        setattr(seen, name, value)
    return settled_problems(set(CODES), seen)


def test_the_schedule_hits_every_part_once_in_an_order_and_at_moments_the_seed_decides() -> None:
    schedule = fault_schedule(17)
    assert sorted(f.target for f in schedule) == EVERY_PART
    assert schedule == fault_schedule(17)
    assert [f.at for f in schedule] == sorted(f.at for f in schedule) and all(0 < f.at < 1 for f in schedule)
    assert {tuple(f.target for f in fault_schedule(seed)) for seed in range(20)} != {
        tuple(f.target for f in schedule)}
    assert all(f.down_s > 0 for f in schedule if f.target == POSTGRES)


def test_a_converged_suite_passes_every_check() -> None:
    assert settled_problems(set(CODES), converged()) == []


def test_an_item_not_online_is_seen() -> None:
    seen = converged()
    seen.lifecycle["b"] = {**seen.lifecycle["b"], "phase": "preparing", "step": "registering"}
    assert any("not online" in p for p in settled_problems(set(CODES), seen))


def test_a_lost_item_is_seen_in_every_view_that_lost_it() -> None:
    assert any(p.startswith("feed") for p in problems_with(feed=converged().feed[:1]))
    assert any(p.startswith("follower mirror") for p in problems_with(mirror={"a": (1, CODES["a"], "online")}))
    assert any(p.startswith("exchange") for p in problems_with(exchange={"a": [(1, "I", CODES["a"], "online")]}))
    assert any(p.startswith("catalogue") for p in problems_with(catalogue={"a": (1, CODES["a"], "online")}))


def test_a_doubled_publication_is_seen() -> None:
    assert any("other than one publication" in p for p in problems_with(feed=[*converged().feed, converged().feed[0]]))
    assert any("exactly one insert row" in p for p in problems_with(
        exchange={**converged().exchange, "a": [(1, "I", CODES["a"], "online"), (2, "U", CODES["a"], "online")]}))


def test_a_shared_or_missing_code_is_seen() -> None:
    seen = converged()
    seen.lifecycle["b"] = {**seen.lifecycle["b"], "code": CODES["a"]}
    assert any("held by more than one item" in p for p in settled_problems(set(CODES), seen))
    seen.lifecycle["b"] = {**seen.lifecycle["b"], "code": None}
    assert any("without a code" in p for p in settled_problems(set(CODES), seen))


def test_a_view_that_diverges_from_the_catalogue_is_seen() -> None:
    assert any(p.startswith("follower mirror") for p in problems_with(
        mirror={**converged().mirror, "b": (2, CODES["b"], "online")}))


def test_a_500_met_during_the_faults_is_a_problem_and_a_503_or_a_dropped_connection_is_not() -> None:
    retried = Counter({("submit", "500 NON_JSON"): 2, ("list", "503 TEMPORARILY_UNAVAILABLE"): 3,
                       ("approve", "ConnectError"): 1})
    [problem] = server_errors(retried)
    assert problem.startswith("submit: answered 500 NON_JSON 2 time(s)")


class _LostAnswerClient:
    """The lifecycle applied the first batch but its answer was lost (the process killed as it answered): the resent
    batch finds every item already past the command."""

    def __init__(self) -> None:
        self.calls = 0

    async def batch(self, command: str, item_ids: list[str], *, user: str,
                    body: dict[str, Any] | None = None) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            raise httpx.ReadError("the connection closed before the answer")
        return {"total": len(item_ids), "results": [
            {"item_id": i, "ok": False, "status": 409, "code": "ILLEGAL_TRANSITION", "message": "…",
             "details": {"phase": "forming", "step": "in_review"}} for i in item_ids]}


def driver(client: Any) -> Driver:
    return Driver(client, {"x", "y"}, Retrier(give_up_s=5), batch_size=10, ceiling=1.0)


async def test_items_a_resent_batch_finds_already_moved_on_are_done_not_refused() -> None:
    lost = driver(_LostAnswerClient())
    await lost._batch("submit", ["a", "b"], ("forming", "entry"), "entry-gz", None)
    assert (lost.already, lost.refused) == (Counter({"submit": 2}), [])
    assert lost.state == {"a": ("forming", "in_review"), "b": ("forming", "in_review")}
    assert lost.retry.retried == Counter({("submit", "ReadError"): 1})


async def test_a_first_answer_that_refuses_an_item_is_reported() -> None:
    refusing = _LostAnswerClient()
    refusing.calls = 1  # no lost answer: the first attempt is refused
    first = driver(refusing)
    await first._batch("submit", ["a"], ("forming", "entry"), "entry-gz", None)
    assert first.already == Counter() and len(first.refused) == 1
