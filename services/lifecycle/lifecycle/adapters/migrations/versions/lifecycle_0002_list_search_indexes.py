"""Trigram indexes for the items list's `q=` search (name or short name containing it, code starting with it): the
OR becomes a BitmapOr of three index scans instead of a scan of every row.

Revision ID: lifecycle_0002
Revises: lifecycle_0001
Create Date: 2026-12-07 23:20:00

A revision never changes once released, and never reads the live models: what it makes is written out here.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "lifecycle_0002"
down_revision: str | Sequence[str] | None = "lifecycle_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("name", "short_name", "code")


def upgrade() -> None:
    # IF NOT EXISTS: a database made by create_all from models that already had them is adopted at revision 1.
    for column in COLUMNS:
        op.create_index(f"lifecycle_items_{column}_trgm", "lifecycle_items", [column], unique=False,
                        postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"}, if_not_exists=True)


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f"lifecycle_items_{column}_trgm", table_name="lifecycle_items")
