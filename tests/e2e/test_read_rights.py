"""The national platform's token against every read of the running suite: a marker planted in unpublished text (a
draft, a pending revision) is found by no national read anywhere, every read of the registry, the lifecycle and the
coding service refuses it with 403, and the sync gateway answers it with what was published."""

from __future__ import annotations

import re

import pytest

from shixiang.client import SuiteClient
from shixiang.suite import Suite
from tests.e2e.conftest import HUKOU

pytestmark = pytest.mark.e2e

TAG = "QZXJ"  # ASCII: no escaping of the JSON could hide it
MARKER = f"未发布标记{TAG}"
SERVICES = {"registry": "/registry/v1", "lifecycle": "/lifecycle/v1", "coding": "/coding/v1", "sync": "/sync/v1"}
PUBLIC = ("/coding/v1/dictionaries",)  # reference tables: public standards, no token needed
# What the searches look for: the marker itself.
QUERIES: dict[str, dict[str, str | int]] = {
    "/registry/v1/items": {"q": MARKER}, "/registry/v1/exports/items.csv": {"q": MARKER},
    "/registry/v1/exports/items.xlsx": {"q": MARKER}, "/lifecycle/v1/items": {"name": MARKER},
    "/registry/v1/items/{item_id}/diff": {"from": 1, "to": 2}, "/sync/v1/console/items": {"q": MARKER}}
CODED = ("item_type", "region_code", "police_type", "service_category", "short_name")


async def test_a_national_token_finds_no_unpublished_text_anywhere_and_is_refused_outside_the_sync_gateway(
        suite: Suite, client: SuiteClient) -> None:
    draft = (await client.create_item({**HUKOU, "name": f"户口迁移审批{MARKER}"}))["item_id"]
    online = (await client.create_item({**HUKOU, "short_name": "户口迁出审批", "name": "户口迁出审批"}))["item_id"]
    state = await client.drive_to_online(online)
    await client.revise_item(online, {**HUKOU, "short_name": "户口迁出审批", "name": f"户口迁出审批{MARKER}"}, 1)
    await client.wait_for_state(online, lambda s: (s.get("pending") or {}).get("revision") == 2)
    job = await client.import_list(b"not a list", filename="list.csv")
    for item_id in (draft, online):  # planted: the staff read it in the histories
        assert TAG in (await client.call("GET", "lifecycle", f"/lifecycle/v1/items/{item_id}/events",
                                         user="publisher-gz")).text
    # The national platform's own webhook subscription (its reads are the national platform's too).
    subscription = (await client.call("POST", "sync", "/sync/v1/subscriptions", user="national", expect=201,
                                      json={"url": "http://127.0.0.1:9/hook"})).json()
    values = {"item_id": online, "job_id": job["job_id"], "revision": "2", "code": state["code"],
              "name": "regions", "dead_letter_id": "1", "service": "coding", "subscription_id": subscription["id"]}
    national = {"Authorization": f"Bearer {suite.token('national')}"}

    answers: list[tuple[str, int, str]] = []
    leaks: list[str] = []
    wrong: list[str] = []
    for service, prefix in SERVICES.items():
        spec = (await client.http.get(f"{client.urls[service]}/openapi.json")).json()
        for template, methods in spec["paths"].items():
            if "get" not in methods and template != "/coding/v1/codes:preview":
                continue
            for item_id in (draft, online):
                path = re.sub(r"{(\w+)}", lambda m, i=item_id: i if m[1] == "item_id" else values[m[1]], template)
                params = QUERIES.get(template, {}) | ({"item_id": item_id} if template.endswith("/feedback") else {})
                if template.endswith(":preview"):
                    response = await client.http.post(f"{client.urls[service]}{path}", headers=national,
                                                      json={k: HUKOU[k] for k in CODED})
                else:
                    response = await client.http.get(f"{client.urls[service]}{path}", headers=national, params=params)
                answers.append((path, response.status_code, response.text))
                if TAG in response.content.decode("utf-8", "replace"):
                    leaks.append(path)
                if not path.startswith(prefix) or path.startswith(PUBLIC):
                    continue
                # The sync gateway answers it, but for its dead letters, its pipeline and the hash chain of its
                # stream: those are the operators' plumbing; and the operators' console refuses it with its own code.
                published_channel = service == "sync" and not any(
                    part in path for part in ("/dead-letters", "/console/", "/verify", "/stream")
                ) and not path.endswith("/pipeline")
                # Every service's audit log of reads, and the console's view of them, are the auditors' alone.
                console = path.startswith(("/sync/v1/console/", "/sync/v1/stream"))
                expected = ((403, "AUDITOR_REQUIRED") if "/audit" in path else (200, None) if published_channel
                            else (403, "CONSOLE_ROLE_REQUIRED") if console else (403, "ROLE_FORBIDDEN"))
                got = (response.status_code, response.json().get("code") if response.status_code >= 400 else None)
                if got != expected:
                    wrong.append(f"{path}: {got}, expected {expected}")
    assert leaks == [], "a national read shows unpublished text"
    assert wrong == []
    assert len({path for path, _, _ in answers}) >= 25  # every read of every service was tried
    assert any(status == 200 and online in text for path, status, text in answers if "/sync/v1/feed" in path)
