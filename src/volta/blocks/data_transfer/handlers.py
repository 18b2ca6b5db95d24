"""Vendor-specific DataTransfer from a station.

No vendor extension is installed yet, so every vendorId is unknown: the
answer both versions define for that (1.6 §4.3, 2.0.1 P01.FR.03). The frame
is kept in the frame log.
"""

from __future__ import annotations

from typing import Any

from volta.ocpp.versions import Version
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()


@handlers.on(Version.V16, "DataTransfer")
@handlers.on(Version.V201, "DataTransfer")
async def data_transfer(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"status": "UnknownVendorId"}
