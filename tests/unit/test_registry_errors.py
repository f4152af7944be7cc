"""The registry's errors are one hierarchy (registry/domain/errors.py) and each has its line in the one error table
(registry/errors.py): an error left out of the table would answer 500 instead of its status and code."""

from __future__ import annotations

import importlib
import pkgutil

from shared.errors import DomainError

import registry
from registry.domain.errors import RegistryError
from registry.errors import ERRORS


def registry_errors() -> set[type[DomainError]]:
    """Every DomainError subclass defined anywhere in the registry package (all its modules imported)."""
    for module in pkgutil.walk_packages(registry.__path__, "registry."):
        importlib.import_module(module.name)
    found: set[type[DomainError]] = set()
    pending = [DomainError]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("registry."):
                found.add(sub)
    return found


def test_every_registry_error_is_defined_in_domain_errors_under_registry_error() -> None:
    errors = registry_errors()
    assert RegistryError in errors and len(errors) > 10
    assert {e.__module__ for e in errors} == {"registry.domain.errors"}
    assert all(issubclass(e, RegistryError) for e in errors)


def test_every_registry_error_has_a_status_a_stable_code_and_a_message_in_the_table() -> None:
    for error in registry_errors() - {RegistryError}:
        spec = ERRORS.spec_for(error())
        assert spec.code != "INTERNAL_ERROR" and spec.status < 500, error
