"""meter values keep one index: by transaction

No query reads meter values by station (charts, CDRs, the running cost and
the last reading all go by transaction), and every sampled value paid for
the second index on the hot path: one B-tree insert fewer per stored value.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_meter_values_station", table_name="meter_values")


def downgrade() -> None:
    op.create_index("ix_meter_values_station", "meter_values", ["station_id", "timestamp"])
