"""Import benchmark: a generated item list imported end to end into the registry store on embedded PostgreSQL.

    .venv/bin/python -m bench.import_bench [--rows 50000] [--memory-rows 100000] [--formats csv,ndjson,xlsx,excel]

The list is realistic: real public-security item names (户政、出入境、交管、治安、网安、消防) in every current
county-level region of the GB/T 2260 table, with a full element set per row (department, agency, legal basis,
service guide with materials and time limits) — about 1 KB of elements per item. Each import runs in a child process
(so its peak RSS is its own) through the same job runner as ``POST /registry/v1/imports``: a reader process streams
the file and validates every row, the job resolves existing items by 来源编号 and writes chunks of 1,000 items per
transaction (one ``append_batch`` + read-model rows each) into a fresh database, deciding the next chunk while the
previous one is written. Peak memory is printed for the job's process and for its reader process. xlsx is measured
twice: as openpyxl writes it and as Excel saves it (``excel``: text in a shared-strings table). Figures are printed
with the machine; nothing passes or fails on time."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import describe
from shared.dictionaries import load_dictionaries

# Real item names from public-security item lists (公安政务服务事项清单), by police type and service category.
ITEMS: list[tuple[str, str, str, str]] = [  # (name, item type, police type, service category)
    ("户口迁移审批", "01", "02", "03"), ("出生登记", "07", "02", "02"), ("死亡注销户口", "07", "02", "02"),
    ("户口登记项目变更更正", "07", "02", "02"), ("曾用名登记", "07", "02", "02"), ("分户登记", "07", "02", "02"),
    ("居民身份证申领", "07", "02", "01"), ("居民身份证换领", "07", "02", "01"), ("居民身份证补领", "07", "02", "01"),
    ("临时居民身份证申领", "07", "02", "01"), ("居住证申领", "20", "02", "01"), ("居住证签注", "20", "02", "01"),
    ("户籍证明开具", "20", "02", "04"), ("无犯罪记录证明开具", "20", "01", "04"),
    ("亲属关系证明开具", "20", "02", "04"),
    ("普通护照签发", "01", "03", "01"), ("往来港澳通行证签发", "01", "03", "01"),
    ("往来台湾通行证签发", "01", "03", "01"), ("出入境证件加注", "20", "03", "01"),
    ("外国人居留许可签发", "01", "03", "03"), ("外国人签证延期", "01", "03", "03"),
    ("外国人住宿登记", "20", "03", "02"), ("境外人员临时住宿登记", "20", "03", "02"),
    ("机动车注册登记", "07", "04", "02"), ("机动车转移登记", "07", "04", "02"), ("机动车变更登记", "07", "04", "02"),
    ("机动车抵押登记", "07", "04", "02"), ("机动车解除抵押登记", "07", "04", "02"),
    ("机动车注销登记", "07", "04", "02"),
    ("机动车检验合格标志核发", "01", "04", "01"), ("机动车临时通行牌证核发", "01", "04", "01"),
    ("机动车驾驶证申领", "01", "04", "01"), ("机动车驾驶证换证", "01", "04", "01"),
    ("机动车驾驶证补证", "01", "04", "01"), ("校车驾驶资格许可", "01", "04", "03"),
    ("电动自行车登记", "07", "04", "02"), ("交通事故认定复核", "09", "04", "99"),
    ("交通违法行为处理", "02", "04", "07"), ("道路交通安全违法行为罚款缴纳", "02", "04", "07"),
    ("旅馆业特种行业许可证核发", "01", "01", "03"), ("公章刻制业特种行业许可证核发", "01", "01", "03"),
    ("典当业特种行业许可证核发", "01", "01", "03"), ("公章刻制备案", "20", "01", "02"),
    ("保安服务公司设立许可", "01", "01", "03"), ("保安员证核发", "01", "01", "01"),
    ("大型群众性活动安全许可", "01", "01", "03"), ("爆破作业单位许可证核发", "01", "01", "03"),
    ("民用爆炸物品购买许可", "01", "01", "03"), ("民用爆炸物品运输许可", "01", "01", "03"),
    ("烟花爆竹道路运输许可", "01", "01", "03"), ("焰火晚会烟花爆竹燃放许可", "01", "01", "03"),
    ("剧毒化学品购买许可", "01", "01", "03"), ("剧毒化学品道路运输通行证核发", "01", "01", "03"),
    ("易制毒化学品购买备案证明核发", "01", "06", "02"), ("易制毒化学品运输许可", "01", "06", "03"),
    ("养犬登记", "01", "01", "02"), ("枪支持枪许可", "01", "01", "03"), ("弩的购置许可", "01", "01", "03"),
    ("互联网上网服务营业场所信息网络安全审核", "01", "05", "03"),
    ("计算机信息系统安全专用产品销售许可", "01", "05", "03"),
    ("网络安全等级保护备案", "20", "05", "02"), ("互联网单位联网备案", "20", "05", "02"),
    ("公众聚集场所投入使用营业前消防安全检查", "01", "07", "03"), ("建设工程消防设计审查", "01", "07", "03"),
    ("建设工程消防验收", "01", "07", "03"), ("边境管理区通行证核发", "01", "08", "01"),
    ("金融机构营业场所、金库安全防范设施建设方案审批", "01", "01", "03"), ("举报奖励", "08", "01", "08"),
]
LEGAL = {
    "02": ("法律", "中华人民共和国居民身份证法", "第八条",
           "居民身份证由居民常住户口所在地的县级人民政府公安机关签发。"),
    "03": ("法律", "中华人民共和国出境入境管理法", "第十一条",
           "中国公民申请办理护照，应当向户籍所在地县级以上公安机关出入境管理机构提出。"),
    "04": ("法律", "中华人民共和国道路交通安全法", "第八条",
           "国家对机动车实行登记制度。机动车经公安机关交通管理部门登记后，方可上道路行驶。"),
}
DEFAULT_LEGAL = ("行政法规", "中华人民共和国户口登记条例", "第十条",
                 "公民迁出本户口管辖区，由本人或者户主在迁出前申报迁出登记。")


# What each benchmarked file is imported as. "xlsx" is written by openpyxl (text inline in each cell, as the
# registry's own exports and template are); "excel" is the same sheet as Excel saves it (text in a shared-strings
# table, the sheet's size announced): what a civil servant who filled in the template uploads.
IMPORTED_AS = {"csv": "csv", "ndjson": "ndjson", "xlsx": "xlsx", "excel": "xlsx"}


def generate(rows: int) -> Iterator[dict[str, Any]]:
    """``rows`` items: every real item name in every current county, with a full element set."""
    dictionaries = load_dictionaries()
    today = datetime.now(UTC).date()  # the day the registry checks the rows on (its clock is UTC)
    counties = [e for e in dictionaries.regions.entries.values() if e.level == 3 and e.valid_on(today)]
    for n in range(rows):
        name, item_type, police, category = ITEMS[n % len(ITEMS)]
        county = counties[(n // len(ITEMS)) % len(counties)]
        province = dictionaries.regions.get(county.code[:2] + "0000")
        rank, title, article, text = LEGAL.get(police, DEFAULT_LEGAL)
        yield {
            "source_ref": f"{county.code}-{n // (len(ITEMS) * len(counties))}-{n % len(ITEMS):03d}",
            "name": name, "short_name": name, "item_type": item_type, "police_type": police,
            "service_category": category, "region_code": county.code,
            "competent_department": f"{province.label if province else ''}公安厅",
            "implementing_agency": f"{county.label}公安局", "exercise_levels": ["4"],
            "legal_basis": [{"rank": rank, "title": title, "article": article, "text": text},
                            {"rank": "规范性文件",
                             "title": f"{province.label if province else ''}公安政务服务事项办事指南",
                             "article": "第三条", "text": "按照本指南办理。"}],
            "service_guide": {
                "conditions": ["申请人身份信息真实有效", "符合法律法规规定的条件"],
                "materials": [{"name": "居民身份证", "basis": title, "format": "原件", "copies": 1,
                               "signature_seal": None},
                              {"name": f"{name}申请表", "basis": None, "format": "原件", "copies": 1,
                               "signature_seal": "申请人签名"}],
                "steps": ["申请", "受理", "审核", "决定", "送达"],
                "statutory_time_limit_days": 20, "promised_time_limit_days": 10,
                "fees": {"free": True, "items": []},
                "place": f"{county.label}政务服务中心公安窗口", "hours": "工作日 9:00-12:00，13:30-17:00",
                "consultation_contact": "110", "complaint_contact": "12345",
            },
            "service_objects": ["自然人"], "case_type": "承诺件", "online_service_depth": 3,
        }


def write_file(path: Path, fmt: str, rows: int) -> None:
    """Streamed: the generator's items are written one by one, never held together."""
    from registry.domain.tabular import HEADERS, format_row

    dictionaries = load_dictionaries()
    if fmt == "ndjson":
        with path.open("w", encoding="utf-8") as out:
            for item in generate(rows):
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
        return
    cells = ([source_ref, *format_row(source_ref, item, dictionaries, {})[1:]]
             for item in generate(rows) for source_ref in [item.pop("source_ref")])
    if fmt == "csv":
        with path.open("w", encoding="gb18030", newline="") as out:  # what Excel on a Chinese Windows writes
            writer = csv.writer(out)
            writer.writerow(HEADERS)
            for row in cells:
                writer.writerow(["" if v is None else v for v in row])
        return
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("事项清单")
    sheet.append(list(HEADERS))
    for row in cells:
        sheet.append(row)
    book.save(path)
    if fmt == "excel":
        save_as_excel_does(path, rows + 1, len(HEADERS))


