"""Every up_* row may carry a signature (row_signature, signature_algorithm: HMAC-SHA256 or HMAC-SM3 of its canonical
content with a key shared with the national side, SHIXIANG_EXCHANGE_SIGNATURE); rows written before have none.

Revision ID: exchange_0002
Revises: exchange_0001
Create Date: 2026-12-08 00:10:00

A revision never changes once released, and never reads the live models: what it makes is written out here.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "exchange_0002"
down_revision: str | Sequence[str] | None = "exchange_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("up_task_general", "up_task_material", "up_task_charge", "up_task_legal_basis")
COLUMNS = ("row_signature", "signature_algorithm")


def upgrade() -> None:
    # Nullable, no default: nothing is rewritten. IF NOT EXISTS: a database made by create_all from models that
    # already had them is adopted at revision 1.
    for table in TABLES:
        for column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} text")


def downgrade() -> None:
    for table in TABLES:
        for column in COLUMNS:
            op.drop_column(table, column)
