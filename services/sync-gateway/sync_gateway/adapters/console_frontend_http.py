"""The operators' console's pages, served by the sync gateway at ``/console/`` (no token needed for the shell: every
data call the pages make carries the operator's token and is checked by its own route).

The files live in ``services/sync-gateway/console/site`` (our pages: plain ES modules, no build step) and its
``vendor/`` folder (Vue, Element Plus, ECharts: copied from npm by ``make install``; the image carries them, see
the Dockerfile's console stage). Nothing is loaded from anywhere else: government networks are often closed."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

CONSOLE_URL = "/console"
# One file every page needs from the vendor folder: if it is absent the npm step has not been run.
VENDOR_PROBE = Path("vendor") / "vue.global.prod.js"

# Vendor files are the packages' pinned releases: cached for a day (an upgrade is seen by the next day at the
# latest). Our own pages are revalidated on every load (ETag → 304), so an edit shows on the next reload.
VENDOR_CACHE = "public, max-age=86400"
OWN_CACHE = "no-cache"

NOT_INSTALLED_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>运维控制台尚未安装</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.7">
<h1>运维控制台尚未安装</h1>
<p>控制台的第三方前端文件（Vue、Element Plus、ECharts）还没有复制到 <code>{vendor}</code>。</p>
<p>在项目根目录运行 <code>make install</code>（即在 <code>services/sync-gateway/console</code> 中执行
<code>npm ci</code> 与 <code>npm run vendor</code>），然后刷新本页。生产镜像在构建时已完成这一步。</p>
<p>The console's vendor files are missing: run <code>make install</code>, then reload.</p>
</body></html>
"""


def default_console_directory() -> Path:
    """The console in the source tree (``make dev``, tests); the image sets ``SHIXIANG_CONSOLE_DIR`` instead."""
    return Path(__file__).resolve().parents[2] / "console" / "site"


class ConsoleFiles(StaticFiles):
    """StaticFiles (``html=True``: ``/console/`` answers ``index.html``) with the console's cache headers, and a
    Chinese page saying how to install the vendor files when they are missing (a 503, never a 500)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self.root = directory

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not (self.root / VENDOR_PROBE).is_file():
            return HTMLResponse(NOT_INSTALLED_PAGE.format(vendor=self.root / "vendor"), status_code=503,
                                headers={"Cache-Control": "no-store"})
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = VENDOR_CACHE if path.startswith("vendor/") else OWN_CACHE
        return response


def mount_console(app: FastAPI, directory: Path) -> None:
    """``/console/`` serves the pages; ``/console`` and ``/`` redirect there (the suite's outward face)."""

    async def to_console() -> RedirectResponse:
        # Relative, so that it also holds behind a proxy that serves the gateway under a path prefix: from ``/`` and
        # from ``/console`` alike, ``console/`` resolves to ``…/console/``.
        return RedirectResponse("console/", status_code=307)

    app.add_api_route("/", to_console, methods=["GET"], include_in_schema=False)
    app.add_api_route(CONSOLE_URL, to_console, methods=["GET"], include_in_schema=False)
    app.mount(f"{CONSOLE_URL}/", ConsoleFiles(directory), name="console")
