"""Who may do what in the lifecycle (admin may do all; region limits apply on top). Every ``Command`` must have an
entry in ``COMMAND_ROLES``: ``tests/unit/test_lifecycle_completeness.py`` fails otherwise."""

from __future__ import annotations

from shared.auth import STAFF_ROLES

from lifecycle.domain.vocabulary import Command

# Who may give which command.
COMMAND_ROLES: dict[Command, tuple[str, ...]] = {
    Command.submit: ("entry",),
    Command.approve: ("reviewer",),
    Command.reject: ("reviewer",),
    Command.record_test: ("tester",),
    Command.register: ("publisher",),
    Command.publish: ("publisher",),
    Command.unpublish: ("publisher",),
    Command.resume: ("publisher",),
    Command.cancel: ("publisher",),
}
ADJUSTMENT_ROLES = ("publisher",)  # split / merge cancel items: whoever may cancel may adjust

# Who may read an item's state, its event history, its hash chain and the list: the staff. A state holds drafts and
# pending revisions, a history every internal step: the national platform reads what was published, through the
# sync gateway, and nothing here.
READ_ROLES = STAFF_ROLES
