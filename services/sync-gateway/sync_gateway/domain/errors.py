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


class ConsoleRoleRequiredError(SyncError):
    """The operators' console is for operators and administrators (the national platform and the provincial staff
    have their own channels)."""


class ServiceUnavailableError(SyncError):
    """Another service the console reads could not be reached or failed (a 5xx there): the console says which."""


class UpstreamRefusedError(SyncError):
    """Another service refused what the console asked on the caller's behalf (its own code and message are kept);
    the subclasses carry the status it answered."""


class UpstreamInvalidError(UpstreamRefusedError):
    """The other service found the request invalid (400/422 there)."""


class UpstreamUnauthorizedError(UpstreamRefusedError):
    """The other service refused the caller's token (401 there)."""


class UpstreamForbiddenError(UpstreamRefusedError):
    """The other service refused the caller's roles or regions (403 there)."""


class UpstreamNotFoundError(UpstreamRefusedError):
    """The other service has no such thing (404 there)."""


class UpstreamConflictError(UpstreamRefusedError):
    """The other service refused because of the state of what was asked (409 there)."""


class FeedEpochChangedError(SyncError):
    """The caller follows a feed epoch that is gone (the feed's store was made anew): its cursor means nothing in
    the current feed, so it must start again from the snapshot rather than be answered a silent ``[]``."""


class PublicItemNotFoundError(SyncError):
    """No online item has this code: the public guide shows published, online content only."""


class RateLimitedError(SyncError):
    """The client address asked the public guide more often than its rate allows (``retry_after_s`` to wait)."""


class WebhookUrlNotAllowedError(SyncError):
    """A callback URL the gateway may not send to (SSRF protection): not http(s), a host off the allow-list, or a
    host resolving to an address it may not connect to."""


class SubscriptionNotFoundError(SyncError):
    """No such webhook subscription, or one of another subscriber (the same answer: nothing leaks)."""


class ReplayCursorAheadError(SyncError):
    """A replay must start within the feed: a cursor past its end would skip entries not yet written."""
