"""charging limits stations tell of: the limit's source and the report

`charging_profiles.limit_source` is who set a profile a station told Volta
of (2.0.1 ChargingLimitSourceEnumType: CSO, EMS, SO, Other), so that a
ClearedChargingLimit (K13) finds the limits of its source; `report_id` is
the requestId of the ReportChargingProfiles (K09) a row came from, so that a
new report replaces the previous one. Both are null on the rows Volta sends.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In place (no batch copy on SQLite): nullable columns need no rewrite.
    op.add_column("charging_profiles", sa.Column("limit_source", sa.String(8)))
    op.add_column("charging_profiles", sa.Column("report_id", sa.Integer()))


def downgrade() -> None:
    op.execute("ALTER TABLE charging_profiles DROP COLUMN report_id")
    op.execute("ALTER TABLE charging_profiles DROP COLUMN limit_source")
