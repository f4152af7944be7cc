"""Chaos while a list comes online (bench/chaos.py at a size that fits CI; ``python -m bench.chaos --items 20000`` is
the larger run): while a list is imported and driven to online with the batch API, each service process is killed
with SIGKILL and started again, the broker is wiped, PostgreSQL crashes and comes back and the ``shixiang follow``
mirror is killed; afterwards, with no repair by hand, every promise holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.chaos import BROKER, FOLLOWER, POSTGRES, run_chaos
from shixiang.services import SERVICES
from shixiang.suite import Suite

pytestmark = pytest.mark.e2e

ITEMS = 300
SEED = int(os.environ.get("SHIXIANG_CHAOS_SEED", "17"))  # another seed: another order and other moments


async def test_a_list_comes_online_exactly_once_through_killed_services_a_wiped_broker_and_a_crashed_database(
        suite: Suite, tmp_path: Path) -> None:
    # Bounds on waiting well inside pytest's timeout, so that a run that does not converge reports what is open.
    result = await run_chaos(suite, ITEMS, seed=SEED, workdir=tmp_path, stall_s=90, converge_timeout_s=90)
    figures = "\n".join(result.lines())  # the run: faults, retries, checks, time to converge
    # Every fault hit work in flight: the list was not yet online when any of them was injected.
    assert sorted(i.fault.target for i in result.injected) == sorted([*SERVICES, BROKER, POSTGRES, FOLLOWER])
    assert all(i.progress < 1 for i in result.injected), figures
    assert result.problems == [], figures
    assert result.converge_s is not None, figures
    assert result.follower_exited is None, figures  # the follower rode out the outages itself
