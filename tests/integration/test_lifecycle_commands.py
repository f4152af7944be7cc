"""The lifecycle service in-process on real PostgreSQL, driven over HTTP (ASGI) with facts from other services
delivered through its real consumer handlers (the consumer runner's tracking transaction, without the broker).

Covers: the whole lifecycle, updates (先审后用) with and without re-coding, maintenance, four-eyes per revision,
illegal commands (409 with the allowed ones, nothing written), concurrent commands (one wins), batches, split and
merge, reading the past and the list projection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from shared import contracts
from shared.auth import ALL_REGIONS, mint_token
from shared.cloudevents import CloudEvent
from shared.eventstore import events_table
from shared.settings import DEVELOPMENT_JWT_SECRET

from lifecycle.bootstrap import create_app
from lifecycle.config import LifecycleSettings
from lifecycle.service_layer.clock import Clock

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
HUKOU = {"name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
         "service_category": "03", "region_code": "440115", "competent_department": "广州市公安局"}
CODE = "014401150203HKQYSP000000"

USERS: dict[str, tuple[list[str], list[str]]] = {
    "entry-gz": (["entry"], ["4401"]), "entry2-gz": (["entry"], ["4401"]),
    "reviewer-gz": (["reviewer"], ["4401"]), "reviewer2-gz": (["reviewer"], ["4401"]),
    "tester-gz": (["tester"], ["4401"]), "publisher-gz": (["publisher"], ["4401"]),
    "reviewer-sz": (["reviewer"], ["4403"]), "national": (["national"], [ALL_REGIONS]),
    "operator": (["operator"], [ALL_REGIONS]),
}


class MovableClock:
    """The service's clock in tests: time moves only when the test moves it (plus a microsecond per reading, so
    that consecutive writes keep their order)."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        self.current += timedelta(microseconds=1)
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


@dataclass
class Harness:
    app: Any
    http: httpx.AsyncClient
    clock: MovableClock
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def service(self) -> Any:
        return self.app.state.lifecycle

    @property
    def scheduler(self) -> Any:
        return self.app.state.scheduler

    @property
    def engine(self) -> Any:
        return self.app.state.runtime.engine

    async def call(self, method: str, path: str, *, user: str, expect: int | None = 200, **kwargs: Any) -> Any:
        response = await self.http.request(method, f"/lifecycle/v1{path}",
                                           headers={"Authorization": f"Bearer {self.tokens[user]}"}, **kwargs)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    async def command(self, item_id: str, command: str, *, user: str, expect: int = 200,
                      **body: Any) -> dict[str, Any]:
        response = await self.call("POST", f"/items/{item_id}/commands/{command}", user=user, expect=expect,
                                   json=body)
        return response.json()

    async def state(self, item_id: str, *, user: str = "publisher-gz", **params: Any) -> dict[str, Any]:
        return (await self.call("GET", f"/items/{item_id}", user=user, params=params)).json()

    async def deliver(self, consumer: str, event: CloudEvent) -> str:
        """Through the named consumer's runner as from the broker (contract checks, handler and tracking in one
        transaction): processed, duplicate, passed_over or ``refused: …``."""
        runtime = self.app.state.runtime
        spec = next(s for s in runtime.consumers if s.name.endswith(consumer))
        return await runtime.consumer_runner(spec).deliver(event)

    async def revision(self, item_id: str, revision: int = 1, *, author: str = "entry-gz",
                       elements: dict[str, Any] | None = None, maintenance: bool = False,
                       missing: list[str] | None = None) -> str:
        elements = HUKOU if elements is None else elements
        kind = contracts.REGISTRY_ITEM_DRAFTED if revision == 1 else contracts.REGISTRY_ITEM_REVISED
        data = {"item_id": item_id, "revision": revision, "region_code": elements["region_code"],
                "elements": elements, "author": author, "complete": not missing, "missing": missing or []}
        if revision > 1:
            data |= {"changed_fields": [], "maintenance": maintenance}
        return await self.deliver("registry-revisions", _event(kind, item_id, data, actor=author, sequence=revision))

    async def code(self, item_id: str, code: str = CODE, *, replaces: str | None = None) -> str:
        data = {"item_id": item_id, "code": code, "base_code": code, "collided_with": None, "replaces": replaces,
                "parts": {}, "pinyin_letters": "HKQYSP", "overrides_version": "test"}
        return await self.deliver("coding-codes", _event(contracts.CODING_CODE_ASSIGNED, item_id, data,
                                                         actor="coding"))

    async def drafted(self, elements: dict[str, Any] | None = None, *, author: str = "entry-gz") -> str:
        item_id = str(uuid.uuid4())
        await self.revision(item_id, elements=elements, author=author)
        return item_id

    async def to_testing(self, item_id: str) -> None:
        await self.command(item_id, "submit", user="entry-gz")
        await self.command(item_id, "approve", user="reviewer-gz")

    async def to_online(self, item_id: str, code: str = CODE) -> dict[str, Any]:
        await self.to_testing(item_id)
        await self.command(item_id, "record-test", user="tester-gz", result="pass", notes="联调通过")
        await self.command(item_id, "register", user="publisher-gz")
        await self.code(item_id, code)
        return await self.command(item_id, "publish", user="publisher-gz")

    async def events(self, item_id: str) -> list[dict[str, Any]]:
        return (await self.call("GET", f"/items/{item_id}/events", user="operator")).json()

    async def count_events(self, item_id: str) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(events_table).where(
                events_table.c.stream_id == item_id)))


