"""The command line's defaults: ports from the environment as the README says, and `shixiang import` reaching the
running development suite without flags."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from shared.auth import ALL_REGIONS, verify_token
from shared.infra import EmbeddedPostgres, free_port
from shixiang.cli import build_parser
from shixiang.import_command import resolve_target
from shixiang.services import SERVICES
from shixiang.suite import StartupError, Suite


def test_dev_takes_the_broker_port_from_shixiang_broker_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIXIANG_BROKER_PORT", "19092")
    assert build_parser().parse_args(["dev"]).broker_port == 19092


def test_dev_takes_every_service_port_from_its_shixiang_service_port(monkeypatch: pytest.MonkeyPatch) -> None:
    wanted = {"registry": 18001, "coding": 18002, "lifecycle": 18003, "sync": 18004}
    for name, port in wanted.items():
        monkeypatch.setenv(f"SHIXIANG_{name.upper()}_PORT", str(port))
    args = build_parser().parse_args(["dev"])
    assert {name: getattr(args, f"{name}_port") for name in wanted} == wanted


def test_the_sync_gateway_port_also_answers_to_its_readme_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIXIANG_SYNC_PORT", raising=False)
    monkeypatch.setenv("SHIXIANG_SYNC_GATEWAY_PORT", "18044")
    assert build_parser().parse_args(["dev"]).sync_port == 18044


def test_an_option_wins_over_the_environment_and_no_setting_keeps_the_defaults(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIXIANG_BROKER_PORT", "19092")
    assert build_parser().parse_args(["dev", "--broker-port", "29092"]).broker_port == 29092
    for name in ("BROKER", "REGISTRY", "CODING", "LIFECYCLE", "SYNC", "SYNC_GATEWAY"):
        monkeypatch.delenv(f"SHIXIANG_{name}_PORT", raising=False)
    args = build_parser().parse_args(["dev"])
    assert (args.broker_port, args.registry_port, args.sync_port) == (None, 8001, 8004)


# ---- shixiang import: the development suite needs nothing but the file -------------------------------------------
def dev_manifest(tmp_path: Path, *, environment: str = "development") -> Path:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"registry": {"url": "http://127.0.0.1:18001", "env": {
        "SHIXIANG_ENVIRONMENT": environment, "SHIXIANG_JWT_SECRET": "the-suite-secret-of-at-least-32-bytes!"}}}))
    return path


@pytest.fixture
def no_target_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIXIANG_REGISTRY_URL", raising=False)
    monkeypatch.delenv("SHIXIANG_TOKEN", raising=False)


@pytest.mark.usefixtures("no_target_in_environment")
def test_import_without_flags_reaches_the_dev_suite_with_an_entry_token_for_every_region(tmp_path: Path) -> None:
    url, token = resolve_target(None, None, dev_manifest(tmp_path))
    assert url == "http://127.0.0.1:18001"
    assert token is not None
    principal = verify_token(token, "the-suite-secret-of-at-least-32-bytes!")
    assert principal.roles == frozenset({"entry"}) and principal.regions == (ALL_REGIONS,)


@pytest.mark.usefixtures("no_target_in_environment")
def test_import_mints_no_token_for_another_registry_or_outside_development(tmp_path: Path) -> None:
    assert resolve_target("https://registry.example", None, dev_manifest(tmp_path)) == ("https://registry.example",
                                                                                       None)
    assert resolve_target(None, None, dev_manifest(tmp_path, environment="production"))[1] is None
    assert resolve_target(None, None, tmp_path / "absent.json") == (None, None)


@pytest.mark.usefixtures("no_target_in_environment")
def test_import_options_and_environment_win_over_the_dev_suite(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_target(None, "given", dev_manifest(tmp_path)) == ("http://127.0.0.1:18001", "given")
    monkeypatch.setenv("SHIXIANG_TOKEN", "from-env")
    monkeypatch.setenv("SHIXIANG_REGISTRY_URL", "http://elsewhere")
    assert resolve_target(None, None, dev_manifest(tmp_path)) == ("http://elsewhere", "from-env")


# ---- start-up failures are one line -------------------------------------------------------------------------------
def test_postgresql_failing_at_start_up_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(self: EmbeddedPostgres) -> EmbeddedPostgres:
        raise subprocess.CalledProcessError(1, ["pg_ctl", "start"], stderr="FATAL: could not create lock file\n…")

    monkeypatch.setattr(EmbeddedPostgres, "start", failing)
    suite = Suite(root=tmp_path, ports={name: free_port() for name in SERVICES}, broker_port=free_port())
    with pytest.raises(StartupError) as caught:
        suite.start()
    assert caught.value.message.startswith("PostgreSQL 启动失败")
    assert "FATAL: could not create lock file" in caught.value.message  # pg_ctl's reason
    assert "\n" not in caught.value.message and str(tmp_path) in caught.value.message


def test_a_port_something_listens_on_is_named_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        suite = Suite(root=tmp_path, ports={**{name: free_port() for name in SERVICES}, "coding": taken})
        with pytest.raises(StartupError) as caught:
            suite.check_ports()
    assert f"coding {taken}" in caught.value.message and "\n" not in caught.value.message
