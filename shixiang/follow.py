"""``shixiang follow URL``: the reference client of the national feed. It mirrors the sync gateway's catalogue into
a local SQLite file and keeps it current, as a national integrator's client would.

How it stays right whatever happens to it:

- It starts from the snapshot (``GET /sync/v1/snapshot``, every page, with the epoch of the first), and replaces
  the mirror with it in one SQLite transaction together with the feed cursor and epoch the snapshot names.
- It then follows the feed (``GET /sync/v1/feed?after=…&epoch=…&wait=…``, long-polling). Each page's entries and
  the next cursor are written in one transaction: killed anywhere (even ``kill -9``), it restarts from the last
  cursor it committed, and an entry it applies twice changes nothing (an entry older than the item's mirrored
  version is skipped; entries after the snapshot's cursor may repeat what the snapshot showed).
- When the feed's epoch is gone (410 ``FEED_EPOCH_CHANGED``: the gateway's store was made anew or restored), its
  cursor means nothing any more: it takes a new snapshot and replaces the mirror.

The mirror: table ``items`` holds, per item, the latest published record the follower saw (its item version, code,
state, region and the whole feed entry); the rows whose state is ``online`` are the catalogue (``GET
/sync/v1/catalog``). Table ``follower`` holds the epoch and cursor. ``--once`` stops at the feed's head."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY, item_version INTEGER NOT NULL, code TEXT, state TEXT NOT NULL, region_code TEXT,
    entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS follower (
    id INTEGER PRIMARY KEY CHECK (id = 1), url TEXT NOT NULL, epoch TEXT NOT NULL, cursor INTEGER NOT NULL,
    snapshots INTEGER NOT NULL DEFAULT 0);
"""
SNAPSHOT_PAGE = 1000
FEED_PAGE = 1000


class EpochGone(Exception):
    """The feed's epoch the follower holds is gone (410): it must start again from the snapshot."""


class Refused(Exception):
    """The gateway refused the follower for good (a bad token, a role without feed rights): retrying cannot help."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the sync gateway's base URL, e.g. http://127.0.0.1:8004")
    parser.add_argument("--db", type=Path, required=True, help="the mirror's SQLite file (made if missing)")
    parser.add_argument("--token", required=True, help="a bearer token with the national or operator role")
    parser.add_argument("--once", action="store_true", help="stop at the feed's head instead of following it")
    parser.add_argument("--wait", type=float, default=20.0, help="long-poll seconds per feed request (default 20)")


def run(args: argparse.Namespace) -> int:
    follower = Follower(args.url, args.db, args.token, wait_s=args.wait)
    try:
        follower.follow(once=args.once)
    except Refused as exc:
        print(f"shixiang follow：{exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        follower.close()
    return 0


class Follower:
    def __init__(self, url: str, db: Path, token: str, *, wait_s: float = 20.0) -> None:
        self.base = url.rstrip("/").removesuffix("/sync/v1")
        self.wait_s = wait_s
        self.http = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"},
                                 timeout=httpx.Timeout(10.0, read=wait_s + 30.0))
        self.db = sqlite3.connect(db, isolation_level=None)  # transactions are explicit (BEGIN … COMMIT)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.http.close()
        self.db.close()

    # ---- the loop ---------------------------------------------------------------------------------------------------
    def follow(self, *, once: bool) -> None:
        failures = 0
        while True:
            try:
                position = self.position()
                if position is None:
                    self.snapshot()
                    continue
                epoch, cursor = position
                _, at_head = self.read_feed(epoch, cursor, wait_s=0.0 if once else self.wait_s)
                failures = 0
                if at_head and once:
                    return
            except EpochGone as exc:
                print(f"feed epoch gone (410): {exc}; taking a new snapshot", flush=True)
                self.forget_position()
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                print(f"gateway unreachable or failing ({exc}); retrying in {delay:.1f} s", file=sys.stderr, flush=True)
                time.sleep(delay)

    def position(self) -> tuple[str, int] | None:
        row = self.db.execute("SELECT epoch, cursor FROM follower WHERE id = 1").fetchone()
        return None if row is None else (row[0], int(row[1]))

    def forget_position(self) -> None:
        """The mirror stays as it is (readers keep reading it) until the new snapshot replaces it at once."""
        self.db.execute("DELETE FROM follower")

    # ---- snapshot ---------------------------------------------------------------------------------------------------
    def snapshot(self) -> None:
        """Every page of the snapshot (of one epoch), then the mirror replaced by it, with the cursor and epoch the
        first page named, in one transaction."""
        items: list[dict[str, Any]] = []
        epoch: str | None = None
        cursor = 0
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": SNAPSHOT_PAGE}
            if after:
                params["after_item"] = after
            if epoch is not None:
                params["epoch"] = epoch
            page = self._get("/sync/v1/snapshot", params).json()
            if epoch is None:
                epoch, cursor = page["epoch"], int(page["feed_cursor"])
            items += page["items"]
            after = page["next_item"]
            if after is None:
                break
        assert epoch is not None
        with self._transaction():
            self.db.execute("DELETE FROM items")
            self._apply(items)
            self.db.execute("DELETE FROM follower")
            self.db.execute("INSERT INTO follower (id, url, epoch, cursor, snapshots) VALUES (1, ?, ?, ?, 1)",
                            (self.base, epoch, cursor))
        print(f"snapshot: {len(items)} online items, epoch {epoch}, feed cursor {cursor}", flush=True)

    # ---- feed -------------------------------------------------------------------------------------------------------
    def read_feed(self, epoch: str, cursor: int, *, wait_s: float) -> tuple[int, bool]:
        """One page of the feed applied with its next cursor in one transaction: (entries applied, at the head)."""
        response = self._get("/sync/v1/feed", {"after": cursor, "limit": FEED_PAGE, "wait": wait_s, "epoch": epoch})
        entries = response.json()
        next_cursor = int(response.headers["X-Next-Cursor"])
        with self._transaction():
            applied = self._apply(entries)
            self.db.execute("UPDATE follower SET cursor = ? WHERE id = 1 AND epoch = ?", (next_cursor, epoch))
        if entries:
            print(f"feed: {applied} of {len(entries)} entries applied, cursor {next_cursor}", flush=True)
        return applied, not entries

    def _apply(self, entries: Iterable[dict[str, Any]]) -> int:
        """Apply feed entries (or snapshot items, which are feed entries): each replaces its item's row unless the
        row holds a later item version already. Returns how many changed the mirror."""
        applied = 0
        for entry in entries:
            record = entry["data"]
            cursor = self.db.execute(
                "INSERT INTO items (item_id, item_version, code, state, region_code, entry) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (item_id) DO UPDATE SET item_version = excluded.item_version, code = excluded.code, "
                "state = excluded.state, region_code = excluded.region_code, entry = excluded.entry "
                "WHERE excluded.item_version > items.item_version",
                (record["item_id"], record["item_version"], record["code"], record["state"], record["region_code"],
                 json.dumps(entry, ensure_ascii=False)))
            applied += cursor.rowcount
        return applied

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One SQLite transaction: committed if the block finishes, rolled back if it raises."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        response = self.http.get(path, params=params)
        if response.status_code == 410:
            raise EpochGone(_message(response))
        if response.status_code in (401, 403, 404):
            raise Refused(f"{response.status_code} {_message(response)}")
        response.raise_for_status()
        return response


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return f"{body.get('code')}: {body.get('message')}" if isinstance(body, dict) else response.text[:200]