def _event(kind: str, subject: str, data: dict[str, Any], *, actor: str, sequence: int = 1) -> CloudEvent:
    """An event of another service (its type names the producer: the source its topic demands)."""
    return CloudEvent(id=str(uuid.uuid4()), type=kind, source=contracts.source_of(kind.split(".")[0]),
                      subject=subject, time=datetime.now(UTC), data=data, sequence=sequence, actor=actor)


@asynccontextmanager
async def lifecycle_harness(database_url: str, topic_prefix: str, **settings: Any) -> AsyncIterator[Harness]:
    """The lifecycle app (api role: no broker) with a movable clock, its lifespan run as in production."""
    clock = MovableClock(T0)
    app = create_app(LifecycleSettings(database_url=database_url, topic_prefix=topic_prefix, roles="api",
                                       item_arrival_wait_s=0.2, **settings), clock=Clock(clock.now))
    tokens = {user: mint_token(DEVELOPMENT_JWT_SECRET, subject=user, roles=roles, regions=regions)
              for user, (roles, regions) in USERS.items()}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lifecycle") as http,
    ):
        yield Harness(app, http, clock, tokens)


@pytest.fixture
async def h(database_url: str, topic_prefix: str) -> AsyncIterator[Harness]:
    async with lifecycle_harness(database_url, topic_prefix, snapshot_every=5, batch_chunk_size=40) as harness:
        yield harness


# ================================================================================================ the whole way
async def test_an_item_goes_from_draft_to_online_and_every_step_is_in_its_history(h: Harness) -> None:
    item_id = await h.drafted()
    online = await h.to_online(item_id)
    assert (online["phase"], online["phase_label"], online["step"], online["code"]) == (
        "online", "在线期", "published", CODE)
    assert online["published"] == {"revision": 1, "author": "entry-gz", "elements": HUKOU, "complete": True,
                                   "missing": [], "code": CODE}
    history = await h.events(item_id)
    assert [(e["label"], e["actor"]) for e in history] == [
        ("录入", "entry-gz"), ("提交审核", "entry-gz"), ("审核通过", "reviewer-gz"), ("记录测试结果", "tester-gz"),
        ("申请注册赋码", "publisher-gz"), ("记录事项编码", "coding"), ("上线", "publisher-gz")]
    assert history[3]["reason"] == "联调通过"
    assert [e["version"] for e in history] == list(range(1, 8))


