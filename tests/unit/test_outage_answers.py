"""A request cut short by an outage (the database down, starting up, or a connection lost: what bench/chaos.py's
PostgreSQL crash does) is answered 503 TEMPORARILY_UNAVAILABLE with Retry-After, which a client retries; any other
error stays the 500 of a bug. (The whole suite under a crashed PostgreSQL: tests/e2e/test_chaos.py.)"""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError, IntegrityError

from shared.http import OUTAGE, answer_outages


class _LostConnection(Exception):
    pass


def _connection_lost() -> DBAPIError:
    return DBAPIError("SELECT 1", None, _LostConnection("connection was closed in the middle of operation"),
                      connection_invalidated=True)


def _wrapped(inner: BaseException) -> RuntimeError:
    try:
        raise RuntimeError("the use case failed") from inner
    except RuntimeError as exc:
        return exc


OUTAGES: dict[str, BaseException] = {
    "socket missing (server down)": FileNotFoundError(2, "No such file or directory"),
    "connection refused": ConnectionRefusedError(111, "Connection refused"),
    "server starting up": asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    "pooled connection lost": _connection_lost(),
}
BUGS: dict[str, BaseException] = {
    "a constraint": IntegrityError("INSERT", None, _LostConnection("duplicate key")),
    "a plain error": ValueError("a bug"),
    "an outage's class, not an outage": asyncpg.exceptions.UniqueViolationError("duplicate key"),
}


def app_raising(exc: BaseException) -> httpx.AsyncClient:
    app = FastAPI()
    answer_outages(app)

    @app.get("/thing")
    async def thing() -> None:
        raise exc

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://service")


@pytest.mark.parametrize("name", OUTAGES)
async def test_an_outage_is_answered_503_with_retry_after_and_a_json_body(name: str) -> None:
    async with app_raising(OUTAGES[name]) as http:
        response = await http.get("/thing")
    assert (response.status_code, response.headers["Retry-After"]) == (503, "1")
    assert response.json() == {"code": "TEMPORARILY_UNAVAILABLE", "message": OUTAGE.message, "details": None}


@pytest.mark.parametrize("name", BUGS)
async def test_any_other_error_stays_a_500(name: str) -> None:
    async with app_raising(BUGS[name]) as http:
        response = await http.get("/thing")
    assert response.status_code == 500 and "Retry-After" not in response.headers
