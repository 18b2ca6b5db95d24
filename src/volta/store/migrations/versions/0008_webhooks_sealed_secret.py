"""webhooks: room for sealed secrets

A webhook's signing secret is kept sealed (AES-GCM, `enc:v1:` + base64url of
nonce, ciphertext and tag: about 115 characters for a `whsec_` secret), no
longer in clear; the column grows from 100 to 255 characters. Volta seals the
secrets kept in clear at its next start (volta.events.webhooks.prepare_secrets):
the key is not in the database, so a migration cannot.

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
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.String(length=100), type_=sa.String(length=255)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.String(length=255), type_=sa.String(length=100)
        )