async def test_a_repeated_registry_event_is_applied_once(h: Harness) -> None:
    item_id = str(uuid.uuid4())
    event = _event(contracts.REGISTRY_ITEM_DRAFTED, item_id, {
        "item_id": item_id, "revision": 1, "region_code": "440115", "elements": HUKOU, "author": "entry-gz",
        "complete": True, "missing": []},
        actor="entry-gz")
    assert await h.deliver("registry-revisions", event) == "processed"
    assert await h.deliver("registry-revisions", event) == "duplicate"
    assert await h.count_events(item_id) == 1


# ================================================================================================ update (更新)
async def test_an_update_is_reviewed_while_the_published_revision_stays_online_then_replaces_it(h: Harness) -> None:
    item_id = await h.drafted()
    await h.to_online(item_id)
    changed = {**HUKOU, "competent_department": "广东省公安厅"}
    await h.revision(item_id, 2, author="entry2-gz", elements=changed)

    pending = await h.state(item_id)
    assert (pending["phase"], pending["step"], pending["step_label"]) == ("online", "update_entry", "更新待提交")
    assert pending["published"]["revision"] == 1 and pending["published"]["elements"] == HUKOU
    assert pending["pending"] == {"revision": 2, "author": "entry2-gz", "elements": changed, "complete": True,
                                  "missing": [], "stage": "received",
                                  "stage_label": "待提交", "submitted_by": None}

    await h.command(item_id, "submit", user="entry-gz")
    # the reviewer may not have written the revision under review: entry2-gz also holds a reviewer role here
    h.tokens["entry2-reviewer"] = mint_token(DEVELOPMENT_JWT_SECRET, subject="entry2-gz",
                                             roles=["entry", "reviewer"], regions=["4401"])
    refused = await h.command(item_id, "approve", user="entry2-reviewer", expect=403)
    assert refused["code"] == "FOUR_EYES_VIOLATION" and refused["details"]["revision"] == 2

    approved = await h.command(item_id, "approve", user="reviewer-gz")
    assert approved["step"] == "update_approved" and approved["published"]["revision"] == 1
    published = await h.command(item_id, "publish", user="publisher-gz")
    assert published["published"] == {"revision": 2, "author": "entry2-gz", "elements": changed, "complete": True,
                                      "missing": [], "code": CODE}
    assert published["pending"] is None and published["step"] == "published"
    last = (await h.events(item_id))[-1]
    assert last["type"] == contracts.LIFECYCLE_PUBLISHED and last["data"]["update"] is True
    assert last["data"]["elements"] == changed and last["data"]["previous_revision"] == 1


async def test_an_update_changing_a_coded_element_is_registered_again_and_published_only_with_the_new_code(
        h: Harness) -> None:
    item_id = await h.drafted()
    await h.to_online(item_id)
    recoded = {**HUKOU, "service_category": "01"}
    await h.revision(item_id, 2, author="entry2-gz", elements=recoded)
    await h.command(item_id, "submit", user="entry-gz")
    approved = await h.command(item_id, "approve", user="reviewer-gz")
    assert approved["step"] == "update_recoding"
    request = (await h.events(item_id))[-1]
    assert request["type"] == contracts.LIFECYCLE_REGISTRATION_REQUESTED
    assert request["data"]["elements"] == {"item_type": "01", "region_code": "440115", "police_type": "02",
                                           "service_category": "01", "short_name": "户口迁移审批"}

    early = await h.command(item_id, "publish", user="publisher-gz", expect=409)
    assert early["code"] == "ILLEGAL_TRANSITION" and early["details"]["allowed"] == ["unpublish"]

    new_code = "014401150201HKQYSP000000"
    await h.code(item_id, new_code, replaces=CODE)
    ready = await h.state(item_id)
    assert (ready["step"], ready["code"], ready["retired_codes"]) == ("update_approved", new_code, [CODE])
    assert ready["published"]["code"] == CODE
    published = await h.command(item_id, "publish", user="publisher-gz")
    assert published["published"]["code"] == new_code and published["published"]["elements"] == recoded


