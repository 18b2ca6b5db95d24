"""Vendor-specific DataTransfer from a station.

Vendor extensions are looked up by vendorId (`VENDORS`); an unknown vendorId
gets the answer both versions define for it (1.6 §4.3, 2.0.1 P01.FR.03).
The frame is kept in the frame log either way.

- `org.openchargealliance.iso15118pnc` (1.6 only): the OCA's "Using ISO 15118
  Plug & Charge with OCPP 1.6", handled by the plug_and_charge block.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from volta.blocks.plug_and_charge import v16 as pnc16
from volta.blocks.plug_and_charge.wrapping import VENDOR_ID as PNC_VENDOR_ID
from volta.ocpp.versions import Version
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()

Vendor = Callable[[CallContext, dict[str, Any]], Awaitable[dict[str, Any]]]

# (version, vendorId) -> the extension's handler.
VENDORS: dict[tuple[Version, str], Vendor] = {
    (Version.V16, PNC_VENDOR_ID): pnc16.data_transfer,
}


@handlers.on(Version.V16, "DataTransfer")
@handlers.on(Version.V201, "DataTransfer")
async def data_transfer(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    vendor = VENDORS.get((ctx.version, p["vendorId"]))
    if vendor is None:
        return {"status": "UnknownVendorId"}
    return await vendor(ctx, p)
