"""OCPP dateTime values (RFC 3339, UTC)."""

from __future__ import annotations

import datetime as dt


def parse_timestamp(value: str | None) -> dt.datetime | None:
    """OCPP dateTime (RFC 3339); a missing zone is read as UTC, as most
    chargers that omit it mean."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def format_timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
