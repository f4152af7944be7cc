"""The registry on a real database through its HTTP API: creating, revising, concurrency, phases, regions and roles,
lists, search and the consistency report."""

from __future__ import annotations

import copy
import re
from typing import Any

from sqlalchemy import text

from shared.eventstore import EventMetadata, load_stream
from tests.integration.test_registry_helpers import FULL, MINIMAL, RegistryClient, principal

from registry.adapters import store
from registry.adapters.queries import ORDER, SUMMARY_COLUMNS, ItemFilter, filtered
from registry.domain.elements import validate_elements

PUBLISHED = "lifecycle.item.published.v1"


def problems_of(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "ELEMENTS_INVALID"
    for problem in body["details"]["problems"]:
        assert re.search(r"[\u4e00-\u9fff]", problem["message"]), problem
    return {p["field"]: p["code"] for p in body["details"]["problems"]}


async def stream(api: RegistryClient, item_id: str) -> list[Any]:
    async with api.engine.connect() as conn:
        return await load_stream(conn, item_id)


# ---- creating --------------------------------------------------------------------------------------------------------
async def test_a_minimal_draft_is_stored_with_its_completeness_on_the_event(api: RegistryClient) -> None:
    response = await api.call("POST", "/items", json=MINIMAL)
    assert response.status_code == 201 and response.headers["ETag"] == '"1"'
    view = response.json()
    assert view["revision"] == 1 and view["phase"] == "forming" and view["phase_label"] == "形成期"
    assert view["complete"] is False and "legal_basis" in view["missing"]
    [event] = await stream(api, view["item_id"])
    assert event.type == "registry.item.drafted.v2" and event.version == 1
    assert event.data["elements"] == view["elements"] and event.data["author"] == "entry-gz"
    assert event.data["complete"] is False and event.data["missing"] == view["missing"]
    assert {"item_id", "revision", "region_code", "maintenance", "pending"} <= set(event.data)
    assert "changed_fields" not in event.data  # v2: a draft changes every element, and no longer says so


async def test_a_full_item_is_complete_and_reads_back_unchanged(api: RegistryClient) -> None:
    view = await api.create({**FULL, "source_ref": "NS-0001"})
    assert view["complete"] is True and view["missing"] == [] and view["source_ref"] == "NS-0001"
    again = (await api.call("GET", f"/items/{view['item_id']}")).json()
    assert again["elements"] == FULL


async def test_every_problem_is_reported_at_once_and_nothing_is_stored(api: RegistryClient) -> None:
    bad = copy.deepcopy(FULL)
    bad["legal_basis"].reverse()
    bad["service_guide"]["promised_time_limit_days"] = 30
    bad["service_guide"]["materials"][0]["copies"] = "一份"
    bad.update(national_basic_code="abc", region_code="110103", police_type="77", colour="红")
    problems = problems_of(await api.call("POST", "/items", json=bad))
    assert problems == {
        "colour": "UNKNOWN_FIELD", "police_type": "UNKNOWN_CODE", "region_code": "EXPIRED_CODE",
        "legal_basis[1].rank": "LEGAL_BASIS_OUT_OF_ORDER", "legal_basis[2].rank": "LEGAL_BASIS_OUT_OF_ORDER",
        "service_guide.materials[0].copies": "NOT_INTEGER",
        "service_guide.promised_time_limit_days": "PROMISED_EXCEEDS_STATUTORY", "national_basic_code": "MALFORMED"}
    assert await api.event_count() == 0 and await api.item_count() == 0


async def test_a_body_that_is_not_an_object_is_refused_the_same_way(api: RegistryClient) -> None:
    assert problems_of(await api.call("POST", "/items", json=["户口迁移审批"])) == {"": "NOT_OBJECT"}


async def test_idempotency_key_and_source_ref_never_create_two_items(api: RegistryClient) -> None:
    first = await api.create(MINIMAL, headers={"Idempotency-Key": "k-1"})
    retried = await api.call("POST", "/items", json=MINIMAL, headers={"Idempotency-Key": "k-1"})
    assert retried.status_code == 200 and retried.json()["item_id"] == first["item_id"]

    owned = await api.create({**MINIMAL, "source_ref": "HR-7"})
    same = await api.call("POST", "/items", json={**MINIMAL, "source_ref": "HR-7"})
    assert same.status_code == 200 and same.json()["item_id"] == owned["item_id"]
    other = await api.call("POST", "/items", json={**MINIMAL, "name": "户口迁移审核", "source_ref": "HR-7"})
    assert other.status_code == 409 and other.json()["code"] == "SOURCE_REF_TAKEN"
    assert other.json()["details"]["item_id"] == owned["item_id"]
    # unique per region: the same caller id in another region is another item
    elsewhere = await api.call("POST", "/items", json={**MINIMAL, "region_code": "440106", "source_ref": "HR-7"})
    assert elsewhere.status_code == 201
    assert await api.item_count() == 3


# ---- revising --------------------------------------------------------------------------------------------------------
async def test_a_change_needs_the_current_revision_in_if_match(api: RegistryClient) -> None:
    item = await api.create(MINIMAL)
    path = f"/items/{item['item_id']}"
    missing = await api.call("PUT", path, json=FULL)
    assert missing.status_code == 428 and missing.json()["code"] == "IF_MATCH_REQUIRED"
    changed = await api.revise(item["item_id"], FULL, 1)
    assert changed.status_code == 200 and changed.json()["revision"] == 2 and changed.headers["ETag"] == '"2"'
    stale = await api.revise(item["item_id"], {**FULL, "name": "户口迁入审批"}, 1)
    assert stale.status_code == 409 and stale.json()["code"] == "VERSION_CONFLICT"
    assert stale.json()["details"]["actual"] == 2
    unchanged = await api.revise(item["item_id"], FULL, 2)
    assert unchanged.json()["revision"] == 2  # nothing changed: no new revision
    events = await stream(api, item["item_id"])
    assert [e.type for e in events] == ["registry.item.drafted.v2", "registry.item.revised.v1"]
    assert events[1].data["changed_fields"][:3] == ["competent_department", "implementing_agency", "exercise_levels"]
    assert events[1].data["maintenance"] is False and events[1].data["pending"] is False


async def test_an_invalid_revision_changes_nothing(api: RegistryClient) -> None:
    item = await api.create(FULL)
    bad = {**FULL, "item_type": "", "legal_basis": [{"rank": "法律", "title": ""}]}
    assert problems_of(await api.revise(item["item_id"], bad, 1)) == {"item_type": "REQUIRED",
                                                                       "legal_basis[0].title": "REQUIRED"}
    assert len(await stream(api, item["item_id"])) == 1


async def test_revisions_are_listed_and_any_two_can_be_compared(api: RegistryClient) -> None:
    item = await api.create(MINIMAL)
    await api.revise(item["item_id"], FULL, 1)
    third = copy.deepcopy(FULL)
    third["legal_basis"][1]["article"] = "第十一条"
    await api.revise(item["item_id"], third, 2, user="entry-gd")
    revisions = (await api.call("GET", f"/items/{item['item_id']}/revisions")).json()
    assert [(r["revision"], r["author"]) for r in revisions] == [(1, "entry-gz"), (2, "entry-gz"), (3, "entry-gd")]
    assert revisions[2]["changed_fields"] == ["legal_basis"]
    diff = (await api.call("GET", f"/items/{item['item_id']}/diff", params={"from": 2, "to": 3})).json()
    assert diff["changes"] == [{"field": "legal_basis[1].article", "label": "设定依据第2条·条款", "change": "changed",
                                "before": "第十条", "after": "第十一条"}]
    backwards = (await api.call("GET", f"/items/{item['item_id']}/diff", params={"from": 3, "to": 1})).json()
    assert "legal_basis" in backwards["changed_fields"]
    old = (await api.call("GET", f"/items/{item['item_id']}/revisions/1")).json()
    assert old["elements"]["legal_basis"] == []
    beyond = await api.call("GET", f"/items/{item['item_id']}/diff", params={"from": 1, "to": 9})
    assert beyond.status_code == 404 and beyond.json()["code"] == "REVISION_NOT_FOUND"


async def test_maintenance_may_only_fix_non_substantive_elements(api: RegistryClient) -> None:
    item = await api.create(FULL)
    fixed = copy.deepcopy(FULL)
    fixed["service_guide"]["hours"] = "工作日 8:30-17:30"
    ok = await api.revise(item["item_id"], fixed, 1, params={"maintenance": "true"})
    assert ok.status_code == 200
    assert (await stream(api, item["item_id"]))[-1].data["maintenance"] is True
    renamed = {**fixed, "name": "户口迁入审批"}
    assert problems_of(await api.revise(item["item_id"], renamed, 2, params={"maintenance": "true"})) == {
        "name": "MAINTENANCE_NOT_ALLOWED"}


# ---- structure -------------------------------------------------------------------------------------------------------
async def test_composites_are_made_of_existing_meta_items(api: RegistryClient) -> None:
    a = await api.create({**MINIMAL, "name": "出生登记", "short_name": "出生登记"})
    b = await api.create({**MINIMAL, "name": "居民身份证申领", "short_name": "居民身份证申领"})
    combo = await api.create({**MINIMAL, "name": "新生儿出生一件事", "short_name": "新生儿出生一件事",
                              "composition": "组合事项", "member_item_ids": [a["item_id"], b["item_id"]]})
    nested = {**MINIMAL, "name": "一件事套一件事", "composition": "组合事项",
              "member_item_ids": [combo["item_id"], "00000000-0000-0000-0000-000000000000"]}
    assert problems_of(await api.call("POST", "/items", json=nested)) == {
        "member_item_ids[0]": "MEMBER_NOT_META", "member_item_ids[1]": "REFERENCE_NOT_FOUND"}
    # a member may not turn into a composite while it is one
    turned = {**a["elements"], "composition": "组合事项", "member_item_ids": [b["item_id"], combo["item_id"]]}
    assert problems_of(await api.revise(a["item_id"], turned, 1)) == {"member_item_ids[1]": "MEMBER_NOT_META",
                                                                      "composition": "STILL_A_MEMBER"}


async def test_main_sub_and_handling_items_hang_under_the_right_tier(api: RegistryClient) -> None:
    main = await api.create({**MINIMAL, "name": "机动车登记", "short_name": "机动车登记"})
    sub = await api.create({**MINIMAL, "name": "机动车注册登记", "tier": "子项", "parent_item_id": main["item_id"]})
    handling = await api.create({**MINIMAL, "name": "机动车注册登记（新设）", "tier": "业务办理项",
                                 "handling_kind": "新设", "parent_item_id": sub["item_id"]})
    under_handling = {**MINIMAL, "name": "错挂", "tier": "子项", "parent_item_id": handling["item_id"]}
    assert problems_of(await api.call("POST", "/items", json=under_handling)) == {
        "parent_item_id": "PARENT_TIER_MISMATCH"}
    # the main item cannot become a handling item while it has a sub-item
    demoted = {**main["elements"], "tier": "业务办理项", "handling_kind": "变更", "parent_item_id": sub["item_id"]}
    assert problems_of(await api.revise(main["item_id"], demoted, 1))["tier"] == "HAS_CHILDREN"


async def test_serial_relations_never_form_a_cycle(api: RegistryClient) -> None:
    a = await api.create({**MINIMAL, "name": "无犯罪记录证明开具"})
    b = await api.create({**MINIMAL, "name": "出国（境）证件申请", "serial_predecessor_ids": [a["item_id"]]})
    c = await api.create({**MINIMAL, "name": "签注办理", "serial_predecessor_ids": [b["item_id"]],
                          "parallel_item_ids": [a["item_id"]]})
    response = await api.revise(a["item_id"], {**a["elements"], "serial_predecessor_ids": [c["item_id"]]}, 1)
    assert problems_of(response) == {"serial_predecessor_ids": "SERIAL_CYCLE"}
    message = response.json()["details"]["problems"][0]["message"]
    assert "“无犯罪记录证明开具” → “签注办理” → “出国（境）证件申请” → “无犯罪记录证明开具”" in message
    assert problems_of(await api.revise(a["item_id"], {**a["elements"], "serial_predecessor_ids": [a["item_id"]]},
                                        1)) == {"serial_predecessor_ids[0]": "SELF_REFERENCE"}


# ---- phases ----------------------------------------------------------------------------------------------------------
async def test_a_change_to_a_published_item_becomes_a_pending_revision(api: RegistryClient) -> None:
    item = await api.create(FULL)
    await api.lifecycle(item["item_id"], "lifecycle.item.entered.v1", 1)
    await api.lifecycle(item["item_id"], "lifecycle.item.approved.v1", 3)
    assert (await api.call("GET", f"/items/{item['item_id']}")).json()["phase"] == "preparing"
    await api.lifecycle(item["item_id"], PUBLISHED, 7, phase="online", revision=1, elements=FULL)
    update = {**FULL, "name": "户口迁入审批"}
    view = (await api.revise(item["item_id"], update, 1)).json()
    assert (view["phase"], view["revision"]) == ("online", 2)
    assert view["published"]["revision"] == 1 and view["published"]["elements"]["name"] == "户口迁移审批"
    assert view["pending"]["revision"] == 2 and view["pending"]["changed_fields"] == ["name"]
    assert (await stream(api, item["item_id"]))[-1].data["pending"] is True
    # the lifecycle reviews and publishes it: nothing is pending any more; a replayed older event changes nothing
    await api.lifecycle(item["item_id"], PUBLISHED, 12, phase="online", revision=2, elements=update, update=True)
    await api.lifecycle(item["item_id"], PUBLISHED, 7, phase="online", revision=1, elements=FULL)
    settled = (await api.call("GET", f"/items/{item['item_id']}")).json()
    assert settled["published"]["revision"] == 2 and settled["pending"] is None


async def test_a_change_answers_the_path_it_took_and_hints_at_a_maintenance_sent_as_an_update(
        api: RegistryClient) -> None:
    item = await api.create(FULL)
    renamed = {**FULL, "name": "户口迁入审批"}
    draft = (await api.revise(item["item_id"], renamed, 1)).json()
    assert (draft["path"], draft["hint"]) == ("draft", None) and draft["path_label"].startswith("修改")
    await api.lifecycle(item["item_id"], PUBLISHED, 7, phase="online", revision=2, elements=renamed)
    moved = copy.deepcopy(renamed)
    moved["service_guide"]["place"] = "南沙区政务服务中心二楼"
    update = (await api.revise(item["item_id"], moved, 2)).json()
    assert update["path"] == "update" and update["path_label"].startswith("更新")
    assert "maintenance=true" in update["hint"] and "办事指南·办理地点" in update["hint"]
    assert (await stream(api, item["item_id"]))[-1].data["maintenance"] is False  # the path is what was asked
    moved["service_guide"]["hours"] = "工作日 8:30-17:30"
    fixed = (await api.revise(item["item_id"], moved, 3, params={"maintenance": "true"})).json()
    assert (fixed["path"], fixed["hint"]) == ("maintenance", None) and fixed["path_label"].startswith("维护")
    same = (await api.revise(item["item_id"], moved, 4)).json()
    assert (same["path"], same["revision"]) == ("unchanged", 4)


async def test_a_cancelled_item_cannot_change(api: RegistryClient) -> None:
    item = await api.create(FULL)
    await api.lifecycle(item["item_id"], "lifecycle.item.cancelled.v1", 2, phase="cancelled", reason="职能调整")
    response = await api.revise(item["item_id"], {**FULL, "name": "户口迁入审批"}, 1)
    assert response.status_code == 409 and response.json()["code"] == "ITEM_CANCELLED"
    assert "已注销" in response.json()["message"] and len(await stream(api, item["item_id"])) == 1


# ---- regions and roles -----------------------------------------------------------------------------------------------
async def test_callers_act_and_read_only_inside_their_regions_and_roles(api: RegistryClient) -> None:
    gz = await api.create(MINIMAL)
    sz = await api.create({**MINIMAL, "region_code": "440305"}, user="entry-sz")
    outside = await api.call("POST", "/items", json={**MINIMAL, "region_code": "440305"})
    assert outside.status_code == 403 and outside.json()["code"] == "REGION_FORBIDDEN"
    assert (await api.call("GET", f"/items/{sz['item_id']}")).status_code == 404
    assert (await api.revise(sz["item_id"], MINIMAL, 1)).status_code == 404
    moved = await api.revise(gz["item_id"], {**MINIMAL, "region_code": "440305"}, 1)
    assert moved.status_code == 403 and moved.json()["code"] == "REGION_FORBIDDEN"
    assert (await api.call("POST", "/items", json=MINIMAL, user="reviewer-gz")).json()["code"] == "ROLE_FORBIDDEN"
    assert (await api.call("GET", f"/items/{gz['item_id']}", user="reviewer-gz")).status_code == 200
    assert (await api.call("GET", f"/items/{gz['item_id']}", user="national")).status_code == 403
    listed = (await api.call("GET", "/items")).json()["items"]
    assert [i["item_id"] for i in listed] == [gz["item_id"]]
    both = (await api.call("GET", "/items", user="entry-gd")).json()["items"]
    assert {i["item_id"] for i in both} == {gz["item_id"], sz["item_id"]}


# ---- lists and search ------------------------------------------------------------------------------------------------
NAMES = ["普通护照签发", "往来港澳通行证签发", "户口迁移审批", "居民身份证申领", "机动车注册登记", "机动车驾驶证申领",
         "无犯罪记录证明开具", "养犬登记"]
# Real public-security item names, for a table whose names are as varied as a province's list.
MORE_NAMES = ["出生登记", "死亡注销户口", "户口登记项目变更更正", "曾用名登记", "分户登记", "临时居民身份证申领",
              "居住证申领", "居住证签注", "外国人住宿登记", "境外人员临时住宿登记", "机动车转移登记", "机动车变更登记",
              "机动车抵押登记", "机动车注销登记", "电动自行车登记", "机动车检验合格标志核发", "驾驶证换证",
              "驾驶证补证", "旅馆业特种行业许可证核发", "公章刻制业特种行业许可证核发", "典当业特种行业许可证核发",
              "保安服务公司设立许可", "大型群众性活动安全许可", "爆破作业单位许可证核发", "民用爆炸物品购买许可",
              "烟花爆竹道路运输许可", "剧毒化学品购买许可", "枪支持枪许可", "互联网上网服务营业场所信息网络安全审核",
              "计算机信息系统安全专用产品销售许可", "公众聚集场所投入使用营业前消防安全检查", "建设工程消防验收",
              "出入境证件签发", "台湾居民来往大陆通行证签发", "边境管理区通行证核发", "交通事故认定复核"]


async def test_lists_filter_search_and_page_with_a_cursor(api: RegistryClient) -> None:
    for i, name in enumerate(NAMES):
        region = "440115" if i % 2 else "440106"
        police = "03" if "护照" in name or "港澳" in name else "04" if "机动车" in name else "02"
        await api.create({**MINIMAL, "name": name, "short_name": name, "region_code": region, "police_type": police})
    await api.create({**MINIMAL, "name": "普通护照签发", "region_code": "440305"}, user="entry-sz")

    async def names(user: str = "entry-gz", **params: Any) -> list[str]:
        return [i["name"] for i in (await api.call("GET", "/items", params=params, user=user)).json()["items"]]

    assert await names(q="护照") == ["普通护照签发"]
    assert await names(q="签发") == ["普通护照签发", "往来港澳通行证签发"]
    assert await names(q="机动车", police_type="04") == ["机动车注册登记", "机动车驾驶证申领"]
    # ordered by region, then name (code-point order)
    assert await names(q="证") == ["无犯罪记录证明开具", "居民身份证申领", "往来港澳通行证签发", "机动车驾驶证申领"]
    assert await names(region="440115") == sorted(NAMES[1::2])
    assert await names(user="entry-gd", q="护照") == ["普通护照签发", "普通护照签发"]
    assert await names(phase="online") == []
    assert len(await names(phase="forming")) == 8
    assert len(await names(phase="形成期")) == 8  # a phase by its Chinese name, as the lifecycle list takes it
    unknown = await api.call("GET", "/items", params={"phase": "县级"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "VALIDATION_FAILED"
    assert "形成期（forming）" in str(unknown.json())

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.call("GET", "/items", params=params, user="entry-gd")).json()
        seen += [i["item_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 9
    bad = await api.call("GET", "/items", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["code"] == "INVALID_CURSOR"


async def test_name_search_is_an_index_scan_on_a_realistic_table(api: RegistryClient) -> None:
    # 60,000 items over Guangdong's counties, inserted the way an import does (one batch append per 1,000). The
    # read model's rows are narrow (the elements stay in the events), so a smaller table is cheaper to scan whole
    # and PostgreSQL rightly does that; at a province's size it must take the index.
    counties = [c for c in api.registry.dictionaries.regions.entries.values()
                if c.code.startswith("44") and c.level == 3 and c.valid_to is None][:100]
    now = api.registry.now()
    for chunk in range(60):
        writes = []
        for i in range(1000):
            n = chunk * 1000 + i
            county = counties[n % len(counties)]
            names = NAMES + MORE_NAMES
            name = f"{county.label}{names[n % len(names)]}"
            elements, _ = validate_elements({**MINIMAL, "name": name, "region_code": county.code},
                                            api.registry.dictionaries, now.date())
            writes.append(store.drafted(elements, author="bench", source_ref=f"S{n}", now=now))
        async with api.engine.begin() as conn:
            await store.write_items(conn, writes, EventMetadata(actor="bench", recorded_at=now))
    # The plan must be the same each run (CI once saw a seq scan), so what the planner reads must be too: ANALYZE
    # samples 300 × the statistics target rows — at the default (100) a random 30,000 of the 60,000 — so the target
    # is raised until every row is read; and VACUUM empties the trigram index's pending list (new entries wait there
    # until autovacuum, whenever it comes, merges them), which the planner counts into the index's cost.
    for column in ("search_text", "name", "region_code"):
        await api.sql(f"ALTER TABLE registry_items ALTER COLUMN {column} SET STATISTICS 1000")
    async with api.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("registry_items", "registry_item_phases"):
            await autocommit.execute(text(f"VACUUM (ANALYZE) {table}"))
    for query in ("护照", "户口迁移", "驾驶证申领"):
        statement = filtered(principal("entry-gd"), ItemFilter(q=query), *SUMMARY_COLUMNS).order_by(*ORDER).limit(50)
        compiled = statement.compile(api.engine.sync_engine, compile_kwargs={"literal_binds": True})
        plan = "\n".join(r[0] for r in await api.sql(f"EXPLAIN {compiled}"))
        assert "Bitmap Index Scan on registry_items_search_trgm" in plan, plan
        assert "Seq Scan on registry_items" not in plan, plan
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"q": "户口迁移", "limit": 500}
    while True:
        page = (await api.call("GET", "/items", params=params, user="entry-gd")).json()
        found += page["items"]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    [(expected,)] = await api.sql("SELECT count(*) FROM registry_items WHERE name LIKE '%户口迁移%'")
    assert len(found) == expected > 0 and all("户口迁移" in i["name"] for i in found)


# ---- consistency -----------------------------------------------------------------------------------------------------
async def test_the_consistency_report_finds_the_same_item_diverging_across_levels(api: RegistryClient) -> None:
    province = await api.create({**MINIMAL, "region_code": "440000", "national_basic_code": "000144000001"},
                                user="entry-gd")
    city = await api.create({**MINIMAL, "name": "户口迁移审核", "region_code": "440100",
                             "national_basic_code": "000144000001"}, user="entry-gd")
    county = await api.create({**MINIMAL, "item_type": "07", "region_code": "440115"})
    agreeing = await api.create({**MINIMAL, "name": "养犬登记", "region_code": "440106"})
    await api.create({**MINIMAL, "name": "养犬登记", "region_code": "440305"}, user="entry-sz")
    cancelled = await api.create({**MINIMAL, "name": "养犬登记", "item_type": "20", "region_code": "440113"})
    await api.lifecycle(cancelled["item_id"], "lifecycle.item.cancelled.v1", 2, phase="cancelled")

    report = (await api.call("GET", "/consistency", user="entry-gd")).json()
    by_kind = {f["kind"]: f for f in report["findings"]}
    assert report["count"] == 2
    code = by_kind["same_basic_code"]
    assert code["diverging"] == ["name"] and {i["item_id"] for i in code["items"]} == {province["item_id"],
                                                                                        city["item_id"]}
    assert [i["region_level"] for i in code["items"]] == [1, 2]
    name = by_kind["same_name_in_region_tree"]
    assert name["key"] == "44:户口迁移审批" and name["diverging"] == ["item_type"]
    assert {i["item_id"] for i in name["items"]} == {province["item_id"], county["item_id"]}
    assert "不一致" in name["message"]
    assert agreeing["item_id"] not in str(report)
    # a caller sees only findings made of the items inside its regions
    assert (await api.call("GET", "/consistency", user="entry-sz")).json()["count"] == 0


async def test_the_element_model_is_documented_in_chinese_in_the_openapi_document(api: RegistryClient) -> None:
    document = (await api.http.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    properties = schemas["ItemElements"]["properties"]
    assert {"legal_basis", "service_guide", "planned_effective_date", "planned_cancel_date",
            "national_basic_code", "member_item_ids", "serial_predecessor_ids"} <= set(properties)
    assert "设定依据" in properties["legal_basis"]["description"]
    assert set(schemas["LegalBasisEntry"]["properties"]["rank"]["enum"]) == {
        "法律", "行政法规", "地方性法规", "部门规章", "省级政府规章", "规范性文件"}
    create = document["paths"]["/registry/v1/items"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ItemCreate")
    assert "LEGAL_BASIS_OUT_OF_ORDER" in create["responses"]["422"]["description"]
