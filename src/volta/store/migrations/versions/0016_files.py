"""files: stored files (content-addressed), their per-request links, log requests


Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("station_id", sa.String(48)),
        sa.Column("signing_certificate", sa.Text),
        sa.Column("signature", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_files_kind_created", "files", ["kind", "created_at"])
    op.create_table(
        "file_links",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("file_id", sa.String(36)),
        sa.Column("kind", sa.String(16)),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_file_links_expires", "file_links", ["expires_at"])
    op.create_index("ix_files_sha256", "files", ["sha256"])
    op.create_table(
        "log_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("log_type", sa.String(16), nullable=False),
        sa.Column("scheme", sa.String(8), nullable=False),
        sa.Column("link_token", sa.String(64), nullable=False),
        sa.Column("command_id", sa.String(36)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("history", JSON, nullable=False),
        sa.Column("filename", sa.String(255)),
        sa.Column("file_id", sa.String(36)),
        sa.Column("oldest", sa.DateTime(timezone=True)),
        sa.Column("latest", sa.DateTime(timezone=True)),
        sa.Column("retries", sa.Integer),
        sa.Column("retry_interval", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_log_requests_station", "log_requests", ["station_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_log_requests_station", table_name="log_requests")
    op.drop_table("log_requests")
    op.drop_index("ix_files_sha256", table_name="files")
    op.drop_index("ix_file_links_expires", table_name="file_links")
    op.drop_table("file_links")
    op.drop_index("ix_files_kind_created", table_name="files")
    op.drop_table("files")
