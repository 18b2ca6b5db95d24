"""OCPP 1.6 adapter of this block: UpdateFirmware (Firmware Management
profile), SignedUpdateFirmware (the security extension) and their status
notifications; the version a station boots with."""

from __future__ import annotations

from typing import Any

from volta.blocks.firmware import campaigns, service
from volta.blocks.firmware.publications import PublishFirmware, UnpublishFirmware
from volta.blocks.firmware.service import UpdateFirmware
from volta.ocpp.times import format_timestamp
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell, Message, OutgoingTable
from volta.services import CallContext, HandlerTable

V16 = Version.V16

handlers = HandlerTable()
outgoing = OutgoingTable()


@outgoing.builds(UpdateFirmware)
def update_firmware(command: UpdateFirmware) -> Message:
    if command.signed:
        # Security extension (1.6 whitepaper, "Secure firmware update"):
        # chosen when the firmware has a signing certificate and signature.
        firmware: dict[str, Any] = {
            "location": command.location,
            "retrieveDateTime": format_timestamp(command.retrieve_at),
            "signingCertificate": command.signing_certificate,
            "signature": command.signature,
        }
        if command.install_at is not None:
            firmware["installDateTime"] = format_timestamp(command.install_at)
        payload: dict[str, Any] = {"requestId": command.request_id, "firmware": firmware}
        action = "SignedUpdateFirmware"
    else:
        payload = {
            "location": command.location,
            "retrieveDate": format_timestamp(command.retrieve_at),
        }
        action = "UpdateFirmware"
    if command.retries is not None:
        payload["retries"] = command.retries
    if command.retry_interval is not None:
        payload["retryInterval"] = command.retry_interval
    return Message(action, payload)


@outgoing.builds(PublishFirmware)
def publish_firmware(command: PublishFirmware) -> Message:
    raise CannotSpell("publishing firmware on a Local Controller is OCPP 2.0.1 (L03)")


@outgoing.builds(UnpublishFirmware)
def unpublish_firmware(command: UnpublishFirmware) -> Message:
    raise CannotSpell("unpublishing firmware on a Local Controller is OCPP 2.0.1 (L04)")


@handlers.on(V16, "FirmwareStatusNotification")
async def firmware_status(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    # No requestId in 1.6: the station's latest unfinished update.
    row = await service.record_status(ctx.services, ctx.station_id, p["status"])
    campaigns.nudge_after(ctx.services, row)
    return {}


@handlers.on(V16, "SignedFirmwareStatusNotification")
async def signed_firmware_status(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    row = await service.record_status(ctx.services, ctx.station_id, p["status"], p.get("requestId"))
    campaigns.nudge_after(ctx.services, row)
    return {}


@handlers.after(V16, "BootNotification")
async def booted(ctx: CallContext, p: dict[str, Any], response: dict[str, Any]) -> None:
    # provisioning kept the version; an update to it is done (1.6 stations
    # often reboot instead of sending Installed).
    if response.get("status") == "Accepted":
        for campaign_id in await service.booted(
            ctx.services, ctx.station_id, p.get("firmwareVersion")
        ):
            campaigns.nudge(ctx.services, campaign_id)
