"""``shixiang migrate SERVICE``: the service's database (``SHIXIANG_DATABASE_URL``) upgraded to the head of its
migration history, and for ``sync`` also the exchange database (``SHIXIANG_EXCHANGE_DATABASE_URL``, when set).
Idempotent and safe when several run at once (shared.migrations: one transaction under the schema lock). What
compose's init step and the Kubernetes migrate Job run before the service's processes start; in production the
services never migrate themselves and refuse a database behind head.

  --check      exit 1 (saying which database is where) unless every database is at head; changes nothing
  --to REV     upgrade the database whose history has that revision to it instead of head (the others to head)
  --sql        print the upgrade's SQL (alembic's offline mode) for a DBA instead of running it; from an empty
               database, or from ``--from REV``

Settings come from the service's SHIXIANG_* environment, as for ``shixiang serve``, or from the running development
suite's manifest."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable
from typing import Any, TextIO

from shared.db import OutdatedSchemaError, make_engine
from shared.migrations import History, check_at_head, current_revision, offline_sql, upgrade
from shixiang.services import SERVICES, service_entry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", help=", ".join(SERVICES))
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless the database is at head (changes nothing)")
    parser.add_argument("--to", default="head", metavar="REV", help="the revision to upgrade to (default: head)")
    parser.add_argument("--sql", action="store_true",
                        help="print the upgrade's SQL instead of running it (for a DBA)")
    parser.add_argument("--from", dest="start", default=None, metavar="REV",
                        help="with --sql: the revision the database is at (default: an empty database)")


def targets(service: str, settings: Any) -> list[tuple[History, str]]:
    """The histories a service's migration upgrades, each with its database URL: its own database, and the exchange
    database when the service has one configured (the sync gateway's ``exchange_database_url``)."""
    package = service_entry(service).module.split(".")[0]
    found = [(importlib.import_module(f"{package}.adapters.migrations").HISTORY, settings.database_url)]
    exchange_url = getattr(settings, "exchange_database_url", None)
    if exchange_url:
        found.append((importlib.import_module(f"{package}.adapters.exchange_migrations").HISTORY, exchange_url))
    return found


def _has(history: History, revision: str) -> bool:
    return any(r.revision == revision for r in history.script.walk_revisions())


def run(args: argparse.Namespace, settings_of: Callable[[str], Any], *, out: TextIO = sys.stdout,
        err: TextIO = sys.stderr) -> int:
    entry = service_entry(args.service)
    found = targets(entry.name, settings_of(entry.name))
    # Revision ids name their history (registry_0002, exchange_0001): --to picks the database it belongs to.
    if args.to != "head" and not any(_has(history, args.to) for history, _ in found):
        print(f"shixiang migrate: no migration history of {entry.name} has the revision {args.to!r}", file=err)
        return 2
    plan = [(history, url, args.to if _has(history, args.to) else "head") for history, url in found]
    if args.sql:
        for history, _, to in plan:
            print(f"-- {history.name} database: {args.start or 'empty'} → {to}", file=out)
            print(offline_sql(history, to, args.start if args.start and _has(history, args.start) else None),
                  file=out)
        return 0
    return asyncio.run(_run(plan, check=args.check, out=out, err=err))


async def _run(plan: list[tuple[History, str, str]], *, check: bool, out: TextIO, err: TextIO) -> int:
    code = 0
    for history, url, to in plan:
        engine = make_engine(url, pool_size=1)
        database = f"{history.name} database {engine.url.database!r}"
        try:
            if check:
                await check_at_head(engine, history)
                print(f"{database}: at head ({history.head})", file=out)
                continue
            before = await current_revision(engine)
            await upgrade(engine, history, to)
            after = await current_revision(engine)
            change = f"{before or '(empty)'} → {after}" if before != after else f"already at {after}"
            print(f"{database}: {change}{' (head)' if after == history.head else ''}", file=out)
        except OutdatedSchemaError as exc:  # not at head, or a database that cannot be adopted: say so, go on
            print(f"shixiang migrate: {exc}", file=err)
            code = 1
        finally:
            await engine.dispose()
    return code
