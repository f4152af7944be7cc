"""The audit log of reads (shared.audit): every read of the registry API recorded, hash-chained, for auditors.

Revision ID: registry_0003
Revises: registry_0002
Create Date: 2026-12-08 00:00:00

A revision never changes once released, and never reads the live models: what it makes is written out here.
"""

from collections.abc import Sequence

from shared.migrations import audit_v1

revision: str = "registry_0003"
down_revision: str | Sequence[str] | None = "registry_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    audit_v1.create_audit_log()


def downgrade() -> None:
    audit_v1.drop_audit_log()
