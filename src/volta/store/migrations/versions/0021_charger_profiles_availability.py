"""charger profiles and availability: matched profiles, status history, maintenance windows

(Placeholder written before the work was split; its owner fills it in.)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
