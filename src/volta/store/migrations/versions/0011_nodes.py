"""several nodes: the nodes table, the connection holding a station, webhook senders

`nodes` holds each running Volta process of a deployment and its lease;
`stations.connection_id` is the connection that holds a station now
("<node id>/<serial>"), so that only that connection's close records the
station offline and every node knows which node answers for it;
`webhooks.dispatch_node` / `dispatch_until` is the lease of the one node
that sends a webhook's deliveries (docs/scale-out.md).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stations", sa.Integer(), nullable=False),
        sa.Column("leader", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_nodes_lease_until", "nodes", ["lease_until"])
    # In place (no batch copy on SQLite): nullable columns need no rewrite.
    op.add_column("stations", sa.Column("connection_id", sa.String(64)))
    op.add_column("webhooks", sa.Column("dispatch_node", sa.String(40)))
    op.add_column("webhooks", sa.Column("dispatch_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.execute("ALTER TABLE webhooks DROP COLUMN dispatch_until")
    op.execute("ALTER TABLE webhooks DROP COLUMN dispatch_node")
    op.execute("ALTER TABLE stations DROP COLUMN connection_id")
    op.drop_index("ix_nodes_lease_until", "nodes")
    op.drop_table("nodes")
