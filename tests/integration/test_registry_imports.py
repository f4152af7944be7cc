"""Item lists in and out on a real database: the xlsx template filled in with openpyxl, csv in GB18030 and UTF-8,
ndjson, row errors, idempotent re-imports, pending and cancelled items, and export round trips."""

from __future__ import annotations

import asyncio
import copy
import csv
import hashlib
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from shared.db import ensure_database
from shared.dictionaries import load_dictionaries
from shared.infra import EmbeddedPostgres
from tests.integration.test_registry_helpers import (
    FULL,
    MINIMAL,
    RegistryClient,
    start_client,
)

from registry.domain.tabular import HEADERS, format_row

DICTIONARIES = load_dictionaries()


def row_for(source_ref: str, elements: dict[str, Any], names: dict[str, str] | None = None) -> list[Any]:
    return format_row(source_ref, elements, DICTIONARIES, names or {})


def xlsx_bytes(book: openpyxl.Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list[Any]], encoding: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerows([["" if v is None else v for v in r] for r in rows])
    return out.getvalue().encode(encoding)


def errors_by_row(job: dict[str, Any]) -> dict[int, set[tuple[str | None, str]]]:
    found: dict[int, set[tuple[str | None, str]]] = {}
    for e in job["errors"]:
        found.setdefault(e["row"], set()).add((e["column"], e["code"]))
        assert e["message"]
    return found


async def listed(api: RegistryClient, user: str = "entry-gz") -> list[dict[str, Any]]:
    return (await api.call("GET", "/items", user=user, params={"limit": 500})).json()["items"]


# ---- the template ----------------------------------------------------------------------------------------------------
async def test_the_template_has_chinese_headers_and_dictionary_drop_downs(api: RegistryClient) -> None:
    response = await api.call("GET", "/imports/template.xlsx")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/vnd.openxml")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book["事项清单"]
    assert [c.value for c in sheet[1]] == list(HEADERS)
    assert book["字典"].sheet_state == "hidden"
    validations = {str(v.sqref).split(":")[0]: v.formula1 for v in sheet.data_validations.dataValidation}
    column_of = {h: openpyxl.utils.get_column_letter(i) for i, h in enumerate(HEADERS, start=1)}
    for header in ("事项类型", "业务警种", "服务类别", "区划代码", "办件类型", "事项形式", "事项层级", "办理项类型"):
        assert f"{column_of[header]}2" in validations, header
    lists = book["字典"]
    by_header = {lists.cell(1, c).value: [lists.cell(r, c).value for r in range(2, lists.max_row + 1)
                                          if lists.cell(r, c).value] for c in range(1, lists.max_column + 1)}
    assert "01 行政许可" in by_header["事项类型"] and "02 户政管理" in by_header["业务警种"]
    # only the caller's own regions (4401 Guangzhou), only codes valid today
    assert "440115 南沙区" in by_header["区划代码"] and all(v.startswith("4401") for v in by_header["区划代码"])
    formula = validations[f"{column_of['区划代码']}2"]
    assert formula.startswith("=字典!$") and formula.endswith(f"${len(by_header['区划代码']) + 1}")
    assert [c.value for c in book["填写说明"]["A"]][1] == "来源编号"


async def test_a_filled_in_template_imports_valid_rows_and_reports_the_others(api: RegistryClient) -> None:
    book = openpyxl.load_workbook(io.BytesIO((await api.call("GET", "/imports/template.xlsx")).content))
    sheet = book["事项清单"]
    passport = {**FULL, "name": "普通护照签发", "short_name": "普通护照签发", "police_type": "03",
                "service_category": "01", "national_basic_code": None}
    disorder = copy.deepcopy(FULL)
    disorder["legal_basis"].reverse()
    sheet.append(row_for("GZ-001", FULL))
    sheet.append(row_for("GZ-002", passport))
    sheet.append(row_for("GZ-003", disorder))  # row 4: legal basis out of order
    sheet.append(row_for("", MINIMAL))  # row 5: no 来源编号
    sheet.append(row_for("GZ-005", {**MINIMAL, "region_code": "440305"}))  # row 6: Shenzhen
    sheet.append([None] * len(HEADERS))  # a blank line is not an error
    bare = row_for("GZ-007", {**MINIMAL, "name": "养犬登记", "short_name": "养犬登记"})
    bare[HEADERS.index("事项类型")] = 1  # Excel turned "01" into a number
    bare[HEADERS.index("区划代码")] = 440115
    sheet.append(bare)
    job = await api.import_file(xlsx_bytes(book), filename="广州市事项清单.xlsx")
    assert (job["status"], job["format"], job["rows_total"]) == ("completed", "xlsx", 6), job["error"]  # blank: no row
    assert (job["created"], job["revised"], job["unchanged"], job["failed"]) == (3, 0, 0, 3)
    assert errors_by_row(job) == {4: {("设定依据", "LEGAL_BASIS_OUT_OF_ORDER")},
                                  5: {("来源编号", "SOURCE_REF_REQUIRED")},
                                  6: {("区划代码", "REGION_FORBIDDEN")}}
    items = {i["source_ref"]: i for i in await listed(api)}
    assert set(items) == {"GZ-001", "GZ-002", "GZ-007"} and items["GZ-007"]["item_type"] == "01"
    stored = (await api.call("GET", f"/items/{items['GZ-001']['item_id']}")).json()
    assert stored["elements"] == FULL and stored["complete"] is True
    revisions = (await api.call("GET", f"/items/{items['GZ-001']['item_id']}/revisions")).json()
    assert revisions[0]["import_job_id"] == job["job_id"]

    events_before = await api.event_count()
    again = await api.import_file(xlsx_bytes(book), filename="广州市事项清单.xlsx")
    assert (again["created"], again["revised"], again["unchanged"], again["failed"]) == (0, 0, 3, 3)
    assert await api.event_count() == events_before and await api.item_count() == 3


