"""The operations console: each user's language and time zone

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        # NULL: the browser's Accept-Language / the site's console_time_zone.
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=True))
    # -- console parts: migrations below this line (one section per part) --
    # -- part C (billing): the CDR list filtered by id token or by flag,
    # newest first; a CDR's flags (audit["flags"]) in a column of their own.
    op.create_index("ix_cdrs_token_end", "cdrs", ["id_token", "end_at"])
    op.add_column("cdrs", sa.Column("flags", sa.String(64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE cdrs SET flags = (SELECT string_agg(f, ',') "
            "FROM jsonb_array_elements_text(audit->'flags') AS f) "
            "WHERE jsonb_typeof(audit->'flags') = 'array' "
            "AND jsonb_array_length(audit->'flags') > 0"
        )
    else:
        op.execute(
            "UPDATE cdrs SET flags = (SELECT group_concat(value, ',') "
            "FROM json_each(cdrs.audit, '$.flags')) "
            "WHERE json_type(audit, '$.flags') = 'array' "
            "AND json_array_length(audit, '$.flags') > 0"
        )
    op.create_index("ix_cdrs_flags_end", "cdrs", ["flags", "end_at"])
    # -- (end of part C)


def downgrade() -> None:
    # part C
    op.drop_index("ix_cdrs_flags_end", table_name="cdrs")
    with op.batch_alter_table("cdrs") as batch:
        batch.drop_column("flags")
    op.drop_index("ix_cdrs_token_end", table_name="cdrs")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("time_zone")
        batch.drop_column("language")
