"""OCPP 2.1 bidirectional power (V2X): the modes a token's contract allows,
what Volta knows of each EVSE's V2X session, and the dynamic values of the
Dynamic charging profiles

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "v2x_token_permissions",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("modes", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "v2x_sessions",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("transaction_id", sa.String(36)),
        sa.Column("available", sa.JSON),
        sa.Column("requested", sa.String(20)),
        sa.Column("allowed", sa.JSON),
        sa.Column("allowed_status", sa.String(20)),
        sa.Column("ev_max_discharge_a", sa.Float),
        sa.Column("ev_max_discharge_w", sa.Float),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "v2x_dynamic_values",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("profile_id", sa.Integer, primary_key=True),
        sa.Column("values", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pulled_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("v2x_dynamic_values")
    op.drop_table("v2x_sessions")
    op.drop_table("v2x_token_permissions")
