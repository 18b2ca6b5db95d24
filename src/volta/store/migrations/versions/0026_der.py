"""OCPP 2.1 DER control

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