async def test_csv_in_gb18030_and_utf8_with_line_breaks_inside_cells(api: RegistryClient) -> None:
    rows = [row_for("HZ-1", FULL), row_for("HZ-2", {**FULL, "name": "居民身份证申领", "short_name": "居民身份证申领"})]
    gb = csv_bytes(rows, "gb18030")
    with pytest.raises(UnicodeDecodeError):
        gb.decode("utf-8")  # really GB18030, not UTF-8 in disguise
    job = await api.import_file(gb)  # no name, no content type: the bytes decide
    assert (job["status"], job["format"], job["created"], job["failed"]) == ("completed", "csv", 2, 0)
    assert job["rows_total"] == 2
    for item in await listed(api):
        elements = (await api.call("GET", f"/items/{item['item_id']}")).json()["elements"]
        assert elements["legal_basis"] == FULL["legal_basis"]  # including the line break inside one article
    utf8 = csv_bytes([row_for("HZ-1", FULL), row_for("HZ-3", MINIMAL)], "utf-8-sig")
    job = await api.import_file(utf8, filename="list.csv")
    assert (job["created"], job["unchanged"]) == (1, 1)


async def test_imported_events_carry_exactly_their_elements_and_chain_like_any_other(chunked: RegistryClient) -> None:
    """The job embeds the element set the reader serialised instead of serialising it again: what is stored must be
    that element set, and every stream's hash chain must verify against the stored data (rows with references
    resolved here, and rows without, each written as a new item and then as a revision)."""
    from shared.eventstore import load_stream, verify_chain

    first = await chunked.import_file(relations_list())
    changed = relations_list().replace("机动车".encode(), "汽车".encode())
    second = await chunked.import_file(changed)
    assert (first["created"], second["revised"]) == (7, 4), (first, second)
    for item in await listed(chunked):
        async with chunked.engine.connect() as conn:
            events = await load_stream(conn, item["item_id"])
        assert verify_chain(events).ok, item
        stored = (await chunked.call("GET", f"/items/{item['item_id']}")).json()
        assert events[-1].data["elements"] == stored["elements"] and stored["elements"]["name"] == item["name"]
        assert "机动车" not in stored["elements"]["name"]


async def test_ndjson_reports_problems_by_line_and_field(api: RegistryClient) -> None:
    bad = copy.deepcopy(FULL)
    bad["service_guide"]["promised_time_limit_days"] = 99
    lines = [json.dumps({**FULL, "source_ref": "N-1"}, ensure_ascii=False), "",
             json.dumps({**bad, "source_ref": "N-2"}, ensure_ascii=False), "{not json",
             json.dumps(["数组"], ensure_ascii=False)]
    job = await api.import_file("\n".join(lines).encode(), format="ndjson")
    assert (job["format"], job["created"], job["failed"]) == ("ndjson", 1, 3)
    assert errors_by_row(job) == {3: {("service_guide.promised_time_limit_days", "PROMISED_EXCEEDS_STATUTORY")},
                                  4: {(None, "UNREADABLE_ROW")}, 5: {(None, "UNREADABLE_ROW")}}


async def test_a_changed_list_revises_only_what_changed_pending_once_published_refused_once_cancelled(
        api: RegistryClient) -> None:
    names = ["出生登记", "分户登记", "曾用名登记", "养犬登记"]
    rows = [row_for(f"R-{i}", {**FULL, "name": n, "short_name": n}) for i, n in enumerate(names)]
    await api.import_file(csv_bytes(rows, "utf-8"))
    ids = {i["source_ref"]: i["item_id"] for i in await listed(api)}
    await api.lifecycle(ids["R-1"], "lifecycle.item.published.v1", 8, phase="online", revision=1)
    await api.lifecycle(ids["R-2"], "lifecycle.item.cancelled.v1", 3, phase="cancelled")
    changed = [row_for(f"R-{i}", {**FULL, "name": n, "short_name": n, "implementing_agency": "广州市公安局"})
               for i, n in enumerate(names[:3])] + [rows[3]]
    job = await api.import_file(csv_bytes(changed, "utf-8"))
    assert (job["created"], job["revised"], job["unchanged"], job["failed"]) == (0, 2, 1, 1)
    assert errors_by_row(job) == {4: {("来源编号", "ITEM_CANCELLED")}}
    online = (await api.call("GET", f"/items/{ids['R-1']}")).json()
    assert online["pending"]["changed_fields"] == ["implementing_agency"] and online["published"]["revision"] == 1
    assert (await api.call("GET", f"/items/{ids['R-0']}")).json()["pending"] is None


async def test_rows_refer_to_earlier_rows_by_their_source_ref(api: RegistryClient) -> None:
    main = {**MINIMAL, "name": "机动车登记", "short_name": "机动车登记"}
    sub = {**MINIMAL, "name": "机动车注册登记", "short_name": "机动车注册登记", "tier": "子项", "parent_item_id": "M-1"}
    combo = {**MINIMAL, "name": "买车上牌一件事", "short_name": "买车上牌一件事", "composition": "组合事项",
             "member_item_ids": ["M-2", "M-9"]}
    late = {**MINIMAL, "name": "错挂", "short_name": "错挂", "tier": "子项", "parent_item_id": "M-99"}
    job = await api.import_file(csv_bytes([row_for("M-1", main), row_for("M-2", sub), row_for("M-3", combo),
                                           row_for("M-4", late)], "utf-8"))
    assert errors_by_row(job) == {4: {("成员事项", "REFERENCE_NOT_FOUND")}, 5: {("上级事项", "REFERENCE_NOT_FOUND")}}
    ids = {i["source_ref"]: i["item_id"] for i in await listed(api)}
    stored = (await api.call("GET", f"/items/{ids['M-2']}")).json()["elements"]
    assert stored["parent_item_id"] == ids["M-1"]


