"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 20:18:51.839377
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import volta.store.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", volta.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "commands",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column(
            "response",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_description", sa.Text(), nullable=True),
        sa.Column("created_at", volta.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", volta.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.create_index("ix_commands_station", ["station_id", "created_at"], unique=False)

    op.create_table(
        "frames",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("message_type", sa.SmallInteger(), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=50), nullable=True),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("created_at", volta.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.create_index("ix_frames_station", ["station_id", "id"], unique=False)

    op.create_table(
        "id_tokens",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("expires_at", volta.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("group_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", volta.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", volta.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token"),
    )
    op.create_table(
        "stations",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("registration_status", sa.String(length=16), nullable=False),
        sa.Column("validation", sa.String(length=16), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=True),
        sa.Column("vendor", sa.String(length=50), nullable=True),
        sa.Column("model", sa.String(length=50), nullable=True),
        sa.Column("serial_number", sa.String(length=50), nullable=True),
        sa.Column("firmware_version", sa.String(length=50), nullable=True),
        sa.Column("iccid", sa.String(length=20), nullable=True),
        sa.Column("imsi", sa.String(length=20), nullable=True),
        sa.Column("meter_type", sa.String(length=25), nullable=True),
        sa.Column("meter_serial_number", sa.String(length=25), nullable=True),
        sa.Column("boot_reason", sa.String(length=40), nullable=True),
        sa.Column("last_boot_at", volta.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_heartbeat_at", volta.store.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_connected_at", volta.store.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_disconnected_at", volta.store.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", volta.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "connectors",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("info", sa.String(length=50), nullable=True),
        sa.Column("vendor_id", sa.String(length=255), nullable=True),
        sa.Column("vendor_error_code", sa.String(length=50), nullable=True),
        sa.Column("status_at", volta.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", volta.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("station_id", "evse_id", "connector_id"),
    )
    op.create_table(
        "device_variables",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("component", sa.String(length=50), nullable=False),
        sa.Column("component_instance", sa.String(length=50), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("variable", sa.String(length=50), nullable=False),
        sa.Column("variable_instance", sa.String(length=50), nullable=True),
        sa.Column("attribute_type", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("mutability", sa.String(length=16), nullable=True),
        sa.Column(
            "characteristics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("updated_at", volta.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("station_id", "key"),
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("station_transaction_id", sa.String(length=36), nullable=True),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("id_token", sa.String(length=64), nullable=True),
        sa.Column("id_token_type", sa.String(length=20), nullable=True),
        sa.Column("authorization_status", sa.String(length=20), nullable=True),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("charging_state", sa.String(length=20), nullable=True),
        sa.Column("started_at", volta.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", volta.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("meter_start_wh", sa.Float(), nullable=True),
        sa.Column("meter_stop_wh", sa.Float(), nullable=True),
        sa.Column("energy_wh", sa.Float(), nullable=True),
        sa.Column("stop_reason", sa.String(length=40), nullable=True),
        sa.Column("stop_id_token", sa.String(length=64), nullable=True),
        sa.Column("last_seq_no", sa.Integer(), nullable=True),
        sa.Column("created_at", volta.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", volta.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "station_id", "station_transaction_id", name="uq_transactions_station_tx"
        ),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transactions_station_active", ["station_id", "status"], unique=False
        )

    op.create_table(
        "meter_values",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("timestamp", volta.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("measurand", sa.String(length=50), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=True),
        sa.Column("context", sa.String(length=30), nullable=True),
        sa.Column("location", sa.String(length=10), nullable=True),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("raw_value", sa.String(length=50), nullable=False),
        sa.Column("raw_unit", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(["transaction_id"], ["transactions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("meter_values", schema=None) as batch_op:
        batch_op.create_index("ix_meter_values_station", ["station_id", "timestamp"], unique=False)
        batch_op.create_index(
            "ix_meter_values_transaction", ["transaction_id", "timestamp"], unique=False
        )

    op.create_table(
        "transaction_events",
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("seq_no", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=10), nullable=False),
        sa.Column("trigger_reason", sa.String(length=40), nullable=False),
        sa.Column("timestamp", volta.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sa.Column("received_at", volta.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["transaction_id"], ["transactions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("transaction_id", "seq_no"),
    )


def downgrade() -> None:
    op.drop_table("transaction_events")
    with op.batch_alter_table("meter_values", schema=None) as batch_op:
        batch_op.drop_index("ix_meter_values_transaction")
        batch_op.drop_index("ix_meter_values_station")

    op.drop_table("meter_values")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_transactions_station_active")

    op.drop_table("transactions")
    op.drop_table("device_variables")
    op.drop_table("connectors")
    op.drop_table("stations")
    op.drop_table("id_tokens")
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.drop_index("ix_frames_station")

    op.drop_table("frames")
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_index("ix_commands_station")

    op.drop_table("commands")
    op.drop_table("api_tokens")