async def test_a_maintenance_revision_goes_online_without_review_and_is_recorded(h: Harness) -> None:
    item_id = await h.drafted()
    await h.to_online(item_id)
    fixed = {**HUKOU, "national_basic_code": "11100000MB0A1234"[:12], "online_service_depth": 3}
    await h.revision(item_id, 2, author="entry2-gz", elements=fixed, maintenance=True)
    state = await h.state(item_id)
    assert (state["step"], state["published"]["revision"], state["pending"]) == ("published", 2, None)
    assert state["last_transition"]["command"] == "maintain"
    maintained, republished = (await h.events(item_id))[-2:]
    assert maintained["label"] == "维护"
    assert maintained["data"]["changed_fields"] == ["national_basic_code", "online_service_depth"]
    assert republished["data"]["maintenance"] is True and republished["data"]["elements"] == fixed


async def test_a_revision_of_an_approved_item_sends_it_back_to_review(h: Harness) -> None:
    item_id = await h.drafted()
    await h.to_testing(item_id)
    await h.revision(item_id, 2, elements={**HUKOU, "name": "户口迁移（市内）审批"})
    state = await h.state(item_id)
    assert (state["phase"], state["step"], state["review_revision"]) == ("forming", "entry", None)
    assert state["last_transition"]["command"] == "return"
    assert "重新提交审核" in state["last_transition"]["reason"]


# ================================================================================================ refusals
async def test_an_illegal_command_is_a_409_with_the_state_and_what_is_allowed_and_writes_nothing(h: Harness) -> None:
    item_id = await h.drafted()
    before = await h.count_events(item_id)
    refused = await h.command(item_id, "publish", user="publisher-gz", expect=409)
    assert refused["code"] == "ILLEGAL_TRANSITION"
    assert refused["message"] == "事项当前处于形成期（录入），不能执行“上线”；当前允许：注销、提交审核"
    assert refused["details"]["phase"] == "forming" and refused["details"]["allowed"] == ["cancel", "submit"]
    assert await h.count_events(item_id) == before


async def test_an_incomplete_draft_is_refused_at_submission_alone_and_in_a_batch(h: Harness) -> None:
    incomplete = str(uuid.uuid4())
    await h.revision(incomplete, missing=["legal_basis", "service_guide.steps"])
    refused = await h.command(incomplete, "submit", user="entry-gz", expect=422)
    assert refused["code"] == "ELEMENTS_INCOMPLETE"
    assert refused["message"] == ("第 1 版事项要素不完整，补全后才能提交审核"
                                  "（缺少 2 项：设定依据、办事指南·办理流程）")
    assert refused["details"]["missing"] == ["legal_basis", "service_guide.steps"]  # the paths, for programs
    complete = await h.drafted()
    report = (await h.call("POST", "/batches", user="entry-gz",
                           json={"command": "submit", "item_ids": [incomplete, complete]})).json()
    assert [(r["item_id"], r["ok"], r.get("code")) for r in report["results"]] == [
        (incomplete, False, "ELEMENTS_INCOMPLETE"), (complete, True, None)]
    assert await h.count_events(incomplete) == 1


async def test_commands_are_limited_to_roles_and_regions(h: Harness) -> None:
    item_id = await h.drafted()
    assert (await h.command(item_id, "submit", user="reviewer-gz", expect=403))["code"] == "ROLE_FORBIDDEN"
    await h.command(item_id, "submit", user="entry-gz")
    assert (await h.command(item_id, "approve", user="reviewer-sz", expect=403))["code"] == "REGION_FORBIDDEN"
    missing = await h.command(str(uuid.uuid4()), "submit", user="entry-gz", expect=404)
    assert missing["code"] == "ITEM_NOT_FOUND"
    hidden = await h.call("GET", f"/items/{item_id}", user="reviewer-sz", expect=404)
    assert hidden.json()["code"] == "ITEM_NOT_FOUND"


async def test_a_stale_expected_version_is_refused(h: Harness) -> None:
    item_id = await h.drafted()
    stale = await h.command(item_id, "submit", user="entry-gz", expect=409, expected_version=7)
    assert stale["code"] == "VERSION_CONFLICT" and stale["details"] == {"item_id": item_id, "expected": 7,
                                                                       "actual": 1}


