"""Who may do what in the registry (admin may do all; region limits apply on top): the one table the service
layer's checks read.

Every read of the registry shows internal content — drafts, pending revisions, every revision and its author, import
jobs and their rows — so only the staff read it; the national platform reads what was published through the sync
gateway, and nothing here."""

from __future__ import annotations

from shared.auth import STAFF_ROLES

# Who may enter items: create, revise, import a list, download the import template.
WRITE_ROLES = ("entry",)
# Who may read items (one, its revisions and their diffs, lists, exports) and the consistency report.
READ_ROLES = STAFF_ROLES
# Who may read an import job besides its starter: a reader whose regions cover every region the job was started
# with (the regions its rows may lie in); see ImportJobs.get.
IMPORT_JOB_READ_ROLES = READ_ROLES
