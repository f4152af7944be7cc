"""Chaos while a list comes online (bench/chaos.py at a size that fits CI; ``python -m bench.chaos --items 20000`` is
the larger run): while a list is imported and driven to online with the batch API, each service process is killed
with SIGKILL and started again, the broker is wiped, PostgreSQL crashes and comes back and the ``shixiang follow``
mirror is killed; afterwards, with no repair by hand, every promise holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.chaos import BROKER, FOLLOWER, POSTGRES, fault_schedule, run_chaos
from shixiang.services import SERVICES
from shixiang.suite import Suite

pytestmark = pytest.mark.e2e

ITEMS = 300
SEED = int(os.environ.get("SHIXIANG_CHAOS_SEED", "17"))  # another seed: another order and other moments


def test_the_schedule_hits_every_part_once_in_a_seeded_order_while_work_remains() -> None:
    schedule = fault_schedule(SEED)
    assert sorted(f.target for f in schedule) == sorted([*SERVICES, BROKER, POSTGRES, FOLLOWER])
    assert schedule == fault_schedule(SEED)
    assert [f.at for f in schedule] == sorted(f.at for f in schedule) and all(0 < f.at < 1 for f in schedule)
    assert [f.target for f in fault_schedule(SEED + 1)] != [f.target for f in schedule] or [
        f.at for f in fault_schedule(SEED + 1)] != [f.at for f in schedule]


async def test_a_list_comes_online_exactly_once_through_killed_services_a_wiped_broker_and_a_crashed_database(
        suite: Suite, tmp_path: Path) -> None:
    result = await run_chaos(suite, ITEMS, seed=SEED, workdir=tmp_path)
    figures = "\n".join(result.lines())  # the run: faults, retries, checks, time to converge
    # Every fault hit work in flight: the list was not yet online when any of them was injected.
    assert sorted(i.fault.target for i in result.injected) == sorted([*SERVICES, BROKER, POSTGRES, FOLLOWER])
    assert all(i.progress < 1 for i in result.injected), figures
    assert result.problems == [], figures
    assert result.converge_s is not None, figures
    assert result.follower_exited is None, figures  # the follower rode out the outages itself