async def test_unusable_files_fail_the_job_with_the_reason(api: RegistryClient) -> None:
    missing = "事项名称,简称\n户口迁移审批,户口迁移审批\n".encode()
    job = await api.import_file(missing, filename="list.csv")
    assert job["status"] == "failed" and "来源编号" in job["error"] and "区划代码" in job["error"]
    unknown = io.StringIO()
    csv.writer(unknown).writerows([[*HEADERS, "备注"], [*row_for("U-1", MINIMAL), "无"]])
    job = await api.import_file(unknown.getvalue().encode(), filename="list.csv")
    assert job["status"] == "completed" and job["created"] == 1
    assert errors_by_row(job) == {1: {("备注", "UNKNOWN_COLUMN")}}
    broken = await api.import_file(b"PK\x03\x04 not really a workbook", filename="list.xlsx")
    assert broken["status"] == "failed" and broken["error"].startswith("无法读取 xlsx 文件"), broken
    pdf = await api.call("POST", "/imports", content=b"%PDF-1.7", headers={"Content-Type": "application/pdf"})
    assert pdf.status_code == 415 and pdf.json()["code"] == "UNSUPPORTED_IMPORT_FORMAT"
    reviewer = await api.call("POST", "/imports", content=b"x", user="reviewer-gz")
    assert reviewer.status_code == 403
    other = await api.call("GET", f"/imports/{job['job_id']}", user="entry-sz")
    assert other.status_code == 404 and other.json()["code"] == "IMPORT_JOB_NOT_FOUND"


# ---- lists out -------------------------------------------------------------------------------------------------------
async def related_items(api: RegistryClient) -> list[dict[str, Any]]:
    """A small list with every kind of element and relation; two items have no 来源编号 (entered through the API)."""
    main = await api.create({**FULL, "name": "机动车登记", "short_name": "机动车登记", "source_ref": "X-1"})
    sub = await api.create({**FULL, "name": "机动车注册登记", "short_name": "机动车注册登记", "tier": "子项",
                            "parent_item_id": main["item_id"]})
    other = await api.create({**MINIMAL, "name": "机动车检验合格标志核发", "short_name": "检验合格标志核发",
                              "source_ref": "X-3", "serial_predecessor_ids": [sub["item_id"]]})
    charged = copy.deepcopy(FULL)
    charged["service_guide"]["fees"] = {"free": False, "items": [
        {"item": "号牌工本费", "standard": "100元/副", "basis": "发改价格〔2017〕1186号"}]}
    charged["service_guide"]["materials"] = []
    combo = await api.create({**charged, "name": "买车上牌一件事", "short_name": "买车上牌一件事",
                              "composition": "组合事项", "member_item_ids": [sub["item_id"], other["item_id"]],
                              "parallel_item_ids": [main["item_id"]], "source_ref": "X-4"})
    await api.create({**MINIMAL, "name": "深圳事项", "region_code": "440305", "source_ref": "X-1"}, user="entry-sz")
    return [main, sub, other, combo]


@pytest.mark.parametrize(("path", "params"), [("/exports/items.xlsx", {}), ("/exports/items.csv", {}),
                                              ("/exports/items.csv", {"encoding": "gb18030"})])
async def test_an_exported_list_imports_back_as_exactly_the_same_list(api: RegistryClient, path: str,
                                                                      params: dict[str, str]) -> None:
    created = await related_items(api)
    exported = await api.call("GET", path, params=params)
    assert exported.status_code == 200
    if path.endswith(".csv"):
        text = exported.content.decode("utf-8-sig" if not params else "gb18030")
        assert text.splitlines()[0].split(",")[:3] == ["来源编号", "事项名称", "简称"]
    events_before = await api.event_count()
    job = await api.import_file(exported.content, filename=path.rsplit("/", 1)[1])
    assert (job["created"], job["revised"], job["unchanged"], job["failed"]) == (0, 0, 4, 0), job
    assert await api.event_count() == events_before
    assert {i["item_id"] for i in await listed(api)} == {c["item_id"] for c in created}  # Shenzhen's not exported


async def test_a_filtered_export_carries_only_the_filtered_items(api: RegistryClient) -> None:
    await related_items(api)
    exported = await api.call("GET", "/exports/items.csv", params={"q": "一件事"})
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert len(rows) == 2 and rows[1][HEADERS.index("事项名称")] == "买车上牌一件事"
    members = rows[1][HEADERS.index("成员事项")].split("、")
    assert members[1] == "X-3" and len(members[0]) == 36  # an item without 来源编号 is named by its id


@pytest.fixture
async def second_api(postgres: EmbeddedPostgres) -> AsyncIterator[RegistryClient]:
    url = postgres.url(f"r_{uuid.uuid4().hex[:12]}")
    await ensure_database(url)
    async for client in start_client(url):
        yield client