_INLINE_TEXT = re.compile(rb'<c ([^>]*?)t="inlineStr"([^>]*)><is><t[^>]*>(.*?)</t></is></c>', re.DOTALL)


def save_as_excel_does(path: Path, rows: int, columns: int) -> None:
    """Rewrites an xlsx as openpyxl writes it (text inline in each cell, no size) the way Excel saves it: every text
    in a shared-strings table in order of first use, cells holding its indexes, and the sheet's <dimension>.
    Streamed, a few megabytes of the sheet at a time."""
    import zipfile

    from openpyxl.utils import get_column_letter

    index: dict[bytes, int] = {}

    def shared(cell: re.Match[bytes]) -> bytes:
        return b'<c %bt="s"%b><v>%d</v></c>' % (cell[1], cell[2], index.setdefault(cell[3], len(index)))

    inline = path.with_suffix(".inline.xlsx")
    path.rename(inline)
    sheet = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(inline) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as saved:
        for info in source.infolist():
            if info.filename != sheet:
                content = source.read(info)
                if info.filename == "xl/_rels/workbook.xml.rels":
                    content = content.replace(b"</Relationships>", (
                        b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
                        b'sharedStrings" Target="sharedStrings.xml" Id="rIdShared"/></Relationships>'))
                elif info.filename == "[Content_Types].xml":
                    content = content.replace(b"</Types>", (
                        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                        b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>'))
                saved.writestr(info.filename, content)
                continue
            with source.open(info) as xml, saved.open(sheet, "w", force_zip64=True) as out:
                pending = b""
                dimension = b'<dimension ref="A1:%s%d"/>' % (get_column_letter(columns).encode(), rows)
                while block := xml.read(8 << 20):
                    pending += block
                    if dimension and b"</sheetPr>" in pending:
                        pending, dimension = pending.replace(b"</sheetPr>", b"</sheetPr>" + dimension, 1), b""
                    cut = pending.rfind(b"</row>") + len(b"</row>")
                    if cut >= len(b"</row>"):
                        out.write(_INLINE_TEXT.sub(shared, pending[:cut]))
                        pending = pending[cut:]
                out.write(_INLINE_TEXT.sub(shared, pending))
        with saved.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            out.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="http://schemas.'
                      b'openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">' % (len(index),
                                                                                                    len(index)))
            for text in index:
                out.write(b'<si><t xml:space="preserve">%b</t></si>' % text)
            out.write(b"</sst>")
    inline.unlink()


async def import_once(path: Path, fmt: str, database_url: str) -> dict[str, Any]:
    """In the child: one import through the job runner into a fresh registry database."""
    from shared.auth import Principal
    from shared.db import create_schema
    from shared.process import tune_garbage_collector

    from registry.bootstrap import build
    from registry.config import RegistrySettings
    from registry.service_layer.imports.jobs import ImportJobs

    runtime, registry = build(RegistrySettings(database_url=database_url, roles="api", environment="test"))
    tune_garbage_collector()  # as `shixiang serve` does
    await create_schema(runtime.engine, *runtime.metadata)
    jobs = ImportJobs(registry, chunk_size=1000)
    importer = Principal("bench", frozenset({"entry"}), ("*",))
    job_id = await jobs.create_job(importer, filename=path.name, fmt=fmt)
    started, cpu_before = time.perf_counter(), _cpu_seconds(resource.RUSAGE_SELF)
    await jobs.run(job_id, importer, path, fmt)  # removes the file when done, as after an upload
    seconds = time.perf_counter() - started
    job_cpu, reader_cpu = _cpu_seconds(resource.RUSAGE_SELF) - cpu_before, _cpu_seconds(resource.RUSAGE_CHILDREN)
    job = await jobs.get(job_id, importer, errors_limit=5)
    await runtime.engine.dispose()
    return {"seconds": seconds, "job": {k: job[k] for k in ("status", "created", "failed", "error", "errors")},
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            # the reader process (the only child): its peak adds to the service's while both run
            "reader_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "job_cpu_s": job_cpu, "reader_cpu_s": reader_cpu}


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def postgres_cpu_seconds(data_dir: Path) -> float:
    """CPU of the whole cluster: the postmaster, its live processes, and the backends that have exited (which the
    postmaster reaped, so they are in its children's times)."""
    import psutil

    postmaster = psutil.Process(int((data_dir / "postmaster.pid").read_text().split()[0]))
    processes = [postmaster, *postmaster.children()]
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


def run_child(path: Path, fmt: str, database_url: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "bench.import_bench", "--child", fmt, str(path), database_url],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--memory-rows", type=int, default=100_000, help="rows of the peak-memory file (0: skip)")
    parser.add_argument("--formats", default=",".join(IMPORTED_AS))
    parser.add_argument("--child", nargs=3, metavar=("FORMAT", "FILE", "DATABASE_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fmt, path, url = args.child
        print(json.dumps(asyncio.run(import_once(Path(path), fmt, url)), ensure_ascii=False))
        return

    from shared.infra import EmbeddedPostgres

    print(f"machine: {describe()}")
    work = Path(tempfile.mkdtemp(prefix="import-bench-"))
    postgres = EmbeddedPostgres(work / "pg").start()
    try:
        runs = [(fmt, args.rows) for fmt in args.formats.split(",")]
        if args.memory_rows:
            runs += [(fmt, args.memory_rows) for fmt in args.formats.split(",")]
        for fmt, rows in runs:
            path = work / f"items-{rows}.{fmt}.{IMPORTED_AS[fmt]}"
            started = time.perf_counter()
            write_file(path, fmt, rows)
            size_mb = path.stat().st_size / 1024 / 1024
            generated = time.perf_counter() - started
            database = f"bench_{uuid.uuid4().hex[:8]}"
            postgres.create_database(database)
            pg_before = postgres_cpu_seconds(postgres.data_dir)
            result = run_child(path, IMPORTED_AS[fmt], postgres.url(database))
            pg_cpu = postgres_cpu_seconds(postgres.data_dir) - pg_before
            job = result["job"]
            assert job["status"] == "completed" and job["created"] == rows, job
            print(f"{fmt:>6} {rows:>7,} rows ({size_mb:6.1f} MB, generated in {generated:5.1f}s): "
                  f"imported in {result['seconds']:6.1f}s = {rows / result['seconds']:7,.0f} rows/s, "
                  f"peak RSS {result['peak_rss_mb']:4.0f} MB + reader process {result['reader_peak_rss_mb']:3.0f} MB; "
                  f"CPU per row: job {result['job_cpu_s'] / rows * 1e6:4.0f} µs, reader "
                  f"{result['reader_cpu_s'] / rows * 1e6:4.0f} µs, PostgreSQL {pg_cpu / rows * 1e6:4.0f} µs",
                  flush=True)
    finally:
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)  # the files and the cluster: gigabytes per run


if __name__ == "__main__":
    main()
