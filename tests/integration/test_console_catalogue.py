"""The figures behind the operators' console's overview and catalogue-quality pages, on real PostgreSQL: the
lifecycle's statistics (GET /lifecycle/v1/stats) and the registry's quality report (GET /registry/v1/quality), each
limited to the caller's regions, and the registry's running imports (GET /registry/v1/imports?status=running)."""

from __future__ import annotations

from typing import Any

from shared.auth import mint_token
from shared.settings import DEVELOPMENT_JWT_SECRET
from tests.integration.test_lifecycle_commands import HUKOU, Harness, lifecycle_harness
from tests.integration.test_registry_helpers import FULL, MINIMAL, RegistryClient

PHASE_ORDER = ["forming", "preparing", "online", "offline", "cancelled"]


def _with(h: Harness, user: str, roles: list[str], regions: list[str]) -> str:
    h.tokens[user] = mint_token(DEVELOPMENT_JWT_SECRET, subject=user, roles=roles, regions=regions)
    return user


# ================================================================================================ lifecycle stats
async def test_lifecycle_stats_count_items_per_phase_region_and_police_type_within_the_callers_regions(
        database_url: str, topic_prefix: str) -> None:
    async with lifecycle_harness(database_url, topic_prefix) as h:
        online = await h.drafted()  # 440115 广州 南沙, police type 02
        await h.to_online(online)
        await h.drafted({**HUKOU, "region_code": "440106"})  # 广州 天河, forming
        await h.drafted({**HUKOU, "region_code": "440305", "police_type": "01"})  # 深圳 南山
        await h.drafted({**HUKOU, "region_code": "110105", "police_type": "01"})  # 北京 朝阳
        operator = "operator"  # every region

        nationwide = (await h.call("GET", "/stats", user=operator)).json()
        assert nationwide["region"] is None and nationwide["total"] == 4
        assert [(p["phase"], p["label"], p["count"]) for p in nationwide["phases"]] == [
            ("forming", "形成期", 3), ("preparing", "上线准备期", 0), ("online", "在线期", 1), ("offline", "离线期", 0),
            ("cancelled", "注销期", 0)]
        assert [(r["code"], r["name"], r["count"]) for r in nationwide["regions"]] == [
            ("11", "北京市", 1), ("44", "广东省", 3)]
        assert nationwide["regions"][1]["phases"] == {"forming": 2, "preparing": 0, "online": 1, "offline": 0,
                                                      "cancelled": 0}
        assert [(p["code"], p["count"]) for p in nationwide["police_types"]] == [("01", 2), ("02", 2)]
        assert all(p["name"] for p in nationwide["police_types"])

        # drilling down: a province's cities, a city's counties
        guangdong = (await h.call("GET", "/stats?region=44", user=operator)).json()
        assert guangdong["region"] == {"code": "44", "name": "广东省"} and guangdong["total"] == 3
        assert [(r["code"], r["name"], r["count"]) for r in guangdong["regions"]] == [
            ("4401", "广州市", 2), ("4403", "深圳市", 1)]
        guangzhou = (await h.call("GET", "/stats?region=4401", user=operator)).json()
        assert [(r["code"], r["count"]) for r in guangzhou["regions"]] == [("440106", 1), ("440115", 1)]

        # a caller of region 11 sees no Guangdong figure, whatever it asks for
        beijing = _with(h, "operator-bj", ["operator"], ["11"])
        mine = (await h.call("GET", "/stats", user=beijing)).json()
        assert mine["total"] == 1 and [r["code"] for r in mine["regions"]] == ["11"]
        assert [(p["code"], p["count"]) for p in mine["police_types"]] == [("01", 1)]
        theirs = (await h.call("GET", "/stats?region=44", user=beijing)).json()
        assert theirs["total"] == 0 and theirs["regions"] == [] and theirs["police_types"] == []
        assert [p["count"] for p in theirs["phases"]] == [0, 0, 0, 0, 0]

        # the figures are the list's: same caller, same items
        listed = (await h.call("GET", "/items?region=44&limit=1000", user=operator)).json()["items"]
        assert len(listed) == guangdong["total"]


