"""Each service's one error table, checked against its code: one hierarchy per service, in ``<pkg>.domain.errors``
under the service's base class; every error the service (or the shared modules it runs) can raise has its own
entry, not the 500 fallback; every message template uses only the context its error is raised with; stable codes
are UPPER_SNAKE and mean one thing.

The code is read, not run: each module's source is parsed and every ``raise X(...)``, ``raise X.of(...)``,
``raise X`` and every construction ``X(...)`` (an error may be returned as a result rather than raised) is resolved
through the module's namespace. Names bound inside functions (local imports, variables) are not resolved: best
effort, but a forgotten table entry of an error the code names is caught."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shared.errors import COMMON_ERRORS, FALLBACK, DomainError, ErrorSpec, ErrorTable
from shared.http import error_responses
from shixiang import errors_doc

# package → the base class of its error hierarchy (in <package>.domain.errors).
SERVICES = {
    "registry": "RegistryError",
    "coding": "CodingError",
    "lifecycle": "LifecycleError",
    "sync_gateway": "SyncError",
}
STABLE_CODE = re.compile("[A-Z][A-Z0-9]*(_[A-Z0-9]+)*")
# A code whose message names the action it is about: one meaning and one status, a message per action (丢弃死信 …,
# 执行“…”, 退回事项 …). Adding a code here is a decision about the API, not a way to make this test pass.
ONE_MEANING_SEVERAL_MESSAGES = {"REASON_REQUIRED"}


@dataclass(frozen=True)
class ErrorSite:
    """Where the code makes an error: ``context`` is the keywords it passes, or None when they cannot be read (a
    bare ``raise X``, ``X.of(...)``, ``**context``)."""

    where: str
    error: type[DomainError]
    context: frozenset[str] | None


def modules_of(package_name: str) -> list[ModuleType]:
    package = importlib.import_module(package_name)
    names = [package_name] + [m.name for m in pkgutil.walk_packages(package.__path__, f"{package_name}.")]
    return [importlib.import_module(name) for name in names]


def domain_error(value: object) -> type[DomainError] | None:
    return value if isinstance(value, type) and issubclass(value, DomainError) else None


def resolve(module: ModuleType, node: ast.expr) -> object:
    """What a name (``X``) or dotted name (``module.X``) means in ``module``'s namespace; None if it cannot tell."""
    if isinstance(node, ast.Name):
        return vars(module).get(node.id)
    if isinstance(node, ast.Attribute):
        owner = resolve(module, node.value)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def error_sites(module: ModuleType) -> Iterator[ErrorSite]:
    source = Path(str(module.__file__)).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        made: ast.expr | None = None
        context: frozenset[str] | None = None
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr == "of":  # X.of(...): its own context
                made = node.func.value
            else:
                made = node.func
                keywords = [k.arg for k in node.keywords]
                if None not in keywords:  # no **context
                    context = frozenset(k for k in keywords if k is not None)
        elif isinstance(node, ast.Raise) and node.exc is not None and not isinstance(node.exc, ast.Call):
            made = node.exc  # raise X
        error = domain_error(resolve(module, made)) if made is not None else None
        if error is not None:
            yield ErrorSite(f"{module.__name__}:{getattr(node, 'lineno', '?')}", error, context)


def sites_of(package_name: str) -> list[ErrorSite]:
    """Every error the service's package and the shared modules make."""
    return [site for name in (package_name, "shared") for module in modules_of(name) for site in error_sites(module)]


def table_of(package_name: str) -> ErrorTable:
    table = importlib.import_module(f"{package_name}.errors").ERRORS
    assert isinstance(table, ErrorTable)
    return table


def template_keys(template: str) -> set[str]:
    return {re.split(r"[.\[]", field)[0] for _, field, _, _ in string.Formatter().parse(template) if field is not None}


services = pytest.mark.parametrize("package_name", list(SERVICES))


# ---- one hierarchy per service -------------------------------------------------------------------------------------
@services
def test_every_domain_error_of_a_service_lives_in_its_domain_errors_under_its_base_class(package_name: str) -> None:
    hierarchy = importlib.import_module(f"{package_name}.domain.errors")
    base = getattr(hierarchy, SERVICES[package_name])
    assert base.__bases__ == (DomainError,), f"{base.__name__} should subclass DomainError directly"
    misplaced = sorted(
        f"{module.__name__}.{value.__name__}"
        for module in modules_of(package_name) for value in vars(module).values()
        if (error := domain_error(value)) is not None and error.__module__ == module.__name__
        and (module is not hierarchy or not issubclass(error, base)))
    assert not misplaced, f"define these in {hierarchy.__name__}, subclassing {base.__name__}: {misplaced}"


@services
def test_every_error_a_service_can_raise_has_its_own_entry_in_its_table(package_name: str) -> None:
    """An unmapped error would answer 500 INTERNAL_ERROR: every error the code makes (and every error of the
    service's hierarchy) must have a spec of its own (or of a base class other than DomainError)."""
    table = table_of(package_name)
    hierarchy = importlib.import_module(f"{package_name}.domain.errors")
    base = getattr(hierarchy, SERVICES[package_name])
    declared = [ErrorSite(hierarchy.__name__, error, None) for value in vars(hierarchy).values()
                if (error := domain_error(value)) is not None and error not in (DomainError, base)]
    unmapped = sorted({f"{site.error.__name__} ({site.where})" for site in [*declared, *sites_of(package_name)]
                       if table.entry_for(site.error) in (None, FALLBACK)})
    assert not unmapped, f"{package_name}.errors.ERRORS has no entry for: {unmapped}"


