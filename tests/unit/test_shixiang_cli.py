"""The command line's defaults: ports from the environment as the README says, and `shixiang import` reaching the
running development suite without flags."""

from __future__ import annotations

import pytest

from shixiang.cli import build_parser


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
