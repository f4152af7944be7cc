"""Which of the three formats an upload is: xlsx, csv (UTF-8 or GB18030, what Excel on a Chinese Windows saves as
"CSV") or ndjson."""

from __future__ import annotations

from pathlib import Path

from registry.domain.errors import UnsupportedFormatError

XLSX, CSV, NDJSON = "xlsx", "csv", "ndjson"
FORMATS = (XLSX, CSV, NDJSON)
SHEET = "事项清单"
_CONTENT_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": XLSX,
    "text/csv": CSV, "application/csv": CSV,
    "application/x-ndjson": NDJSON, "application/ndjson": NDJSON, "application/jsonl": NDJSON,
}
# Types that say nothing about the content (curl's default, browsers' fallback): the name and the bytes decide.
_GENERIC_TYPES = ("", "application/octet-stream", "text/plain", "application/x-www-form-urlencoded")


def part_type_hint(content_type: str | None) -> str | None:
    """A form part's content type, if it names one of the formats. Browsers label a part by what the desktop
    thinks of its file name (Windows with Excel: ``application/vnd.ms-excel`` for a .csv), so any other type is no
    hint and leaves the format to the file name and the bytes."""
    media = (content_type or "").split(";")[0].strip().lower()
    return content_type if media in _CONTENT_TYPES else None


def detect_format(head: bytes, *, declared: str | None, content_type: str | None, filename: str | None) -> str:
    """The caller's word first (``format``), then the content type, the file name, and finally the bytes."""
    if declared:
        if declared not in FORMATS:
            raise UnsupportedFormatError(format=declared)
        return declared
    media = (content_type or "").split(";")[0].strip().lower()
    if media in _CONTENT_TYPES:
        return _CONTENT_TYPES[media]
    if media not in _GENERIC_TYPES:
        raise UnsupportedFormatError(format=media)
    suffix = Path(filename or "").suffix.lower().lstrip(".")
    if suffix in FORMATS or suffix == "jsonl":
        return NDJSON if suffix == "jsonl" else suffix
    if head.startswith(b"PK\x03\x04"):
        return XLSX
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return NDJSON
    if head:
        return CSV
    raise UnsupportedFormatError(format=media or suffix or "?")
