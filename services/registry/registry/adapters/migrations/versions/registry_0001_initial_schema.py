"""The initial schema: the tables `metadata.create_all` made before migrations (a database it made is adopted
at this revision).

Revision ID: registry_0001
Revises: (none)
Create Date: 2026-12-07 22:51:35.094960

A revision never changes once released, and never reads the live models: what it makes is written out here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migrations import schema_v1

revision: str = "registry_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_v1.create_event_store()
    schema_v1.create_dead_letters()
    op.create_table(
        "idempotency_keys",
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject", "key"),
    )
    op.create_table(
        "registry_import_errors",
        sa.Column("job_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("column", sa.Text(), nullable=True),
        sa.Column("field", sa.Text(), nullable=True),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "seq"),
    )
    op.create_table(
        "registry_import_jobs",
        sa.Column("job_id", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("regions", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("rows_processed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("progress", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("created", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("revised", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("unchanged", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("job_id"),
    )
    op.create_index(
        "registry_import_jobs_recent_idx",
        "registry_import_jobs",
        ["subject", sa.literal_column("created_at DESC"), sa.literal_column("job_id DESC")],
        unique=False,
    )
    op.create_table(
        "registry_item_phases",
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("phase", sa.Text(), nullable=False),
        sa.Column("published_revision", sa.Integer(), nullable=True),
        sa.Column("lifecycle_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_table(
        "registry_items",
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("short_name", sa.Text(), nullable=False),
        sa.Column("item_type", sa.Text(), nullable=False),
        sa.Column("police_type", sa.Text(), nullable=False),
        sa.Column("service_category", sa.Text(), nullable=False),
        sa.Column("national_basic_code", sa.Text(), nullable=True),
        sa.Column("composition", sa.Text(), nullable=False),
        sa.Column("tier", sa.Text(), nullable=False),
        sa.Column("parent_item_id", sa.Text(), nullable=True),
        sa.Column("member_item_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("serial_predecessor_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_index(
        "registry_items_basic_code_idx",
        "registry_items",
        ["national_basic_code"],
        unique=False,
        postgresql_where=sa.text("national_basic_code IS NOT NULL"),
    )
    op.create_index(
        "registry_items_listing_idx",
        "registry_items",
        ["region_code", "name", "item_id"],
        unique=False,
        postgresql_ops={"region_code": "text_pattern_ops"},
    )
    op.create_index(
        "registry_items_members_idx",
        "registry_items",
        ["member_item_ids"],
        unique=False,
        postgresql_using="gin",
        postgresql_where=sa.text("cardinality(member_item_ids) > 0"),
    )
    op.create_index(
        "registry_items_parent_idx",
        "registry_items",
        ["parent_item_id"],
        unique=False,
        postgresql_where=sa.text("parent_item_id IS NOT NULL"),
    )
    op.create_index(
        "registry_items_search_trgm",
        "registry_items",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_index(
        "registry_items_source_ref_uq",
        "registry_items",
        ["region_code", "source_ref"],
        unique=True,
        postgresql_where=sa.text("source_ref IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "registry_items_source_ref_uq", table_name="registry_items", postgresql_where=sa.text("source_ref IS NOT NULL")
    )
    op.drop_index(
        "registry_items_search_trgm",
        table_name="registry_items",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.drop_index(
        "registry_items_parent_idx", table_name="registry_items", postgresql_where=sa.text("parent_item_id IS NOT NULL")
    )
    op.drop_index(
        "registry_items_members_idx",
        table_name="registry_items",
        postgresql_using="gin",
        postgresql_where=sa.text("cardinality(member_item_ids) > 0"),
    )
    op.drop_index(
        "registry_items_listing_idx", table_name="registry_items", postgresql_ops={"region_code": "text_pattern_ops"}
    )
    op.drop_index(
        "registry_items_basic_code_idx",
        table_name="registry_items",
        postgresql_where=sa.text("national_basic_code IS NOT NULL"),
    )
    op.drop_table("registry_items")
    op.drop_table("registry_item_phases")
    op.drop_index("registry_import_jobs_recent_idx", table_name="registry_import_jobs")
    op.drop_table("registry_import_jobs")
    op.drop_table("registry_import_errors")
    op.drop_table("idempotency_keys")
    schema_v1.drop_dead_letters()
    schema_v1.drop_event_store()
