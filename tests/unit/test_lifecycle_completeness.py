"""A forgotten step fails here, not in production: every lifecycle command, event type, state and error reaches
every place it must (roles, labels, decide, HTTP, evolve, the contracts); errors are checked for every service in
test_error_tables.py. Each failure names what is missing and the file to change. The recipe these tests guard is in
docs/DEVELOPING.md ("A new lifecycle command", "A new lifecycle event type")."""

from __future__ import annotations

import ast
import inspect
from functools import cache
from typing import Any

import pytest

from shared.contracts import MAINTAINABLE_PATHS
from shared.contracts.elements import ITEM, SERVICE_GUIDE
from shared.contracts.events import CONTRACTS, INTERNAL_EVENTS

from lifecycle.bootstrap import create_app
from lifecycle.config import LifecycleSettings
from lifecycle.domain import decide as decide_module
from lifecycle.domain.adjustments import ADJUSTMENT_LABELS, AdjustmentKind
from lifecycle.domain.events import EVENT_LABELS, PUBLIC_EVENTS, EventType
from lifecycle.domain.evolve import APPLIERS
from lifecycle.domain.facts import changed_paths
from lifecycle.domain.planning import PLANNED_ACTION_LABELS, PlannedAction
from lifecycle.domain.vocabulary import (
    ALLOWED,
    COMMAND_LABELS,
    LEGAL_STATES,
    ONLINE_STEP,
    PHASE_LABELS,
    STEP_LABELS,
    SYNC_RESULT_LABELS,
    UPDATE_STAGE_LABELS,
    Command,
    Phase,
    Step,
    SyncResult,
    UpdateStage,
)
from lifecycle.service_layer.roles import COMMAND_ROLES

PKG = "services/lifecycle/lifecycle"
VOCABULARY = f"{PKG}/domain/vocabulary.py"

# Commands that ``decide`` does not handle because something else decides them (none today). A command listed here
# must say which module decides it instead.
DECIDED_ELSEWHERE: dict[Command, str] = {}
# Commands no user gives over HTTP (none today: the scheduler and the consumers decide facts, not commands).
NOT_USER_FACING: frozenset[Command] = frozenset()

EVENT_TYPES = sorted(v for k, v in vars(EventType).items() if k.isupper() and isinstance(v, str))
COMMAND_ROUTE = "/lifecycle/v1/items/{item_id}/commands/{command}"


def _name(value: Any) -> str:
    return f"{type(value).__name__}.{value.name}" if hasattr(value, "name") else repr(value)


# ================================================================================================ commands
@pytest.mark.parametrize("command", list(Command), ids=str)
def test_every_command_has_roles(command: Command) -> None:
    assert COMMAND_ROLES.get(command), (
        f"{_name(command)} has no roles: add it to COMMAND_ROLES in {PKG}/service_layer/roles.py "
        "(without it, giving the command answers 500)")


@pytest.mark.parametrize("command", list(Command), ids=str)
def test_every_command_has_a_chinese_label(command: Command) -> None:
    assert COMMAND_LABELS.get(command), (
        f"{_name(command)} has no Chinese label: add it to COMMAND_LABELS in {VOCABULARY} "
        "(refusals and allowed-command lists show it)")


@pytest.mark.parametrize("command", list(Command), ids=str)
def test_every_command_is_allowed_in_some_state(command: Command) -> None:
    allowing = [state for state, commands in ALLOWED.items() if command in commands]
    assert allowing or command in DECIDED_ELSEWHERE, (
        f"{_name(command)} is allowed in no (phase, step): add it to ALLOWED in {VOCABULARY}, "
        "or decide always refuses it")


def _decide_branches() -> set[str]:
    """The ``Command.x`` names in the ``case`` patterns of ``decide`` (read from its source)."""
    tree = ast.parse(inspect.getsource(decide_module))
    [function] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "decide"]
    names: set[str] = set()
    for match in (n for n in ast.walk(function) if isinstance(n, ast.Match)):
        for case in match.cases:
            for node in ast.walk(case.pattern):
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id == "Command"):
                    names.add(node.attr)
    return names


@pytest.mark.parametrize("command", list(Command), ids=str)
def test_every_command_has_a_branch_in_decide(command: Command) -> None:
    if command in DECIDED_ELSEWHERE:
        assert command.name not in _decide_branches(), f"{_name(command)} is decided twice"
        return
    assert command.name in _decide_branches(), (
        f"{_name(command)} has no case in decide ({PKG}/domain/decide.py): add the events it causes there "
        "(or list it in DECIDED_ELSEWHERE in this test with the module that decides it)")


@cache
def _openapi() -> dict[str, Any]:
    document: dict[str, Any] = create_app(LifecycleSettings()).openapi()  # builds the app; connects to nothing
    return document


def _enum_of(schema: dict[str, Any]) -> set[str]:
    if "$ref" in schema:
        schema = _openapi()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return set(schema.get("enum", ()))


