"""The event store records each event's hash algorithm (SHA-256 or SM3, SHIXIANG_EVENT_HASH), and its append
function takes SM3 links computed by the writer (shared/migrations/event_hash_v2.py).

Revision ID: lifecycle_0003
Revises: lifecycle_0002
Create Date: 2026-12-07 23:50:00

A revision never changes once released, and never reads the live models: what it makes is written out here.
"""

from collections.abc import Sequence

from shared.migrations import event_hash_v2

revision: str = "lifecycle_0003"
down_revision: str | Sequence[str] | None = "lifecycle_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    event_hash_v2.upgrade()


def downgrade() -> None:
    event_hash_v2.downgrade()
