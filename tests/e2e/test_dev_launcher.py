"""`make dev` (shixiang dev): brings the suite up, prints the URLs and working demo tokens, and on SIGTERM or Ctrl-C
stops every child — no postgres, tansu or uvicorn left behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared.infra import free_port, port_is_free
from shixiang.services import SERVICES
from shixiang.suite import Suite

pytestmark = pytest.mark.e2e


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(line for line in (proc / "status").read_text().splitlines() if line.startswith("State:"))
        except (OSError, StopIteration):
            continue
        if text in cmdline and "Z" not in state.split()[1]:  # zombies are already dead
            found.append(f"{proc.name}: {cmdline}")
    return found


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_make_dev_prints_urls_and_tokens_and_stops_every_child(tmp_path: Path, stop_signal: signal.Signals) -> None:
    root = tmp_path / "dev"
    ports = {name: free_port() for name in SERVICES}
    broker_port, issuer_port = free_port(), free_port()
    args = [sys.executable, "-m", "shixiang.cli", "dev", "--root", str(root), "--broker-port", str(broker_port),
            "--issuer-port", str(issuer_port)]
    for name, port in ports.items():
        args += [f"--{name}-port", str(port)]
    launcher = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    output: list[str] = []
    try:
        deadline = time.monotonic() + 90
        assert launcher.stdout is not None
        while time.monotonic() < deadline:
            line = launcher.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.strip().startswith("Try"):
                break
        text = "".join(output)
        assert "suite is up" in text, text
        for name, port in ports.items():
            assert f"http://127.0.0.1:{port}{SERVICES[name].prefix}" in text
        token = re.search(r"national .*\n\s+(\S+)", text)
        assert token, text
        feed = httpx.get(f"http://127.0.0.1:{ports['sync']}/sync/v1/feed",
                         headers={"Authorization": f"Bearer {token.group(1)}"})
        assert feed.status_code == 200 and feed.json() == []
        assert_the_services_verify_the_development_issuers_tokens_like_a_providers(text, root, issuer_port, ports)
        assert processes_mentioning(str(root)), "postgres should be running now"
        assert all(processes_mentioning(f"--port {port}") for port in ports.values()), "one uvicorn per service"
        assert processes_mentioning(f"127.0.0.1:{broker_port}"), "tansu should be running now"
    finally:
        launcher.send_signal(stop_signal)
        rest, _ = launcher.communicate(timeout=60)
    assert launcher.returncode == 0, rest
    assert "stopped" in rest
    time.sleep(0.5)
    assert processes_mentioning(str(root)) == []  # postgres -D <root>/pg
    assert [p for port in ports.values() for p in processes_mentioning(f"--port {port}")] == []  # uvicorn
    assert processes_mentioning(f"127.0.0.1:{broker_port}") == []  # tansu
    assert processes_mentioning(f"--port {issuer_port}") == []  # the development issuer


def assert_the_services_verify_the_development_issuers_tokens_like_a_providers(
        banner: str, root: Path, issuer_port: int, ports: dict[str, int]) -> None:
    """Issue 18: the dev suite runs an issuer (its URL in the banner), `shixiang token` asks it, and the services
    verify its tokens against its JWKS — an HS256 token of the development secret no longer opens anything."""
    from shared.auth import ALL_REGIONS, mint_token
    from shared.settings import DEVELOPMENT_JWT_SECRET

    issuer = f"http://127.0.0.1:{issuer_port}"
    assert f"issuer     {issuer}" in banner
    assert httpx.get(f"{issuer}/.well-known/openid-configuration").json()["jwks_uri"] == f"{issuer}/jwks.json"
    minted = subprocess.run([sys.executable, "-m", "shixiang.cli", "token", "--sub", "national-2", "--roles",
                             "national", "--regions", "*"], capture_output=True, text=True, check=True,
                            env={**os.environ, "SHIXIANG_DEV_ROOT": str(root)}).stdout.strip()
    feed = f"http://127.0.0.1:{ports['sync']}/sync/v1/feed"
    assert httpx.get(feed, headers={"Authorization": f"Bearer {minted}"}).status_code == 200
    shared_secret = mint_token(DEVELOPMENT_JWT_SECRET, subject="national", roles=["national"], regions=[ALL_REGIONS])
    refused = httpx.get(feed, headers={"Authorization": f"Bearer {shared_secret}"})
    assert (refused.status_code, refused.json()["code"]) == (401, "AUTHENTICATION_REQUIRED")


# ---- restarting at once ---------------------------------------------------------------------------------------------
TIME_WAIT = "06"  # the state column of /proc/net/tcp


def lingering_in_time_wait(port: int) -> None:
    """Leave the port as a stopped suite leaves it when a client (a feed long-poll) was still connected: the server
    closed its side first, so the server's end of the connection lingers in TIME_WAIT, and nothing listens."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen()
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            accepted.close()  # the server side closes first …
            assert client.recv(1) == b""  # … the client sees the end of the stream and closes too
    deadline = time.monotonic() + 5  # on loopback the last ACK is handled at once; this only bounds a surprise
    while (port, TIME_WAIT) not in tcp_states() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (port, TIME_WAIT) in tcp_states()


def tcp_states() -> set[tuple[int, str]]:
    """(local port, state) of every IPv4 TCP socket, TIME_WAIT ones included."""
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return {(int(row[1].split(":")[1], 16), row[3]) for row in rows}


def bound_without_reuse(port: int) -> bool:
    """What the launcher checked before: a bind without SO_REUSEADDR."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_a_port_lingering_in_time_wait_is_free_for_the_suite(tmp_path: Path) -> None:
    port = free_port()
    lingering_in_time_wait(port)
    assert not bound_without_reuse(port)  # what made `make dev` refuse to start for up to a minute
    assert port_is_free(port)
    Suite(root=tmp_path, ports={**{n: free_port() for n in SERVICES}, "sync": port}).check_ports()  # no error


def test_make_dev_starts_again_at_once_on_ports_its_last_run_left_in_time_wait(tmp_path: Path) -> None:
    ports = {name: free_port() for name in SERVICES}
    broker_port = free_port()
    for port in [*ports.values(), broker_port]:
        lingering_in_time_wait(port)
    args = [sys.executable, "-m", "shixiang.cli", "dev", "--root", str(tmp_path / "dev"),
            "--broker-port", str(broker_port)]
    for name, port in ports.items():
        args += [f"--{name}-port", str(port)]
    launcher = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    output: list[str] = []
    try:
        assert launcher.stdout is not None
        for line in launcher.stdout:
            output.append(line)
            if "suite is up" in line or "无法启动" in line:
                break
    finally:
        launcher.send_signal(signal.SIGTERM)
        rest, _ = launcher.communicate(timeout=60)
    assert "suite is up" in "".join(output), "".join(output) + rest


def test_make_dev_on_a_port_in_use_says_so_in_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        ports = {**{name: free_port() for name in SERVICES}, "lifecycle": taken}
        args = [sys.executable, "-m", "shixiang.cli", "dev", "--root", str(tmp_path / "dev"),
                "--broker-port", str(free_port())]
        for name, port in ports.items():
            args += [f"--{name}-port", str(port)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert "端口已被占用" in errors[0] and f"lifecycle {taken}" in errors[0]
    assert processes_mentioning(str(tmp_path / "dev")) == []  # nothing was started, or it was stopped
