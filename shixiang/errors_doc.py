"""``docs/errors.md``: every error a client can meet, generated from the services' error tables (``python -m
shixiang.errors_doc`` writes it; tests/unit/test_error_tables.py checks that the file in the repository is what this
renders, so it never drifts from the tables). It lives here, beside the other tools that know every service, because
``shared/`` knows none of them."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from shared.errors import COMMON_ERRORS, DomainError, ErrorSpec, ErrorTable
from shared.http import FRAMEWORK_ERRORS, MAX_JSON_DEPTH, OUTAGE

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
# package → its section title (the order of the README's table of services)
SERVICES = {"registry": "registry（事项登记）", "coding": "coding（事项编码）", "lifecycle": "lifecycle（生命周期）",
            "sync_gateway": "sync-gateway（国家平台同步）"}
FRAMEWORK_WHEN = {
    404: "No route has this path (an unknown resource on a known path is the service's own NOT_FOUND or *_NOT_FOUND).",
    405: "The path exists but not with this method; the `Allow` header lists the methods it takes.",
}
OUTAGE_WHEN = ("The service's database (or other infrastructure) cannot be reached for the moment — down, starting "
               "up, a connection lost — and the request was cut short. Send it again after `Retry-After` seconds (a "
               "connection lost as it committed may have applied it: the retry then meets the new state, e.g. 409 "
               "`ILLEGAL_TRANSITION` naming the current step).")


def render() -> str:
    out = [
        "# Errors a client can meet",
        "",
        ("Generated from the error tables (`shared/errors.py`, each service's `errors.py`) by "
         "`python -m shixiang.errors_doc`; do not edit by hand (`tests/unit/test_error_tables.py` fails when this file "
         "and the tables differ)."),
        "",
        ("Every error answers JSON `{\"code\", \"message\", \"details\"}`: `code` is stable (UPPER_SNAKE; switch on "
         "it), `message` is Chinese, its `{…}` filled from `details` (null for the framework's own 404 and 405 and for "
         "503 `TEMPORARILY_UNAVAILABLE`). A 500 is always a bug, never a documented answer; a 503 says a part "
         "the service needs cannot be reached for the moment: retry. Each route's OpenAPI document lists the codes "
         "it can answer under each status."),
        "",
        "## Every service",
        "",
        ("Checked before a route's own code runs (`shared/http.py`: `ServiceRoute`): a NUL character (U+0000) "
         "anywhere in the path, query, headers or JSON body; on a route that takes JSON, a non-empty body sent as "
         "anything but `application/json` or `application/*+json`, text that is not JSON (syntax, invalid UTF-8, "
         f"a lone surrogate, NaN) and nesting deeper than {MAX_JSON_DEPTH} levels. Parameters beyond their declared "
         "ranges (integers beyond the database's columns, times that do not convert to UTC) are "
         "`VALIDATION_FAILED`, `details.problems` naming each field with a Chinese message."),
        "",
        *_table([(spec, _when(error)) for error, spec in COMMON_ERRORS.items()]
                + [(FRAMEWORK_ERRORS[status], FRAMEWORK_WHEN[status]) for status in sorted(FRAMEWORK_ERRORS)]
                + [(OUTAGE, OUTAGE_WHEN)]),
    ]
    for package, title in SERVICES.items():
        table: ErrorTable = importlib.import_module(f"{package}.errors").ERRORS
        own = [(spec, _when(error)) for error, spec in table.items() if error not in COMMON_ERRORS]
        out += ["", f"## {title}", "", *_table(own)]
    problems = importlib.import_module("registry.domain.problems").PROBLEM_CODES
    out += ["", "### registry: the codes of `details.problems` (ELEMENTS_INVALID, import rows)", "",
            ("Each problem is `{field, code, message}`: `field` the element's path (`legal_basis[2].rank`), "
             "`message` Chinese, naming the element by its Chinese name."), "",
            "| code | meaning |", "|---|---|", *[f"| `{code}` | {meaning} |" for code, meaning in problems.items()]]
    return "\n".join(out).rstrip() + "\n"


def _table(rows: list[tuple[ErrorSpec, str]]) -> list[str]:
    lines = ["| status | code | message (template) | when |", "|---|---|---|---|"]
    for spec, when in sorted(rows, key=lambda row: (row[0].status, row[0].code)):
        if spec.status != 500:  # a 500 is a bug, never an answer to document
            lines.append(f"| {spec.status} | `{spec.code}` | {_cell(spec.message)} | {_cell(when)} |")
    return lines


def _when(error: type[DomainError]) -> str:
    return " ".join((error.__doc__ or "").split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    DOCUMENT.write_text(render(), encoding="utf-8")
    print(f"wrote {DOCUMENT}", file=sys.stderr)
