"""OCPP 2.0.1 adapter of this block: UpdateFirmware (L01 secure, L02 plain),
FirmwareStatusNotification, and the version a station boots with."""

from __future__ import annotations

from typing import Any

from volta.blocks.firmware import campaigns, publications, service
from volta.blocks.firmware.publications import PublishFirmware, UnpublishFirmware
from volta.blocks.firmware.service import UpdateFirmware
from volta.ocpp.times import format_timestamp
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

V201 = Version.V201

handlers = HandlerTable()
outgoing = OutgoingTable()


@outgoing.builds(UpdateFirmware)
def update_firmware(command: UpdateFirmware) -> Message:
    firmware: dict[str, Any] = {
        "location": command.location,
        "retrieveDateTime": format_timestamp(command.retrieve_at),
    }
    if command.install_at is not None:
        firmware["installDateTime"] = format_timestamp(command.install_at)
    if command.signed:
        # L01.FR.01: secure update, with the certificate and the signature.
        firmware["signingCertificate"] = command.signing_certificate
        firmware["signature"] = command.signature
    payload: dict[str, Any] = {"requestId": command.request_id, "firmware": firmware}
    if command.retries is not None:
        payload["retries"] = command.retries
    if command.retry_interval is not None:
        payload["retryInterval"] = command.retry_interval
    return Message("UpdateFirmware", payload)


@outgoing.builds(PublishFirmware)
def publish_firmware(command: PublishFirmware) -> Message:
    payload: dict[str, Any] = {
        "location": command.location,
        "checksum": command.checksum,
        "requestId": command.request_id,
    }
    if command.retries is not None:
        payload["retries"] = command.retries
    if command.retry_interval is not None:
        payload["retryInterval"] = command.retry_interval
    return Message("PublishFirmware", payload)


@outgoing.builds(UnpublishFirmware)
def unpublish_firmware(command: UnpublishFirmware) -> Message:
    return Message("UnpublishFirmware", {"checksum": command.checksum})


@handlers.on(V201, "PublishFirmwareStatusNotification")
async def publish_status(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    await publications.record_status(
        ctx.services, ctx.station_id, p["status"], p.get("requestId"), p.get("location")
    )
    return {}


@handlers.on(V201, "FirmwareStatusNotification")
async def firmware_status(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    # requestId is absent only for a triggered Idle (L01.FR.20).
    row = await service.record_status(ctx.services, ctx.station_id, p["status"], p.get("requestId"))
    campaigns.nudge_after(ctx.services, row)
    return {}


@handlers.after(V201, "BootNotification")
async def booted(ctx: CallContext, p: dict[str, Any], response: dict[str, Any]) -> None:
    if response.get("status") == "Accepted":
        version = p["chargingStation"].get("firmwareVersion")
        for campaign_id in await service.booted(ctx.services, ctx.station_id, version):
            campaigns.nudge(ctx.services, campaign_id)
