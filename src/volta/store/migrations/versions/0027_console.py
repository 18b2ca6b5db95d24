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
    # console part D (event log): the log filtered by station, newest first.
    op.create_index("ix_events_station", "events", ["station_id", "id"])
    # A webhook's deliveries newest first (its page, the list's last delivery).
    op.create_index("ix_deliveries_webhook", "webhook_deliveries", ["webhook_id", "id"])
    # (end of part D)
    # -- part B (sessions): the session list's order and its token filter --
    op.create_index("ix_transactions_started", "transactions", ["started_at", "id"])
    op.create_index("ix_transactions_token_started", "transactions", ["id_token", "started_at"])
    # -- (end of part B) --
    # Part A (stations): the counters (web/counters.py) count active sessions
    # of the whole fleet; without it that is a scan of every session.
    op.create_index(
        "ix_transactions_status_station", "transactions", ["status", "station_id", "evse_id"]
    )
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
    op.drop_index("ix_deliveries_webhook", table_name="webhook_deliveries")  # console part D
    op.drop_index("ix_events_station", table_name="events")  # console part D
    # -- part B (sessions) --
    op.drop_index("ix_transactions_token_started", "transactions")
    op.drop_index("ix_transactions_started", "transactions")
    # -- (end of part B) --
    # Part A (stations).
    op.drop_index("ix_transactions_status_station", table_name="transactions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("time_zone")
        batch.drop_column("language")
