"""charger profiles and availability: the profile a station matched, the
availability changes, the maintenance windows

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stations", sa.Column("charger_profile", sa.String(64)))
    op.create_table(
        "availability_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("evse_id", sa.Integer),
        sa.Column("connector_id", sa.Integer),
        sa.Column("down", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_availability_changes_station_at", "availability_changes", ["station_id", "at"]
    )
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48)),
        sa.Column("evse_id", sa.Integer),
        sa.Column("site_id", sa.Integer),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("maintenance_windows")
    op.drop_index("ix_availability_changes_station_at", table_name="availability_changes")
    op.drop_table("availability_changes")
    op.execute("ALTER TABLE stations DROP COLUMN charger_profile")
