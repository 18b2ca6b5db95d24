"""device model: attributes, characteristics and what was set per 2.0.1
variable; reports by requestId; 1.6 configuration keys

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import volta.store.models

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = volta.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("device_variables", schema=None) as batch_op:
        # Characteristics get columns of their own (searchable, typed).
        batch_op.drop_column("characteristics")
        batch_op.add_column(sa.Column("persistent", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("constant", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("unit", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("data_type", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("min_limit", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("max_limit", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("values_list", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("supports_monitoring", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("attribute_status", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("status_info", JSON, nullable=True))
        batch_op.add_column(sa.Column("answered_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("requested_value", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("requested_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("requested_by", sa.String(length=64), nullable=True))
    op.create_table(
        "device_reports",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.String(length=32), nullable=True),
        sa.Column("criteria", JSON, nullable=True),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.Column("requested_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("completed_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("station_id", "request_id"),
    )
    op.create_table(
        "configuration_keys",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("readonly", sa.Boolean(), nullable=True),
        sa.Column("unknown", sa.Boolean(), nullable=False),
        sa.Column("requested_value", sa.Text(), nullable=True),
        sa.Column("requested_at", WHEN, nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.Column("answer", sa.String(length=16), nullable=True),
        sa.Column("answered_at", WHEN, nullable=True),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("station_id", "key"),
    )


def downgrade() -> None:
    op.drop_table("configuration_keys")
    op.drop_table("device_reports")
    with op.batch_alter_table("device_variables", schema=None) as batch_op:
        for name in (
            "requested_by",
            "requested_at",
            "requested_value",
            "answered_at",
            "status_info",
            "attribute_status",
            "supports_monitoring",
            "values_list",
            "max_limit",
            "min_limit",
            "data_type",
            "unit",
            "constant",
            "persistent",
        ):
            batch_op.drop_column(name)
        batch_op.add_column(sa.Column("characteristics", JSON, nullable=True))
