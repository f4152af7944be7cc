"""The console's 审计日志 page in headless Chromium against the running suite (issue 18): an auditor sees the reads
made just before, merged from the services, flagged, with every chain intact; other roles get the refusal, not the
data. Its own module: the suite starts once for it."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from shixiang.client import SuiteClient
from shixiang.suite import Suite
from tests.browser.conftest import screenshot
from tests.browser.test_console import WAIT_MS, console_url, sign_in, signed_in

pytestmark = pytest.mark.e2e


async def test_an_auditor_sees_the_reads_made_just_before_with_their_flags_and_every_chain_intact(
        suite: Suite, client: SuiteClient, page: Page) -> None:
    await client.call("GET", "registry", "/registry/v1/exports/items.csv", user="admin")  # export, many provinces
    await client.call("GET", "lifecycle", "/lifecycle/v1/items", user="entry-gz", params={"region": "4401"})
    await client.call("GET", "sync", "/sync/v1/snapshot", user="national")

    await signed_in(page, suite, "auditor", route="audit")
    await expect(page.locator("h2.page-title")).to_contain_text("审计日志", timeout=WAIT_MS)
    await expect(page.locator("[data-test=menu-audit]")).to_be_visible()
    await expect(page.locator("[data-test=menu-overview]")).to_have_count(0)  # an auditor's menu is the audit log
    entries = page.locator("[data-test=audit-entries]")
    await expect(entries).to_contain_text("/registry/v1/exports/items.csv", timeout=WAIT_MS)
    await expect(entries).to_contain_text("/lifecycle/v1/items?region=4401")
    await expect(entries).to_contain_text("/sync/v1/snapshot")
    export_row = entries.locator("tr", has_text="/registry/v1/exports/items.csv").first
    await expect(export_row).to_contain_text("admin")
    await expect(export_row.locator("[data-test=flag-export]")).to_have_text("整表导出")
    await expect(export_row.locator("[data-test=flag-many_regions]")).to_have_text("跨省读取")
    narrowed = entries.locator("tr", has_text="/lifecycle/v1/items?region=4401").first
    await expect(narrowed).to_contain_text("entry-gz")
    await expect(narrowed.locator("[data-test^=flag-]")).to_have_count(0)  # one province: not flagged
    chains = page.locator("[data-test=audit-chains]")
    await expect(chains.locator("text=审计链完整")).to_have_count(4, timeout=WAIT_MS)

    await page.locator("[data-test=audit-subject]").fill("admin")
    await page.locator("[data-test=audit-search]").click()
    await expect(entries.locator("tbody tr").first).to_contain_text("admin", timeout=WAIT_MS)
    await expect(entries).not_to_contain_text("entry-gz")
    await screenshot(page, "audit")


@pytest.mark.parametrize("user", ["operator", "admin"])
async def test_other_roles_get_the_auditor_only_refusal_and_no_audit_data(
        suite: Suite, client: SuiteClient, page: Page, user: str) -> None:
    await client.call("GET", "registry", "/registry/v1/items", user="entry-gz")
    refused = await client.call("GET", "sync", "/sync/v1/console/audit", user=user, expect=403)
    assert refused.json()["code"] == "AUDITOR_REQUIRED"
    await signed_in(page, suite, user)
    await page.goto(console_url(suite, "audit"))
    await expect(page.locator("[data-test=audit-error]")).to_contain_text("审计员", timeout=WAIT_MS)
    await expect(page.locator("[data-test=audit-entries]")).not_to_contain_text("/registry/v1/items")
    await expect(page.locator("[data-test=audit-chains]")).not_to_contain_text("审计链")
    await expect(page.locator("[data-test=menu-audit]")).to_have_count(0)  # not in their menu


async def test_the_auditor_signs_in_through_the_sign_in_screen(suite: Suite, page: Page) -> None:
    await sign_in(page, suite, suite.token("auditor"), route="")
    await expect(page.locator("h2.page-title")).to_contain_text("审计日志", timeout=WAIT_MS)
