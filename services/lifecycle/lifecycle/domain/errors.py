"""The lifecycle service's error hierarchy: every DomainError it raises is a ``LifecycleError`` defined here (each
mapped to HTTP once, in lifecycle/errors.py; ``tests/unit/test_lifecycle_completeness.py`` checks the table)."""

from __future__ import annotations

from shared.errors import DomainError


class LifecycleError(DomainError):
    """Base of the lifecycle's rule violations (mapped to HTTP in errors.py)."""


class IllegalTransitionError(LifecycleError):
    """The command is not allowed in the item's current state."""


class FourEyesViolationError(LifecycleError):
    """A reviewer tried to approve or reject a revision they wrote or submitted."""


class ReasonRequiredError(LifecycleError):
    """Reject, unpublish, cancel and adjustments must say why."""


class InvalidTestResultError(LifecycleError):
    """record-test needs result pass or fail."""


class UnknownItemVersionError(LifecycleError):
    """National feedback about a lifecycle version the item does not have."""


class ElementsIncompleteError(LifecycleError):
    """submit of a revision that lacks elements review needs (the registry lists them)."""


class ItemNotFoundError(LifecycleError):
    """No lifecycle stream for this item (or it lies outside the caller's regions)."""


class StaleVersionError(LifecycleError):
    """The client's expected version is not the item's current version."""


class AdjustmentShapeError(LifecycleError):
    """A split needs one predecessor and two or more successors; a merge the other way round; no item twice."""


class AdjustmentItemCancelledError(LifecycleError):
    """An item of the adjustment is already cancelled."""


class UnknownPhaseError(LifecycleError):
    """A list filtered by a phase that is neither a phase's value nor its Chinese name."""
