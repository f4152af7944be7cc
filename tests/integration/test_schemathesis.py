"""Schemathesis against the four services' OpenAPI documents: every operation with data that fits its schema and
data that does not, as an administrator, an entry user, a national consumer and nobody; then the registry's
create → read → revise chain followed through the OpenAPI links, stateful. Asserted on every response: no 5xx, a
documented status and content type, a body valid against its documented schema, and every 4xx body carrying a stable
``code`` and a Chinese ``message``.

The apps run in-process (ASGI) on the real PostgreSQL and broker, relays and consumers running, so an item the
registry creates reaches the lifecycle, coding and sync services as in production. Schemathesis drives Hypothesis
synchronously: it runs in a worker thread and each request is sent on the test's event loop (where the apps' database
pools live). The budget is fixed (examples per operation, derandomized, no shrinking): the same cases every run."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.generation.stateful.state_machine import APIStateMachine
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.auth import ALL_REGIONS, mint_token
from shared.infra import EmbeddedBroker, EmbeddedPostgres
from shared.settings import DEVELOPMENT_JWT_SECRET
from tests.integration.conftest import InProcessService, services_in_process
from tests.integration.test_registry_helpers import RegistryClient

from registry.adapters.schemas import EXAMPLE

# Schemathesis' strategies use the random module, which Hypothesis seeds for every example (so runs stay
# reproducible), and warns about.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
CHINESE = re.compile("[\u4e00-\u9fff]")
STABLE_CODE = re.compile("[A-Z][A-Z0-9]*(_[A-Z0-9]+)*")
TOKENS: list[str | None] = [
    mint_token(DEVELOPMENT_JWT_SECRET, subject="admin", roles=["admin"], regions=[ALL_REGIONS]),
    mint_token(DEVELOPMENT_JWT_SECRET, subject="entry-gz", roles=["entry"], regions=["4401"]),
    mint_token(DEVELOPMENT_JWT_SECRET, subject="national", roles=["national"], regions=[ALL_REGIONS]),
    None,  # no Authorization header
]
EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 12}  # per operation
BUDGET = hypothesis.settings(
    database=None, derandomize=True, deadline=None, suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])  # no shrinking: a failure is reported as found
# /readyz answers 503 while a consumer partition is stuck: its meaning, not a server error (and not an input).
# The console's live event stream never ends while its caller reads (an in-process request would wait for ever); its
# answers, refusals included, are tested in tests/integration/test_operations_stream.py.
NOT_FUZZED = {"GET /readyz", "GET /sync/v1/stream"}


def error_body_has_a_code_and_a_chinese_message(ctx: Any, response: Any, case: Case) -> bool | None:
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    assert isinstance(body, dict), f"a {response.status_code} body is not an object: {response.text[:200]}"
    assert isinstance(body.get("code"), str) and STABLE_CODE.fullmatch(body["code"]), f"no stable code: {body}"
    assert isinstance(body.get("message"), str) and CHINESE.search(body["message"]), f"no Chinese message: {body}"
    return True


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, error_body_has_a_code_and_a_chinese_message]


@pytest.fixture(scope="module")
async def suite(postgres: EmbeddedPostgres, broker: EmbeddedBroker) -> AsyncIterator[dict[str, InProcessService]]:
    async with services_in_process(postgres, broker, f"t{uuid.uuid4().hex[:10]}",
                                   roles="api,relay,consume") as services:
        yield services


class Bridge:
    """Sends a case to its app on the event loop the apps live on, from the thread Hypothesis runs in."""

    def __init__(self, service: InProcessService, loop: asyncio.AbstractEventLoop) -> None:
        self.service = service
        self.loop = loop

    def send(self, case: Case, token: str | None) -> Response:
        tame(case)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        sent = case.as_transport_kwargs(base_url=f"http://{self.service.name}", headers=headers)
        body: dict[str, Any] = {}
        if "json" in sent:
            body["json"] = sent["json"]
        elif isinstance(sent.get("data"), (bytes, str)):
            body["content"] = sent["data"]
        elif "data" in sent:
            body["data"] = sent["data"]
        if sent.get("files"):
            body["files"] = sendable_files(sent["files"])
        request = self.service.http.build_request(sent["method"], sent["url"], params=sent.get("params"),
                                                  headers=sent["headers"], **body)
        request.read()  # a form's body is a stream: read now, so that the response's record of it can show it
        sending = self.service.http.send(request)
        return Response.from_any(asyncio.run_coroutine_threadsafe(sending, self.loop).result(timeout=120))


def sendable_files(files: Any) -> list[tuple[str, Any]]:
    """A negative case may put a number or an object where a form's file goes; a client would send its text, which
    httpx only does for text or bytes (anything else fails in the client, before the service sees a byte)."""

    def content(value: Any) -> Any:
        return value if isinstance(value, (bytes, str)) or hasattr(value, "read") else str(value).encode()

    parts = files.items() if isinstance(files, dict) else files
    return [(name, (value[0], content(value[1]), *value[2:]) if isinstance(value, tuple) else content(value))
            for name, value in parts]


def tame(case: Case) -> None:
    """Keep the budget: a feed long-poll waits at most a tenth of a second (the wait is the point of it, not input
    to test: any finite wait is served the same way)."""
    if case.operation.path == "/sync/v1/feed" and isinstance(case.query, dict) and "wait" in case.query:
        case.query["wait"] = 0.1


def check(case: Case, response: Response, failures: dict[str, str]) -> None:
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as failure:
        failures.setdefault(f"{case.operation.label} [{response.status_code}]", str(failure)[:3000])


def fuzz(service: InProcessService, loop: asyncio.AbstractEventLoop) -> dict[str, str]:
    """Every operation of the service, each mode with its budget; the first failure of each operation and status."""
    schema = schemathesis.openapi.from_dict(service.app.openapi())
    bridge = Bridge(service, loop)
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in NOT_FUZZED:
            continue
        for mode, examples in EXAMPLES.items():
            run = one_mode(operation.as_strategy(generation_mode=mode), bridge, failures)
            try:
                hypothesis.settings(BUDGET, max_examples=examples)(run)()
            except hypothesis.errors.Unsatisfiable:  # nothing to negate: an operation without parameters or body
                assert mode is GenerationMode.NEGATIVE, operation.label
    return failures


def one_mode(strategy: st.SearchStrategy[Case], bridge: Bridge, failures: dict[str, str]) -> Callable[[], None]:
    @hypothesis.given(case=strategy, token=st.sampled_from(TOKENS))
    def run(case: Case, token: str | None) -> None:
        check(case, bridge.send(case, token), failures)

    return run


@pytest.mark.parametrize("name", ["registry", "coding", "lifecycle", "sync"])
async def test_no_operation_of_a_service_answers_a_server_error_or_breaks_its_schema(
        suite: dict[str, InProcessService], name: str) -> None:
    failures = await asyncio.to_thread(fuzz, suite[name], asyncio.get_running_loop())
    assert not failures, f"{len(failures)} failing operation(s):\n\n" + "\n\n".join(
        f"== {where}\n{what}" for where, what in sorted(failures.items()))


def registry_machine(service: InProcessService, loop: asyncio.AbstractEventLoop, failures: dict[str, str],
                     answered: dict[str, set[int]]) -> type[APIStateMachine]:
    """The registry's state machine over its OpenAPI links, restricted to the item chain, as an administrator. A
    created item starts from the documented example (a new source_ref, name and idempotency key each time) so that
    the chain gets past creation; what follows is generated and linked."""
    schema = schemathesis.openapi.from_dict(service.app.openapi()).include(path_regex="^/registry/v1/items")
    bridge = Bridge(service, loop)
    admin = TOKENS[0]
    counter = iter(range(1_000_000))

    class RegistryItems(schema.as_state_machine()):  # type: ignore[misc]  # a class schemathesis builds at runtime
        def before_call(self, case: Case) -> None:
            if case.operation.label == "POST /registry/v1/items":
                n = next(counter)
                case.body = {**EXAMPLE, "source_ref": f"ST-{n:06d}", "name": f"{EXAMPLE['name']}（{n}）"}
                # A replayed example must get the answer it got the first time (Hypothesis checks that the steps it
                # draws stay the same): a generated Idempotency-Key would turn a replayed 201 into a 200.
                if case.headers and "Idempotency-Key" in case.headers:
                    case.headers["Idempotency-Key"] = f"ST-{n:06d}"

        def call(self, case: Case, **kwargs: Any) -> Response:
            response = bridge.send(case, admin)
            answered.setdefault(case.operation.label, set()).add(response.status_code)
            return response

        def validate_response(self, response: Any, case: Case, additional_checks: Any = None,
                              **kwargs: Any) -> None:
            check(case, response, failures)

    return RegistryItems


async def test_the_registry_item_chain_create_read_revise_holds_its_schema_statefully(api: RegistryClient) -> None:
    """On a registry of its own (api role, a fresh database): its answers depend on the requests alone, so the
    derandomized scenarios are the same every run (Hypothesis replays steps and insists they draw the same)."""
    failures: dict[str, str] = {}
    answered: dict[str, set[int]] = {}
    registry = InProcessService("registry", api.app, api.http)
    machine = registry_machine(registry, asyncio.get_running_loop(), failures, answered)
    settings = hypothesis.settings(BUDGET, max_examples=40, stateful_step_count=10)
    await asyncio.to_thread(machine.run, settings=settings)
    assert not failures, "\n\n".join(f"== {where}\n{what}" for where, what in sorted(failures.items()))
    # The chain was walked, not only started: items were created, read through the link and revised with the ETag.
    assert 201 in answered["POST /registry/v1/items"], answered
    assert 200 in answered["GET /registry/v1/items/{item_id}"], answered
    assert 200 in answered["PUT /registry/v1/items/{item_id}"], answered
