"""security events and password rotation

`security_events` is the security event log (stations' SecurityEventNotification
and Volta's own: failed sign-ins, certificates refused, downgrade attempts);
`station_passwords` holds each station's latest password rotation, with the
hash of the new password while the old one is still accepted.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("station_id", sa.String(48)),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("tech_info", sa.String(255)),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_security_events_station", "security_events", ["station_id", "id"])
    op.create_index("ix_security_events_critical", "security_events", ["critical", "id"])
    op.create_table(
        "station_passwords",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("next_hash", sa.String(200)),
        sa.Column("replaces_hash", sa.String(200)),
        sa.Column("started_by", sa.String(16), nullable=False),
        sa.Column("command_id", sa.String(36)),
        sa.Column("detail", sa.String(200)),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("rotated_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("station_passwords")
    op.drop_index("ix_security_events_critical", "security_events")
    op.drop_index("ix_security_events_station", "security_events")
    op.drop_table("security_events")
