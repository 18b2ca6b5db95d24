"""Stations played over real WebSockets for the certificate tests (the
conformance harness's Station), on both databases (the `volta` fixture)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from tests.conformance.conftest import Answer, Station, station
from tests.helpers import register
from volta.app import Volta

PASSWORD = "conformance-station-pass"


@contextlib.asynccontextmanager
async def booted(
    volta: Volta, station_id: str, protocol: str, answers: dict[str, Answer] | None = None
) -> AsyncIterator[Station]:
    """A registered, booted (Accepted) station answering the CSMS from `answers`."""
    await register(volta, station_id, password=PASSWORD)
    async with station(volta, station_id, protocol, answers) as st:
        if protocol == "ocpp2.0.1":
            boot = {"reason": "PowerUp", "chargingStation": {"model": "M1", "vendorName": "V"}}
        else:
            boot = {"chargePointVendor": "V", "chargePointModel": "M1"}
        assert (await st.call("BootNotification", boot))["status"] == "Accepted"
        yield st
