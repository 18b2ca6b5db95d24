"""Plug & Charge: contract certificates and OCSP

(Placeholder written before the work was split; its owner fills it in.)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 21:40:00
"""

from __future__ import annotations

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
