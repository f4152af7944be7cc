"""The README's screenshots of the operators' console (docs/console/*.png), taken from the running development suite
after ``shixiang demo`` has filled it:

    make dev                                     # in one terminal
    .venv/bin/shixiang demo                      # in another: the sample catalogue
    .venv/bin/python -m tests.browser.readme_screenshots

Signs in as a nationwide operator through the sign-in page, as a person would, and saves each page at 1440×900."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import async_playwright

from shared.auth import ALL_REGIONS
from shixiang.dev_issuer import minter_for
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "console"


async def main(manifest: dict[str, Any]) -> int:
    token = minter_for(manifest["registry"]["env"])("operator", ["operator"], [ALL_REGIONS])
    sync = manifest["sync"]["url"]
    async with httpx.AsyncClient(base_url=sync, headers={"Authorization": f"Bearer {token}"}) as http:
        found = (await http.get("/sync/v1/console/items", params={"q": "户口迁移审批"})).json()["items"]
    maintained = next(i for i in found if i["region_code"] == "440103")  # shixiang demo revised this one
    pages = {"overview": "overview", "quality": "quality", "events": "events", "pipeline": "pipeline",
             "item": f"items/{maintained['item_id']}"}
    OUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await (await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")).new_page()
        await page.goto(f"{sync}/console/")
        await page.locator("textarea").fill(token)
        await page.get_by_role("button", name="登录").click()
        for name, route in pages.items():
            await page.goto(f"{sync}/console/#/{route}")
            # The data, then the charts' entry animation (no "network idle" to wait for: the live page keeps its stream
            # open).
            await page.wait_for_timeout(2500)
            await page.screenshot(path=str(OUT / f"{name}.png"))
            sys.stdout.write(f"{OUT / name}.png\n")
        await browser.close()
    return 0


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".dev" / "suite.json"
    sys.exit(asyncio.run(main(json.loads(path.read_text()))))
