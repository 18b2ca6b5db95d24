"""OCPP 2.0.1 block B (Provisioning) and the status part of block G."""

from __future__ import annotations

from typing import Any

from volta.blocks.provisioning import service
from volta.ocpp.times import format_timestamp, parse_timestamp
from volta.ocpp.versions import Version
from volta.services import CallContext, HandlerTable

V201 = Version.V201


handlers = HandlerTable()


@handlers.on(V201, "BootNotification")
async def boot_notification(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    station = p["chargingStation"]
    modem = station.get("modem") or {}
    settings = ctx.services.settings
    decision = await service.boot(
        ctx.services.db,
        ctx.station_id,
        service.BootInfo(
            vendor=station["vendorName"],
            model=station["model"],
            serial_number=station.get("serialNumber"),
            firmware_version=station.get("firmwareVersion"),
            iccid=modem.get("iccid"),
            imsi=modem.get("imsi"),
            reason=p["reason"],
        ),
        heartbeat_interval=settings.heartbeat_interval,
        retry_interval=settings.boot_retry_interval,
    )
    ctx.station.registration_status = decision.status
    return {
        "currentTime": format_timestamp(decision.current_time),
        "interval": decision.interval,
        "status": decision.status,
    }


@handlers.on(V201, "Heartbeat")
async def heartbeat(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    now = await service.heartbeat(ctx.services.db, ctx.station_id)
    return {"currentTime": format_timestamp(now)}


@handlers.on(V201, "StatusNotification")
async def status_notification(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    await service.record_status(
        ctx.services.db,
        ctx.station_id,
        evse_id=p["evseId"],
        connector_id=p["connectorId"],
        status=p["connectorStatus"],
        timestamp=parse_timestamp(p.get("timestamp")),
    )
    return {}
