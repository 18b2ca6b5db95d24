"""smart charging: charging profiles, sites and allocations

Charging profiles sent to (or reported by) stations with their answers; a
tree of sites and circuits, each with its limit; what the allocator gave
each EVSE; and the site a station hangs from (`stations.site_id`, added in
place, without a foreign key, so that SQLite need not copy the table).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "charging_profiles",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "station_id",
            sa.String(48),
            sa.ForeignKey("stations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("stack_level", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("transaction_id", sa.String(36)),
        sa.Column("profile", JSON, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("command_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_charging_profiles_station", "charging_profiles", ["station_id", "evse_id", "status"]
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="RESTRICT")),
        sa.Column("max_current_a", sa.Float()),
        sa.Column("max_power_w", sa.Float()),
        sa.Column("phases", sa.Integer(), nullable=False),
        sa.Column("voltage_v", sa.Float(), nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("min_current_a", sa.Float(), nullable=False),
        sa.Column("group_priorities", JSON),
        sa.Column("meter_station_id", sa.String(48)),
        sa.Column("non_ev_load_a", JSON),
        sa.Column("non_ev_load_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sites_parent_id", "sites", ["parent_id"])
    op.create_table(
        "evse_allocations",
        sa.Column(
            "station_id",
            sa.String(48),
            sa.ForeignKey("stations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("evse_id", sa.Integer(), primary_key=True),
        sa.Column("site_id", sa.Integer()),
        sa.Column("limit_a", sa.Float(), nullable=False),
        sa.Column("phases", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(36)),
        sa.Column("profile_id", sa.Integer()),
        sa.Column("departure_at", sa.DateTime(timezone=True)),
        sa.Column("energy_needed_wh", sa.Float()),
        sa.Column("ev_min_current_a", sa.Float()),
        sa.Column("ev_max_current_a", sa.Float()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_evse_allocations_site_id", "evse_allocations", ["site_id"])
    op.add_column("stations", sa.Column("site_id", sa.Integer()))
    op.create_index("ix_stations_site_id", "stations", ["site_id"])


def downgrade() -> None:
    op.drop_index("ix_stations_site_id", "stations")
    # In place (SQLite >= 3.35): a batch copy would drop the old table, and
    # with foreign keys on that deletes every row that references a station.
    op.execute("ALTER TABLE stations DROP COLUMN site_id")
    op.drop_index("ix_evse_allocations_site_id", "evse_allocations")
    op.drop_table("evse_allocations")
    op.drop_index("ix_sites_parent_id", "sites")
    op.drop_table("sites")
    op.drop_index("ix_charging_profiles_station", "charging_profiles")
    op.drop_table("charging_profiles")
