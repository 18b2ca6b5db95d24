"""monitoring: variable monitors, monitoring reports, base and level, station events

`variable_monitors` keeps each monitor Volta set on a station (2.0.1 N04)
with the station's answer, and those the station reported (N02);
`monitoring_reports` the GetMonitoringReport requests and their parts;
`station_monitoring` the base (N03) and level (N05) last set;
`monitoring_events` the NotifyEvent data (N07/N08), pruned by housekeeping.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "variable_monitors",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("monitor_id", sa.Integer()),
        sa.Column("component", sa.String(50), nullable=False),
        sa.Column("component_instance", sa.String(50)),
        sa.Column("evse_id", sa.Integer()),
        sa.Column("connector_id", sa.Integer()),
        sa.Column("variable", sa.String(50), nullable=False),
        sa.Column("variable_instance", sa.String(50)),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("transaction", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("status_info", sa.String(600)),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("set_name", sa.String(40)),
        sa.Column("clear_status", sa.String(16)),
        sa.Column("reported_in", sa.Integer()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("station_id", "monitor_id", name="uq_variable_monitors_station_id"),
    )
    op.create_index("ix_variable_monitors_station", "variable_monitors", ["station_id", "id"])
    op.create_table(
        "monitoring_reports",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("criteria", JSON),
        sa.Column("component_variables", JSON),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("monitors", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], ondelete="CASCADE"),
    )
    op.create_index(
        "ix_monitoring_reports_station", "monitoring_reports", ["station_id", "request_id"]
    )
    op.create_table(
        "station_monitoring",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("monitoring_base", sa.String(16)),
        sa.Column("base_status", sa.String(16)),
        sa.Column("monitoring_level", sa.SmallInteger()),
        sa.Column("level_status", sa.String(16)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], ondelete="CASCADE"),
    )
    op.create_table(
        "monitoring_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(10), nullable=False),
        sa.Column("cause", sa.Integer()),
        sa.Column("actual_value", sa.String(2500), nullable=False),
        sa.Column("tech_code", sa.String(50)),
        sa.Column("tech_info", sa.String(500)),
        sa.Column("cleared", sa.Boolean(), nullable=False),
        sa.Column("transaction_id", sa.String(36)),
        sa.Column("component", sa.String(50), nullable=False),
        sa.Column("component_instance", sa.String(50)),
        sa.Column("evse_id", sa.Integer()),
        sa.Column("connector_id", sa.Integer()),
        sa.Column("variable", sa.String(50), nullable=False),
        sa.Column("variable_instance", sa.String(50)),
        sa.Column("variable_monitoring_id", sa.Integer()),
        sa.Column("event_notification_type", sa.String(24), nullable=False),
        sa.Column("severity", sa.SmallInteger()),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_monitoring_events_station", "monitoring_events", ["station_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_monitoring_events_station", table_name="monitoring_events")
    op.drop_table("monitoring_events")
    op.drop_table("station_monitoring")
    op.drop_index("ix_monitoring_reports_station", table_name="monitoring_reports")
    op.drop_table("monitoring_reports")
    op.drop_index("ix_variable_monitors_station", table_name="variable_monitors")
    op.drop_table("variable_monitors")
