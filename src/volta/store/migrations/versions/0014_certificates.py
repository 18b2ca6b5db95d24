"""certificate authority, signed and installed certificates

`ca_certificates`: Volta's CAs, their private keys sealed (secretbox);
`certificate_requests`: the CSRs stations sent (SignCertificate);
`issued_certificates`: what the CA issued and the station's answer to
CertificateSigned; `installed_certificates`: each station's last
GetInstalledCertificateIds answer (docs/security.md, "Certificates").

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ca_certificates",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("sealed_key", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "certificate_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("certificate_type", sa.String(32), nullable=False),
        sa.Column("csr_pem", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(255)),
        sa.Column("certificate_id", sa.Integer()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_certificate_requests_station", "certificate_requests", ["station_id", "created_at"]
    )
    op.create_table(
        "issued_certificates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("certificate_type", sa.String(32), nullable=False),
        sa.Column("serial_number", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("chain_pem", sa.Text(), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("command_id", sa.String(36)),
        sa.Column("renewal_requested_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_issued_certificates_station",
        "issued_certificates",
        ["station_id", "certificate_type"],
    )
    op.create_index("ix_issued_certificates_not_after", "issued_certificates", ["not_after"])
    op.create_table(
        "installed_certificates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("certificate_type", sa.String(32), nullable=False),
        sa.Column("hash_algorithm", sa.String(8), nullable=False),
        sa.Column("issuer_name_hash", sa.String(128), nullable=False),
        sa.Column("issuer_key_hash", sa.String(128), nullable=False),
        sa.Column("serial_number", sa.String(40), nullable=False),
        sa.Column("child_certificates", JSON),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_installed_certificates_station", "installed_certificates", ["station_id"])


def downgrade() -> None:
    op.drop_index("ix_installed_certificates_station", "installed_certificates")
    op.drop_table("installed_certificates")
    op.drop_index("ix_issued_certificates_not_after", "issued_certificates")
    op.drop_index("ix_issued_certificates_station", "issued_certificates")
    op.drop_table("issued_certificates")
    op.drop_index("ix_certificate_requests_station", "certificate_requests")
    op.drop_table("certificate_requests")
    op.drop_table("ca_certificates")
