"""OCPP 2.1 payment, priority charging, battery swap, periodic event streams

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0024"
down_revision = "0023"
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


def _transaction_ref() -> sa.Column[int]:
    return sa.Column(
        "transaction_ref", sa.Integer(), sa.ForeignKey("transactions.id", ondelete="SET NULL")
    )


def upgrade() -> None:
    op.create_table(
        "payment_settlements",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _station(),
        sa.Column("transaction_id", sa.String(36)),
        _transaction_ref(),
        sa.Column("psp_ref", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_info", sa.String(500)),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("receipt_id", sa.String(50)),
        sa.Column("receipt_url", sa.String(2000)),
        sa.Column("vat_number", sa.String(20)),
        sa.Column("vat_company", JSON),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_payment_settlements_station_id", "payment_settlements", ["station_id"])
    op.create_index(
        "ix_payment_settlements_transaction_ref", "payment_settlements", ["transaction_ref"]
    )
    op.create_table(
        "vat_numbers",
        sa.Column("vat_number", sa.String(20), primary_key=True),
        sa.Column("company", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "priority_charging",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _station(),
        sa.Column("transaction_id", sa.String(36), nullable=False),
        _transaction_ref(),
        sa.Column("activated", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("command_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_priority_charging_station_id", "priority_charging", ["station_id"])
    op.create_index(
        "ix_priority_charging_transaction_ref", "priority_charging", ["transaction_ref"]
    )
    op.create_table(
        "battery_swaps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _station(),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(20), nullable=False),
        sa.Column("id_token", sa.String(255), nullable=False),
        sa.Column("id_token_type", sa.String(20), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("batteries", JSON, nullable=False),
        sa.Column("command_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_battery_swaps_station_id", "battery_swaps", ["station_id"])
    op.create_table(
        "event_streams",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _station(),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("variable_monitoring_id", sa.Integer(), nullable=False),
        sa.Column("interval", sa.Integer()),
        sa.Column("values", sa.Integer()),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("last_data_at", sa.DateTime(timezone=True)),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("station_id", "stream_id", name="uq_event_streams_station_id"),
    )
    op.create_table(
        "event_stream_data",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "stream_ref",
            sa.Integer(),
            sa.ForeignKey("event_streams.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("basetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_event_stream_data_stream", "event_stream_data", ["stream_ref", "id"])


def downgrade() -> None:
    op.drop_table("event_stream_data")
    op.drop_table("event_streams")
    op.drop_table("battery_swaps")
    op.drop_table("priority_charging")
    op.drop_table("vat_numbers")
    op.drop_table("payment_settlements")