async def test_an_export_imported_into_another_registry_reproduces_the_list(api: RegistryClient,
                                                                             second_api: RegistryClient) -> None:
    created = await related_items(api)
    exported = await api.call("GET", "/exports/items.xlsx")
    job = await second_api.import_file(exported.content, filename="事项清单.xlsx")
    assert (job["created"], job["failed"]) == (4, 0), job

    async def by_name(client: RegistryClient) -> dict[str, dict[str, Any]]:
        views = [(await client.call("GET", f"/items/{i['item_id']}")).json() for i in await listed(client)]
        ids = {v["item_id"]: v["elements"]["name"] for v in views}

        def named(elements: dict[str, Any]) -> dict[str, Any]:  # item ids differ between registries; names do not
            out = dict(elements)
            for key in ("member_item_ids", "serial_predecessor_ids", "parallel_item_ids"):
                out[key] = [ids[i] for i in elements[key]]
            out["parent_item_id"] = ids.get(elements["parent_item_id"])
            return out

        return {v["elements"]["name"]: named(v["elements"]) for v in views}

    original, copied = await by_name(api), await by_name(second_api)
    assert copied == original and len(original) == len(created)


# ---- many chunks: the reader process and the write pipeline ----------------------------------------------------------
@pytest.fixture
async def chunked(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RegistryClient]:
    """Two rows per chunk, so every file below spans several chunks; and every chunk's write takes a while between
    its read-model rows and its events, so the chunks after it are surely decided, and the next one's rows written,
    while it is in flight (not yet visible in the store)."""
    from registry.adapters import store

    write_events = store.write_events

    async def slow_write_events(conn: Any, prepared: Any) -> Any:
        await asyncio.sleep(0.2)
        return await write_events(conn, prepared)

    monkeypatch.setattr(store, "write_events", slow_write_events)
    async for client in start_client(database_url, import_chunk_size=2):
        yield client


def sub_item(name: str, parent: str) -> dict[str, Any]:
    return {**MINIMAL, "name": name, "short_name": name, "tier": "子项", "parent_item_id": parent}


def main_item(name: str) -> dict[str, Any]:
    return {**MINIMAL, "name": name, "short_name": name}


def relations_list() -> bytes:
    return csv_bytes([
        row_for("M-1", main_item("机动车登记")), row_for("M-2", main_item("出入境证件办理")),  # chunk 1
        row_for("S-1", sub_item("机动车注册登记", "M-1")), row_for("S-2", sub_item("普通护照签发", "M-2")),  # chunk 2
        row_for("C-1", {**main_item("出行一件事"), "composition": "组合事项", "member_item_ids": ["S-1", "S-2"]}),
        row_for("F-1", sub_item("机动车转移登记", "M-9")),  # refers to a row further down
        row_for("S-1", main_item("重复的来源编号")), row_for("M-9", main_item("机动车变更")),
        row_for("X-1", sub_item("找不到上级", "NOPE")),
    ], "utf-8")


async def test_rows_refer_across_chunks_and_forward_exactly_as_in_one_chunk(chunked: RegistryClient) -> None:
    job = await chunked.import_file(relations_list())
    assert (job["status"], job["created"], job["failed"]) == ("completed", 7, 2), job
    assert errors_by_row(job) == {8: {("来源编号", "SOURCE_REF_REPEATED")}, 10: {("上级事项", "REFERENCE_NOT_FOUND")}}
    ids = {i["source_ref"]: i["item_id"] for i in await listed(chunked)}

    async def elements(ref: str) -> dict[str, Any]:
        return (await chunked.call("GET", f"/items/{ids[ref]}")).json()["elements"]

    assert (await elements("S-1"))["parent_item_id"] == ids["M-1"]
    assert (await elements("S-2"))["parent_item_id"] == ids["M-2"]
    assert (await elements("C-1"))["member_item_ids"] == [ids["S-1"], ids["S-2"]]
    assert (await elements("F-1"))["parent_item_id"] == ids["M-9"]

    events_before = await chunked.event_count()
    again = await chunked.import_file(relations_list())
    assert (again["created"], again["revised"], again["unchanged"], again["failed"]) == (0, 0, 7, 2)
    assert await chunked.event_count() == events_before and await chunked.item_count() == 7


async def test_restructuring_an_item_sees_sub_items_written_by_the_chunk_before(chunked: RegistryClient) -> None:
    parent = await chunked.create({**main_item("机动车登记"), "source_ref": "P"})
    await chunked.create({**main_item("车辆管理"), "source_ref": "Q"})
    job = await chunked.import_file(csv_bytes([
        row_for("K-1", sub_item("机动车注册登记", "P")), row_for("K-2", sub_item("机动车转移登记", "P")),  # chunk 1
        row_for("P", sub_item("机动车登记", "Q")),  # chunk 2: P would become a sub-item, but it has sub-items now
    ], "utf-8"))
    assert (job["created"], job["revised"], job["failed"]) == (2, 0, 1), job
    assert {code for _, code in errors_by_row(job)[4]} == {"HAS_CHILDREN"}
    stored = (await chunked.call("GET", f"/items/{parent['item_id']}")).json()
    assert (stored["revision"], stored["elements"]["tier"]) == (1, "主项")


