"""The initial schema: the tables `metadata.create_all` made before migrations (a database it made is adopted
at this revision).

Revision ID: lifecycle_0001
Revises: (none)
Create Date: 2026-12-07 22:51:35.467300

A revision never changes once released, and never reads the live models: what it makes is written out here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migrations import schema_v1

revision: str = "lifecycle_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_v1.create_event_store()
    schema_v1.create_dead_letters()
    op.create_table(
        "lifecycle_items",
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=True),
        sa.Column("phase", sa.Text(), nullable=True),
        sa.Column("step", sa.Text(), nullable=True),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("short_name", sa.Text(), nullable=True),
        sa.Column("item_type", sa.Text(), nullable=True),
        sa.Column("police_type", sa.Text(), nullable=True),
        sa.Column("service_category", sa.Text(), nullable=True),
        sa.Column("latest_revision", sa.Integer(), nullable=True),
        sa.Column("published_revision", sa.Integer(), nullable=True),
        sa.Column("pending_revision", sa.Integer(), nullable=True),
        sa.Column("national_sync", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_index(op.f("ix_lifecycle_items_code"), "lifecycle_items", ["code"], unique=False)
    op.create_index(op.f("ix_lifecycle_items_phase"), "lifecycle_items", ["phase"], unique=False)
    op.create_index(op.f("ix_lifecycle_items_region_code"), "lifecycle_items", ["region_code"], unique=False)
    op.create_table(
        "lifecycle_projection_meta",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("rebuilt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "lifecycle_schedule",
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_date", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_index(op.f("ix_lifecycle_schedule_due_at"), "lifecycle_schedule", ["due_at"], unique=False)
    op.create_table(
        "lifecycle_snapshots",
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("state", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("item_id", "version", name="lifecycle_snapshots_pk"),
    )


def downgrade() -> None:
    op.drop_table("lifecycle_snapshots")
    op.drop_index(op.f("ix_lifecycle_schedule_due_at"), table_name="lifecycle_schedule")
    op.drop_table("lifecycle_schedule")
    op.drop_table("lifecycle_projection_meta")
    op.drop_index(op.f("ix_lifecycle_items_region_code"), table_name="lifecycle_items")
    op.drop_index(op.f("ix_lifecycle_items_phase"), table_name="lifecycle_items")
    op.drop_index(op.f("ix_lifecycle_items_code"), table_name="lifecycle_items")
    op.drop_table("lifecycle_items")
    schema_v1.drop_dead_letters()
    schema_v1.drop_event_store()
