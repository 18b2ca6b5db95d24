"""files: stored files (content-addressed) and their per-request links


Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


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


def downgrade() -> None:
    op.drop_table("file_links")
    op.drop_index("ix_files_kind_created", table_name="files")
    op.drop_table("files")
