"""Bad input to any of the four services is a client error with a stable code and a Chinese message, and changes
nothing: NUL characters anywhere in a request, numbers beyond the database's columns and times beyond what converts
to UTC, JSON nested absurdly deep or not JSON at all, JSON sent as another media type, unsupported methods, and
nulls the schema forbids. Every example of issue 13's "server errors" is here; the apps run in-process on the real
PostgreSQL and broker."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.auth import ALL_REGIONS, mint_token
from shared.http import MAX_JSON_DEPTH, ServiceRoute
from shared.infra import EmbeddedBroker, EmbeddedPostgres
from shared.settings import DEVELOPMENT_JWT_SECRET
from tests.integration.conftest import InProcessService, services_in_process

ADMIN = {"Authorization": "Bearer " + mint_token(DEVELOPMENT_JWT_SECRET, subject="admin", roles=["admin"],
                                                 regions=[ALL_REGIONS])}
CHINESE = re.compile("[\u4e00-\u9fff]")
ITEM = {"name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
        "service_category": "03", "region_code": "440115"}


@pytest.fixture(scope="module")
async def services(postgres: EmbeddedPostgres, broker: EmbeddedBroker) -> AsyncIterator[dict[str, InProcessService]]:
    async with services_in_process(postgres, broker, f"t{uuid.uuid4().hex[:10]}") as running:
        yield running


async def call(services: dict[str, InProcessService], method: str, url: str, **kwargs: Any) -> httpx.Response:
    """``url`` as sent (percent-escapes kept), to the service its prefix names, as an administrator of every region;
    asserts that nothing was written anywhere."""
    before = {name: await s.event_count() for name, s in services.items()}
    service = services[url.split("/")[1]]
    headers = {**ADMIN, **kwargs.pop("headers", {})}
    response = await service.http.request(method, httpx.URL(f"http://{service.name}{url}"), headers=headers,
                                          **kwargs)
    assert {name: await s.event_count() for name, s in services.items()} == before, "a refused request wrote events"
    return response


def assert_refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert (response.status_code, body["code"]) == (status, code), response.text
    assert CHINESE.search(body["message"]), body
    return body


# ---- NUL characters ------------------------------------------------------------------------------------------------
NUL_IN_URLS = [
    ("GET", "/registry/v1/items?q=%00"),
    ("GET", "/registry/v1/items?cursor=%00"),
    ("GET", "/registry/v1/items/%00"),
    ("GET", "/registry/v1/items/%00/revisions"),
    ("GET", "/registry/v1/imports/%00"),
    ("POST", "/registry/v1/imports?filename=a%00.csv"),
    ("GET", "/registry/v1/exports/items.xlsx?q=%7D%00%C2%95"),
    ("GET", "/registry/v1/exports/items.csv?service_category=%00"),
    ("GET", "/lifecycle/v1/items/a%00b"),
    ("GET", "/lifecycle/v1/items/a%00b/events"),
    ("POST", "/lifecycle/v1/items/a%00b/commands/submit"),
    ("GET", "/lifecycle/v1/items?name=%00"),
    ("GET", "/lifecycle/v1/items?cursor=%00"),
    ("GET", "/coding/v1/items/a%00/code"),
    ("GET", "/coding/v1/dictionaries/item_types?q=%00"),
    ("GET", "/sync/v1/snapshot?after_item=%00"),
    ("GET", "/sync/v1/national/feedback?item_id=%00"),
]


@pytest.mark.parametrize(("method", "url"), NUL_IN_URLS)
async def test_a_nul_character_in_a_url_is_refused_with_400_and_changes_nothing(
        services: dict[str, InProcessService], method: str, url: str) -> None:
    content = b"name\n" if url.startswith("/registry/v1/imports") else None
    body = assert_refused(await call(services, method, url, content=content), 400, "NUL_CHARACTER")
    assert body["message"] == f"请求的{body['details']['where']}中含有空字符（U+0000），已拒绝"


async def test_a_nul_character_in_a_header_is_refused_with_400_and_changes_nothing(
        services: dict[str, InProcessService]) -> None:
    response = await call(services, "POST", "/registry/v1/items", json=ITEM, headers={"Idempotency-Key": "k\x00"})
    assert assert_refused(response, 400, "NUL_CHARACTER")["details"] == {"where": "请求头"}


NUL_IN_BODIES = [
    ("POST", "/registry/v1/items", {**ITEM, "source_ref": "NS\u0000001"}),
    ("POST", "/registry/v1/items", {**ITEM, "name": "户口\u0000迁移"}),
    ("PUT", "/registry/v1/items/item-1", {**ITEM, "name": "户口\u0000迁移"}),
    ("POST", "/lifecycle/v1/items/item-1/commands/reject", {"reason": "不符合\u0000要求"}),
    ("POST", "/lifecycle/v1/batches", {"command": "submit", "item_ids": ["item-1", "a\u0000b"]}),
    ("POST", "/lifecycle/v1/adjustments", {"kind": "split", "predecessors": ["a\u0000"], "successors": ["b", "c"],
                                          "reason": "拆分"}),
    ("POST", "/sync/v1/national/feedback", {"item_id": "a\u0000", "item_version": 1, "result": "acknowledged"}),
    ("POST", "/coding/v1/codes:preview", {**{k: ITEM[k] for k in ("item_type", "police_type", "service_category",
                                                                   "region_code")}, "short_name": "户口\u0000"}),
    ("POST", "/coding/v1/items/item-1/services", {"name\u0000": "户口迁移"}),  # in a key too
]


@pytest.mark.parametrize(("method", "url", "payload"), NUL_IN_BODIES)
async def test_a_nul_character_in_a_json_body_is_refused_with_400_and_changes_nothing(
        services: dict[str, InProcessService], method: str, url: str, payload: dict[str, Any]) -> None:
    body = assert_refused(await call(services, method, url, json=payload, headers={"If-Match": "1"}), 400,
                          "NUL_CHARACTER")
    assert body["details"] == {"where": "请求体"}


async def test_a_nul_inside_an_uploaded_file_is_the_imports_business_not_the_routes(
        services: dict[str, InProcessService]) -> None:
    """The import's body is streamed to its reader, never read by the route checks: the file's content (NUL bytes
    included) is judged by the import job, row by row."""
    response = await services["registry"].http.post(
        "/registry/v1/imports", params={"filename": "list.csv"}, headers={**ADMIN, "Content-Type": "text/csv"},
        content="事项名称,来源编号\n户口\x00迁移,NUL-1\n".encode())
    assert response.status_code == 202, response.text


async def test_the_text_backslash_u0000_in_a_json_string_is_no_nul(services: dict[str, InProcessService]) -> None:
    raw = ('{"name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02", '
           '"service_category": "03", "region_code": "440115", "source_ref": "C:\\\\u0000"}').encode()
    response = await services["registry"].http.post("/registry/v1/items", content=raw, headers={
        **ADMIN, "Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["source_ref"] == "C:\\u0000"  # six characters after the colon: backslash, u, 0000


# ---- numbers and times beyond the database's types -----------------------------------------------------------------
OUT_OF_RANGE = [
    ("GET", "/registry/v1/imports/job-1?errors_after=100000000000000", None, "errors_after"),
    ("GET", "/registry/v1/items/item-1/revisions/2147483648", None, "revision"),
    ("GET", "/registry/v1/items/item-1/diff?from=1&to=2147483648", None, "to"),
    ("GET", "/sync/v1/feed?after=9223372036854775808", None, "after"),
    ("GET", "/sync/v1/feed?wait=nan", None, "wait"),
    ("GET", "/lifecycle/v1/items/item-1/events?after_version=2147483648", None, "after_version"),
    ("POST", "/lifecycle/v1/items/item-1/commands/submit", {"expected_version": 2147483648}, "expected_version"),
    ("POST", "/sync/v1/national/feedback", {"item_id": "item-1", "item_version": 2147483648,
                                            "result": "acknowledged"}, "item_version"),
    ("GET", "/lifecycle/v1/items/item-1?as_of=9999-12-31T23:59:59-14:00", None, "as_of"),
    ("GET", "/lifecycle/v1/items/item-1?as_of=0001-01-01T00:00:00%2B14:00", None, "as_of"),
]


@pytest.mark.parametrize(("method", "url", "payload", "field"), OUT_OF_RANGE)
async def test_a_number_or_time_beyond_the_databases_types_is_a_validation_error(
        services: dict[str, InProcessService], method: str, url: str, payload: dict[str, Any] | None,
        field: str) -> None:
    body = assert_refused(await call(services, method, url, json=payload), 422, "VALIDATION_FAILED")
    [problem] = body["details"]["problems"]
    assert problem["field"].endswith(field) and CHINESE.search(problem["message"]), problem


# ---- JSON bodies: depth, syntax, media type ------------------------------------------------------------------------
def json_routes(services: dict[str, InProcessService]) -> list[tuple[str, str]]:
    """(method, url) of every route of every service that takes a JSON body, path parameters filled in."""
    routes = []
    for service in services.values():
        for route in service.app.routes:
            for effective in getattr(route, "effective_candidates", lambda r=route: [r])():
                original = getattr(effective, "original_route", effective)
                if isinstance(original, ServiceRoute) and original.takes_json:
                    url = re.sub(r"\{[^}]+\}", "1", getattr(effective, "path", original.path))
                    routes.extend((method, url) for method in sorted(original.methods))
    return routes


async def test_every_service_has_json_routes_and_the_import_is_not_one(services: dict[str, InProcessService]) -> None:
    routes = json_routes(services)
    assert {url.split("/")[1] for _, url in routes} == {"registry", "coding", "lifecycle", "sync"}
    assert ("POST", "/registry/v1/items") in routes and ("PUT", "/registry/v1/items/1") in routes
    assert ("POST", "/registry/v1/imports") not in routes


@pytest.mark.parametrize("depth", [1_000, 100_000])
async def test_json_nested_absurdly_deep_is_refused_on_every_json_route(
        services: dict[str, InProcessService], depth: int) -> None:
    deep = b'{"name": ' + b"[" * depth + b"]" * depth + b"}"
    for method, url in json_routes(services):
        response = await call(services, method, url, content=deep, headers={"Content-Type": "application/json"})
        body = assert_refused(response, 400, "JSON_TOO_DEEP")
        assert body["details"] == {"limit": MAX_JSON_DEPTH}, (method, url)


@pytest.mark.parametrize("text", [b'{"name": ', b"{'name': 1}", b'{"a": NaN}', b'"\\ud800"', b"\xff\xfe{}"])
async def test_a_body_that_is_not_json_is_refused_with_400_malformed_json_on_every_json_route(
        services: dict[str, InProcessService], text: bytes) -> None:
    for method, url in json_routes(services):
        response = await call(services, method, url, content=text, headers={"Content-Type": "application/json"})
        assert_refused(response, 400, "MALFORMED_JSON")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x", None])
async def test_json_sent_as_another_media_type_is_refused_with_415_on_every_json_route(
        services: dict[str, InProcessService], content_type: str | None) -> None:
    for method, url in json_routes(services):
        # httpx sends bytes given as content= with no Content-Type of its own
        headers = {"Content-Type": content_type} if content_type else {}
        response = await call(services, method, url, content='{"name": "户口迁移审批"}'.encode(), headers=headers)
        body = assert_refused(response, 415, "UNSUPPORTED_MEDIA_TYPE")
        assert body["details"] == {"content_type": content_type or "（未给出）"}, (method, url)


async def test_the_registry_creates_nothing_from_json_sent_as_text(services: dict[str, InProcessService]) -> None:
    for content_type in ("text/plain", "application/xml"):
        response = await call(services, "POST", "/registry/v1/items", content=str(ITEM).encode(),
                              headers={"Content-Type": content_type})
        assert_refused(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
async def test_json_media_types_with_parameters_or_a_json_suffix_are_accepted(
        services: dict[str, InProcessService], content_type: str) -> None:
    response = await services["registry"].http.post(
        "/registry/v1/items", content=httpx.Request("POST", "/", json=ITEM).content,
        headers={**ADMIN, "Content-Type": content_type})
    assert response.status_code in (200, 201), response.text


async def test_a_command_without_a_body_still_needs_no_content_type(services: dict[str, InProcessService]) -> None:
    response = await call(services, "POST", "/lifecycle/v1/items/item-unknown/commands/submit")
    assert_refused(response, 404, "ITEM_NOT_FOUND")


# ---- methods and nulls ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "url", "allowed"), [
    ("TRACE", "/registry/v1/items", "GET, POST"),
    ("DELETE", "/registry/v1/items/item-1", "GET, PUT"),
    ("TRACE", "/lifecycle/v1/items/item-1", "GET"),
    ("PUT", "/sync/v1/feed", "GET"),
    ("PATCH", "/coding/v1/pinyin-overrides", "GET, POST"),
])
async def test_an_unsupported_method_is_405_naming_the_allowed_ones(
        services: dict[str, InProcessService], method: str, url: str, allowed: str) -> None:
    response = await call(services, method, url)
    assert_refused(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == allowed


@pytest.mark.parametrize("payload", [
    {**ITEM, "service_guide": None},
    {**ITEM, "name": None},
    {**ITEM, "service_objects": None},
    {**ITEM, "legal_basis": [{"rank": None, "title": "中华人民共和国居民身份证法"}]},
])
async def test_a_null_the_schema_forbids_is_refused(services: dict[str, InProcessService],
                                                    payload: dict[str, Any]) -> None:
    body = assert_refused(await call(services, "POST", "/registry/v1/items", json=payload), 422, "ELEMENTS_INVALID")
    problems = {p["field"]: p["code"] for p in body["details"]["problems"]}
    [field] = [k for k, v in payload.items() if v is None] or ["legal_basis[0].rank"]
    assert problems.get(field) == "NULL_NOT_ALLOWED", problems


async def test_a_null_the_schema_allows_is_still_read_as_absent(services: dict[str, InProcessService]) -> None:
    response = await services["registry"].http.post("/registry/v1/items", headers=ADMIN, json={
        **ITEM, "name": "居民身份证签发", "short_name": "居民身份证签发", "planned_cancel_date": None,
        "national_basic_code": None})
    assert response.status_code == 201, response.text
