"""firmware: firmware updates and campaigns

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "firmware_updates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("campaign_id", sa.Integer),
        sa.Column("file_id", sa.String(36)),
        sa.Column("location", sa.String(512), nullable=False),
        sa.Column("version", sa.String(50)),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("signed", sa.Boolean, nullable=False),
        sa.Column("retrieve_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("install_at", sa.DateTime(timezone=True)),
        sa.Column("retries", sa.Integer),
        sa.Column("retry_interval", sa.Integer),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32)),
        sa.Column("detail", sa.String(255)),
        sa.Column("history", JSON, nullable=False),
        sa.Column("command_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_firmware_updates_station", "firmware_updates", ["station_id", "id"])
    op.create_index(
        "ix_firmware_updates_campaign", "firmware_updates", ["campaign_id", "station_id"]
    )
    op.create_table(
        "firmware_publications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("file_id", sa.String(36)),
        sa.Column("location", sa.String(512), nullable=False),
        sa.Column("checksum", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32)),
        sa.Column("detail", sa.String(255)),
        sa.Column("published_at", JSON),
        sa.Column("history", JSON, nullable=False),
        sa.Column("command_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_firmware_publications_station", "firmware_publications", ["station_id", "id"]
    )
    op.create_table(
        "firmware_campaigns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("file_id", sa.String(36)),
        sa.Column("location", sa.String(512)),
        sa.Column("version", sa.String(50)),
        sa.Column("signing_certificate", sa.Text),
        sa.Column("signature", sa.Text),
        sa.Column("target", JSON, nullable=False),
        sa.Column("canary", sa.Integer, nullable=False),
        sa.Column("max_in_progress", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("failure_threshold", sa.Float, nullable=False),
        sa.Column("window_start", sa.String(5)),
        sa.Column("window_end", sa.String(5)),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("forgiven", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(255)),
        sa.Column("created_by", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "firmware_campaign_stations",
        sa.Column(
            "campaign_id",
            sa.Integer,
            sa.ForeignKey("firmware_campaigns.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("canary", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False),
        sa.Column("update_id", sa.Integer),
        sa.Column("detail", sa.String(255)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("firmware_campaign_stations")
    op.drop_table("firmware_campaigns")
    op.drop_index("ix_firmware_publications_station", table_name="firmware_publications")
    op.drop_table("firmware_publications")
    op.drop_index("ix_firmware_updates_campaign", table_name="firmware_updates")
    op.drop_index("ix_firmware_updates_station", table_name="firmware_updates")
    op.drop_table("firmware_updates")
