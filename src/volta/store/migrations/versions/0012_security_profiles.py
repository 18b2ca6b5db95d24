"""security profiles: the profile each station connects with (never lowered)

`stations.security_profile`: the OCPP security profile (1, 2, 3) a station
connects with, null until its first connection after this upgrade (then set
to the profile of that connection); a connection below it is refused.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In place (no batch copy on SQLite): a nullable column needs no rewrite.
    op.add_column("stations", sa.Column("security_profile", sa.SmallInteger()))


def downgrade() -> None:
    op.execute("ALTER TABLE stations DROP COLUMN security_profile")
