"""Plug & Charge: contract certificates and OCSP

No tables: Plug & Charge maps an eMAID to the existing id_tokens, keeps OCSP
answers in a bounded in-memory cache (until their nextUpdate), and stores
nothing else. The revision stays so that the chain 0012-0015 is whole.

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
