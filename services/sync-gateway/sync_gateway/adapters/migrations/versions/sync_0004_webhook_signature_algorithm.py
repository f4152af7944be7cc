"""A webhook subscription chooses its signature algorithm (hmac-sha256, Standard Webhooks' v1, or hmac-sm3), and the
delivery log records what signed each attempt; every existing subscription and attempt is hmac-sha256.

Revision ID: sync_0004
Revises: sync_0003
Create Date: 2026-12-08 00:00:00

A revision never changes once released, and never reads the live models: what it makes is written out here.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "sync_0004"
down_revision: str | Sequence[str] | None = "sync_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("webhook_subscriptions", "webhook_deliveries")


def upgrade() -> None:
    # A constant default: no row is rewritten. IF NOT EXISTS: a database made by create_all from models that
    # already had them is adopted at revision 1.
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS signature_algorithm text NOT NULL "
                   "DEFAULT 'hmac-sha256'")


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "signature_algorithm")
