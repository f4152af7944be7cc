"""``shixiang demo``: fill a running development suite with a small, realistic catalogue, so that the operators'
console (and a newcomer's first look at the APIs) has something to show: the province's standard items online, the
districts of Guangzhou and Shenzhen implementing some of them in every lifecycle phase, a few incomplete drafts
(完备度), a county missing some standard items (覆盖度), national answers (one rejection) and live events.

It speaks only the public HTTP API, as the suite's own users would, with tokens minted from the suite's development
secret: one team (entry, reviewer, tester, publisher) per region, since reviewers never approve their own work."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

from shixiang.client import SuiteClient
from shixiang.dev_issuer import Minter
from shixiang.examples import complete_item

ROLES = ("entry", "reviewer", "tester", "publisher")

# The province's standard items (事项类型, 业务警种, 服务类别): every county is expected to implement them.
STANDARD_ITEMS: list[tuple[str, str, str, str]] = [
    ("户口迁移审批", "01", "02", "03"),
    ("居民身份证换领", "07", "02", "01"),
    ("普通护照签发", "01", "03", "01"),
    ("机动车驾驶证换证", "01", "04", "01"),
    ("互联网上网服务营业场所信息网络安全审核", "01", "05", "03"),
    ("犬只登记", "07", "01", "02"),
]
# county → (its city's prefix: the team that enters and reviews it, the name of its police branch, how many of the
# standard items it implements, the phase its last one is left in)
COUNTIES: dict[str, tuple[str, str, int, str]] = {
    "440103": ("4401", "广州市公安局荔湾区分局", 6, "online"),
    "440104": ("4401", "广州市公安局越秀区分局", 6, "in_review"),
    "440106": ("4401", "广州市公安局天河区分局", 5, "registered"),
    "440111": ("4401", "广州市公安局白云区分局", 4, "offline"),
    "440115": ("4401", "广州市公安局南沙区分局", 3, "draft"),
    "440304": ("4403", "深圳市公安局福田分局", 6, "cancelled"),
    "440305": ("4403", "深圳市公安局南山分局", 4, "online"),
    "440306": ("4403", "深圳市公安局宝安分局", 2, "online"),
}
TEAMS = ("44", "4401", "4403")


@dataclass
class Demo:
    client: SuiteClient

    def user(self, role: str, team: str) -> str:
        return f"{role}-{team}"

    async def item(self, name: str, kinds: tuple[str, str, str], region: str, department: str, team: str,
                   *, complete: bool = True) -> str:
        item_type, police_type, category = kinds
        elements = complete_item(name=name, short_name=name, item_type=item_type, police_type=police_type,
                                 service_category=category, region_code=region, competent_department=department,
                                 implementing_agency=department)
        if not complete:  # what review needs is missing: the 完备度 page lists it
            elements["service_guide"] = {k: v for k, v in elements["service_guide"].items()
                                         if k not in ("place", "hours")}
        created = await self.client.create_item(elements, user=self.user("entry", team))
        return str(created["item_id"])

    async def drive(self, item_id: str, team: str, until: str) -> None:
        """Through the lifecycle as far as ``until``: draft, in_review, registered, online, offline, cancelled."""
        c, u = self.client, (lambda role: self.user(role, team))
        await c.wait_for_state(item_id, lambda s: s.get("phase") is not None, user=u("publisher"))
        if until == "draft":
            return
        await c.command(item_id, "submit", user=u("entry"))
        if until == "in_review":
            return
        await c.command(item_id, "approve", user=u("reviewer"))
        await c.command(item_id, "record-test", user=u("tester"), body={"result": "pass", "notes": "联调通过"})
        await c.command(item_id, "register", user=u("publisher"))
        await c.wait_for_state(item_id, lambda s: s.get("code") is not None, user=u("publisher"))
        if until == "registered":
            return
        await c.command(item_id, "publish", user=u("publisher"))
        if until in ("offline", "cancelled"):  # an online item is taken offline before it can be cancelled
            await c.command(item_id, "unpublish", user=u("publisher"), body={"reason": "窗口装修，暂停办理"})
        if until == "cancelled":
            await c.command(item_id, "cancel", user=u("publisher"), body={"reason": "依据调整，事项取消"})


async def fill(client: SuiteClient, mint: Minter) -> dict[str, Any]:
    """Create the demo catalogue through the API, each team's users' tokens from ``mint`` (the suite's issuer);
    returns what was made (counts per phase asked for)."""
    for role, team in itertools.product(ROLES, TEAMS):
        client.tokens[f"{role}-{team}"] = mint(f"{role}-{team}", [role], [team])
    demo = Demo(client)
    made: dict[str, int] = {}

    async def one(name: str, kinds: tuple[str, str, str], region: str, department: str, team: str,
                  until: str, complete: bool = True) -> None:
        item_id = await demo.item(name, kinds, region, department, team, complete=complete)
        await demo.drive(item_id, team, until)
        made[until] = made.get(until, 0) + 1

    work = [one(name, (t, p, c), "440000", "广东省公安厅", "44", "online") for name, t, p, c in STANDARD_ITEMS]
    for county, (team, department, implemented, last) in COUNTIES.items():
        for n, (name, t, p, c) in enumerate(STANDARD_ITEMS[:implemented]):
            work.append(one(name, (t, p, c), county, department, team, last if n == implemented - 1 else "online"))
        work.append(one("养犬登记证补领", ("07", "01", "04"), county, department, team, "draft", complete=False))
    # A few at a time: the suite is one machine's, and the demo should not look like a load test.
    limit = asyncio.Semaphore(4)

    async def bounded(job: Any) -> None:
        async with limit:
            await job

    await asyncio.gather(*(bounded(job) for job in work))
    # 准确度: the same name with another type than the province's (the consistency report finds it).
    await one("犬只登记", ("01", "01", "02"), "440306", COUNTIES["440306"][1], "4403", "online")
    await maintain_one(demo)
    await answer_as_the_national_platform(client)
    return made


async def maintain_one(demo: Demo) -> None:
    """A maintenance revision of an online item (new opening hours): the item page shows its field-level diff and
    the feed a 维护 entry."""
    c, team = demo.client, "4401"
    listed = await c.list_items(user=demo.user("publisher", team), name="户口迁移审批", region="440103")
    item_id = listed["items"][0]["item_id"]
    current = await c.registry_item(item_id, user=demo.user("entry", team))
    elements = current["elements"]
    elements["service_guide"]["hours"] = "工作日 8:30-12:00，13:30-17:30；周六上午 9:00-12:00"
    await c.revise_item(item_id, elements, current["revision"], user=demo.user("entry", team), maintenance=True)


async def answer_as_the_national_platform(client: SuiteClient) -> None:
    """The national platform acknowledges what it was fed, but rejects one item (the console lists it)."""
    entries, _ = await client.feed(0, limit=1000)
    rejected = False
    for entry in entries:
        if entry["data"].get("change") != "published":
            continue
        rejecting = not rejected and entry["data"].get("elements", {}).get("region_code") == "440305"
        await client.call("POST", "sync", "/sync/v1/national/feedback", user="national", expect=(200, 201), json={
            "item_id": entry["subject"], "item_version": entry["itemversion"],
            "result": "rejected" if rejecting else "acknowledged",
            **({"reason": "设定依据条款与国家目录不一致"} if rejecting else {})})
        rejected = rejected or rejecting
