"""The audit log of reads (``shared.audit.audit_table``) as the revision that added it to every service's history
makes it.

Frozen: a released revision never changes, so this module never does either. A later change of the table is a new
revision in each service's history, with its own SQL."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


def create_audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("regions", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("client", sa.Text(), nullable=True),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("flags", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("previous_hash", sa.Text(), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        # IF NOT EXISTS: a database made by create_all from models that already had it is adopted at revision 1.
        if_not_exists=True,
    )
    op.create_index("audit_log_at", "audit_log", ["at"], unique=False, if_not_exists=True)
    op.create_index("audit_log_subject", "audit_log", ["subject", "seq"], unique=False, if_not_exists=True)


def drop_audit_log() -> None:
    op.drop_index("audit_log_subject", table_name="audit_log")
    op.drop_index("audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
