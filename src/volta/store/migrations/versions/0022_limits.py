"""OCPP 2.1 transaction limits held by the station

`transactions.limit_sent` is the transactionLimit Volta last put in a 2.1
station's TransactionEventResponse (E16); `station_limit` what the station
last reported holding (transactionInfo.transactionLimit) and
`station_limit_at` when; `limit_reached_by` who found a limit reached:
`volta` (its own watch, 1.6/2.0.1 and 2.1 fallback) or `station` (a 2.1
*LimitReached trigger or stoppedReason).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # In place (no batch copy on SQLite): nullable columns need no rewrite.
    op.add_column("transactions", sa.Column("limit_sent", _json()))
    op.add_column("transactions", sa.Column("station_limit", _json()))
    op.add_column("transactions", sa.Column("station_limit_at", sa.DateTime(timezone=True)))
    op.add_column("transactions", sa.Column("limit_reached_by", sa.String(8)))


def downgrade() -> None:
    for column in ("limit_reached_by", "station_limit_at", "station_limit", "limit_sent"):
        op.execute(f"ALTER TABLE transactions DROP COLUMN {column}")
