"""who ended a transaction and why (abandoned, refused, operator)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("ended_by", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("end_note", sa.String(length=200), nullable=True))
    # Sessions that ended before this revision ended by the station's message.
    op.execute("UPDATE transactions SET ended_by = 'station' WHERE status = 'Ended'")
    op.create_index(
        "ix_transactions_station_evse_active", "transactions", ["station_id", "evse_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_station_evse_active", table_name="transactions")
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("end_note")
        batch.drop_column("ended_by")
