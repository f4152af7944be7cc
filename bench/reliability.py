"""docs/reliability.md: every guarantee the suite makes, how it keeps it, the tests that prove it, how to run them,
and their last result (date, machine, commit) — written by running those tests.

    .venv/bin/python -m bench.reliability [--only SUBSTRING] [--output docs/reliability.md]

The guarantees are listed once, here (README's "Guarantees" section links to the page). Each proof runs in its own
pytest process on the real embedded PostgreSQL and broker, like `make test`; the page records passed/failed, the
tests counted and the seconds taken. A guarantee whose tests fail is written as failing — the page never claims
more than the last run showed. ``--only`` reruns the guarantees whose promise contains the text and keeps the other
rows' last results."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from defusedxml import ElementTree

from bench.machine import describe

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reliability.md"


@dataclass(frozen=True)
class Guarantee:
    promise: str
    how: str
    proof: str  # what the tests do, in a sentence or two
    tests: tuple[str, ...]  # pytest node ids (files, or file::test)


GUARANTEES: tuple[Guarantee, ...] = (
    Guarantee(
        "no event skipped by a relay or a reader, even when transactions commit out of order",
        "events record their transaction id; readers follow `(tx_id, position)` and read only below the oldest "
        "transaction still running (no lock held through commits)",
        "16 writers committing 0–6 ms after their inserts while a reader polls \"after my last place\": every event "
        "once (a control that follows positions skips); 16 writers × 500 events racing on shared streams: each "
        "published exactly once, in per-stream order",
        ("tests/integration/test_readers_never_skip.py", "tests/integration/test_relay_publishes_every_event_once.py"),
    ),
    Guarantee(
        "a crashed relay loses and doubles nothing",
        "the checkpoint moves only after the broker's acks; consumers record each event id in the effect's "
        "transaction",
        "the relay process `kill -9`'d three times mid-stream",
        ("tests/integration/test_relay_survives_a_kill.py",),
    ),
    Guarantee(
        "the loss of the broker heals by itself",
        "relays detect a new broker (epoch marker topic, offsets going backwards) and republish from PostgreSQL; "
        "consumers drop duplicates",
        "the broker restarted empty under a relay and consumers; the whole suite's broker wiped and a service "
        "killed while items go online: each reaches the national feed exactly once",
        ("tests/integration/test_broker_restart_heals.py", "tests/e2e/test_suite_survives_infrastructure_loss.py"),
    ),
    Guarantee(
        "no message can stop a consumer",
        "reading never raises: undecodable headers, keys or JSON (nested 100,000 deep), tombstones, an 8 MiB value "
        "and a source that is not the topic's owner are dead letters at once; other errors retry, then "
        "dead-letter; an outage waits and is reported",
        "on the real broker: every partition's offsets move past the poison; an outage makes `/readyz` degraded, "
        "then nothing is lost",
        ("tests/integration/test_consumer_dead_letters.py",),
    ),
    Guarantee(
        "dead letters are never lost and are handled by people",
        "a row in the consuming service's database first, then the DLT topic; `shixiang dlt` list, show, replay and "
        "discard and `/<service>/v1/dead-letters`; a replay applies at most once",
        "dead letters listed, replayed and discarded through the API and the command, with their recorded actions",
        ("tests/integration/test_consumer_dead_letters.py", "tests/e2e/test_operator_commands.py"),
    ),
    Guarantee(
        "a well-formed event is not taken as fact",
        "producers' stores refuse events that break their contract; consumers validate (after upcasting) and "
        "refuse items they never heard of",
        "published `{}`, a registration for an item nobody created, forged drafts and revisions: dead letters, "
        "nothing else changes",
        ("tests/integration/test_forged_events.py", "tests/unit/test_event_contracts.py"),
    ),
    Guarantee(
        "one batch, one transaction, the same outcome",
        "consumers apply a fetched batch in one transaction, tracking rows with the effects; a failing batch is "
        "applied one event at a time",
        "500 events with a poison one and duplicates: each applied once, in order",
        ("tests/integration/test_consumer_batches.py",),
    ),
    Guarantee(
        "concurrent commands on one item: one wins; history cannot be edited unnoticed",
        "primary key `(stream_id, version)` + the expected version → 409; every stream is hash-chained",
        "racing appends, edited, removed and reordered events found by the chain check",
        ("tests/integration/test_event_store.py",),
    ),
    Guarantee(
        "a schema upgrade loses nothing",
        "one alembic history per database; each upgrade one transaction under an advisory lock; production "
        "services refuse a database behind head (`shixiang migrate <service>` upgrades it)",
        "databases at revision 1 filled by the four services, upgraded: logs unchanged, every chain verifies, read "
        "models rebuild row for row; the revisions add up to the models; `create_all` databases adopted",
        ("tests/integration/test_migrations_upgrade.py", "tests/integration/test_migrations.py"),
    ),
    Guarantee(
        "read models always say what the log says",
        "every write updates its read models in the transaction of its events; `shixiang rebuild` derives them "
        "again in one transaction",
        "each service's read models thrown away and rebuilt equal what live processing wrote",
        ("tests/integration/test_rebuild_read_models.py",),
    ),
    Guarantee(
        "nothing unpublished leaves on any outward channel",
        "every channel (feed, snapshot, catalogue and its csv/xlsx, public guide and its page, the exchange "
        "database, webhooks) is built from published records only",
        "a marker in a draft, pending and rejected revisions, a rejection reason and test notes is in no outward "
        "byte; a cancelled draft never reaches the feed",
        ("tests/e2e/test_nothing_unpublished_leaves.py", "tests/e2e/test_item_end_to_end.py"),
    ),
    Guarantee(
        "a feed client never follows a feed that is gone, and a mirror killed anywhere equals the catalogue",
        "the epoch on every answer (`epoch=` of another one is 410 `FEED_EPOCH_CHANGED`); `shixiang follow` "
        "commits its cursor with the entries it applied",
        "the reference client `kill -9`'d mid-run and restarted, and re-snapshotting after a new epoch",
        ("tests/integration/test_national_catalogue.py", "tests/e2e/test_national_follower.py"),
    ),
    Guarantee(
        "webhooks are delivered in order, at least once, signed, only to allowed hosts",
        "one message in flight per subscription (a lease), progress in the gateway's database, the same "
        "`webhook-id` on retries; the allow-list and every resolved address checked at each connection",
        "a real local receiver verifying signatures from the spec: order, retries, 410, redirects, DNS rebinding, "
        "rotation, a stopped and a killed worker, replay, regions",
        ("tests/integration/test_sync_webhooks.py", "tests/e2e/test_webhooks_in_the_suite.py"),
    ),
    Guarantee(
        "the whole suite under fire loses, doubles and strands nothing, and needs no repair",
        "every part recovers by itself: relays republish from PostgreSQL after a broker loss, consumers drop "
        "duplicates and wait out outages, the API answers an outage 503 `TEMPORARILY_UNAVAILABLE` (never a 500), "
        "clients resend (a resent batch answers what is already done as `ILLEGAL_TRANSITION` with the current step)",
        "while a list is imported and driven to online with the batch API, each service process `kill -9`'d and "
        "started again, the broker wiped, PostgreSQL crashed (immediate stop, crash recovery) and started again, the "
        "`shixiang follow` mirror `kill -9`'d, in a seeded order at seeded points of the work → every item online "
        "exactly once (one `published` event, one feed entry), its own code and none assigned twice, feed = exchange "
        "`up_task_general` = mirror = catalogue, every stream's hash chain verifies in every store, no dead letter "
        "left after a replay, no 500 answered; `python -m bench.chaos --items 20000` is the larger run",
        ("tests/e2e/test_chaos.py", "tests/unit/test_chaos_checks.py"),
    ),
    Guarantee(
        "every write and every read limited to its roles and regions",
        "tokens checked on every route; regions and roles in the service layer; reviewers never approve their own "
        "work",
        "forged, expired, wrong-role, wrong-region and self-review attempts refused; reads beyond a caller's regions "
        "answer nothing of them",
        ("tests/integration/test_read_rights.py", "tests/e2e/test_read_rights.py"),
    ),
    Guarantee(
        "bad input is a 4xx with a stable code and a Chinese message, and changes nothing",
        "one error table per service; request checks before any work",
        "NUL characters, numbers beyond the database's types, deep JSON, hostile files; every operation of the four "
        "OpenAPI documents fuzzed (schemathesis) with no 5xx",
        ("tests/integration/test_bad_input.py", "tests/integration/test_schemathesis.py",
         "tests/integration/test_registry_files_safety.py"),
    ),
)


@dataclass(frozen=True)
class Result:
    passed: int
    failed: int
    seconds: float
    when: str

    @property
    def verdict(self) -> str:
        return f"**passed** ({self.passed} tests)" if not self.failed else \
            f"**FAILED** ({self.failed} of {self.passed + self.failed} tests)"


def run_proof(guarantee: Guarantee, work: Path) -> Result:
    report = work / "junit.xml"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={work / 'pt'}",
                    f"--junitxml={report}", *guarantee.tests], cwd=ROOT, check=False, capture_output=True)
    seconds = time.perf_counter() - started
    suites = ElementTree.parse(report).getroot().iter("testsuite")
    tests = failed = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return Result(tests - failed - skipped, failed, seconds, datetime.now(UTC).strftime("%Y-%m-%d"))


def previous_results(page: Path) -> dict[str, str]:
    """The result cells of the page as it is, by promise (kept for the guarantees not rerun)."""
    if not page.exists():
        return {}
    found = {}
    for line in page.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] and not cells[0].startswith(("promise", "---")):
            found[cells[0]] = cells[4]
    return found


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                         check=False)
    return out.stdout.strip() or "unknown"


def render(results: dict[str, str], machine: str) -> str:
    lines = [
        "# Reliability: what the suite guarantees, and the proof",
        "",
        "Written by `python -m bench.reliability` (the guarantees are listed once, in `bench/reliability.py`), which",
        "runs each guarantee's tests — on the real embedded PostgreSQL 18 and Tansu broker, the suite's services as",
        "their own processes where the test says so, nothing mocked — and records the result below. The same tests",
        "run in `make test` on every CI run; this page keeps the date, machine and commit of the last dedicated run.",
        "To run one guarantee's proof yourself: `.venv/bin/python -m pytest -q <the files in its row>`.",
        "",
        f"Machine of the last run: {machine}.",
        "",
        "| promise | how | proved by | tests | last result |",
        "|---|---|---|---|---|",
    ]
    for g in GUARANTEES:
        tests = "<br>".join(f"`{t}`" for t in g.tests)
        lines.append(f"| {g.promise} | {g.how} | {g.proof} | {tests} | {results.get(g.promise, 'not run yet')} |")
    lines += [
        "",
        "Kafka authentication is the one part not proved against a real peer here: the embedded broker cannot check",
        "a SASL login (its memory storage keeps no SCRAM credentials), so the clients' side (SCRAM, PLAIN, TLS, mTLS)",
        "is tested against a stand-in broker that records the handshake",
        "(`tests/integration/test_kafka_clients_authenticate.py`; deploy/README.md, \"Pointing the suite at an",
        "existing secured Kafka\").",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=None, help="rerun only the guarantees whose promise contains this text")
    parser.add_argument("--output", type=Path, default=PAGE)
    args = parser.parse_args(argv)
    results = previous_results(args.output)
    machine = describe()
    revision = commit()
    for g in GUARANTEES:
        if args.only and args.only not in g.promise:
            continue
        with tempfile.TemporaryDirectory(prefix="shixiang-reliability-") as work:
            result = run_proof(g, Path(work))
        results[g.promise] = f"{result.verdict} in {result.seconds:.0f} s, {result.when}, commit {revision}"
        print(f"{result.verdict:<30} {result.seconds:6.0f} s  {g.promise}", flush=True)
    page = render(results, machine)
    args.output.write_text(page, encoding="utf-8")
    failed = [p for p, cell in results.items() if "FAILED" in cell]
    print(f"wrote {args.output}" + (f"; failing: {failed}" if failed else ""))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
