"""OCPP 2.1 tariffs and cost in the station: the tariffs a station reported
(GetTariffs) and the cost it calculated for a transaction (costDetails)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "station_tariffs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "station_id",
            sa.String(48),
            sa.ForeignKey("stations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tariff_id", sa.String(60), nullable=False),
        sa.Column("tariff_kind", sa.String(20), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True)),
        sa.Column("evse_ids", JSON),
        sa.Column("id_tokens", JSON),
        sa.Column("volta_tariff_id", sa.Integer),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_station_tariffs_station", "station_tariffs", ["station_id"])
    op.create_table(
        "station_costs",
        sa.Column(
            "transaction_id",
            sa.Integer,
            sa.ForeignKey("transactions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3)),
        sa.Column("type_of_cost", sa.String(20)),
        sa.Column("total_excl_tax", sa.Numeric(20, 6)),
        sa.Column("total_incl_tax", sa.Numeric(20, 6)),
        sa.Column("tariff_id", sa.String(60)),
        sa.Column("cost_details", JSON, nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("station_costs")
    op.drop_index("ix_station_tariffs_station", table_name="station_tariffs")
    op.drop_table("station_tariffs")
