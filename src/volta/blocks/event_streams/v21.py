"""OCPP 2.1 periodic event streams: Open/ClosePeriodicEventStream answered,
NotifyPeriodicEventStream (a SEND) stored packed, Get/AdjustPeriodicEventStream spelled."""

from __future__ import annotations

from typing import Any

from volta.blocks.event_streams import service
from volta.blocks.event_streams.service import (
    AdjustPeriodicEventStream,
    GetPeriodicEventStream,
    params_wire,
)
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()


@outgoing.builds(GetPeriodicEventStream)
def get_periodic_event_stream(command: GetPeriodicEventStream) -> Message:
    return Message("GetPeriodicEventStream", {})


@outgoing.builds(AdjustPeriodicEventStream)
def adjust_periodic_event_stream(command: AdjustPeriodicEventStream) -> Message:
    return Message(
        "AdjustPeriodicEventStream",
        {"id": command.stream_id, "params": params_wire(command.interval, command.values)},
    )


@handlers.on(Version.V21, "OpenPeriodicEventStream")
async def open_periodic_event_stream(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    return await service.open_stream(ctx.services, ctx.station_id, p)


@handlers.on(Version.V21, "ClosePeriodicEventStream")
async def close_periodic_event_stream(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    # The CSMS cannot refuse a close: the response has no status.
    await service.close_stream(ctx.services, ctx.station_id, p["id"])
    return {}


@handlers.on(Version.V21, "NotifyPeriodicEventStream")
async def notify_periodic_event_stream(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    """A SEND: stored, never answered (the gateway sends nothing back)."""
    await service.stream_data(ctx.services, ctx.station_id, p)
    return {}
