"""Helpers of the registry's integration tests (imported by the test_registry_* modules): the registry app in-process
on a fresh real database (api role only: no relay, no broker; the ``api`` fixture of conftest.py), callers with
tokens, and shortcuts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import contracts
from shared.auth import Principal, mint_token
from shared.cloudevents import CloudEvent
from shared.eventstore import events_table
from shared.settings import DEVELOPMENT_JWT_SECRET

from registry.bootstrap import create_app
from registry.config import RegistrySettings

USERS: dict[str, tuple[list[str], list[str]]] = {
    "entry-gz": (["entry"], ["4401"]),
    "entry-sz": (["entry"], ["4403"]),
    "entry-gd": (["entry"], ["44"]),
    "reviewer-gz": (["reviewer"], ["4401"]),
    "national": (["national"], ["*"]),
    "admin": (["admin"], ["*"]),
}
MINIMAL = {"name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
           "service_category": "03", "region_code": "440115"}
FULL: dict[str, Any] = {
    **MINIMAL,
    "competent_department": "广州市公安局", "implementing_agency": "广州市公安局南沙区分局",
    "exercise_levels": ["3", "4"],
    "legal_basis": [
        {"rank": "法律", "title": "中华人民共和国居民身份证法", "article": "第八条",
         "text": "居民身份证由居民常住户口所在地的县级人民政府公安机关签发。"},
        {"rank": "行政法规", "title": "中华人民共和国户口登记条例", "article": "第十条",
         "text": "公民迁出本户口管辖区，由本人或者户主在迁出前向户口登记机关申报迁出登记。\n第二款内容。"},
        {"rank": "规范性文件", "title": "广州市户籍迁入管理规定", "article": "第五条",
         "text": "符合条件的可申请迁入。"},
    ],
    "service_guide": {
        "conditions": ["申请人符合本市户籍迁入条件", "申请人无违法犯罪记录"],
        "materials": [
            {"name": "居民户口簿", "basis": "《中华人民共和国户口登记条例》第十条", "format": "原件", "copies": 1,
             "signature_seal": None},
            {"name": "户口迁移申请表", "basis": None, "format": "原件", "copies": 2, "signature_seal": "申请人签名"},
        ],
        "steps": ["申请", "受理", "审核", "办结"],
        "statutory_time_limit_days": 20, "promised_time_limit_days": 10, "fees": {"free": True, "items": []},
        "place": "南沙区政务服务中心公安综合窗口", "hours": "工作日 9:00-12:00，13:30-17:00",
        "consultation_contact": "020-12345678", "complaint_contact": "12345",
    },
    "service_objects": ["自然人"], "case_type": "承诺件", "online_service_depth": 3,
    "planned_effective_date": "2027-01-01", "planned_cancel_date": None,
    "national_basic_code": "000144011502", "national_implementation_code": None, "national_handling_code": None,
    "composition": "元事项", "member_item_ids": [], "tier": "主项", "parent_item_id": None, "handling_kind": None,
    "serial_predecessor_ids": [], "parallel_item_ids": [],
}


def principal(user: str) -> Principal:
    roles, regions = USERS[user]
    return Principal(user, frozenset(roles), tuple(regions))


def token(user: str) -> str:
    roles, regions = USERS[user]
    return mint_token(DEVELOPMENT_JWT_SECRET, subject=user, roles=roles, regions=regions)


class RegistryClient:
    """HTTP against the registry app in-process (ASGI), as a given user."""

    def __init__(self, http: httpx.AsyncClient, app: Any) -> None:
        self.http = http
        self.app = app

    @property
    def registry(self) -> Any:
        return self.app.state.registry

    @property
    def engine(self) -> AsyncEngine:
        return self.registry.runtime.engine

    async def call(self, method: str, path: str, *, user: str = "entry-gz", **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token(user)}", **kwargs.pop("headers", {})}
        return await self.http.request(method, f"/registry/v1{path}", headers=headers, **kwargs)

    async def create(self, elements: dict[str, Any], *, user: str = "entry-gz", **kwargs: Any) -> dict[str, Any]:
        response = await self.call("POST", "/items", user=user, json=elements, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def revise(self, item_id: str, elements: dict[str, Any], revision: int, *, user: str = "entry-gz",
                     **kwargs: Any) -> httpx.Response:
        return await self.call("PUT", f"/items/{item_id}", user=user, json=elements,
                               headers={"If-Match": f'"{revision}"'}, **kwargs)

    async def lifecycle(self, item_id: str, event_type: str, version: int, **data: Any) -> None:
        """A lifecycle event (``data`` over a complete one of its type) through the registry's consumer, as from the
        broker: its contract checked, the handler and the tracking row in one transaction."""
        event = CloudEvent(id=f"{item_id}-{version}", type=event_type, source="/shixiang/lifecycle", subject=item_id,
                           time=datetime.now(UTC), data={**lifecycle_data(item_id, event_type), **data},
                           sequence=version)
        runtime = self.registry.runtime
        [runner] = runtime.consumer_runners().values()
        outcome = await runner.deliver(event)
        assert outcome in ("processed", "duplicate", "passed_over"), outcome

    async def import_file(self, content: bytes, *, user: str = "entry-gz", timeout_s: float = 120,
                          **params: Any) -> dict[str, Any]:
        """Upload, then poll the job until it ends."""
        response = await self.call("POST", "/imports", user=user, content=content, params=params)
        assert response.status_code == 202, response.text
        job = response.json()
        deadline = asyncio.get_running_loop().time() + timeout_s
        while job["status"] in ("queued", "running"):
            assert asyncio.get_running_loop().time() < deadline, job
            await asyncio.sleep(0.05)
            job = (await self.call("GET", f"/imports/{job['job_id']}", user=user)).json()
        return job

    async def event_count(self) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(events_table)))

    async def item_count(self) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM registry_items")))

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return list(result) if result.returns_rows else []


async def start_client(database_url: str, **settings: Any) -> AsyncIterator[RegistryClient]:
    app = create_app(RegistrySettings(database_url=database_url, roles="api", environment="test", **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry", timeout=120) as http:
            yield RegistryClient(http, app)


ELEMENTS = {"name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
            "service_category": "03", "region_code": "440115"}


def lifecycle_data(item_id: str, event_type: str) -> dict[str, Any]:
    """A complete example of a lifecycle event's data (its contract's example), about ``item_id``."""
    example = dict(contracts.CONTRACTS[event_type].example)
    if "item_id" in example:
        example["item_id"] = item_id
    if "elements" in example and event_type != contracts.LIFECYCLE_REGISTRATION_REQUESTED:
        example["elements"] = ELEMENTS
    return example
