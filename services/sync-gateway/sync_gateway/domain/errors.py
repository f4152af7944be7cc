"""The sync gateway's error hierarchy: every expected failure, each once (``sync_gateway.errors.ERRORS`` maps each to
its HTTP status, stable code and Chinese message)."""

from __future__ import annotations

from shared.errors import DomainError


class SyncError(DomainError):
    """Base of the sync gateway's expected failures."""


class FeedEntryNotFoundError(SyncError):
    """No feed entry for this item version: the national platform can only answer what it was fed."""


class RejectionReasonRequiredError(SyncError):
    """A rejection must say why."""