async def test_lifecycle_stats_are_for_staff_and_refuse_a_region_that_is_no_prefix(
        database_url: str, topic_prefix: str) -> None:
    async with lifecycle_harness(database_url, topic_prefix) as h:
        refused = (await h.call("GET", "/stats", user="national", expect=403)).json()
        assert refused["code"] == "ROLE_FORBIDDEN"
        for bad in ("4", "440", "abc", "4401150"):
            invalid = (await h.call("GET", f"/stats?region={bad}", user="operator", expect=422)).json()
            assert invalid["code"] == "VALIDATION_FAILED"


# ================================================================================================ registry quality
def _bearer(subject: str, roles: list[str], regions: list[str]) -> dict[str, str]:
    token = mint_token(DEVELOPMENT_JWT_SECRET, subject=subject, roles=roles, regions=regions)
    return {"Authorization": f"Bearer {token}"}


OPERATOR = _bearer("operator", ["operator"], ["*"])
OPERATOR_BJ = _bearer("operator-bj", ["operator"], ["11"])
ENTRY_BJ = _bearer("entry-bj", ["entry"], ["11"])
BASIC = FULL["national_basic_code"]


async def _quality(api: RegistryClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await api.call("GET", "/quality", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_quality_reports_completeness_per_region_and_department_with_what_incomplete_items_lack(
        api: RegistryClient) -> None:
    complete = await api.create(FULL)  # 440115, 广州市公安局
    lacking = await api.create({**MINIMAL, "name": "临时身份证明", "short_name": "临时身份证明",
                                "competent_department": "广州市公安局"})
    shenzhen = await api.create({**MINIMAL, "region_code": "440305"}, user="entry-sz")  # no 主管部门
    cancelled = await api.create({**MINIMAL, "name": "已注销事项", "short_name": "已注销事项"})
    await api.lifecycle(cancelled["item_id"], "lifecycle.item.cancelled.v1", 2, phase="cancelled")
    await api.create({**MINIMAL, "region_code": "110105"}, headers=ENTRY_BJ)
    assert complete["complete"] is True and lacking["complete"] is False

    report = await _quality(api, OPERATOR, region="44")
    by_region = {r["code"]: r for r in report["completeness"]["by_region"]}
    assert list(by_region) == ["4401", "4403"]  # the cancelled item counts nowhere, Beijing is not under 44
    guangzhou = by_region["4401"]
    assert (guangzhou["name"], guangzhou["items"], guangzhou["complete"], guangzhou["share"],
            guangzhou["incomplete_total"]) == ("广州市", 2, 1, 0.5, 1)
    [item] = guangzhou["incomplete"]
    assert (item["item_id"], item["name"]) == (lacking["item_id"], "临时身份证明")
    assert "主管部门" not in item["missing"] and "实施机关" in item["missing"]  # Chinese names, not paths
    assert by_region["4403"]["share"] == 0.0
    departments = {d["department"]: d for d in report["completeness"]["by_department"]}
    assert (departments["广州市公安局"]["items"], departments["广州市公安局"]["complete"]) == (2, 1)
    assert departments[None]["items"] == 1 and departments[None]["incomplete"][0]["item_id"] == shenzhen["item_id"]

    provinces = await _quality(api, OPERATOR)
    assert [(r["code"], r["name"], r["items"]) for r in provinces["completeness"]["by_region"]] == [
        ("11", "北京市", 1), ("44", "广东省", 3)]
    capped = await _quality(api, OPERATOR, limit=1)
    guangdong = next(r for r in capped["completeness"]["by_region"] if r["code"] == "44")
    assert guangdong["incomplete_total"] == 2 and len(guangdong["incomplete"]) == 1


async def test_quality_reports_how_many_of_the_provinces_standard_items_each_county_implements(
        api: RegistryClient) -> None:
    # the province's standard items: one with a 基本编码, one known by its name
    standard_a = await api.create({**MINIMAL, "region_code": "440000", "national_basic_code": BASIC},
                                  user="entry-gd")
    standard_b = await api.create({**MINIMAL, "region_code": "440000", "name": "居民身份证申领",
                                   "short_name": "居民身份证申领"}, user="entry-gd")
    await api.create(FULL)  # 南沙 440115: the same name and 基本编码 as A
    await api.create({**MINIMAL, "region_code": "440106", "name": "户口迁移审核", "short_name": "户口迁移审核",
                      "national_basic_code": BASIC})  # 天河: another name, A's 基本编码
    await api.create({**MINIMAL, "region_code": "440305", "name": "居民身份证申领", "short_name": "居民身份证申领"},
                     user="entry-sz")  # 南山: B by its name
    await api.create({**MINIMAL, "region_code": "110105", "name": "居民身份证申领", "short_name": "居民身份证申领"},
                     headers=ENTRY_BJ)  # Beijing: another province, implements nothing of Guangdong's

    coverage = {c["county_code"]: c for c in (await _quality(api, OPERATOR, region="44"))["coverage"]}
    assert set(coverage) > {"440115", "440106", "440305", "440104"}
    assert all(c["standard_items"] == 2 for c in coverage.values())
    nansha = coverage["440115"]
    assert (nansha["county_name"], nansha["implemented"], nansha["share"], nansha["missing_total"]) == (
        "南沙区", 1, 0.5, 1)
    assert nansha["missing"] == [{"item_id": standard_b["item_id"], "name": "居民身份证申领"}]
    assert coverage["440106"]["missing"] == [{"item_id": standard_b["item_id"], "name": "居民身份证申领"}]
    assert coverage["440305"]["missing"] == [{"item_id": standard_a["item_id"], "name": "户口迁移审批"}]
    assert (coverage["440104"]["implemented"], coverage["440104"]["share"]) == (0, 0.0)
    # a city's counties only; a province without standard items has no coverage figure
    assert {c["county_code"][:4] for c in (await _quality(api, OPERATOR, region="4403"))["coverage"]} == {"4403"}
    assert (await _quality(api, OPERATOR, region="11"))["coverage"] == []


async def test_quality_is_limited_to_the_callers_regions_and_refuses_the_national_platform(
        api: RegistryClient) -> None:
    await api.create(FULL)
    await api.create({**MINIMAL, "region_code": "440000"}, user="entry-gd")
    await api.create({**MINIMAL, "region_code": "110105"}, headers=ENTRY_BJ)

    for params in ({}, {"region": "44"}, {"region": "4401"}):
        report = await _quality(api, OPERATOR_BJ, **params)
        assert all(r["code"].startswith("11") for r in report["completeness"]["by_region"])
        assert all(d["items"] <= 1 for d in report["completeness"]["by_department"])
        assert all(c["county_code"].startswith("11") for c in report["coverage"])
    assert [r["code"] for r in (await _quality(api, OPERATOR_BJ))["completeness"]["by_region"]] == ["11"]
    assert (await _quality(api, OPERATOR_BJ, region="44"))["completeness"] == {"by_region": [],
                                                                                "by_department": []}

    refused = await api.call("GET", "/quality", user="national")
    assert refused.status_code == 403 and refused.json()["code"] == "ROLE_FORBIDDEN"
    invalid = await api.call("GET", "/quality?region=440", headers=OPERATOR)
    assert invalid.status_code == 422 and invalid.json()["code"] == "VALIDATION_FAILED"


# ================================================================================================ running imports
async def test_an_operator_lists_the_imports_running_in_its_regions_by_status(api: RegistryClient) -> None:
    rows = [  # (job, starter, regions, status, minutes since its last heartbeat)
        ("running-gz", "entry-gz", ["4401"], "running", 0),
        ("stale-gz", "entry-gz", ["4401"], "running", 10),  # its process stopped
        ("done-gz", "entry-gz", ["4401"], "completed", 0),
        ("running-bj", "entry-bj", ["11"], "running", 0)]
    for job_id, subject, regions, status, age in rows:
        await api.sql(
            "INSERT INTO registry_import_jobs (job_id, subject, regions, filename, format, status, rows_total, "
            "rows_processed, created_at, started_at, heartbeat_at) VALUES (:job_id, :subject, :regions, '清单.xlsx', "
            "'xlsx', :status, 100, 40, now(), now(), now() - make_interval(mins => :age))",
            job_id=job_id, subject=subject, regions=regions, status=status, age=age)

    async def listed(headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
        response = await api.call("GET", "/imports", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()["jobs"]

    running = await listed(_bearer("operator-gd", ["operator"], ["44"]), status="running")
    assert [(j["job_id"], j["started_by"], j["status"], j["rows_processed"], j["rows_total"]) for j in running] == [
        ("running-gz", "entry-gz", "running", 40, 100)]
    assert sorted(j["job_id"] for j in await listed(OPERATOR, status="running")) == ["running-bj", "running-gz"]
    assert [j["job_id"] for j in await listed(OPERATOR, status="interrupted")] == ["stale-gz"]
    assert [j["job_id"] for j in await listed(OPERATOR_BJ, status="running")] == ["running-bj"]
    assert len(await listed(OPERATOR)) == 4  # without status: every job, as before
    invalid = await api.call("GET", "/imports?status=paused", headers=OPERATOR)
    assert invalid.status_code == 422 and invalid.json()["code"] == "VALIDATION_FAILED"


# ================================================================================================ finding an item
async def test_the_registry_list_finds_items_by_their_national_basic_or_implementation_code(
        api: RegistryClient) -> None:
    by_basic = await api.create(FULL)
    by_implementation = await api.create({**MINIMAL, "name": "临时身份证明", "short_name": "临时身份证明",
                                          "national_implementation_code": "11440115MB2C92030K4000117009001"})
    await api.create({**MINIMAL, "name": "其他事项", "short_name": "其他事项"})

    async def found(code: str, headers: dict[str, str] = OPERATOR) -> list[str]:
        response = await api.call("GET", "/items", headers=headers, params={"national_code": code})
        assert response.status_code == 200, response.text
        return [i["item_id"] for i in response.json()["items"]]

    assert await found(BASIC) == [by_basic["item_id"]]
    assert await found("11440115MB2C92030K4000117009001") == [by_implementation["item_id"]]
    assert await found(BASIC[:6]) == []  # the whole code, not a prefix
    assert await found(BASIC, OPERATOR_BJ) == []  # within the caller's regions


# ================================================================================================ hash chains
async def test_the_registry_verifies_an_items_hash_chain_within_the_callers_regions(api: RegistryClient) -> None:
    item = await api.create(FULL)
    assert (await api.revise(item["item_id"], {**FULL, "competent_department": "广东省公安厅"}, 1)).status_code == 200

    async def verify(headers: dict[str, str]) -> Any:
        return await api.call("GET", f"/items/{item['item_id']}/verify", headers=headers)

    intact = (await verify(OPERATOR)).json()
    assert (intact["verified"], intact["verified_label"], intact["events"], intact["broken_at_version"]) == (
        True, "哈希链完整", 2, None)
    elsewhere = await verify(OPERATOR_BJ)
    assert elsewhere.status_code == 404 and elsewhere.json()["code"] == "NOT_FOUND"
    assert (await api.call("GET", f"/items/{item['item_id']}/verify", user="national")).status_code == 403

    await api.sql("UPDATE events SET data = jsonb_set(data, '{elements,name}', '\"篡改\"') "
                  "WHERE stream_id = :item AND version = 1", item=item["item_id"])
    broken = (await verify(OPERATOR)).json()
    assert (broken["verified"], broken["verified_label"], broken["broken_at_version"]) == (False, "哈希链被破坏", 1)
    assert broken["reason"]
