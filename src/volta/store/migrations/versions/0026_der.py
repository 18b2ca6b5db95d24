"""OCPP 2.1 DER control

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0026"
down_revision = "0025"
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


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "der_controls",
        _id(),
        _station(),
        sa.Column("control_id", sa.String(36), nullable=False),
        sa.Column("control_type", sa.String(32), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("setting", JSON),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_info", JSON),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("command_id", sa.String(36)),
        sa.Column("reported", JSON),
        sa.Column("reported_at", sa.DateTime(timezone=True)),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("superseded_by", sa.String(36)),
        sa.Column("active", sa.Boolean()),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("station_id", "control_id", name="uq_der_controls_station_id"),
    )
    op.create_table(
        "der_reports",
        _id(),
        _station(),
        sa.Column("criteria", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("controls", JSON, nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("command_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_der_reports_station", "der_reports", ["station_id", "id"])
    op.create_table(
        "der_alarms",
        _id(),
        _station(),
        sa.Column("control_type", sa.String(32), nullable=False),
        sa.Column("grid_event_fault", sa.String(32)),
        sa.Column("extra_info", sa.String(200)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("ended_info", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_der_alarms_station", "der_alarms", ["station_id", "id"])
    op.create_table(
        "der_start_stops",
        _id(),
        _station(),
        sa.Column("control_id", sa.String(36), nullable=False),
        sa.Column("started", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_ids", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_der_start_stops_station", "der_start_stops", ["station_id", "id"])


def downgrade() -> None:
    op.drop_table("der_start_stops")
    op.drop_table("der_alarms")
    op.drop_table("der_reports")
    op.drop_table("der_controls")
