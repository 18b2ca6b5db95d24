"""OCPP 2.0.1 adapter of customer information: CustomerInformation spelled
(N09 report, N10 clear), NotifyCustomerInformation stored."""

from __future__ import annotations

import logging
from typing import Any

from volta.blocks.customer_information import service
from volta.blocks.customer_information.service import CustomerInformation
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

log = logging.getLogger(__name__)

handlers = HandlerTable()
outgoing = OutgoingTable()


@outgoing.builds(CustomerInformation)
def customer_information(command: CustomerInformation) -> Message:
    customer = command.customer
    payload: dict[str, Any] = {
        "requestId": command.request_id,
        "report": command.report,
        "clear": command.clear,
    }
    # One identifier only (TC_N_62: the others omitted).
    if customer.id_token:
        payload["idToken"] = {"idToken": customer.id_token, "type": customer.id_token_type}
    elif customer.certificate:
        payload["customerCertificate"] = customer.certificate
    else:
        payload["customerIdentifier"] = customer.identifier
    return Message("CustomerInformation", payload)


@handlers.on(Version.V201, "NotifyCustomerInformation")
async def notify_customer_information(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    if not await service.notify(ctx.services.db, ctx.station_id, p):
        log.info(
            "%s: NotifyCustomerInformation for request %s, which Volta did not send",
            ctx.station_id,
            p["requestId"],
        )
    return {}
