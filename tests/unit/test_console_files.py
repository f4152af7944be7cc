"""The operators' console as the sync gateway serves it (issue 14): at /console/, reached from / and /console, with
sensible cache headers, a Chinese install page (not a 500) when the vendor files are missing, and no reference to
any other host in anything it serves (government networks are often closed: no CDN, no web font)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from shared.auth import ROLE_LABELS

from sync_gateway.adapters.console_frontend_http import default_console_directory
from sync_gateway.bootstrap import create_app
from sync_gateway.config import SyncSettings

SITE = default_console_directory()
VENDOR = SITE / "vendor"

def client_for(directory: Path) -> TestClient:
    # No `with`: the lifespan (database, broker) is not started; static files and redirects do not need it.
    return TestClient(create_app(SyncSettings(console_dir=directory)), follow_redirects=False)


def test_root_and_console_without_slash_redirect_to_the_console() -> None:
    client = client_for(SITE)
    for path in ("/", "/console"):
        response = client.get(path)
        assert response.status_code == 307, path
        assert response.headers["location"] == "console/"  # relative: ok behind a path-prefix proxy too


def test_console_answers_its_page_in_chinese_revalidated_and_vendor_files_long_cached() -> None:
    client = client_for(SITE)
    page = client.get("/console/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "运维控制台" in page.text
    assert page.headers["cache-control"] == "no-cache"
    assert client.get("/console/js/main.js").headers["cache-control"] == "no-cache"
    vendor = client.get("/console/vendor/vue.global.prod.js")
    assert vendor.status_code == 200
    assert "max-age=86400" in vendor.headers["cache-control"]
    assert client.get("/console/js/nothing-here.js").status_code == 404


def test_console_without_vendor_files_answers_a_chinese_install_page_not_a_500(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(SITE, site, ignore=shutil.ignore_patterns("vendor"))
    response = client_for(site).get("/console/")
    assert response.status_code == 503
    assert "运维控制台尚未安装" in response.text
    assert "make install" in response.text


# A URL to another host in a served file. XML namespace names (never fetched: they only name SVG/MathML) are not
# references to a host.
URL = re.compile(r"https?://[^\s\"'`)<>]+")
NAMESPACES = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink", "http://www.w3.org/1998/Math/MathML",
              "http://www.w3.org/2000/xmlns/", "http://www.w3.org/XML/1998/namespace")
# What the vendors' minified builds unavoidably carry, none of it ever requested: the text of developer warnings
# (a link to the package's documentation, printed to the console) and licence headers.
VENDOR_TEXT = {
    "vue.global.prod.js": ("https://vuejs.org/error-reference/",),
    "element-plus.full.min.js": ("https://element-plus.org/", "https://github.com/vuejs/vue-next/pull/2485"),
    "echarts.min.js": ("http://www.apache.org/licenses/LICENSE-2.0", "https://github.com/ecomfe/zrender/blob/"),
}


def off_host_references(site: Path) -> list[str]:
    found = []
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        if path.name.endswith("LICENSE.txt"):  # licence texts name their authors' sites; they are not loaded
            continue
        allowed = NAMESPACES + (VENDOR_TEXT.get(path.name, ()) if path.parent.name == "vendor" else ())
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(site)}: {url}" for url in URL.findall(text)
                  if not url.startswith(allowed) and not re.match(r"https?://(127\.0\.0\.1|localhost)[:/]", url)]
    return found


def test_nothing_the_console_serves_references_another_host() -> None:
    """Our pages and the vendor files `make install` copied (the test needs them: `make test` installs first)."""
    assert (VENDOR / "vue.global.prod.js").is_file(), "vendor files missing: run `make install`"
    assert off_host_references(SITE) == []


def test_the_scan_finds_an_off_host_reference(tmp_path: Path) -> None:
    """The check above can fail: a CDN script or a web font in a page is found."""
    (tmp_path / "index.html").write_text('<script src="https://cdn.example.com/vue.js"></script>')
    (tmp_path / "x.css").write_text("@font-face { src: url(https://fonts.example.net/a.woff2) }")
    assert len(off_host_references(tmp_path)) == 2


def test_the_console_names_every_role_as_shared_auth_does() -> None:
    """The header shows the caller's roles by their Chinese names; the page's table must be the server's."""
    source = (SITE / "js" / "format.js").read_text(encoding="utf-8")
    table = re.search(r"const ROLE_LABELS = \{(.*?)\};", source, flags=re.DOTALL)
    assert table, "format.js lost its ROLE_LABELS"
    assert dict(re.findall(r'(\w+): "([^"]+)"', table.group(1))) == ROLE_LABELS
