"""Reads limited to their rights, on real PostgreSQL: the national platform reads no internal content (drafts,
pending revisions, histories) outside the sync gateway; a token of some regions sees only those regions in the
feed, the snapshot and the feedback (its cursor moving past the rest), in a code preview and in import jobs; and
one user is one subject however the token spells it (four-eyes, import jobs, idempotency keys).

The sweep of every route of the running suite with a national token is tests/e2e/test_read_rights.py."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared import contracts
from shared.auth import Principal, mint_token
from shared.cloudevents import CloudEvent
from shared.db import ensure_database
from shared.dictionaries import load_dictionaries
from shared.errors import RegionDeniedError
from shared.infra import EmbeddedPostgres
from shared.settings import DEVELOPMENT_JWT_SECRET
from tests.integration.test_coding_support import HUKOU, HUKOU_CODE, deliver, lineage, new_item_id, registration
from tests.integration.test_lifecycle_commands import HUKOU as LIFECYCLE_HUKOU
from tests.integration.test_lifecycle_commands import lifecycle_harness
from tests.integration.test_registry_helpers import MINIMAL, RegistryClient

from coding.bootstrap import Coding
from coding.bootstrap import create_app as create_coding_app
from coding.config import CodingSettings
from registry.domain.tabular import HEADERS, format_row
from sync_gateway.adapters import queries as sync_queries
from sync_gateway.bootstrap import create_app as create_sync_app
from sync_gateway.config import SyncSettings

TAG = "ZQXJ"  # ASCII: no escaping of the JSON could hide it
MARKER = f"内部草稿标记{TAG}"  # planted in unpublished text: no national read may ever show it
PREVIEW = {k: HUKOU[k] for k in ("item_type", "region_code", "police_type", "service_category", "short_name")}


def bearer(subject: str, roles: list[str], regions: list[str]) -> dict[str, str]:
    token = mint_token(DEVELOPMENT_JWT_SECRET, subject=subject, roles=roles, regions=regions)
    return {"Authorization": f"Bearer {token}"}


NATIONAL = bearer("national", ["national"], ["*"])
OPERATOR_ALL = bearer("operator", ["operator"], ["*"])
OPERATOR_BJ = bearer("operator-bj", ["operator"], ["11"])
ADMIN_BJ = bearer("admin-bj", ["admin"], ["11"])
NATIONAL_BJ = bearer("national-bj", ["national"], ["11"])  # a national token wrongly scoped: its regions still rule


def assert_refused_for_its_role(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "ROLE_FORBIDDEN" and body["message"].startswith("当前用户没有执行此操作所需的角色")
    assert TAG not in response.text


# ================================================================ the national platform reads no internal content
async def test_the_national_platform_reads_no_draft_pending_revision_or_history_in_the_lifecycle(
        database_url: str, topic_prefix: str) -> None:
    async with lifecycle_harness(database_url, topic_prefix) as h:
        draft = await h.drafted({**LIFECYCLE_HUKOU, "name": f"户口迁移审批{MARKER}"})
        online = await h.drafted()
        await h.to_online(online)
        await h.revision(online, 2, author="entry2-gz", elements={**LIFECYCLE_HUKOU, "name": f"更新{MARKER}"})
        # The marker is there for the staff to read: in both histories, the pending revision and the list.
        for item_id in (draft, online):
            assert TAG in (await h.call("GET", f"/items/{item_id}/events", user="operator")).text
        assert TAG in (await h.call("GET", f"/items/{online}", user="publisher-gz")).text
        assert TAG in (await h.call("GET", f"/items?name={MARKER}", user="publisher-gz")).text
        reads = [f"/items/{draft}", f"/items/{draft}/events", f"/items/{draft}/verify", f"/items/{online}",
                 f"/items/{online}/events", f"/items/{online}?as_of=2030-01-01T00:00:00Z", f"/items?name={MARKER}",
                 "/items", "/items?pending_update=true"]
        for path in reads:
            assert_refused_for_its_role(await h.http.get(f"/lifecycle/v1{path}", headers=NATIONAL))


async def test_the_national_platform_reads_nothing_of_the_registry(api: RegistryClient) -> None:
    draft = await api.create({**MINIMAL, "name": f"户口迁移审批{MARKER}"})
    job = await api.import_file(b"not a list", filename="list.csv")
    reads = [f"/items/{draft['item_id']}", f"/items/{draft['item_id']}/revisions",
             f"/items/{draft['item_id']}/revisions/1", f"/items/{draft['item_id']}/diff?from=1&to=1",
             f"/items?q={MARKER}", "/consistency", f"/exports/items.csv?q={MARKER}", "/exports/items.xlsx",
             f"/imports/{job['job_id']}", "/imports/template.xlsx"]
    for path in reads:
        assert_refused_for_its_role(await api.http.get(f"/registry/v1{path}", headers=NATIONAL))


@pytest.fixture
async def coding_app(database_url: str, topic_prefix: str) -> AsyncIterator[Any]:
    """The coding app in-process (api role); its HTTP client is ``app.state.test_http``."""
    app = create_coding_app(CodingSettings(database_url=database_url, topic_prefix=topic_prefix, roles="api"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://coding") as http,
    ):
        app.state.test_http = http
        yield app


async def test_the_national_platform_reads_no_code_of_an_unpublished_item(coding_app: Any) -> None:
    item = new_item_id()
    await deliver(coding_app.state.coding, registration(item))  # registered, not published
    http = coding_app.state.test_http
    for path in (f"/coding/v1/items/{item}/code", f"/coding/v1/codes/{HUKOU_CODE}", f"/coding/v1/items/{item}/services",
                 "/coding/v1/pinyin-overrides"):
        assert_refused_for_its_role(await http.get(path, headers=NATIONAL))
    assert_refused_for_its_role(await http.post("/coding/v1/codes:preview", json=PREVIEW, headers=NATIONAL))
    assert item in (await http.get(f"/coding/v1/items/{item}/code", headers=OPERATOR_ALL)).text


# ================================================================================ the feed, by the caller's regions
GUANGZHOU, BEIJING = "440115", "110101"


@pytest.fixture
async def gateway(postgres: EmbeddedPostgres, topic_prefix: str) -> AsyncIterator[Any]:
    url = postgres.url(f"sync_{uuid.uuid4().hex[:12]}")
    await ensure_database(url)
    app = create_sync_app(SyncSettings(database_url=url, topic_prefix=topic_prefix, roles="api"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sync") as http,
    ):
        app.state.test_http = http
        yield app


async def publish(app: Any, region: str, *, version: int = 3) -> str:
    """An item of ``region`` published (the lifecycle's event through the gateway's consumer); its id."""
    item_id = f"{region}-{uuid.uuid4().hex[:8]}"
    elements = {"name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
                "service_category": "03", "region_code": region, "composition": "元事项", "tier": "主项"}
    event = CloudEvent(id=str(uuid.uuid4()), type=contracts.LIFECYCLE_PUBLISHED, source="/shixiang/lifecycle",
                       subject=item_id, time=datetime.now(UTC), sequence=version, actor="publisher",
                       data={"item_id": item_id, "code": f"01{region}0203HKQYSP000000", "revision": 1,
                             "phase": "online", "phase_label": "在线期", "elements": elements,
                             "at": datetime.now(UTC).isoformat()})
    runtime = app.state.runtime
    runner = runtime.consumer_runners()[f"{runtime.settings.topic_prefix}.sync.lifecycle-feed"]
    assert await runner.deliver(event) == "processed"
    return item_id


async def read_feed(app: Any, headers: dict[str, str], after: int = 0, **params: Any) -> tuple[list[str], int]:
    response = await app.state.test_http.get("/sync/v1/feed", params={"after": after, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return [e["subject"] for e in response.json()], int(response.headers["X-Next-Cursor"])


async def read_all(app: Any, headers: dict[str, str], **params: Any) -> tuple[list[str], int]:
    """Every entry the caller sees, page after page until the cursor stops moving; and how many reads it took."""
    seen: list[str] = []
    cursor, reads = 0, 0
    while True:
        page, next_cursor = await read_feed(app, headers, cursor, **params)
        reads += 1
        seen += page
        if next_cursor == cursor:
            return seen, reads
        assert next_cursor > cursor
        cursor = next_cursor


async def test_a_token_of_region_11_reads_only_beijing_entries_and_a_nationwide_token_reads_all(gateway: Any) -> None:
    published = [await publish(gateway, region) for region in (GUANGZHOU, BEIJING, GUANGZHOU, GUANGZHOU, BEIJING,
                                                                GUANGZHOU)]
    beijing = [i for i in published if i.startswith(BEIJING)]
    for headers in (OPERATOR_BJ, ADMIN_BJ, NATIONAL_BJ):
        entries, cursor = await read_feed(gateway, headers)
        assert entries == beijing
        assert cursor == 6  # past the Guangzhou entry after the last Beijing one: it never reads it again
        assert await read_feed(gateway, headers, cursor) == ([], 6)
        assert (await read_all(gateway, headers, limit=1))[0] == beijing  # page by page: each once, in order
    for headers in (NATIONAL, OPERATOR_ALL):
        assert await read_feed(gateway, headers) == (published, 6)


async def test_a_region_limited_read_walks_past_long_runs_of_other_regions_without_stalling_or_rereading(
        gateway: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync_queries, "SCAN_ROWS", 3)  # a window of 3 entries, 2 windows per request
    monkeypatch.setattr(sync_queries, "SCANS_PER_READ", 2)
    published = [await publish(gateway, region) for region in [GUANGZHOU] * 7 + [BEIJING] + [GUANGZHOU] * 7 + [BEIJING]]
    assert await read_feed(gateway, OPERATOR_BJ) == ([], 6)  # two windows of Guangzhou: nothing, but moved on
    seen, reads = await read_all(gateway, OPERATOR_BJ)
    assert seen == [i for i in published if i.startswith(BEIJING)]
    assert reads == 5  # 0→6 (none of its own), 6→9 (the first), 9→15 (none), 15→16 (the second), and at the end
    assert (await read_all(gateway, NATIONAL))[0] == published


async def test_a_long_poll_woken_by_other_regions_entries_waits_on_for_its_own(gateway: Any) -> None:
    await publish(gateway, BEIJING)
    reading = asyncio.create_task(read_feed(gateway, OPERATOR_BJ, 1, wait=30))
    await publish(gateway, GUANGZHOU)
    await publish(gateway, GUANGZHOU)
    mine = await publish(gateway, BEIJING)
    assert await reading == ([mine], 4)


async def test_the_snapshot_and_the_feedback_of_a_region_limited_token_hold_only_its_regions(gateway: Any) -> None:
    guangzhou, beijing = await publish(gateway, GUANGZHOU), await publish(gateway, BEIJING)
    http = gateway.state.test_http
    for item_id in (guangzhou, beijing):
        answered = await http.post("/sync/v1/national/feedback", headers=NATIONAL, json={
            "item_id": item_id, "item_version": 3, "result": "acknowledged"})
        assert answered.status_code == 201, answered.text
    snapshot = (await http.get("/sync/v1/snapshot", headers=OPERATOR_BJ)).json()
    assert [i["subject"] for i in snapshot["items"]] == [beijing] and snapshot["feed_cursor"] == "2"
    assert {i["subject"] for i in (await http.get("/sync/v1/snapshot", headers=NATIONAL)).json()["items"]} == {
        guangzhou, beijing}
    for item_id, expected in ((guangzhou, 0), (beijing, 1)):
        listed = await http.get("/sync/v1/national/feedback", params={"item_id": item_id}, headers=OPERATOR_BJ)
        assert listed.status_code == 200 and len(listed.json()) == expected
    assert len((await http.get("/sync/v1/national/feedback", params={"item_id": guangzhou},
                               headers=OPERATOR_ALL)).json()) == 1
    refused = await http.post("/sync/v1/national/feedback", headers=NATIONAL_BJ, json={
        "item_id": guangzhou, "item_version": 3, "result": "rejected", "reason": "不在本区划"})
    assert (refused.status_code, refused.json()["code"]) == (403, "REGION_FORBIDDEN")


# ============================================================================ a code preview names no foreign item
async def test_a_preview_says_a_code_is_taken_but_names_its_holder_only_within_the_callers_regions(
        coding_app: Any) -> None:
    holder = new_item_id()
    await deliver(coding_app.state.coding, registration(holder))  # a Guangzhou (440115) item takes HUKOU_CODE
    http = coding_app.state.test_http
    beijing_entry, guangzhou_entry = bearer("entry-bj", ["entry"], ["11"]), bearer("entry-gz", ["entry"], ["4401"])
    from_beijing = await http.post("/coding/v1/codes:preview", json=PREVIEW, headers=beijing_entry)
    assert from_beijing.status_code == 200, from_beijing.text
    assert (from_beijing.json()["would_collide"], from_beijing.json()["held_by"]) == (True, None)
    assert holder not in from_beijing.text
    assert from_beijing.json()["code_if_allocated_now"] not in (None, HUKOU_CODE)
    from_guangzhou = (await http.post("/coding/v1/codes:preview", json=PREVIEW, headers=guangzhou_entry)).json()
    assert (from_guangzhou["would_collide"], from_guangzhou["held_by"]) == (True, holder)
    for path in (f"/coding/v1/codes/{HUKOU_CODE}", f"/coding/v1/items/{holder}/code",
                 f"/coding/v1/items/{holder}/services"):  # the other code reads refuse another region outright
        refused = await http.get(path, headers=beijing_entry)
        assert (refused.status_code, refused.json()["code"]) == (403, "REGION_FORBIDDEN"), path
        assert holder not in str(refused.json()["message"])


async def test_an_uncoded_successor_is_read_only_within_its_regions(coding: Coding) -> None:
    old, successor = new_item_id(), new_item_id()
    await deliver(coding, registration(old))
    for subject in (old, successor):  # the successor entered in Guangzhou and was never coded
        await deliver(coding, lineage(subject, "split", [old], [successor]))
    guangzhou = Principal("publisher-gz", frozenset({"publisher"}), ("4401",))
    beijing = Principal("publisher-bj", frozenset({"publisher"}), ("11",))
    view = await coding.item_codes.item_code(successor, guangzhou)
    assert view["status"] == "uncoded" and [p["item_id"] for p in view["lineage"]["predecessors"]] == [old]
    with pytest.raises(RegionDeniedError):
        await coding.item_codes.item_code(successor, beijing)


# ============================================================================== import jobs, by the job's regions
def one_row_csv(source_ref: str) -> bytes:
    """A list of one Guangzhou (440115) item."""
    out = io.StringIO()
    row = format_row(source_ref, MINIMAL, load_dictionaries(), {})
    csv.writer(out).writerows([HEADERS, ["" if v is None else v for v in row]])
    return out.getvalue().encode()


async def test_an_import_job_is_read_by_its_starter_and_by_readers_whose_regions_cover_it(api: RegistryClient) -> None:
    job = await api.import_file(one_row_csv("R-1"), filename="list.csv")  # entry-gz, regions 4401
    assert job["status"] == "completed" and job["created"] == 1, job
    path = f"/registry/v1/imports/{job['job_id']}"
    for headers in (bearer("admin-gd", ["admin"], ["44"]), bearer("reviewer-gz2", ["reviewer"], ["4401"]),
                    bearer("operator", ["operator"], ["*"])):
        response = await api.http.get(path, headers=headers)
        assert response.status_code == 200 and response.json()["job_id"] == job["job_id"], response.text
    for headers in (ADMIN_BJ, bearer("admin-nansha", ["admin"], ["440115"]), bearer("entry-sz", ["entry"], ["4403"])):
        response = await api.http.get(path, headers=headers)
        assert (response.status_code, response.json()["code"]) == (404, "IMPORT_JOB_NOT_FOUND"), response.text
    assert_refused_for_its_role(await api.http.get(path, headers=NATIONAL))


# ============================================================================== one user, however the token spells it
ALICE_SPELLINGS = ["alice ", " alice", "ａｌｉｃｅ", "alice\u3000", "\talice"]


async def test_a_reviewer_cannot_approve_their_own_draft_by_spelling_their_name_otherwise(
        database_url: str, topic_prefix: str) -> None:
    async with lifecycle_harness(database_url, topic_prefix) as h:
        item_id = await h.drafted(author="alice")
        await h.command(item_id, "submit", user="entry-gz")
        for n, spelling in enumerate(ALICE_SPELLINGS):
            h.tokens[f"alice-{n}"] = mint_token(DEVELOPMENT_JWT_SECRET, subject=spelling, roles=["reviewer"],
                                                regions=["4401"])
            refused = await h.command(item_id, "approve", user=f"alice-{n}", expect=403)
            assert refused["code"] == "FOUR_EYES_VIOLATION", (spelling, refused)
        h.tokens["Alice"] = mint_token(DEVELOPMENT_JWT_SECRET, subject="Alice", roles=["reviewer"], regions=["4401"])
        approved = await h.command(item_id, "approve", user="Alice")  # case is kept: another user
        assert approved["step"] != "in_review"
        history = await h.events(item_id)
        assert history[-1]["actor"] == "Alice"


async def test_a_subject_is_recorded_normalised_and_a_nul_in_it_is_a_401(api: RegistryClient) -> None:
    spelled = bearer("ａｌｉｃｅ ", ["entry"], ["4401"])
    created = await api.http.post("/registry/v1/items", json=MINIMAL,
                                  headers={**spelled, "Idempotency-Key": "alice-1"})
    assert created.status_code == 201, created.text
    revisions = (await api.http.get(f"/registry/v1/items/{created.json()['item_id']}/revisions", headers=spelled))
    assert revisions.json()[0]["author"] == "alice"
    again = await api.http.post("/registry/v1/items", json=MINIMAL,
                                headers={**bearer("alice", ["entry"], ["4401"]), "Idempotency-Key": "alice-1"})
    assert (again.status_code, again.json()["item_id"]) == (200, created.json()["item_id"])  # the same user's key
    job = await api.http.post("/registry/v1/imports", content=one_row_csv("R-2"), params={"filename": "l.csv"},
                              headers=spelled)
    assert job.status_code == 202, job.text
    mine = await api.http.get(f"/registry/v1/imports/{job.json()['job_id']}",
                              headers=bearer(" alice", ["entry"], ["4403"]))  # the starter, whatever its regions
    assert mine.status_code == 200, mine.text
    before = await api.event_count()
    for sub in ("alice\x00", "\x00", "   ", "ali\u200bce"):
        for method, path in (("POST", "/registry/v1/items"), ("GET", "/registry/v1/items")):
            response = await api.http.request(method, path, json=MINIMAL if method == "POST" else None,
                                              headers=bearer(sub, ["entry"], ["4401"]))
            assert (response.status_code, response.json()["code"]) == (401, "AUTHENTICATION_REQUIRED"), sub
            assert "用户标识" in response.json()["message"]
    assert await api.event_count() == before