async def test_a_chunk_that_meets_a_concurrent_change_is_decided_and_written_again(
        chunked: RegistryClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.errors import ConcurrencyConflictError

    from registry.adapters import store

    write_events, calls = store.write_events, []  # the fixture's slow write

    async def conflicting_once(conn: Any, prepared: Any) -> Any:
        calls.append(len(prepared.events.rows))
        if len(calls) == 2:  # the second chunk, while the third one's write waits for it and the fourth is decided
            raise ConcurrencyConflictError(stream_id=prepared.events.rows[0][0], expected=0, actual=1)
        return await write_events(conn, prepared)

    monkeypatch.setattr(store, "write_events", conflicting_once)
    job = await chunked.import_file(relations_list())
    assert (job["status"], job["created"], job["failed"]) == ("completed", 7, 2), job
    assert len(calls) > 5  # the refused chunk was written again, and the one decided beside it decided again
    assert await chunked.item_count() == 7 and await chunked.event_count() == 7
    assert job["errors_total"] == 2  # the refused chunk's row errors are stored once


async def test_a_chunk_written_beside_a_refused_one_is_rolled_back_and_written_again(
        chunked: RegistryClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunk after a refused one has stored its read-model rows already, waiting to commit after it: those rows
    must go (no item without its event), and both chunks are decided again."""
    from shared.errors import ConcurrencyConflictError

    from registry.adapters import store

    write_events, refused = store.write_events, []

    async def refuse_first(conn: Any, prepared: Any) -> Any:
        if not refused:
            refused.append(prepared.events.rows[0][0])
            await asyncio.sleep(0.3)  # the next chunk's rows are in its open transaction meanwhile
            raise ConcurrencyConflictError(stream_id=refused[0], expected=0, actual=1)
        return await write_events(conn, prepared)

    monkeypatch.setattr(store, "write_events", refuse_first)
    job = await chunked.import_file(relations_list())
    assert (job["status"], job["created"], job["failed"]) == ("completed", 7, 2), job
    assert await chunked.item_count() == 7 and await chunked.event_count() == 7
    async with chunked.engine.connect() as conn:  # every read-model row has its event, and the other way round
        orphans = await conn.scalar(text(
            "SELECT count(*) FROM registry_items i WHERE NOT EXISTS "
            "(SELECT 1 FROM events e WHERE e.stream_id = i.item_id AND e.version = i.revision)"))
    assert orphans == 0


async def test_two_imports_of_the_same_list_at_once_make_each_item_once(chunked: RegistryClient) -> None:
    """A double click: both jobs write the same 来源编号 chunk by chunk, and one waits for rows the other has not
    committed. Whichever way they interleave (a lock waited for too long counts as a concurrent change), each item
    exists once and both jobs complete."""
    first, second = await asyncio.gather(chunked.import_file(relations_list()), chunked.import_file(relations_list()))
    assert first["status"] == second["status"] == "completed", (first, second)
    assert first["created"] + second["created"] == 7 and first["failed"] == second["failed"] == 2
    assert await chunked.item_count() == 7 and await chunked.event_count() == 7


async def test_a_reader_process_that_dies_is_reported_not_waited_for(tmp_path: Any) -> None:
    import os
    import signal
    from datetime import UTC, datetime

    from shared.auth import Principal

    from registry.adapters.import_reading import PreparedFile

    path = tmp_path / "list.csv"
    path.write_bytes(csv_bytes([row_for(f"R-{i}", MINIMAL) for i in range(3000)], "utf-8"))
    reading = PreparedFile(path, "csv", DICTIONARIES, Principal("entry", frozenset({"entry"}), ("44",)),
                           datetime.now(UTC).date(), chunk_size=10).start()

    async def read_to_the_end() -> None:
        while await reading.next_chunk() is not None:
            pass

    try:
        assert (await reading.head()).tabular
        assert reading.pid is not None
        os.kill(reading.pid, signal.SIGKILL)
        with pytest.raises(RuntimeError, match="意外退出"):
            await read_to_the_end()
    finally:
        reading.close()


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
async def test_a_small_text_file_is_read_in_a_thread_with_the_same_rows_as_a_reader_process(
        tmp_path: Any, fmt: str) -> None:
    """Starting a reader process costs more than reading a few hundred rows: a small csv/ndjson file is read in the
    service's thread pool, and what it yields is exactly what a reader process yields (problems included)."""
    from datetime import UTC, datetime

    from shared.auth import Principal

    from registry.adapters import import_reading

    broken = {**MINIMAL, "name": ""}
    rows = [MINIMAL, broken, MINIMAL]
    path = tmp_path / f"list.{fmt}"
    if fmt == "csv":
        path.write_bytes(csv_bytes([row_for(f"T-{i}", e) for i, e in enumerate(rows)], "utf-8"))
    else:
        path.write_bytes(b"".join(json.dumps({"source_ref": f"T-{i}", **e}, ensure_ascii=False).encode()
                                  + b"\n" for i, e in enumerate(rows)))
    assert path.stat().st_size <= import_reading.INLINE_MAX_BYTES
    arguments = (path, fmt, DICTIONARIES, Principal("entry", frozenset({"entry"}), ("44",)),
                 datetime.now(UTC).date(), 2)

    async def everything(reading: Any) -> tuple[Any, list[Any]]:
        try:
            head, chunks = await reading.head(), []
            while (chunk := await reading.next_chunk()) is not None:
                chunks.append([(r.row, r.source_ref, r.elements, r.problems, r.missing, r.elements_json)
                               for r in chunk.rows])
            return head, chunks
        finally:
            reading.close()

    inline = import_reading.open_prepared(*arguments)
    assert isinstance(inline, import_reading.InlineFile) and inline.pid is None
    in_thread = await everything(inline)
    in_process = await everything(import_reading.PreparedFile(*arguments).start())
    assert in_thread == in_process
    assert [len(c) for c in in_thread[1]] == [2, 1]
    assert [bool(r[3]) for c in in_thread[1] for r in c] == [False, True, False]


async def test_a_large_text_file_and_every_xlsx_are_read_in_a_reader_process(tmp_path: Any) -> None:
    from datetime import UTC, datetime

    from shared.auth import Principal

    from registry.adapters import import_reading

    large = tmp_path / "large.csv"
    large.write_bytes(csv_bytes([row_for(f"L-{i}", MINIMAL) for i in range(5000)], "utf-8"))
    small_xlsx = tmp_path / "small.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["x"])
    small_xlsx.write_bytes(xlsx_bytes(book))
    assert large.stat().st_size > import_reading.INLINE_MAX_BYTES
    entry = Principal("entry", frozenset({"entry"}), ("44",))
    for path, fmt in ((large, "csv"), (small_xlsx, "xlsx")):
        reading = import_reading.open_prepared(path, fmt, DICTIONARIES, entry, datetime.now(UTC).date(), 10)
        try:
            assert isinstance(reading, import_reading.PreparedFile) and reading.pid is not None
        finally:
            reading.close()


async def test_imports_beyond_the_running_limit_wait_queued_and_say_so_by_their_heartbeat(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime

    from registry.service_layer.imports import jobs as import_jobs

    monkeypatch.setattr(import_jobs, "QUEUED_HEARTBEAT", import_jobs.timedelta(seconds=0.05))
    async for client in start_client(database_url, import_max_running=1):
        jobs = client.app.state.imports
        await jobs._slots.acquire()  # another import holds the only slot
        response = await client.call("POST", "/imports", content=csv_bytes([row_for("QUEUE-1", MINIMAL)], "utf-8"))
        job_id = response.json()["job_id"]
        first = await client.call("GET", f"/imports/{job_id}")
        await asyncio.sleep(0.5)
        waiting = (await client.call("GET", f"/imports/{job_id}")).json()
        assert first.json()["status"] == waiting["status"] == "queued" and waiting["status_label"] == "排队中"
        async with client.app.state.runtime.engine.connect() as conn:
            beat = await conn.scalar(text("SELECT heartbeat_at FROM registry_import_jobs WHERE job_id = :j"),
                                     {"j": job_id})
        assert beat > datetime.fromisoformat(waiting["created_at"])  # still waiting, and saying so
        jobs._slots.release()
        deadline = asyncio.get_running_loop().time() + 120
        while (done := (await client.call("GET", f"/imports/{job_id}")).json())["status"] == "queued":
            assert asyncio.get_running_loop().time() < deadline, done
            await asyncio.sleep(0.05)
        assert done["status"] in ("running", "completed"), done  # its turn came


async def test_one_import_at_a_time_runs_the_later_one_after_the_earlier(database_url: str) -> None:
    from datetime import datetime

    async for client in start_client(database_url, import_max_running=1):
        big = await client.call("POST", "/imports",
                                content=csv_bytes([row_for(f"BIG-{i}", MINIMAL) for i in range(3000)], "utf-8"))
        small = await client.import_file(csv_bytes([row_for("SMALL-1", MINIMAL)], "utf-8"))
        deadline = asyncio.get_running_loop().time() + 120
        while (earlier := (await client.call("GET", f"/imports/{big.json()['job_id']}")).json())["status"] in (
                "queued", "running"):
            assert asyncio.get_running_loop().time() < deadline, earlier
            await asyncio.sleep(0.05)
        assert earlier["status"] == small["status"] == "completed", (earlier, small)
        assert datetime.fromisoformat(small["started_at"]) >= datetime.fromisoformat(earlier["finished_at"])


@pytest.mark.parametrize(("drain_seconds", "status"), [(60.0, "completed"), (0.0, "running")])
async def test_a_registry_that_stops_lets_a_running_import_finish_for_its_drain_time(
        database_url: str, engine: Any, drain_seconds: float, status: str) -> None:
    """A rolling update or a scale-down stops a registry process: what it was importing finishes if it can in the
    drain time (here: well within it), or reads as interrupted (with none: its row stays running, its heartbeat
    goes stale)."""
    registry = start_client(database_url, import_drain_seconds=drain_seconds)
    client = await registry.__anext__()
    response = await client.call("POST", "/imports",
                                 content=csv_bytes([row_for(f"DRAIN-{i}", MINIMAL) for i in range(3000)], "utf-8"))
    job_id = response.json()["job_id"]
    job_url = f"/imports/{job_id}"
    # The job's status is a row read over HTTP: there is no event to await, only polling.
    while (await client.call("GET", job_url)).json()["status"] == "queued":  # noqa: ASYNC110 — polled over HTTP
        await asyncio.sleep(0.01)
    await registry.aclose()  # the service shuts down while the import runs
    async with engine.connect() as conn:
        job = (await conn.execute(text("SELECT status, created, finished_at FROM registry_import_jobs "
                                       "WHERE job_id = :j"), {"j": job_id})).one()
    assert job.status == status, job
    assert (job.created, job.finished_at is not None) == ((3000, True) if job.status == "completed" else (0, False))


SPOOL_OWNER = """
import sys
from pathlib import Path
from registry.adapters.spool import Spool
spool = Spool(Path(sys.argv[1]))
handle, path = spool.new_upload()
handle.write(b"rows")
handle.close()
Path(str(path) + ".part-1.xlsx").write_bytes(b"part")
print(path, flush=True)
sys.stdin.read()  # lives until told to stop
"""


def spool_owner(directory: Any) -> tuple[Any, Any]:
    """Another registry process that spooled an upload (and a part copy of it) into ``directory``: (process, upload)."""
    import subprocess
    import sys
    from pathlib import Path

    owner = subprocess.Popen([sys.executable, "-c", SPOOL_OWNER, str(directory)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    return owner, Path(owner.stdout.readline().strip())


def test_spool_files_of_stopped_processes_are_removed_and_those_of_live_ones_kept(tmp_path: Any) -> None:
    import os
    import signal

    from registry.adapters.spool import Spool

    killed, killed_upload = spool_owner(tmp_path)
    living, living_upload = spool_owner(tmp_path)
    mine = Spool(tmp_path)
    my_handle, my_upload = mine.new_upload()
    my_handle.close()
    unrelated = tmp_path / "a.csv"
    unrelated.write_bytes(b"rows")
    try:
        os.kill(killed.pid, signal.SIGKILL)  # no chance to clean up
        killed.wait()
        removed = mine.remove_orphans()
        assert sorted(removed) == sorted([killed_upload, tmp_path / f"{killed_upload.name}.part-1.xlsx"])
        assert living_upload.exists() and my_upload.exists() and unrelated.exists()
        assert Spool(tmp_path).remove_orphans() == []  # another process, the same answer: these owners live
    finally:
        living.communicate("")
    assert sorted(mine.remove_orphans()) == sorted([living_upload, tmp_path / f"{living_upload.name}.part-1.xlsx"])
    mine.close()
    assert sorted(Spool(tmp_path).remove_orphans()) == [my_upload]  # once this one has stopped too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]  # the lock files went with their owners' files


def test_spool_files_whose_owner_has_no_lock_file_are_removed_only_once_an_hour_old(tmp_path: Any) -> None:
    import os
    import time

    from registry.adapters.spool import PREFIX, Spool

    fresh, old = tmp_path / f"{PREFIX}{'a' * 32}-x1", tmp_path / f"{PREFIX}{'b' * 32}-x2"
    taking = tmp_path / f".{PREFIX}lock-x3"  # a process stopped while it took its lock
    for path in (fresh, old, taking):
        path.write_bytes(b"rows")
    for path in (old, taking):
        os.utime(path, (time.time() - 3700, time.time() - 3700))
    assert sorted(Spool(tmp_path).remove_orphans()) == sorted([old, taking])
    assert list(tmp_path.iterdir()) == [fresh]


async def test_the_registry_clears_its_spool_directory_of_what_stopped_processes_left_and_of_each_upload(
        database_url: str, tmp_path: Any) -> None:
    spool = tmp_path / "spool"
    stopped, left = spool_owner(spool)
    stopped.communicate("")
    async for client in start_client(database_url, import_spool_dir=spool):
        assert not left.exists()  # removed at start-up
        job = await client.import_file(csv_bytes([row_for("SPOOL-1", MINIMAL)], "utf-8"))
        assert job["status"] == "completed" and job["created"] == 1, job
        assert [p.name for p in spool.iterdir()] == [f"registry-import-{client.app.state.imports.spool.token}.lock"]
    assert list(spool.iterdir()) == []  # a registry that stops with nothing left removes its lock file too


async def test_a_stopped_reader_leaves_no_part_copy_behind(tmp_path: Any) -> None:
    """The reader process is terminated when its job ends early (failed, cancelled): a part copy it was reading
    cannot be removed by it, so the job removes the copies of its upload."""
    import os
    from datetime import UTC, datetime
    from pathlib import Path

    from shared.auth import Principal

    from registry.adapters.import_reading import PreparedFile
    from registry.adapters.spool import part_copy
    from registry.service_layer.imports.jobs import ImportJobs

    path = tmp_path / "list.csv"
    path.write_bytes(csv_bytes([row_for(f"R-{i}", MINIMAL) for i in range(3000)], "utf-8"))
    reading = PreparedFile(path, "csv", DICTIONARIES, Principal("entry", frozenset({"entry"}), ("44",)),
                           datetime.now(UTC).date(), chunk_size=10).start()
    assert (await reading.head()).tabular
    handle, copy = part_copy(path)  # what the reader was copying a part into when it was stopped
    os.write(handle, b"part")
    os.close(handle)
    assert await asyncio.to_thread(Path(copy).exists)
    await asyncio.to_thread(ImportJobs._stop_reader, reading, path)
    assert set(tmp_path.iterdir()) == {path}


def with_shared_strings(path: Any) -> None:
    """Rewrite an openpyxl file (text inline in each cell) the way Excel saves it: text in a shared-strings table,
    cells holding its indexes."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    strings: list[str] = []

    def shared(match: re.Match[str]) -> str:
        strings.append(match[3])
        return f'<c {match[1]}t="s"{match[2]}><v>{len(strings) - 1}</v></c>'

    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = re.sub(r'<c ([^>]*?)t="inlineStr"([^>]*)><is><t[^>]*>(.*?)</t></is></c>', shared,
                          parts[sheet].decode()).encode()
    def entry(text: str) -> str:  # as Excel writes them for Chinese text; a source_ref in two rich-text runs
        if text.startswith("GZ-00"):
            return f'<si><r><t>{text[:3]}</t></r><r><rPr><b/></rPr><t>{text[3:]}</t></r></si>'
        return f'<si><t xml:space="preserve">{text}</t><phoneticPr fontId="1" type="noConversion"/></si>'

    parts["xl/sharedStrings.xml"] = (
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'count="{len(strings)}" uniqueCount="{len(strings)}">'
        + "\n".join(entry(text) for text in strings) + "</sst>").encode()
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(b"</Relationships>", (
        b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
        b'Target="sharedStrings.xml" Id="rIdShared"/></Relationships>'))
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(b"</Types>", (
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        b'spreadsheetml.sharedStrings+xml"/></Types>'))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    assert sum(text.startswith("GZ-00") for text in strings) == 3  # the sheet did have text to share


@pytest.mark.parametrize(("way", "rows"), [("whole", None), ("parts", 1), ("parts", 2), ("parts", 3), ("parts", 10),
                                           ("whole-shared", None), ("parts-shared", 2)])
def test_every_xlsx_reader_reads_a_filled_in_sheet_alike(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, way: str,
                                                         rows: int | None) -> None:
    """Files up to 1 MiB are read whole (calamine), larger ones a part at a time (calamine, from copies of the file
    holding a few rows each), and openpyxl streams what cannot be cut: a sheet reads the same every way. Here the
    parts are 1 to 3 rows long, so that the cuts fall before, on and after the blank line, or hold the whole sheet;
    and the sheet's text is inline (as openpyxl writes it) or in a shared-strings table (as Excel saves it)."""
    from datetime import date

    from registry.adapters.spreadsheets import xlsx_parts
    from registry.adapters.spreadsheets.xlsx_file import xlsx_rows_streamed, xlsx_rows_whole
    from registry.adapters.spreadsheets.xlsx_parts import xlsx_rows_in_parts

    if way.startswith("parts"):
        monkeypatch.setattr(xlsx_parts, "XLSX_PART_ROWS", rows)
        monkeypatch.setattr(xlsx_parts, "xlsx_rows_streamed", None)  # no fallback: the parts must be read

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "事项清单"
    book.create_sheet("字典")["A1"] = "另一张表：读取时不需要它"
    sheet.append(list(HEADERS))
    sheet.append(row_for("GZ-001", FULL))
    sheet.append([None] * len(HEADERS))  # a blank line between blocks
    bare = row_for("GZ-002", {**MINIMAL, "planned_effective_date": "2027-01-01"})
    bare[HEADERS.index("事项类型")] = 1  # numbers and dates as Excel stores them
    bare[HEADERS.index("区划代码")] = 440115
    bare[HEADERS.index("计划生效日期")] = date(2027, 1, 1)
    sheet.append(bare)
    sheet.append(row_for("GZ-003", {**MINIMAL, "service_guide": {"statutory_time_limit_days": "二十"}}))
    path = tmp_path / "list.xlsx"
    book.save(path)

    def read(reader: Any) -> tuple[Any, list[Any]]:
        opened = reader(path, DICTIONARIES)
        try:
            return opened.total_rows, [(r.row, r.source_ref, r.elements, r.problems) for r in opened]
        finally:
            opened.close()

    if way.endswith("shared"):
        with_shared_strings(path)
    whole = read(xlsx_rows_in_parts if way.startswith("parts") else xlsx_rows_whole)
    streamed = read(xlsx_rows_streamed)
    assert whole == streamed
    assert not [p for p in tmp_path.iterdir() if p.name != "list.xlsx"]  # the parts' copies are gone
    assert [r[0] for r in whole[1]] == [2, 4, 5] and whole[1][1][2]["planned_effective_date"] == "2027-01-01"


@given(texts=st.lists(st.text(alphabet="事项a<&\"b 1", max_size=4), min_size=1, max_size=30),
       used=st.sets(st.integers(0, 40)), prefix=st.sampled_from(["", "x:"]))
def test_the_shared_strings_copied_for_a_part_keep_each_string_it_uses_in_place(texts: list[str], used: set[int],
                                                                                prefix: str) -> None:
    from xml.sax.saxutils import escape

    from defusedxml.ElementTree import fromstring

    from registry.adapters.spreadsheets.xlsx_parts import SharedStrings

    namespace = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    declaration = f'xmlns:x="{namespace}"' if prefix else f'xmlns="{namespace}"'
    table = (f'<?xml version="1.0"?>\n<{prefix}sst {declaration} count="{len(texts)}">'
             + "".join(f"<{prefix}si><{prefix}t>{escape(t)}</{prefix}t></{prefix}si>" if t else f"<{prefix}si/>"
                       for t in texts) + f"</{prefix}sst>").encode()
    part = "".join(f'<{prefix}c t="s"><{prefix}v>{n}</{prefix}v></{prefix}c>' for n in sorted(used)).encode()
    trimmed = fromstring(SharedStrings(table).for_part(part))
    entries = ["".join(si.itertext()) for si in trimmed]
    for n in used:
        if n < len(texts):
            assert entries[n] == texts[n]
    assert all(entries[n] == "" for n in range(len(entries)) if n not in used)


def test_a_sheet_damaged_inside_fails_the_parts_reader_with_the_reason(tmp_path: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Read in parts, a damaged sheet is found part way through the file: the reading stops with the reason (the
    job then fails with it), it does not crash the reader."""
    import zipfile

    from registry.adapters.spreadsheets import xlsx_parts
    from registry.adapters.spreadsheets.xlsx_parts import xlsx_rows_in_parts
    from registry.domain.errors import ImportFileError

    monkeypatch.setattr(xlsx_parts, "XLSX_PART_ROWS", 200)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "事项清单"
    sheet.append(list(HEADERS))
    # ≈8 MB of sheet XML: read a megabyte at a time, the damage is met part way. The names are fixed (not random) so
    # that the damaged bytes are the same on every run: zeros over random deflated text sometimes still inflate, into
    # rows that fail for another reason.
    for i in range(3000):
        name = hashlib.sha256(str(i).encode()).hexdigest()[:32]
        sheet.append(row_for(f"GZ-{i:04d}", {**FULL, "name": f"事项{name}"}))
    path = tmp_path / "list.xlsx"
    book.save(path)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.compress_size * 3 // 4
    data[middle:middle + 64] = bytes(64)  # zeros over the deflated rows, three quarters of the way in
    path.write_bytes(bytes(data))

    opened, read = xlsx_rows_in_parts(path, DICTIONARIES), 0

    def read_to_the_end() -> None:
        nonlocal read
        for _ in opened:
            read += 1

    try:
        with pytest.raises(ImportFileError) as failure:
            read_to_the_end()
    finally:
        opened.close()
    assert "无法读取 xlsx 文件" in str(failure.value.context["reason"])
    assert 0 < read < 3000  # the first parts were read
