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

from volta.blocks.plug_and_charge import service
from volta.ocpp.errors import OcppError
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

VENDOR_ID = "org.openchargealliance.iso15118pnc"

handlers = HandlerTable()
outgoing = OutgoingTable()

Incoming = Callable[[CallContext, dict[str, Any]], Awaitable[dict[str, Any]]]


async def _authorize(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    return await service.authorize(ctx.services, ctx.station_id, p)


async def _certificate_status(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    return await service.certificate_status(ctx.services, p)


async def _ev_certificate(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    return await service.ev_certificate(ctx.services, ctx.station_id, p)


# What a 1.6 station may send wrapped (the whitepaper's station-to-CSMS
# messages). SignCertificate belongs to the certificates block's CA: the
# integrator adds it here (`INCOMING["SignCertificate"] = ...`).
INCOMING: dict[str, Incoming] = {
    "Authorize": _authorize,
    "GetCertificateStatus": _certificate_status,
    "Get15118EVCertificate": _ev_certificate,
}

# What Volta may send wrapped (the whitepaper's CSMS-to-station messages).
OUTGOING = frozenset(
    {
        "CertificateSigned",
        "DeleteCertificate",
        "GetInstalledCertificateIds",
        "InstallCertificate",
        "TriggerMessage",
    }
)


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


def wrap(message: Message) -> Message:
    """A 2.0.1 Plug & Charge CALL (CertificateSigned, InstallCertificate, ...)
    as the DataTransfer a 1.6 station gets; its answer's `data` is the 2.0.1
    response in JSON (`unwrap_answer`)."""
    if message.action not in OUTGOING:
        raise ValueError(f"{message.action} is not sent wrapped to 1.6 stations")
    return Message(
        "DataTransfer",
        {
            "vendorId": VENDOR_ID,
            "messageId": message.action,
            "data": orjson.dumps(message.payload).decode(),
        },
    )


def unwrap_answer(answer: dict[str, Any]) -> dict[str, Any] | None:
    """The 2.0.1 response inside a DataTransfer.conf, None if it has none."""
    if answer.get("status") != "Accepted":
        return None
    try:
        inner = orjson.loads(answer.get("data") or "")
    except orjson.JSONDecodeError:
        return None
    return inner if isinstance(inner, dict) else None
