"""OCPP 1.6 adapter of this block: the OCA's "Using ISO 15118 Plug & Charge
with OCPP 1.6" (v1.0): the 2.0.1 Plug & Charge messages carried in
DataTransfer, vendorId `org.openchargealliance.iso15118pnc`, messageId the
2.0.1 action, `data` the JSON text of the 2.0.1 payload. The answer is
DataTransfer Accepted with the 2.0.1 response as JSON text in `data`.

The data_transfer block routes this vendorId here (`data_transfer()`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from volta.blocks.certificates import service as certificates
from volta.blocks.certificates.csr import V2G
from volta.blocks.plug_and_charge import service
from volta.blocks.plug_and_charge.wrapping import VENDOR_ID, unwrap_answer
from volta.ocpp.errors import OcppError
from volta.ocpp.versions import Version
from volta.outgoing import OutgoingTable
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()

Incoming = Callable[[CallContext, dict[str, Any]], Awaitable[dict[str, Any]]]


async def _authorize(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    return await service.authorize(ctx.services, ctx.station_id, p)


async def _certificate_status(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    return await service.certificate_status(ctx.services, p)


async def _ev_certificate(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    return await service.ev_certificate(ctx.services, ctx.station_id, p)


async def _sign_certificate(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    """The station's V2G certificate CSR (the whitepaper's SignCertificate:
    its charge point certificate goes through 1.6's own SignCertificate),
    checked by the certificates block; signed after the answer
    (`sign_after_answer`)."""
    if p.get("certificateType", V2G) != V2G:
        return {"status": "Rejected"}
    accepted = await certificates.receive_csr(ctx.services, ctx.station_id, p["csr"], V2G)
    return {"status": "Accepted" if accepted else "Rejected"}


# What a 1.6 station may send wrapped (the whitepaper's station-to-CSMS
# messages).
INCOMING: dict[str, Incoming] = {
    "Authorize": _authorize,
    "GetCertificateStatus": _certificate_status,
    "Get15118EVCertificate": _ev_certificate,
    "SignCertificate": _sign_certificate,
}


async def data_transfer(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    """DataTransfer.conf for a DataTransfer.req of VENDOR_ID."""
    handler = INCOMING.get(p.get("messageId") or "")
    if handler is None:
        return {"status": "UnknownMessageId"}
    action = p["messageId"]
    try:
        inner = orjson.loads(p.get("data") or "")
        if not isinstance(inner, dict):
            raise ValueError("data is not a JSON object")
        # The wrapped payload must be a valid 2.0.1 request.
        ctx.services.schemas.validate(Version.V201, action, inner)
    except (orjson.JSONDecodeError, ValueError, OcppError):
        return {"status": "Rejected"}
    answer = await handler(ctx, inner)
    return {"status": "Accepted", "data": orjson.dumps(answer).decode()}


@handlers.after(Version.V16, "DataTransfer")
async def sign_after_answer(
    ctx: CallContext, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """A wrapped SignCertificate answered Accepted: the CA signs it and the
    chain goes back as a wrapped CertificateSigned (the certificates block
    spells it so for a 1.6 station)."""
    if request.get("vendorId") != VENDOR_ID or request.get("messageId") != "SignCertificate":
        return
    answer = unwrap_answer(response)
    if answer is None or answer.get("status") != "Accepted":
        return
    inner = orjson.loads(request["data"])
    await certificates.issue(ctx.services, ctx.station_id, Version.V16, inner["csr"], V2G)
