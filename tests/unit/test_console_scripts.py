"""The console's pure script parts, run in Node.js (the machine's, as `make install` needs it): the SSE parser the
live page reads the stream with, and the overview's drill-down step. No browser: the browser tests drive the rest."""

from __future__ import annotations

import json
import shutil
import subprocess

from sync_gateway.adapters.console_frontend_http import default_console_directory

JS = default_console_directory() / "js"


def run_node(script: str) -> object:
    node = shutil.which("node")
    assert node, "Node.js is needed (`make install` uses it too)"
    done = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60,
                          check=False, cwd=JS)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_sse_parser_joins_messages_split_across_chunks_and_skips_keepalives() -> None:
    chunks = [": keepalive\n\n", "id: 7\nevent: ev", 'ents\ndata: [{"position": 7}]\n', "\nid: 9\r\nevent: events\r\n",
              "data: [1,\r\ndata: 2]\r\n\r\n", "id: 10\ndata: [3]"]  # the last message is not complete yet
    out = run_node(f"""
        import {{ sseParser }} from "{(JS / 'sse.js').as_uri()}";
        const parser = sseParser();
        const got = [];
        for (const chunk of {json.dumps(chunks)}) got.push(...parser.feed(chunk));
        console.log(JSON.stringify(got));""")
    assert out == [{"id": "7", "event": "events", "data": '[{"position": 7}]'},
                   {"id": "9", "event": "events", "data": "[1,\n2]"}]


def test_the_overview_drills_province_to_city_to_county_and_no_further() -> None:
    out = run_node(f"""
        globalThis.Vue = {{}};  // the page module reads Vue's functions at load; drillPrefix needs none of them
        const {{ drillPrefix }} = await import("{(JS / 'pages' / 'overview.js').as_uri()}");
        console.log(JSON.stringify(["440000", "440100", "440115", "44", "4401"].map(drillPrefix)));""")
    assert out == ["44", "4401", None, "44", "4401"]
