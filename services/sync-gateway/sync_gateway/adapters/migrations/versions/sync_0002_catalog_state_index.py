"""An index for the catalogue's pages (GET /sync/v1/catalog): items in the states asked for, in item id order from
a cursor — read from the index instead of a scan and sort of the whole catalogue.

Revision ID: sync_0002
Revises: sync_0001
Create Date: 2026-12-07 23:20:00

A revision never changes once released, and never reads the live models: what it makes is written out here.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "sync_0002"
down_revision: str | Sequence[str] | None = "sync_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # IF NOT EXISTS: a database made by create_all from models that already had it is adopted at revision 1.
    op.create_index("catalog_state_order", "catalog", ["phase", "item_id"], unique=False, if_not_exists=True)


def downgrade() -> None:
    op.drop_index("catalog_state_order", table_name="catalog")
