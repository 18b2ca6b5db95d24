"""OCPP 1.6 Core: BootNotification, Heartbeat, StatusNotification."""

from __future__ import annotations

from typing import Any

from volta.blocks.provisioning import service
from volta.ocpp.times import format_timestamp, parse_timestamp
from volta.ocpp.versions import Version
from volta.services import CallContext, HandlerTable

V16 = Version.V16


handlers = HandlerTable()


@handlers.on(V16, "BootNotification")
async def boot_notification(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    settings = ctx.services.settings
    decision = await service.boot(
        ctx.services.db,
        ctx.station_id,
        service.BootInfo(
            vendor=p["chargePointVendor"],
            model=p["chargePointModel"],
            serial_number=p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber"),
            firmware_version=p.get("firmwareVersion"),
            iccid=p.get("iccid"),
            imsi=p.get("imsi"),
            meter_type=p.get("meterType"),
            meter_serial_number=p.get("meterSerialNumber"),
        ),
        heartbeat_interval=settings.heartbeat_interval,
        retry_interval=settings.boot_retry_interval,
    )
    ctx.station.registration_status = decision.status
    return {
        "status": decision.status,
        "currentTime": format_timestamp(decision.current_time),
        "interval": decision.interval,
    }


@handlers.on(V16, "Heartbeat")
async def heartbeat(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    now = await service.heartbeat(ctx.services.db, ctx.station_id)
    return {"currentTime": format_timestamp(now)}


@handlers.on(V16, "StatusNotification")
async def status_notification(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    connector = p["connectorId"]
    await service.record_status(
        ctx.services.db,
        ctx.station_id,
        evse_id=connector,
        connector_id=connector,
        status=p["status"],
        timestamp=parse_timestamp(p.get("timestamp")),
        error_code=p["errorCode"],
        info=p.get("info"),
        vendor_id=p.get("vendorId"),
        vendor_error_code=p.get("vendorErrorCode"),
    )
    return {}
