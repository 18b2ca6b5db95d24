"""OCPP 2.0.1 adapter of this block: incoming handlers and outgoing builders.

Authorize with contract certificates (C07) is answered by the authorization
block's Authorize handler, which hands certificate data to this block."""

from __future__ import annotations

from typing import Any

from volta.blocks.plug_and_charge import service
from volta.ocpp.versions import Version
from volta.outgoing import OutgoingTable
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()


@handlers.on(Version.V201, "GetCertificateStatus")
async def get_certificate_status(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    """M06: the OCSP status of a V2G certificate of the station."""
    return await service.certificate_status(ctx.services, p)


@handlers.on(Version.V201, "Get15118EVCertificate")
async def get_15118_ev_certificate(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    """M01 / M02: an EV's contract certificate, installed or updated."""
    return await service.ev_certificate(ctx.services, ctx.station_id, p)
