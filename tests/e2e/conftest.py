"""The whole suite as separate uvicorn processes on its own embedded PostgreSQL and broker (what `make dev` runs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.infra import free_port
from shixiang.services import SERVICES
from shixiang.suite import Suite


@pytest.fixture(scope="package")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    running = Suite(root=tmp_path_factory.mktemp("suite"), ports={name: free_port() for name in SERVICES},
                    broker_port=free_port())
    try:
        running.start()
    except Exception:
        running.stop()
        raise
    try:
        yield running
    finally:
        running.stop()
