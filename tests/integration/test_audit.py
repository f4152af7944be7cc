"""The audit trail of reads on a real database (shared.audit): a read recorded with its fields and flags, the chain
of several processes' batches, an edited row found by verification, retention and its anchor, and the audit API for
auditors only."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.audit import AuditTrail, verify
from shared.audit_rules import AuditRecord
from shared.auth import mint_token
from shared.db import make_engine
from shared.infra import EmbeddedBroker, EmbeddedPostgres
from shared.settings import DEVELOPMENT_JWT_SECRET
from tests.integration.conftest import services_in_process

from registry.bootstrap import create_app
from registry.config import RegistrySettings

USERS = {"entry-gz": (["entry"], ["4401"]), "admin": (["admin"], ["*"]), "auditor": (["auditor"], ["*"]),
         "national": (["national"], ["*"]), "operator": (["operator"], ["*"])}


def bearer(user: str) -> dict[str, str]:
    roles, regions = USERS[user]
    return {"Authorization": "Bearer " + mint_token(DEVELOPMENT_JWT_SECRET, subject=user, roles=roles,
                                                    regions=regions)}


@pytest.fixture
async def registry(database_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(RegistrySettings(database_url=database_url, roles="api", environment="test"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://registry", timeout=60) as http:
            yield app, http


async def audit_entries(app: FastAPI, http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    await app.state.audit.flush()  # what the writer does every 200 ms, now: the test waits on nothing
    response = await http.get("/registry/v1/audit", params=params, headers=bearer("auditor"))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_read_is_recorded_with_who_roles_regions_where_from_when_what_and_the_answer(
        registry: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, http = registry
    before = datetime.now(UTC)
    assert (await http.get("/registry/v1/items", params={"region": "4401", "q": "护照"},
                           headers=bearer("entry-gz"))).status_code == 200
    assert (await http.get("/registry/v1/items/no-such-item", headers=bearer("entry-gz"))).status_code == 404
    assert (await http.get("/registry/v1/items")).status_code == 401  # no token: recorded as anonymous
    assert (await http.post("/registry/v1/items", json={}, headers=bearer("entry-gz"))).status_code != 200
    assert (await http.get("/healthz")).status_code == 200  # not the service's API: not recorded

    entries = await audit_entries(app, http, subject="entry-gz")
    listed, one = sorted(entries, key=lambda e: e["seq"])
    assert listed["subject"] == "entry-gz" and listed["roles"] == ["entry"] and listed["regions"] == ["4401"]
    assert listed["client"] == "203.0.113.7"
    assert listed["method"] == "GET" and listed["route"] == "/registry/v1/items"
    assert listed["path"] == "/registry/v1/items" and listed["status"] == 200 and listed["flags"] == []
    assert "q=%E6%8A%A4%E7%85%A7" in listed["query"] and "region=4401" in listed["query"]
    assert before <= datetime.fromisoformat(listed["at"]) <= datetime.now(UTC)
    assert one["route"] == "/registry/v1/items/{item_id}" and one["path"] == "/registry/v1/items/no-such-item"
    assert one["status"] == 404
    anonymous = await audit_entries(app, http, subject="anonymous")
    assert [(e["path"], e["status"], e["roles"]) for e in anonymous] == [("/registry/v1/items", 401, [])]
    everything = await audit_entries(app, http)
    assert not [e for e in everything if e["method"] != "GET" or e["path"] == "/healthz"]


async def test_exports_and_reads_across_provinces_are_flagged_and_can_be_filtered_by_flag(
        registry: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, http = registry
    admin = bearer("admin")
    assert (await http.get("/registry/v1/exports/items.csv", headers=admin)).status_code == 200
    assert (await http.get("/registry/v1/items", headers=admin)).status_code == 200
    assert (await http.get("/registry/v1/items", params={"region": "4401"}, headers=admin)).status_code == 200
    assert (await http.get("/registry/v1/exports/items.csv", params={"region": "4401"},
                           headers=bearer("entry-gz"))).status_code == 200

    flagged = {(e["subject"], e["path"], e["query"]): e["flags"] for e in await audit_entries(app, http)
               if e["subject"] != "auditor"}
    assert flagged == {
        ("admin", "/registry/v1/exports/items.csv", ""): ["export", "many_regions"],
        ("admin", "/registry/v1/items", ""): ["many_regions"],
        ("admin", "/registry/v1/items", "region=4401"): [],  # narrowed to one province
        ("entry-gz", "/registry/v1/exports/items.csv", "region=4401"): ["export"],
    }
    exports = await audit_entries(app, http, flag="export")
    assert {e["subject"] for e in exports} == {"admin", "entry-gz"}
    assert exports[0]["flag_labels"] == ["整表导出"]


async def test_only_an_auditor_reads_the_audit_log_and_its_reads_of_it_are_audited_too(
        registry: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, http = registry
    for path in ("/registry/v1/audit", "/registry/v1/audit.csv", "/registry/v1/audit/verify"):
        refused = await http.get(path)
        assert refused.status_code == 401 and refused.json()["code"] == "AUTHENTICATION_REQUIRED"
        for user in ("admin", "operator", "national", "entry-gz"):
            refused = await http.get(path, headers=bearer(user))
            assert refused.status_code == 403, (path, user)
            assert refused.json()["code"] == "AUDITOR_REQUIRED" and "审计员" in refused.json()["message"]
        assert (await http.get(path, headers=bearer("auditor"))).status_code == 200

    entries = await audit_entries(app, http, subject="auditor")
    assert {e["route"] for e in entries} >= {"/registry/v1/audit", "/registry/v1/audit.csv",
                                             "/registry/v1/audit/verify"}
    refusals = await audit_entries(app, http, subject="admin")
    assert {e["status"] for e in refusals} == {403}


async def test_the_csv_export_holds_every_matching_record_with_a_chinese_header(
        registry: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, http = registry
    for _ in range(3):
        await http.get("/registry/v1/items", headers=bearer("entry-gz"))
    await app.state.audit.flush()
    response = await http.get("/registry/v1/audit.csv", params={"subject": "entry-gz"}, headers=bearer("auditor"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["序号", "时间", "用户"] and len(rows) == 4
    assert all(row[2] == "entry-gz" and row[7] == "/registry/v1/items" for row in rows[1:])


def a_record(n: int, at: datetime, subject: str = "alice") -> AuditRecord:
    return AuditRecord(at=at, subject=subject, roles=("entry",), regions=("4401",), client="10.0.0.1", method="GET",
                       route="/registry/v1/items/{item_id}", path=f"/registry/v1/items/i{n}", query="", status=200)


async def test_the_batches_of_two_processes_form_one_chain_that_verifies(
        registry: tuple[FastAPI, httpx.AsyncClient], database_url: str) -> None:
    _, http = registry
    engines = [make_engine(database_url, pool_size=2) for _ in range(2)]
    try:
        trails = [AuditTrail(engine, "registry", batch_size=7) for engine in engines]
        now = datetime.now(UTC)
        for n in range(60):
            trails[n % 2].record(a_record(n, now, subject=f"process-{n % 2}"))
        for _ in range(3):  # both processes writing at once, several batches each
            await asyncio.gather(*(trail.flush() for trail in trails))
        verdict = await verify(engines[0], "registry")
        assert verdict["verified"] and verdict["records"] == 60, verdict
        response = await http.get("/registry/v1/audit/verify", headers=bearer("auditor"))
        assert response.json()["verified"] is True and response.json()["records"] == 60
    finally:
        for engine in engines:
            await engine.dispose()


async def test_an_edited_or_removed_row_is_found_by_verify(registry: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, http = registry
    engine: AsyncEngine = app.state.runtime.engine
    trail: AuditTrail = app.state.audit
    now = datetime.now(UTC)
    for n in range(10):
        trail.record(a_record(n, now))
    await trail.flush()
    async with engine.begin() as conn:
        seqs = [row[0] for row in await conn.execute(text("SELECT seq FROM audit_log ORDER BY seq"))]
        await conn.execute(text("UPDATE audit_log SET subject = 'someone-else' WHERE seq = :seq"), {"seq": seqs[4]})
    verdict = (await http.get("/registry/v1/audit/verify", headers=bearer("auditor"))).json()
    assert verdict["verified"] is False and verdict["broken_at_seq"] == seqs[4] and "修改" in verdict["reason"]
    assert verdict["verified_label"] == "审计链被破坏"

    async with engine.begin() as conn:  # put it back, then remove another row
        await conn.execute(text("UPDATE audit_log SET subject = 'alice' WHERE seq = :seq"), {"seq": seqs[4]})
        await conn.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": seqs[7]})
    verdict = await verify(engine, "registry")
    assert verdict["verified"] is False and verdict["broken_at_seq"] == seqs[8] and "删除" in verdict["reason"]


async def test_retention_prunes_the_oldest_records_and_verify_still_passes_from_the_anchor(
        registry: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, _ = registry
    engine: AsyncEngine = app.state.runtime.engine
    now = datetime.now(UTC)
    trail = AuditTrail(engine, "registry", retention_days=180, clock=lambda: now)
    for n in range(5):
        trail.record(a_record(n, now - timedelta(days=200 - n)))  # older than six months
    for n in range(5, 9):
        trail.record(a_record(n, now - timedelta(days=10)))
    await trail.flush()
    async with engine.connect() as conn:
        hashes = [row[0] for row in await conn.execute(text("SELECT hash FROM audit_log ORDER BY seq"))]

    assert await trail.prune() == 5

    verdict = await verify(engine, "registry")
    assert verdict["verified"] and verdict["records"] == 4
    assert verdict["anchor_hash"] == hashes[4]  # the last pruned record's hash: what the oldest kept points at
    assert await trail.prune() == 0


async def test_a_full_queue_drops_and_counts_instead_of_making_a_read_wait(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        trail = AuditTrail(engine, "registry", queue_limit=3)
        now = datetime.now(UTC)
        for n in range(5):
            trail.record(a_record(n, now))
        assert trail.waiting == 3 and trail.dropped == 2
    finally:
        await engine.dispose()


async def test_records_waiting_when_the_process_stops_are_written(database_url: str) -> None:
    app = create_app(RegistrySettings(database_url=database_url, roles="api", environment="test",
                                      audit_flush_interval_s=3600))  # only the stop writes them
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as http:
            await http.get("/registry/v1/items", headers=bearer("entry-gz"))
        assert app.state.audit.waiting == 1
    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM audit_log WHERE subject = 'entry-gz'")) == 1
    finally:
        await engine.dispose()



async def test_the_console_merges_the_services_audit_logs_by_time_for_auditors_only(
        postgres: EmbeddedPostgres, broker: EmbeddedBroker, topic_prefix: str) -> None:
    async with services_in_process(postgres, broker, topic_prefix) as services:
        await services["registry"].http.get("/registry/v1/exports/items.csv", headers=bearer("admin"))
        await services["lifecycle"].http.get("/lifecycle/v1/items", headers=bearer("entry-gz"))
        await services["sync"].http.get("/sync/v1/snapshot", headers=bearer("national"))
        for service in services.values():
            await service.app.state.audit.flush()
        sync = services["sync"].http

        merged = (await sync.get("/sync/v1/console/audit", headers=bearer("auditor"))).json()
        reads = [(e["service"], e["subject"], e["path"], e["flags"]) for e in merged["items"]]
        assert reads == [("sync", "national", "/sync/v1/snapshot", ["export", "many_regions"]),
                         ("lifecycle", "entry-gz", "/lifecycle/v1/items", []),
                         ("registry", "admin", "/registry/v1/exports/items.csv", ["export", "many_regions"])]
        assert merged["unreachable"] == {}
        only = (await sync.get("/sync/v1/console/audit", params={"service": "registry", "flag": "export"},
                               headers=bearer("auditor"))).json()["items"]
        assert [(e["service"], e["subject"]) for e in only] == [("registry", "admin")]

        chains = (await sync.get("/sync/v1/console/audit/chains", headers=bearer("auditor"))).json()["services"]
        assert [(c["service"], c["verified"]) for c in chains] == [
            ("registry", True), ("coding", True), ("lifecycle", True), ("sync", True)]
        exported = await sync.get("/sync/v1/console/audit/registry.csv", headers=bearer("auditor"))
        assert exported.status_code == 200 and "/registry/v1/exports/items.csv" in exported.content.decode()

        for user in ("operator", "admin", "national"):
            for path in ("/sync/v1/console/audit", "/sync/v1/console/audit/chains",
                         "/sync/v1/console/audit/registry.csv"):
                refused = await sync.get(path, headers=bearer(user))
                assert refused.status_code == 403 and refused.json()["code"] == "AUDITOR_REQUIRED", (user, path)


async def test_a_record_reads_back_exactly_as_it_was_hashed_whatever_its_claims_hold(
        registry: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, _ = registry
    trail: AuditTrail = app.state.audit
    odd = AuditRecord(
        at=datetime.now(UTC), subject="审计 对象", roles=("a role, with space", 'a "quoted" \\ {role}', "NULL", ""),
        regions=(), client=None, method="HEAD", route="unmatched", path="/registry/v1/nothing", query="q=%22x%22&y=1",
        status=404, flags=("export",))
    trail.record(odd)
    await trail.flush()
    verdict = await verify(app.state.runtime.engine, "registry")
    assert verdict["verified"] and verdict["records"] == 1, verdict
