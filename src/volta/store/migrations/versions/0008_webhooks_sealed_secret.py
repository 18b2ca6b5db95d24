"""webhooks: room for sealed secrets

A webhook's signing secret is kept sealed (AES-GCM, `enc:v1:` + base64url of
nonce, ciphertext and tag: about 115 characters for a `whsec_` secret), no
longer in clear; the column grows from 100 to 255 characters. Volta seals the
secrets kept in clear at its next start (volta.events.webhooks.prepare_secrets):
the key is not in the database, so a migration cannot.

The delivery log no longer keeps the transport's own words for a failure
(they told open ports from closed ones): what is there is rewritten to the
outcomes Volta now records, `timeout` or `connection failed`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_secret_column("VARCHAR(100)", "VARCHAR(255)")
    else:
        op.alter_column(
            "webhooks", "secret", existing_type=sa.String(length=100), type_=sa.String(length=255)
        )
    op.execute(
        "UPDATE webhook_deliveries SET last_error = 'timeout' WHERE last_error LIKE '%Timeout%'"
    )
    op.execute(
        "UPDATE webhook_deliveries SET last_error = 'connection failed' "
        "WHERE last_error IS NOT NULL AND last_error NOT LIKE 'HTTP %' "
        "AND last_error <> 'timeout'"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_secret_column("VARCHAR(255)", "VARCHAR(100)")
    else:
        op.alter_column(
            "webhooks", "secret", existing_type=sa.String(length=255), type_=sa.String(length=100)
        )


def _sqlite_secret_column(old: str, new: str) -> None:
    """SQLite keeps a column's declared type only in the table's CREATE
    statement (and never enforces a VARCHAR's length). A batch migration
    would copy the table and drop the old one, and with foreign keys on, the
    drop deletes every webhook's deliveries (ON DELETE CASCADE): this edits
    the declared type in place instead, the table and its rows untouched."""
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) "
        "WHERE type = 'table' AND name = 'webhooks'",
        (f"secret {old}", f"secret {new}"),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
