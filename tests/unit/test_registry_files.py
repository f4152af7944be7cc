"""The registry's files without a database: csv cells escaped against formula injection and read back exactly, a form
upload read as a stream, the bounds an xlsx may expand to, the template's drop-downs and what an unknown code's
message offers instead."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contracts.elements import LEGAL_TEXT_MAX
from shared.dictionaries import load_dictionaries
from shared.spreadsheets import escape_cell, unescape_cell
from tests.integration.test_registry_helpers import MINIMAL

from registry.adapters.multipart import FormUpload
from registry.adapters.spreadsheets import xlsx_bounds, xlsx_parts
from registry.adapters.spreadsheets.template import write_template
from registry.domain import tabular
from registry.domain.elements import validate_elements
from registry.domain.errors import ImportFileError, ImportFileTooLargeError, MalformedUploadError

DICTIONARIES = load_dictionaries()
TODAY = date(2026, 12, 7)


# ---- csv: formula injection ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ['=HYPERLINK("http://evil.example","点我")', "+cmd|' /C calc'!A0", "-2+3",
                                  "@SUM(A1:A2)", "\t=1+1", "\r=1+1", "'=1+1", "''+1"])
def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_written_behind_a_single_quote(cell: str) -> None:
    written = escape_cell(cell)
    assert written == "'" + cell
    assert unescape_cell(written) == cell


@pytest.mark.parametrize("cell", ["户口迁移审批", "'中文'", "O'Brien", "'abc", "a=b", "1-2", ""])
def test_other_cells_are_written_and_read_as_they_are(cell: str) -> None:
    assert escape_cell(cell) == cell
    assert unescape_cell(cell) == cell  # a hand-typed cell that starts with a quote keeps it


@given(st.text(alphabet=st.sampled_from("'=+-@\t\r a中"), max_size=8) | st.text(max_size=20))
def test_reading_undoes_exactly_what_writing_escaped(cell: str) -> None:
    written = escape_cell(cell)
    assert unescape_cell(written) == cell
    assert written[:1] not in ("=", "+", "-", "@", "\t", "\r")


# ---- a form upload, read as a stream --------------------------------------------------------------------------------
def form(*parts: tuple[str, str | None, bytes, str | None], boundary: str = "----shixiang7MA4YWxk") -> bytes:
    out = b""
    for name, filename, content, content_type in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if content_type:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def read_file_field(data: bytes, size: int,
                          content_type: str = "multipart/form-data; boundary=----shixiang7MA4YWxk") -> Any:
    upload = await FormUpload(pieces(data, size), content_type).open()
    received = b"".join([piece async for piece in upload.file_bytes()])
    return upload.filename, upload.content_type, received


@pytest.mark.parametrize("size", [1, 7, 64, 1 << 20])
def test_the_file_field_of_a_form_upload_is_read_whole_however_the_body_arrives(size: int) -> None:
    content = "来源编号,事项名称\r\n--not a boundary\r\n\r\n".encode() * 50
    body = form(("format", None, b"csv", None), ("file", "清单.csv", content, "text/csv"),
                ("after", None, b"ignored", None))
    assert asyncio.run(read_file_field(body, size)) == ("清单.csv", "text/csv", content)


def test_a_form_upload_names_its_file_in_rfc_2231_or_with_a_windows_path() -> None:
    boundary = "xyz"
    body = (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E6%B8%85%E5%8D%95.xlsx\r\n"
            b"\r\nPK\r\n--xyz--\r\n")
    assert asyncio.run(read_file_field(body, 5, f"multipart/form-data; boundary={boundary}"))[0] == "清单.xlsx"
    body = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="C:\\\\list.csv"\r\n\r\nx\r\n--xyz--'
    assert asyncio.run(read_file_field(body, 5, f"multipart/form-data; boundary={boundary}"))[0] == "list.csv"


@pytest.mark.parametrize(("body", "content_type", "says"), [
    (form(("other", "a.csv", b"x", None)), None, "没有名为“file”的文件字段"),
    (form(("file", "a.csv", b"x", None)).rsplit(b"\r\n--", 1)[0], None, "没有结束边界"),
    (b"no multipart here", None, "找不到分隔边界"),
    (b"", "multipart/form-data", "缺少 boundary"),
])
def test_a_form_upload_without_its_file_is_refused_with_the_reason(body: bytes, content_type: str | None,
                                                                  says: str) -> None:
    with pytest.raises(MalformedUploadError) as refused:
        asyncio.run(read_file_field(body, 16, content_type or "multipart/form-data; boundary=----shixiang7MA4YWxk"))
    assert says in refused.value.context["reason"]


# ---- what an xlsx may expand to -------------------------------------------------------------------------------------
def test_a_cell_may_hold_the_element_models_longest_text_and_no_more_than_excel_allows() -> None:
    assert LEGAL_TEXT_MAX < xlsx_bounds.CELL_MAX_CHARS == 32_767


def expanded(data: bytes, *, limit: int = 1 << 40, block: int = 1000) -> bytes:
    stream = xlsx_bounds.Expanding(io.BytesIO(data), limit=limit, what="工作表")
    out = b""
    while piece := stream.read(block):
        out += piece
    return out


def test_a_member_is_read_through_within_its_bounds() -> None:
    xml = b"<sheetData>" + b"<row><c><v>" + "中".encode() * 30_000 + b"</v></c></row>" * 3 + b"</sheetData>"
    assert expanded(xml) == xml


@pytest.mark.parametrize("block", [1000, 1 << 20])
def test_a_cell_longer_than_excel_allows_is_refused_however_it_is_read(block: int) -> None:
    xml = b"<sheetData><row><c><is><t>" + b"a" * (xlsx_bounds.RUN_MAX_BYTES + 1) + b"</t></is></c></row>"
    with pytest.raises(ImportFileTooLargeError, match="32767 个字符"):
        expanded(xml, block=block)


def test_a_member_that_expands_beyond_its_limit_is_refused_before_the_rest_is_read() -> None:
    with pytest.raises(ImportFileTooLargeError, match="解压后过大") as refused:
        expanded(b"<a/>" * 1000, limit=2000)
    assert refused.value.context["limit"] == "member"


def sheet(rows: str, dimension: str | None = None) -> bytes:
    head = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f'<worksheet xmlns="m">{head}<sheetData>{rows}</sheetData></worksheet>'.encode()


def test_cells_beyond_column_zz_are_refused_in_the_cells_or_the_dimension() -> None:
    with pytest.raises(ImportFileTooLargeError, match="ZZ 列"):
        xlsx_bounds.check_grid(sheet('<row r="1"><c r="A1"/></row><row r="1048576"><c r="XFD1048576"/></row>'))
    with pytest.raises(ImportFileTooLargeError, match="ZZ 列"):
        xlsx_bounds.check_grid(sheet('<row r="1"><c r="A1"/></row>', "A1:XFD1048576"))


def test_the_grid_of_one_read_is_bounded_by_its_farthest_cells() -> None:
    normal = "".join(f'<row r="{r}"><c r="A{r}"><v>1</v></c><c r="AK{r}"><v>2</v></c></row>' for r in range(1, 300))
    assert (xlsx_bounds.check_grid(sheet(normal)).first_row, xlsx_bounds.check_grid(sheet(normal)).last_row) == (1, 299)
    far = '<row r="1"><c r="A1"/></row><row r="1048576" s="2" customFormat="1"><c r="ZZ1048576"/></row>'
    with pytest.raises(ImportFileTooLargeError, match="第 1 行至第 1048576 行、702 列"):
        xlsx_bounds.check_grid(sheet(far))
    styled_row_only = '<row r="1"><c r="A1"/></row><row r="1048576" s="2" customFormat="1"/>'
    assert xlsx_bounds.check_grid(sheet(styled_row_only)).last_row == 1  # an empty row is not read into the grid
    misplaced = '<row r="1"><c r="A1"/><c r="ZZ1048576"/></row>'  # a cell's own position is the one read
    with pytest.raises(ImportFileTooLargeError, match="第 1 行至第 1048576 行"):
        xlsx_bounds.check_grid(sheet(misplaced))


def test_cells_without_their_position_are_counted_where_they_stand() -> None:
    wide = '<row r="20000">' + "<c/>" * 800 + "</row>"
    with pytest.raises(ImportFileTooLargeError, match="ZZ 列"):
        xlsx_bounds.check_grid(sheet('<row r="1"><c/></row>' + wide))
    far = '<row r="1"><c t="s"><v>0</v></c></row><row r="1048576">' + "<c/>" * 700 + "</row>"
    with pytest.raises(ImportFileTooLargeError, match="第 1 行至第 1048576 行、700 列"):
        xlsx_bounds.check_grid(sheet(far))
    assert xlsx_bounds.check_grid(sheet('<row><c/><c/></row><row><c/></row>')).cells == 4


def test_parts_are_cut_before_they_grow_too_large_and_a_row_too_large_for_a_part_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx_parts, "XLSX_PART_MAX_BYTES", 5000)
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{"9" * 1000}</v></c></row>' for r in range(1, 21))
    data = io.BytesIO(sheet(rows))
    parts = list(xlsx_parts._sheet_xml_parts(data.read, 10_000))
    assert len(parts) > 4 and sum(p.count(b"</row>") for p in parts) == 20
    assert all(len(p) <= 5000 + 100 for p in parts)  # the rows within the bound, and the sheet's own tags
    big = io.BytesIO(sheet('<row r="1"><c r="A1"><v>' + "9" * 6000 + "</v></c></row>"))
    with pytest.raises(ImportFileTooLargeError, match="一行超过"):
        list(xlsx_parts._sheet_xml_parts(big.read, 10_000))


def small_book(tmp_path: Path, sheet_xml: bytes) -> Path:
    book = openpyxl.Workbook()
    book.active.title = "事项清单"
    out = io.BytesIO()
    book.save(out)
    path = tmp_path / "list.xlsx"
    with zipfile.ZipFile(out) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, sheet_xml if info.filename.endswith("sheet1.xml") else source.read(info))
    return path


def test_a_small_file_is_read_whole_only_when_what_it_expands_to_allows(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    rows = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>x</t></is></c></row>' for r in range(1, 50))
    assert xlsx_parts.whole_read_fits(small_book(tmp_path, sheet(rows, "A1:A49")))
    assert not xlsx_parts.whole_read_fits(small_book(tmp_path, sheet(rows, "A1:ZY1048576")))  # parts leave it out
    monkeypatch.setattr(xlsx_parts, "WHOLE_READ_MAX_EXPANDED", 2000)
    assert not xlsx_parts.whole_read_fits(small_book(tmp_path, sheet(rows)))  # read in parts instead


# ---- the template and unknown values -------------------------------------------------------------------------------
CLOSED_KINDS = (tabular.DICT, tabular.DICT_LIST, tabular.CHOICE, tabular.CHOICE_LIST, tabular.DEPTH)


def test_every_closed_set_column_of_the_template_has_a_drop_down_of_its_values(tmp_path: Path) -> None:
    path = tmp_path / "template.xlsx"
    write_template(path, DICTIONARIES, regions=["4401"], today=TODAY)
    book = openpyxl.load_workbook(path)
    lists = book["字典"]
    values = {lists.cell(1, c).value: [lists.cell(r, c).value for r in range(2, lists.max_row + 1)
                                       if lists.cell(r, c).value] for c in range(1, lists.max_column + 1)}
    validated = {str(v.sqref).split(":")[0] for v in book["事项清单"].data_validations.dataValidation}
    closed = [c for c in tabular.COLUMNS if c.kind in CLOSED_KINDS]
    assert {c.header for c in closed} >= {"行使层级", "服务对象", "区划代码", "办件类型", "网办深度"}
    for i, column in enumerate(tabular.COLUMNS, start=1):
        letter = openpyxl.utils.get_column_letter(i)
        assert (f"{letter}2" in validated) == (column in closed), column.header
    assert values["行使层级"] == ["国家级", "省级", "地市级", "区县级", "乡镇（街道）级", "村（社区）级"]
    assert values["服务对象"][0] == "自然人" and values["网办深度"][0].startswith("1 ")


def test_a_drop_down_value_reads_back_as_its_code() -> None:
    cells = {tabular.SOURCE_REF_COLUMN.header: "R-1", "行使层级": "区县级、4 区县级", "区划代码": "440115 南沙区"}
    parsed = tabular.parse_row(cells, DICTIONARIES)
    assert parsed.elements["exercise_levels"] == ["4", "4"] and parsed.elements["region_code"] == "440115"


def test_an_unknown_exercise_level_says_which_ones_are_accepted() -> None:
    _, problems = validate_elements({**MINIMAL, "exercise_levels": ["县级"]}, DICTIONARIES, TODAY)
    [problem] = problems
    assert problem.code == "UNKNOWN_CODE" and "“县级”" in problem.message
    assert "4 区县级" in problem.message and "1 国家级" in problem.message


def test_an_unknown_region_says_where_the_regions_are_found() -> None:
    _, problems = validate_elements({**MINIMAL, "region_code": "449999"}, DICTIONARIES, TODAY)
    [problem] = problems
    assert problem.code == "UNKNOWN_CODE"
    assert "下拉列表" in problem.message and "/coding/v1/dictionaries/regions" in problem.message


# ---- csv and ndjson: what one row may hold ---------------------------------------------------------------------------
def test_an_ndjson_line_longer_than_any_item_is_reported_and_skipped_not_held(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from registry.adapters.spreadsheets import ndjson_file

    monkeypatch.setattr(ndjson_file, "LINE_MAX_BYTES", 100)
    path = tmp_path / "list.ndjson"
    path.write_bytes(b'{"source_ref": "A"}\n' + b'{"name": "' + b"x" * 1000 + b'"}\n{"source_ref": "B"}\n'
                     + b"y" * 150)
    reader = ndjson_file.ndjson_rows(path)
    rows = list(reader)
    reader.close()
    assert [(r.row, r.source_ref, [p.code for p in r.problems]) for r in rows] == [
        (1, "A", []), (2, None, ["UNREADABLE_ROW"]), (3, "B", []), (4, None, ["UNREADABLE_ROW"])]
    assert "超过" in rows[1].problems[0].message


def test_a_csv_cell_beyond_the_limit_fails_the_file_with_the_row_it_is_in(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from registry.adapters.spreadsheets import csv_file

    monkeypatch.setattr(csv_file, "CELL_MAX_BYTES", 1000)
    path = tmp_path / "list.csv"
    path.write_text(",".join(tabular.HEADERS) + "\nR-1,名称\nR-2," + "长" * 2000 + "\n", encoding="utf-8")
    reader = csv_file.csv_rows(path, DICTIONARIES)
    try:
        with pytest.raises(ImportFileError, match="第 3 行"):
            list(reader)
    finally:
        reader.close()