@services
def test_every_message_template_uses_only_the_context_its_error_is_made_with(package_name: str) -> None:
    table = table_of(package_name)
    wrong = sorted({
        f"{site.where} {site.error.__name__}({', '.join(sorted(site.context))}) lacks {sorted(missing)} for "
        f"“{spec.message}”"
        for site in sites_of(package_name)
        if site.context is not None and (spec := table.entry_for(site.error)) is not None
        and (missing := template_keys(spec.message + "".join(t for _, t in spec.headers)) - site.context)})
    assert not wrong, "\n".join(wrong)


@services
def test_stable_codes_are_upper_snake_and_a_code_means_one_thing_in_a_table(package_name: str) -> None:
    specs = [spec for _, spec in table_of(package_name).items()]
    assert not [s.code for s in specs if not STABLE_CODE.fullmatch(s.code)]
    assert_one_meaning_per_code(table_of(package_name).items())


def test_shared_a_stable_code_means_the_same_in_every_service() -> None:
    """A client reads ``code`` the same whichever service answered: a code shared by two services (or two classes)
    has one status and one message."""
    assert_one_meaning_per_code([entry for name in SERVICES for entry in table_of(name).items()])


def assert_one_meaning_per_code(entries: list[tuple[type[DomainError], ErrorSpec]]) -> None:
    by_code: dict[str, dict[type[DomainError], ErrorSpec]] = {}
    for error, spec in entries:
        by_code.setdefault(spec.code, {})[error] = spec
    for code, specs in by_code.items():
        meanings = {(s.status, None if code in ONE_MEANING_SEVERAL_MESSAGES else s.message) for s in specs.values()}
        assert len(meanings) == 1, f"{code} means {len(meanings)} things: {specs}"


# ---- the shared table and the OpenAPI responses derived from it ----------------------------------------------------
class _ExampleError(DomainError):
    pass


class _OtherExampleError(DomainError):
    pass


@pytest.mark.parametrize("key", [ValueError, "EXAMPLE", DomainError(), object])
def test_shared_error_table_refuses_an_entry_that_is_not_a_domain_error(key: Any) -> None:
    with pytest.raises(TypeError, match="DomainError"):
        ErrorTable({key: ErrorSpec(422, "EXAMPLE", "示例")})


def test_shared_error_table_refuses_an_entry_without_a_spec() -> None:
    not_a_spec: Any = (422, "EXAMPLE", "示例")
    with pytest.raises(TypeError, match="ErrorSpec"):
        ErrorTable({_ExampleError: not_a_spec})


def test_shared_error_table_finds_a_class_or_its_nearest_mapped_base_and_falls_back_to_500() -> None:
    class Child(_ExampleError):
        pass

    table = ErrorTable({_ExampleError: ErrorSpec(409, "EXAMPLE", "示例 {key}")})
    assert table.entry_for(Child) == table.spec_for(Child(key=1)) == ErrorSpec(409, "EXAMPLE", "示例 {key}")
    assert table.entry_for(_OtherExampleError) is None and table.spec_for(_OtherExampleError()) == FALLBACK
    assert table.render(Child(key=1)) == (409, {"code": "EXAMPLE", "message": "示例 1", "details": {"key": 1}})


def test_shared_error_responses_list_every_client_error_code_under_its_status() -> None:
    table = ErrorTable({
        **COMMON_ERRORS,
        _ExampleError: ErrorSpec(409, "EXAMPLE_CONFLICT", "示例冲突 {key}"),
        _OtherExampleError: ErrorSpec(500, "EXAMPLE_BROKEN", "不对外承诺"),
    })
    # Every status asked for (by default those any route may answer; the request checks' 400 and 415 are added by
    # shared.http.ServiceRoute to the routes that make them).
    responses = error_responses(table, statuses=tuple(range(400, 600)))
    statuses = sorted({spec.status for _, spec in table.items() if spec.status < 500})
    assert list(responses) == statuses  # one response per 4xx status, in order; no 5xx
    for error, spec in table.items():
        if spec.status < 500:
            description = responses[spec.status]["description"]
            assert f"- `{spec.code}`：{spec.message}" in description, (error, description)
    assert "EXAMPLE_BROKEN" not in str(responses)


@services
def test_every_client_error_status_of_a_table_is_documented_on_some_route_of_its_service(package_name: str) -> None:
    """A status only some routes answer is added by those routes (error_responses(ERRORS, statuses=…)); one that no
    route documents would surprise every client that meets it."""
    bootstrap = importlib.import_module(f"{package_name}.bootstrap")
    document = bootstrap.create_app(bootstrap.SETTINGS()).openapi()  # builds the app; connects to nothing
    documented = {int(status) for path in document["paths"].values() for operation in path.values()
                  for status in operation.get("responses", {}) if status.isdigit()}
    statuses = {spec.status for _, spec in table_of(package_name).items() if 400 <= spec.status < 500}
    missing = sorted(statuses - documented)
    assert not missing, (f"{package_name}: statuses {missing} of its error table are on no route: add "
                         f"error_responses(ERRORS, statuses=…) to the routes that answer them")


def test_docs_errors_md_is_generated_from_the_current_error_tables() -> None:
    """docs/errors.md (which the README's error section links) lists every code a client can meet, as the tables
    say today."""
    assert errors_doc.DOCUMENT.read_text(encoding="utf-8") == errors_doc.render(), (
        "docs/errors.md is out of date: run python -m shixiang.errors_doc")
    document = errors_doc.DOCUMENT.read_text(encoding="utf-8")
    for package_name in SERVICES:
        assert not [spec.code for spec in table_of(package_name).codes()
                    if spec.status < 500 and f"`{spec.code}`" not in document]
