"""``shixiang rebuild [SERVICE …]``: every service rebuilds its read models, each on its own database (the rebuilds
themselves are tested on PostgreSQL in tests/integration/test_rebuild_read_models.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.rebuild import RebuildReport
from shixiang import cli
from shixiang.services import SERVICES


def test_every_service_has_a_rebuild_of_its_read_models() -> None:
    without = [name for name, entry in SERVICES.items() if not callable(getattr(entry.bootstrap(), "rebuild", None))]
    assert without == []


@pytest.fixture
def rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, str]]:
    """Each service's rebuild replaced by one that notes the database it was given; the development suite's
    manifest gives every service its own database."""
    calls: list[tuple[str, str]] = []
    for entry in SERVICES.values():
        async def rebuild(settings: Any, name: str = entry.name) -> int:
            calls.append((name, settings.database_url))
            return 0

        monkeypatch.setattr(entry.bootstrap(), "rebuild", rebuild)
    (tmp_path / "suite.json").write_text(json.dumps({
        name: {"env": {"SHIXIANG_DATABASE_URL": f"postgresql+asyncpg://dev/{entry.database}"}}
        for name, entry in SERVICES.items()}))
    monkeypatch.setattr(cli, "DEV_ROOT", tmp_path)
    monkeypatch.delenv("SHIXIANG_DATABASE_URL", raising=False)
    return calls


def test_without_a_service_every_service_is_rebuilt_on_its_own_database(rebuilt: list[tuple[str, str]]) -> None:
    assert cli.main(["rebuild"]) == 0
    assert rebuilt == [(name, f"postgresql+asyncpg://dev/{entry.database}") for name, entry in SERVICES.items()]


def test_named_services_and_a_given_database(rebuilt: list[tuple[str, str]]) -> None:
    assert cli.main(["rebuild", "sync-gateway", "coding"]) == 0
    assert cli.main(["rebuild", "--service", "registry", "--database-url", "postgresql+asyncpg://elsewhere/r"]) == 0
    assert rebuilt == [("sync", "postgresql+asyncpg://dev/shixiang_sync"),
                       ("coding", "postgresql+asyncpg://dev/shixiang_coding"),
                       ("registry", "postgresql+asyncpg://elsewhere/r")]


def test_one_database_url_cannot_serve_several_services(rebuilt: list[tuple[str, str]],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rebuild", "--database-url", "postgresql+asyncpg://elsewhere/r"]) == 2
    assert "exactly one SERVICE" in capsys.readouterr().err and rebuilt == []


def test_the_report_gives_rows_per_read_model_the_rate_and_what_was_kept() -> None:
    report = RebuildReport("registry", 12_000, {"registry_items": 3_000}, 0.5,
                           {"registry_item_phases": "from the lifecycle's events"})
    assert report.summary() == ("registry read models rebuilt from 12,000 events: registry_items 3,000 in 0.50s "
                                "(24,000 events/s)\n  kept registry_item_phases: from the lifecycle's events")