# ================================================================================================ concurrency
async def test_of_concurrent_commands_on_one_item_exactly_one_wins_and_the_others_may_retry(h: Harness) -> None:
    item_id = await h.drafted()
    await h.to_testing(item_id)
    version = (await h.state(item_id))["version"]
    responses = await asyncio.gather(*(
        h.call("POST", f"/items/{item_id}/commands/record-test", user="tester-gz", expect=None,
               json={"result": "pass" if n % 2 else "fail", "notes": f"第 {n} 轮", "expected_version": version})
        for n in range(12)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 11
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"VERSION_CONFLICT"}
    assert (await h.state(item_id))["version"] == version + 1
    retried = await h.command(item_id, "record-test", user="tester-gz", result="pass", expected_version=version + 1)
    assert retried["version"] == version + 2


async def test_racing_approve_and_reject_leave_exactly_one_decision(h: Harness) -> None:
    item_id = await h.drafted()
    await h.command(item_id, "submit", user="entry-gz")
    approve = h.call("POST", f"/items/{item_id}/commands/approve", user="reviewer-gz", expect=None, json={})
    reject = h.call("POST", f"/items/{item_id}/commands/reject", user="reviewer2-gz", expect=None,
                    json={"reason": "材料不全"})
    responses = await asyncio.gather(approve, reject)
    assert sorted(r.status_code for r in responses) == [200, 409]
    history = await h.events(item_id)
    assert len(history) == 3
    assert history[-1]["type"] in ("lifecycle.item.approved.v1", "lifecycle.item.rejected.v1")


# ================================================================================================ batches
async def test_a_batch_approves_many_items_each_with_its_own_checks_and_events(h: Harness) -> None:
    in_review = [await h.drafted() for _ in range(90)]
    for item_id in in_review:
        await h.command(item_id, "submit", user="entry-gz")
    own = await h.drafted(author="reviewer-gz")  # written by the batch's reviewer: four-eyes
    await h.command(own, "submit", user="entry-gz")
    not_submitted = await h.drafted()
    elsewhere = await h.drafted({**HUKOU, "region_code": "440305"}, author="entry-sz")
    unknown = str(uuid.uuid4())
    ids = [*in_review[:45], own, not_submitted, elsewhere, unknown, *in_review[45:], in_review[0]]

    response = await h.call("POST", "/batches", user="reviewer-gz", json={"command": "approve", "item_ids": ids})
    report = response.json()
    assert (report["command"], report["total"], report["succeeded"], report["failed"]) == ("approve", 94, 90, 4)
    results = {r["item_id"]: r for r in report["results"]}
    assert [r["item_id"] for r in report["results"]] == list(dict.fromkeys(ids))
    assert all(results[i]["ok"] and results[i]["phase"] == "preparing" for i in in_review)
    assert (results[own]["status"], results[own]["code"]) == (403, "FOUR_EYES_VIOLATION")
    assert (results[not_submitted]["status"], results[not_submitted]["code"]) == (409, "ILLEGAL_TRANSITION")
    assert "形成期" in results[not_submitted]["message"]
    assert (results[elsewhere]["status"], results[elsewhere]["code"]) == (403, "REGION_FORBIDDEN")
    assert (results[unknown]["status"], results[unknown]["code"]) == (404, "ITEM_NOT_FOUND")
    for item_id in in_review[::15]:
        history = await h.events(item_id)
        assert [(e["type"], e["actor"]) for e in history[-1:]] == [("lifecycle.item.approved.v1", "reviewer-gz")]
    assert await h.count_events(not_submitted) == 1


async def test_a_batch_racing_single_commands_loses_no_write(h: Harness) -> None:
    ids = [await h.drafted() for _ in range(60)]
    for item_id in ids:
        await h.to_testing(item_id)
    singles = [h.call("POST", f"/items/{item_id}/commands/record-test", user="tester-gz", expect=None,
                      json={"result": "fail"}) for item_id in ids[::3]]
    batch = h.call("POST", "/batches", user="tester-gz",
                   json={"command": "record-test", "item_ids": ids, "body": {"result": "pass"}})
    *single_responses, batch_response = await asyncio.gather(*singles, batch)
    report = batch_response.json()
    single_ok = sum(r.status_code == 200 for r in single_responses)
    batch_ok = {r["item_id"] for r in report["results"] if r["ok"]}
    assert all(r["code"] == "VERSION_CONFLICT" for r in report["results"] if not r["ok"])
    total = sum([await h.count_events(i) for i in ids])
    assert total == 3 * len(ids) + single_ok + len(batch_ok)  # drafted, submitted, approved + every success


async def test_a_batch_names_a_command_and_at_least_one_item(h: Harness) -> None:
    response = await h.call("POST", "/batches", user="reviewer-gz", expect=422,
                            json={"command": "approve", "item_ids": []})
    assert response.json()["code"] == "VALIDATION_FAILED"


# ================================================================================================ split / merge
async def test_a_split_cancels_the_old_item_and_both_sides_see_the_lineage(h: Harness) -> None:
    old = await h.drafted()
    await h.to_online(old)
    new_a, new_b = await h.drafted(), await h.drafted()
    response = await h.call("POST", "/adjustments", user="publisher-gz", expect=201, json={
        "kind": "split", "predecessors": [old], "successors": [new_a, new_b], "reason": "拆分为市内迁移与跨市迁移"})
    body = response.json()
    assert body["kind"] == "split" and set(body["items"]) == {old, new_a, new_b}

    cancelled = await h.state(old)
    assert (cancelled["phase"], cancelled["phase_label"]) == ("cancelled", "注销期")
    assert cancelled["lineage"][0] | {"at": None} == {
        "adjustment_id": body["adjustment_id"], "kind": "split", "kind_label": "拆分", "role": "predecessor",
        "predecessors": [old], "successors": [new_a, new_b], "reason": "拆分为市内迁移与跨市迁移",
        "actor": "publisher-gz", "at": None}
    last = (await h.events(old))[-1]
    assert last["type"] == contracts.LIFECYCLE_CANCELLED
    assert last["data"]["successors"] == [new_a, new_b] and last["data"]["was_published"] is True
    successor = await h.state(new_a)
    assert successor["phase"] == "forming" and successor["lineage"][0]["role"] == "successor"
    assert successor["lineage"][0]["predecessors"] == [old]


async def test_a_merge_with_a_cancelled_item_is_refused_and_nothing_is_written(h: Harness) -> None:
    a, b, merged = await h.drafted(), await h.drafted(), await h.drafted()
    await h.command(b, "cancel", user="publisher-gz", reason="重复录入")
    counts = [await h.count_events(i) for i in (a, b, merged)]
    response = await h.call("POST", "/adjustments", user="publisher-gz", expect=409, json={
        "kind": "merge", "predecessors": [a, b], "successors": [merged], "reason": "合并"})
    assert response.json()["code"] == "ADJUSTMENT_ITEM_CANCELLED" and response.json()["details"]["item_id"] == b
    assert [await h.count_events(i) for i in (a, b, merged)] == counts


async def test_a_split_must_have_one_predecessor_and_several_successors(h: Harness) -> None:
    a, b = await h.drafted(), await h.drafted()
    response = await h.call("POST", "/adjustments", user="publisher-gz", expect=422, json={
        "kind": "split", "predecessors": [a], "successors": [b], "reason": "拆分"})
    assert response.json()["code"] == "ADJUSTMENT_INVALID"
    assert "拆分" in response.json()["message"]
    refused = await h.call("POST", "/adjustments", user="entry-gz", expect=403, json={
        "kind": "merge", "predecessors": [a, b], "successors": [await h.drafted()], "reason": "合并"})
    assert refused.json()["code"] == "ROLE_FORBIDDEN"


# ================================================================================================ reading the past
async def test_as_of_rebuilds_what_was_published_at_any_earlier_time(h: Harness) -> None:
    item_id = await h.drafted()
    await h.to_online(item_id)
    h.clock.advance(days=1)
    first_online = h.clock.current.isoformat()
    h.clock.advance(days=1)
    await h.revision(item_id, 2, author="entry2-gz", elements={**HUKOU, "competent_department": "广东省公安厅"})
    await h.command(item_id, "submit", user="entry-gz")
    await h.command(item_id, "approve", user="reviewer-gz")
    await h.command(item_id, "publish", user="publisher-gz")
    then = await h.state(item_id, as_of=first_online)
    assert (then["published"]["revision"], then["published"]["elements"]) == (1, HUKOU)
    assert then["pending"] is None and then["version"] == 7
    now = await h.state(item_id)
    assert now["published"]["revision"] == 2
    before_anything = await h.call("GET", f"/items/{item_id}", user="publisher-gz", expect=404,
                                   params={"as_of": (T0 - timedelta(days=1)).isoformat()})
    assert before_anything.json()["code"] == "ITEM_NOT_FOUND"


async def test_the_list_filters_by_phase_region_types_and_code_and_pages_with_a_cursor(h: Harness) -> None:
    online = [await h.drafted() for _ in range(4)]
    for n, item_id in enumerate(online):
        await h.to_online(item_id, code=f"0144011502030000000000{n:02d}")
    forming = [await h.drafted({**HUKOU, "police_type": "03"}) for _ in range(3)]
    await h.drafted({**HUKOU, "region_code": "440305"}, author="entry-sz")

    async def listing(**params: Any) -> dict[str, Any]:
        return (await h.call("GET", "/items", user="publisher-gz", params=params)).json()

    assert {r["item_id"] for r in (await listing(phase="online"))["items"]} == set(online)
    assert {r["item_id"] for r in (await listing(police_type="03"))["items"]} == set(forming)
    assert [r["item_id"] for r in (await listing(code="014401150203000000000002"))["items"]] == [online[2]]
    assert len((await listing(region="4403"))["items"]) == 0  # outside the caller's regions
    assert len((await listing(step="entry", item_type="01"))["items"]) == 3
    seen: list[str] = []
    cursor = None
    while True:
        page = await listing(limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [r["item_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(online + forming)
    row = next(r for r in (await listing(phase="online"))["items"] if r["item_id"] == online[0])
    assert (row["phase"], row["step"], row["name"], row["published_revision"]) == ("online", "published",
                                                                                   "户口迁移审批", 1)


async def test_the_list_searches_names_and_codes_with_q_and_takes_a_phase_by_its_chinese_name(h: Harness) -> None:
    passport = await h.drafted({**HUKOU, "name": "普通护照签发", "short_name": "护照签发"})
    hukou = await h.drafted()
    online = await h.drafted({**HUKOU, "name": "居民身份证申领", "short_name": "身份证申领"})
    await h.to_online(online, code="014401150203SFZSL0000000")

    async def ids(**params: Any) -> set[str]:
        return {r["item_id"] for r in (await h.call("GET", "/items", user="publisher-gz", params=params)).json()[
            "items"]}

    assert passport in await ids(q="护照") and hukou not in await ids(q="护照")
    assert await ids(q="身份证") == {online}
    assert await ids(q="01-440115-02-03-SFZSL") == {online}  # the code as printed, a prefix of it
    assert await ids(q="014401150203sfz") == {online}
    assert await ids(q="100%") == set()  # LIKE characters are text
    assert await ids(phase="形成期") == await ids(phase="forming")
    assert {passport, hukou} <= await ids(phase="形成期") and online not in await ids(phase="形成期")
    assert await ids(phase="在线期") == {online}
    unknown = (await h.call("GET", "/items", user="publisher-gz", expect=422, params={"phase": "上线期"})).json()
    assert unknown["code"] == "UNKNOWN_PHASE" and "形成期（forming）" in unknown["message"]


async def test_events_can_be_paged_by_version(h: Harness) -> None:
    item_id = await h.drafted()
    await h.to_testing(item_id)
    page = (await h.call("GET", f"/items/{item_id}/events", user="operator",
                         params={"after_version": 1, "limit": 1})).json()
    assert [(e["version"], e["label"]) for e in page] == [(2, "提交审核")]
