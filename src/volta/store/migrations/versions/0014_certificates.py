"""certificate authority, signed and installed certificates

(Placeholder written before the work was split; its owner fills it in.)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 21:40:00
"""

from __future__ import annotations

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
