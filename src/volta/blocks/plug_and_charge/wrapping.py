"""The OCA's "Using ISO 15118 Plug & Charge with OCPP 1.6": how a 2.0.1 Plug &
Charge message is carried in a 1.6 DataTransfer (vendorId VENDOR_ID,
messageId the 2.0.1 action, `data` the JSON text of the 2.0.1 payload) and
how its answer is read. Kept apart from v16.py so that the certificates
block spells its 1.6 V2G messages this way without importing the handlers."""

from __future__ import annotations

from typing import Any

import orjson

from volta.outgoing import Message

VENDOR_ID = "org.openchargealliance.iso15118pnc"

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
