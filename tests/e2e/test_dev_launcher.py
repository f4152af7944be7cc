"""`make dev` (shixiang dev): brings the suite up, prints the URLs and working demo tokens, and on SIGTERM or Ctrl-C
stops every child — no postgres, tansu or uvicorn left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared.infra import free_port
from shixiang.services import SERVICES

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
    broker_port = free_port()
    args = [sys.executable, "-m", "shixiang.cli", "dev", "--root", str(root), "--broker-port", str(broker_port)]
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
