"""The initial schema: the exchange tables (domain.exchange.LAYOUTS as they were), the national side's
rejections and the writer's cursor, as `metadata.create_all` made them before migrations (a database it made is
adopted at this revision).

Revision ID: exchange_0001
Revises: (none)
Create Date: 2026-12-07 22:51:35.815652

A revision never changes once released, and never reads the live models: what it makes is written out here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "exchange_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dn_audit_abnormal",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("cd_batch", sa.Text(), nullable=True),
        sa.Column("row_guid", sa.Text(), nullable=True),
        sa.Column("task_guid", sa.Text(), nullable=False),
        sa.Column("task_version", sa.Integer(), nullable=False),
        sa.Column("error_type", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("cd_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        comment="国家平台校验异常（退回）",
    )
    op.create_table(
        "sx_exchange_cursor",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("rounds", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "up_task_charge",
        sa.Column("row_guid", sa.Text(), nullable=False),
        sa.Column("cd_batch", sa.Text(), nullable=False),
        sa.Column("cd_operation", sa.Text(), nullable=False),
        sa.Column("cd_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_source", sa.Text(), nullable=False),
        sa.Column("task_guid", sa.Text(), nullable=False),
        sa.Column("task_version", sa.Integer(), nullable=False),
        sa.Column("task_state", sa.Text(), nullable=False),
        sa.Column("task_code", sa.Text(), nullable=True),
        sa.Column("parent_row_guid", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("item", sa.Text(), nullable=True),
        sa.Column("standard", sa.Text(), nullable=True),
        sa.Column("basis", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("row_guid"),
        sa.UniqueConstraint("task_guid", "task_version", "seq", name="up_task_charge_change"),
        comment="收费项目",
    )
    op.create_table(
        "up_task_general",
        sa.Column("row_guid", sa.Text(), nullable=False),
        sa.Column("cd_batch", sa.Text(), nullable=False),
        sa.Column("cd_operation", sa.Text(), nullable=False),
        sa.Column("cd_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_source", sa.Text(), nullable=False),
        sa.Column("task_guid", sa.Text(), nullable=False),
        sa.Column("task_version", sa.Integer(), nullable=False),
        sa.Column("task_state", sa.Text(), nullable=False),
        sa.Column("task_code", sa.Text(), nullable=True),
        sa.Column("change", sa.Text(), nullable=True),
        sa.Column("change_label", sa.Text(), nullable=True),
        sa.Column("state_label", sa.Text(), nullable=True),
        sa.Column("previous_code", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("offline_kind", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("successors", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("short_name", sa.Text(), nullable=True),
        sa.Column("item_type", sa.Text(), nullable=True),
        sa.Column("police_type", sa.Text(), nullable=True),
        sa.Column("service_category", sa.Text(), nullable=True),
        sa.Column("region_code", sa.Text(), nullable=True),
        sa.Column("competent_department", sa.Text(), nullable=True),
        sa.Column("implementing_agency", sa.Text(), nullable=True),
        sa.Column("exercise_levels", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("conditions", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("steps", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("statutory_time_limit_days", sa.Integer(), nullable=True),
        sa.Column("promised_time_limit_days", sa.Integer(), nullable=True),
        sa.Column("fees_free", sa.Boolean(), nullable=True),
        sa.Column("place", sa.Text(), nullable=True),
        sa.Column("hours", sa.Text(), nullable=True),
        sa.Column("consultation_contact", sa.Text(), nullable=True),
        sa.Column("complaint_contact", sa.Text(), nullable=True),
        sa.Column("service_objects", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("case_type", sa.Text(), nullable=True),
        sa.Column("online_service_depth", sa.Integer(), nullable=True),
        sa.Column("planned_effective_date", sa.Date(), nullable=True),
        sa.Column("planned_cancel_date", sa.Date(), nullable=True),
        sa.Column("national_basic_code", sa.Text(), nullable=True),
        sa.Column("national_implementation_code", sa.Text(), nullable=True),
        sa.Column("national_handling_code", sa.Text(), nullable=True),
        sa.Column("composition", sa.Text(), nullable=True),
        sa.Column("member_item_ids", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("tier", sa.Text(), nullable=True),
        sa.Column("parent_item_id", sa.Text(), nullable=True),
        sa.Column("handling_kind", sa.Text(), nullable=True),
        sa.Column("serial_predecessor_ids", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("parallel_item_ids", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("row_guid"),
        sa.UniqueConstraint("task_guid", "task_version", name="up_task_general_change"),
        comment="事项目录",
    )
    op.create_table(
        "up_task_legal_basis",
        sa.Column("row_guid", sa.Text(), nullable=False),
        sa.Column("cd_batch", sa.Text(), nullable=False),
        sa.Column("cd_operation", sa.Text(), nullable=False),
        sa.Column("cd_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_source", sa.Text(), nullable=False),
        sa.Column("task_guid", sa.Text(), nullable=False),
        sa.Column("task_version", sa.Integer(), nullable=False),
        sa.Column("task_state", sa.Text(), nullable=False),
        sa.Column("task_code", sa.Text(), nullable=True),
        sa.Column("parent_row_guid", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("article", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("row_guid"),
        sa.UniqueConstraint("task_guid", "task_version", "seq", name="up_task_legal_basis_change"),
        comment="设定依据",
    )
    op.create_table(
        "up_task_material",
        sa.Column("row_guid", sa.Text(), nullable=False),
        sa.Column("cd_batch", sa.Text(), nullable=False),
        sa.Column("cd_operation", sa.Text(), nullable=False),
        sa.Column("cd_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_source", sa.Text(), nullable=False),
        sa.Column("task_guid", sa.Text(), nullable=False),
        sa.Column("task_version", sa.Integer(), nullable=False),
        sa.Column("task_state", sa.Text(), nullable=False),
        sa.Column("task_code", sa.Text(), nullable=True),
        sa.Column("parent_row_guid", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("basis", sa.Text(), nullable=True),
        sa.Column("format", sa.Text(), nullable=True),
        sa.Column("copies", sa.Integer(), nullable=True),
        sa.Column("signature_seal", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("row_guid"),
        sa.UniqueConstraint("task_guid", "task_version", "seq", name="up_task_material_change"),
        comment="申请材料",
    )


def downgrade() -> None:
    op.drop_table("up_task_material")
    op.drop_table("up_task_legal_basis")
    op.drop_table("up_task_general")
    op.drop_table("up_task_charge")
    op.drop_table("sx_exchange_cursor")
    op.drop_table("dn_audit_abnormal")
