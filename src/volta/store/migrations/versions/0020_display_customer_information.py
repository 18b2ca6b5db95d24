"""display messages and customer information

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _station() -> sa.Column[str]:
    return sa.Column(
        "station_id",
        sa.String(48),
        sa.ForeignKey("stations.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "display_messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _station(),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16)),
        sa.Column("start_at", sa.DateTime(timezone=True)),
        sa.Column("end_at", sa.DateTime(timezone=True)),
        sa.Column("transaction_id", sa.String(36)),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("content", sa.String(512), nullable=False),
        sa.Column("display", JSON),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("command_id", sa.String(36)),
        sa.Column("reported_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("station_id", "message_id", name="uq_display_messages_station_id"),
    )
    op.create_table(
        "display_message_reports",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _station(),
        sa.Column("criteria", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("messages", JSON, nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("command_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_display_message_reports_station_id", "display_message_reports", ["station_id"]
    )
    op.create_table(
        "customer_information_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _station(),
        sa.Column("report", sa.Boolean(), nullable=False),
        sa.Column("clear", sa.Boolean(), nullable=False),
        sa.Column("id_token", sa.String(64)),
        sa.Column("id_token_type", sa.String(20)),
        sa.Column("customer_certificate", JSON),
        sa.Column("customer_identifier", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("erasure_id", sa.Integer()),
        sa.Column("command_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_customer_information_station",
        "customer_information_requests",
        ["station_id", "id"],
    )
    op.create_table(
        "id_token_erasures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pseudonym", sa.String(32), nullable=False, unique=True),
        sa.Column("summary", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("id_token_erasures")
    op.drop_index("ix_customer_information_station", table_name="customer_information_requests")
    op.drop_table("customer_information_requests")
    op.drop_index("ix_display_message_reports_station_id", table_name="display_message_reports")
    op.drop_table("display_message_reports")
    op.drop_table("display_messages")
