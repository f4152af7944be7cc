"""The checks every route makes before its own code (shared/http.py): NUL characters, JSON bodies, media types, the
ranges of integers and times. The same checks against the running services: tests/integration/test_bad_input.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.errors import JsonTooDeepError, MalformedJsonError, NulCharacterError
from shared.http import MAX_JSON_DEPTH, UtcDatetime, is_json_media_type, parse_json_body, refuse_nul_in_url


@pytest.mark.parametrize("body", [b'{"a": "\\u0000"}', b'{"a\\u0000": 1}', b'["x\\\\\\u0000"]', b'{"a": "\x00"}'])
def test_a_nul_in_a_json_body_raw_or_escaped_is_refused(body: bytes) -> None:
    with pytest.raises(NulCharacterError):
        parse_json_body(body)


@pytest.mark.parametrize(("body", "value"), [
    (b'{"a": "\\\\u0000"}', {"a": "\\u0000"}),  # an escaped backslash, then the text u0000
    (b'{"a": "\\\\\\\\u0000"}', {"a": "\\\\u0000"}),
    (b'{"a": "u0000 \\u00e9"}', {"a": "u0000 é"}),
])
def test_the_text_of_an_escape_is_no_nul(body: bytes, value: Any) -> None:
    assert parse_json_body(body) == value


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
def test_json_nested_deeper_than_the_limit_is_refused_without_recursing(depth: int) -> None:
    with pytest.raises(JsonTooDeepError):
        parse_json_body(b"[" * depth + b"]" * depth)


def test_json_as_deep_as_the_limit_is_read() -> None:
    body = b'{"a": ' * (MAX_JSON_DEPTH - 1) + b"[]" + b"}" * (MAX_JSON_DEPTH - 1)
    assert parse_json_body(body) is not None


@pytest.mark.parametrize("body", [b"", b'{"a": ', b"{'a': 1}", b'{"a": NaN}', b'"\\ud800"', b"\xff{}"])
def test_text_that_is_not_json_is_refused_with_a_chinese_reason(body: bytes) -> None:
    with pytest.raises(MalformedJsonError) as refused:
        parse_json_body(body)
    assert "行" in refused.value.context["reason"] or refused.value.context["reason"] == "请求体为空"


@pytest.mark.parametrize(("path", "query", "headers"), [
    ("/items/a\x00b", b"", []), ("/items", b"q=%00", []), ("/items", b"q=\x00", []),
    ("/items", b"", [(b"idempotency-key", b"a\x00")]),
])
def test_a_nul_in_the_path_query_or_a_header_is_refused(path: str, query: bytes,
                                                         headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(NulCharacterError):
        refuse_nul_in_url({"path": path, "query_string": query, "headers": headers})


def test_a_percent_sign_before_00_that_is_itself_escaped_is_no_nul() -> None:
    refuse_nul_in_url({"path": "/items/100%", "query_string": b"q=%2500&r=100"})


@pytest.mark.parametrize(("content_type", "json"), [
    ("application/json", True), ("Application/JSON; charset=utf-8", True), ("application/merge-patch+json", True),
    ("text/plain", False), ("application/xml", False), ("text/json", False), ("application/jsonx", False),
])
def test_json_media_types(content_type: str, json: bool) -> None:
    assert is_json_media_type(content_type) is json


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_time_that_does_not_convert_to_utc_is_a_validation_error(text: str) -> None:
    with pytest.raises(ValidationError, match="UTC"):
        TypeAdapter(UtcDatetime).validate_python(text)


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-14:00", "2026-03-02T09:00:00"])
def test_a_time_that_converts_to_utc_is_kept_as_given(text: str) -> None:
    assert TypeAdapter(UtcDatetime).validate_python(text) == datetime.fromisoformat(text)
