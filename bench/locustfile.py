"""The users of `bench.load` (run by locust, headless, one step of the rising rate at a time): civil servants reading
lists and items and moving items through their lifecycle, and the national platform reading the feed and the
catalogue — each request a separate HTTP call to the service that answers it, as the suite's clients make them.

Configured by the JSON file named in ``SHIXIANG_LOAD_PLAN`` (written by `bench.load`): the services' URLs, the demo
users' tokens, the ids of online items to read, the feed's head, each user's request rate, the first item number its
new items take (`bench.pipeline.item_name`), and the file where every response's latency is written (one line per
request: ``time name milliseconds status``), from which `bench.load` takes exact percentiles per group (locust's
own statistics are kept per request name only).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from collections import deque
from typing import Any

from locust import FastHttpUser, constant_throughput, events, task

from bench.pipeline import item_name
from shixiang.examples import complete_item

PLAN: dict[str, Any] = json.loads(open(os.environ["SHIXIANG_LOAD_PLAN"], encoding="utf-8").read())  # noqa: SIM115
URLS: dict[str, str] = PLAN["urls"]
ONLINE: list[str] = PLAN["online"]
REGION = PLAN["region"]
_log = open(PLAN["latency_file"], "a", buffering=1 << 16, encoding="utf-8")  # noqa: SIM115 - closed at quit
_numbers = itertools.count()

# (command, user, body): the steps from a draft to online, each by the role that may take it
STEPS: list[tuple[str, str, dict[str, Any]]] = [
    ("submit", "entry-gz", {}),
    ("approve", "reviewer-gz", {}),
    ("record-test", "tester-gz", {"result": "pass", "notes": "联调通过"}),
    ("register", "publisher-gz", {}),
    ("publish", "publisher-gz", {}),
]
# Answers that mean "not yet" for the next step of an item just created or just registered (the lifecycle has not
# heard of the draft yet; the code has not arrived): the item is asked again later, the request still counts.
NOT_YET = {404, 409}


@events.request.add_listener
def _record(request_type: str, name: str, response_time: float, response_length: int, response: Any = None,
            exception: Any = None, **_: Any) -> None:
    status = getattr(response, "status_code", 0) if exception is None or response is not None else 0
    _log.write(f"{time.time():.3f}\t{name}\t{response_time:.2f}\t{status}\n")


@events.quitting.add_listener
def _close(**_: Any) -> None:
    _log.flush()


def _headers(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {PLAN['tokens'][user]}"}


class Clerk(FastHttpUser):
    """One user of the mix: ≈ 70 % reads, 20 % lifecycle work, 10 % the national platform's reads."""

    wait_time = constant_throughput(PLAN["per_user_rate"])
    host = URLS["registry"]

    def on_start(self) -> None:
        self.work: deque[tuple[str, int]] = deque()  # (item id, next step) of the items this user is moving

    def _get(self, service: str, path: str, name: str, user: str, **params: Any) -> None:
        self.client.get(f"{URLS[service]}{path}", params=params or None, headers=_headers(user), name=name)

    @task(20)
    def registry_list(self) -> None:
        self._get("registry", "/registry/v1/items", "read: registry list", "entry-gz", limit=20)

    @task(15)
    def registry_item(self) -> None:
        self._get("registry", f"/registry/v1/items/{random.choice(ONLINE)}", "read: registry item", "entry-gz")

    @task(15)
    def lifecycle_item(self) -> None:
        self._get("lifecycle", f"/lifecycle/v1/items/{random.choice(ONLINE)}", "read: lifecycle item",
                  "publisher-gz")

    @task(10)
    def lifecycle_list(self) -> None:
        self._get("lifecycle", "/lifecycle/v1/items", "read: lifecycle list", "publisher-gz", phase="online",
                  limit=20)

    @task(5)
    def catalogue(self) -> None:
        self._get("sync", "/sync/v1/catalog", "national: catalogue", "national", limit=20)

    @task(5)
    def feed(self) -> None:
        self._get("sync", "/sync/v1/feed", "national: feed page", "national",
                  after=random.randrange(max(1, PLAN["feed_head"] - 100)), limit=100)

    @task(20)
    def lifecycle_work(self) -> None:
        """Create an item now and then; otherwise take the next step of the oldest item in hand."""
        if not self.work or (len(self.work) < 5 and random.random() < 0.2):
            self._create()
            return
        item_id, step = self.work.popleft()
        command, user, body = STEPS[step]
        with self.client.post(f"{URLS['lifecycle']}/lifecycle/v1/items/{item_id}/commands/{command}", json=body,
                              headers=_headers(user), name=f"command: {command}", catch_response=True) as response:
            if response.status_code == 200:
                if step + 1 < len(STEPS):
                    self.work.append((item_id, step + 1))
            elif response.status_code in NOT_YET:
                response.success()
                self.work.append((item_id, step))
            else:
                response.failure(f"{response.status_code} {response.text[:200]}")

    def _create(self) -> None:
        # pipeline's names: each with its own 事项名称编码, so that no two items compete for one code
        name = item_name(PLAN["first_number"] + next(_numbers))
        elements = complete_item(name=name, short_name=name, region_code=REGION)
        with self.client.post(f"{URLS['registry']}/registry/v1/items", json=elements, headers=_headers("entry-gz"),
                              name="command: create", catch_response=True) as response:
            if response.status_code == 201:
                self.work.append((response.json()["item_id"], 0))
            else:
                response.failure(f"{response.status_code} {response.text[:200]}")