@pytest.mark.parametrize("command", [c for c in Command if c not in NOT_USER_FACING], ids=str)
def test_every_user_command_can_be_given_over_http_alone_and_in_batches(command: Command) -> None:
    paths = _openapi()["paths"]
    assert COMMAND_ROUTE in paths, f"the command route {COMMAND_ROUTE} is gone from {PKG}/adapters/http.py"
    [parameter] = [p for p in paths[COMMAND_ROUTE]["post"]["parameters"] if p["name"] == "command"]
    assert command.value in _enum_of(parameter["schema"]), (
        f"{_name(command)} is not accepted by POST {COMMAND_ROUTE}: the route's path parameter must take "
        f"every Command ({PKG}/adapters/http.py)")
    body = _openapi()["components"]["schemas"]["BatchBody"]["properties"]["command"]
    assert command.value in _enum_of(body), (
        f"{_name(command)} is not accepted by POST /lifecycle/v1/batches: BatchBody.command must take every "
        f"Command ({PKG}/adapters/http.py)")


# ================================================================================================ event types
@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_has_an_applier_in_evolve(event_type: str) -> None:
    assert event_type in APPLIERS, (
        f"{event_type} has no applier: add one to APPLIERS in {PKG}/domain/evolve.py (without it, folding the "
        "event only advances the version and the state silently ignores it)")


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_has_a_chinese_label(event_type: str) -> None:
    assert EVENT_LABELS.get(event_type), (
        f"{event_type} has no Chinese label: add it to EVENT_LABELS in {PKG}/domain/events.py "
        "(the item's history shows it)")


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_is_documented_in_the_contracts(event_type: str) -> None:
    contract = CONTRACTS.get(event_type)
    internal = INTERNAL_EVENTS.get(event_type)
    assert (contract is not None) != (internal is not None), (
        f"{event_type} must be listed once in shared/contracts/events.py: in CONTRACTS (with a schema, producer "
        "lifecycle, its consumers and an example) if another service reads it, else in INTERNAL_EVENTS; then "
        "regenerate docs/events.md with python -m shared.contracts.docs")
    producer = contract.producer if contract is not None else internal[0] if internal is not None else None
    assert producer == "lifecycle", f"{event_type} is listed with producer {producer!r}, not 'lifecycle'"


@pytest.mark.parametrize("event_type", sorted(PUBLIC_EVENTS))
def test_every_public_event_type_has_a_contract(event_type: str) -> None:
    assert event_type in EVENT_TYPES, f"{event_type} is public but not an EventType ({PKG}/domain/events.py)"
    assert event_type in CONTRACTS, (
        f"{event_type} reaches the national feed but has no schema: add an EventContract to CONTRACTS in "
        "shared/contracts/events.py")


def test_every_lifecycle_type_in_the_contracts_is_an_event_type() -> None:
    listed = {t for t, c in CONTRACTS.items() if c.producer == "lifecycle"}
    listed |= {t for t, (producer, _) in INTERNAL_EVENTS.items() if producer == "lifecycle"}
    unknown = sorted(listed - set(EVENT_TYPES))
    assert not unknown, (
        f"shared/contracts/events.py lists lifecycle event types the lifecycle never writes: {unknown}; add them to "
        f"EventType in {PKG}/domain/events.py (or take them out of the contracts)")


# ================================================================================================ states and labels
@pytest.mark.parametrize("state", sorted(LEGAL_STATES, key=str), ids=str)
def test_every_state_of_the_transition_table_has_labels(state: tuple[Phase | None, Step]) -> None:
    phase, step = state
    assert phase is None or PHASE_LABELS.get(phase), (
        f"phase {phase} has no Chinese label: PHASE_LABELS comes from shared/contracts/vocabulary.py")
    assert STEP_LABELS.get(step), f"Step.{step.name} has no Chinese label: add it to STEP_LABELS in {VOCABULARY}"


@pytest.mark.parametrize("stage", list(UpdateStage), ids=str)
def test_every_update_stage_has_an_online_step_and_a_label(stage: UpdateStage) -> None:
    assert stage in ONLINE_STEP, f"UpdateStage.{stage.name} has no step: add it to ONLINE_STEP in {VOCABULARY}"
    assert UPDATE_STAGE_LABELS.get(stage.value), (
        f"UpdateStage.{stage.name} has no Chinese label: add it to UPDATE_STAGE_LABELS in {VOCABULARY}")


@pytest.mark.parametrize(("labels", "members", "where"), [
    (SYNC_RESULT_LABELS, list(SyncResult), VOCABULARY),
    (PLANNED_ACTION_LABELS, [a.value for a in PlannedAction], f"{PKG}/domain/planning.py"),
    (ADJUSTMENT_LABELS, list(AdjustmentKind), f"{PKG}/domain/adjustments.py"),
], ids=["sync results", "planned actions", "adjustment kinds"])
def test_every_other_word_the_views_show_has_a_label(labels: dict[Any, str], members: list[Any], where: str) -> None:
    missing = [m for m in members if not labels.get(m)]
    assert not missing, f"no Chinese label for {missing}: add them in {where}"


# ================================================================================================ errors


def test_every_maintainable_path_is_one_the_lifecycle_compares_at() -> None:
    """The lifecycle decides a maintenance revision by the paths changed_paths reports (top-level elements, and the
    fields of the service guide): a maintainable path deeper than that would never be recognised as changed alone."""
    reported = set(changed_paths({}, dict.fromkeys(ITEM.keys, 1)))
    reported |= set(changed_paths({"service_guide": {}}, {"service_guide": dict.fromkeys(SERVICE_GUIDE.keys, 1)}))
    too_deep = sorted(MAINTAINABLE_PATHS - reported)
    assert not too_deep, (f"maintainable paths {too_deep} (shared/contracts/elements.py) are finer than "
                          f"changed_paths in {PKG}/domain/facts.py compares: teach it those paths")
