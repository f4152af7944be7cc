"""``shixiang import FILE``: upload an item list to the registry's HTTP API and follow the job with a progress bar.

It speaks only the public API (``POST /registry/v1/imports``, ``GET /registry/v1/imports/{job}``). The registry URL
comes from ``--url``, ``SHIXIANG_REGISTRY_URL`` or the running development suite's manifest; the bearer token from
``--token`` or ``SHIXIANG_TOKEN`` (``shixiang token --sub NAME --roles entry --regions 4401`` mints one), and against
the development suite, when neither is given, a development token of the entry role for every region, minted with
the suite's development secret (from its manifest) as ``shixiang token`` does: ``shixiang import FILE`` needs nothing
more there."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx

from shared.auth import ALL_REGIONS
from shixiang.dev_issuer import minter_for

CONTENT_TYPES = {".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".csv": "text/csv",
                 ".ndjson": "application/x-ndjson", ".jsonl": "application/x-ndjson"}
BAR_WIDTH = 30
#: Who imports against the development suite when no token is given.
DEV_IMPORTER = "dev-importer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="xlsx, csv (UTF-8 or GB18030) or ndjson item list")
    parser.add_argument("--url", help="registry base URL (default: SHIXIANG_REGISTRY_URL or the dev suite)")
    parser.add_argument("--token", help="bearer token (default: SHIXIANG_TOKEN, or against the dev suite a "
                                             "development token of the entry role)")
    parser.add_argument("--format", choices=("xlsx", "csv", "ndjson"), help="override format detection")
    parser.add_argument("--errors", type=int, default=20, help="row errors to print at the end (default 20)")


def run(args: argparse.Namespace, *, manifest: Path, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Exit code 0: every row imported; 1: some rows reported; 2: the file was refused or the job failed."""
    try:
        url, token = resolve_target(args.url, args.token, manifest)
    except ConnectionError as exc:  # the dev suite's issuer did not answer
        print(str(exc), file=err)
        return 2
    if not url or not token:
        print("需要 --url 和 --token（或 SHIXIANG_REGISTRY_URL、SHIXIANG_TOKEN 环境变量），"
              "或先用 make dev 启动开发环境", file=err)
        return 2
    if not (args.token or os.environ.get("SHIXIANG_TOKEN")):
        print(f"使用开发环境令牌：{DEV_IMPORTER}（录入，全部区划）", file=err)
    headers = {"Authorization": f"Bearer {token}",
               "Content-Type": CONTENT_TYPES.get(args.file.suffix.lower(), "application/octet-stream")}
    params = {"filename": args.file.name, **({"format": args.format} if args.format else {})}
    with httpx.Client(base_url=url.rstrip("/"), timeout=600) as http:
        response = http.post("/registry/v1/imports", params=params, headers=headers, content=_chunks(args.file))
        if response.status_code != 202:
            print(f"导入被拒绝（HTTP {response.status_code}）：{_message(response)}", file=err)
            return 2
        job = response.json()
        while job["status"] in ("queued", "running"):
            _draw(job, err)
            time.sleep(0.3)
            job = http.get(f"/registry/v1/imports/{job['job_id']}", headers=headers).json()
    _draw(job, err)
    print(file=err)
    return report(job, out, errors=args.errors)


def report(job: dict[str, Any], out: TextIO, *, errors: int) -> int:
    print(f"导入任务 {job['job_id']}：{job['status_label']}", file=out)
    if job["status"] != "completed":
        print(f"原因：{job.get('error') or '未知'}", file=out)
        return 2
    print(f"共 {job['rows_processed']} 行：新建 {job['created']}，更新 {job['revised']}，未变 {job['unchanged']}，"
          f"有误 {job['failed']}", file=out)
    for e in job["errors"][:errors]:
        print(f"  第 {e['row']} 行  {e['column'] or '-'}  {e['code']}  {e['message']}", file=out)
    if job["errors_total"] > errors:
        print(f"  …… 另有 {job['errors_total'] - errors} 处问题（GET /registry/v1/imports/{job['job_id']}）", file=out)
    return 1 if job["failed"] or job["errors_total"] else 0


def _draw(job: dict[str, Any], err: TextIO) -> None:
    done = int(BAR_WIDTH * job["progress"])
    rows = f"{job['rows_processed']:,}" + (f"/{job['rows_total']:,}" if job.get("rows_total") else "")
    print(f"\r{job['status_label'][:6]} [{'█' * done}{'░' * (BAR_WIDTH - done)}] {job['progress']:6.1%}  {rows} 行  "
          f"新建 {job['created']:,}  有误 {job['failed']:,}", end="", file=err, flush=True)


def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as f:
        while piece := f.read(size):
            yield piece


def resolve_target(url: str | None, token: str | None, manifest: Path) -> tuple[str | None, str | None]:
    """The registry URL and bearer token: the options, else ``SHIXIANG_REGISTRY_URL`` / ``SHIXIANG_TOKEN``, else
    the running development suite's (its manifest names the URL; a token comes from its development issuer — or,
    for a suite without one, is signed with its development secret — only when the registry to reach is that
    suite's and it runs in development)."""
    registry = _manifest_registry(manifest)
    dev_url = registry.get("url")
    url = url or os.environ.get("SHIXIANG_REGISTRY_URL") or dev_url
    token = token or os.environ.get("SHIXIANG_TOKEN")
    env = registry.get("env", {})
    at_dev_suite = url is not None and dev_url is not None and url.rstrip("/") == dev_url.rstrip("/")
    if token is None and at_dev_suite and env.get("SHIXIANG_ENVIRONMENT") == "development":
        token = minter_for(env)(DEV_IMPORTER, ["entry"], [ALL_REGIONS])
    return url, token


def _manifest_registry(manifest: Path) -> dict[str, Any]:
    if not manifest.exists():
        return {}
    registry: dict[str, Any] = json.loads(manifest.read_text()).get("registry", {})
    return registry


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message"))
    except ValueError:
        return response.text[:200]
