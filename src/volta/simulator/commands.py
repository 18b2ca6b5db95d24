"""What the CSMS asks of a simulated station, in either version: `v16.py`
and `v201.py` read their version's request and call these."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING

from volta.ocpp.times import parse_timestamp
from volta.simulator.dialect import Payload

if TYPE_CHECKING:
    from volta.simulator.station import SimulatedStation


def remote_start(
    st: SimulatedStation, wanted: int | None, token: str, remote_start_id: int | None
) -> Payload:
    c = st.free_connector(wanted, token)
    if c is None:
        return {"status": "Rejected"}
    c.remote_start.put_nowait((token, remote_start_id))
    return {"status": "Accepted"}


def remote_stop(st: SimulatedStation, transaction_id: str) -> Payload:
    c = st.by_transaction(transaction_id)
    if c is None:
        return {"status": "Rejected"}
    c.stop_reason = "Remote"
    c.stop_requested.set()
    return {"status": "Accepted"}


def change_availability(st: SimulatedStation, target: int, operative: bool) -> Payload:
    affected = st.connectors if target == 0 else [c for c in [st.connector(target)] if c]
    if not affected:
        return {"status": "Rejected"}
    scheduled = any(c.transaction_id for c in affected)
    for c in affected:
        c.available = operative
    return {"status": "Scheduled" if scheduled else "Accepted"}


async def report_availability(st: SimulatedStation, target: int) -> None:
    """After ChangeAvailability: the status of each idle affected connector."""
    for c in st.connectors:
        if target in (0, c.id) and c.transaction_id is None:
            await st.status(c, "Available" if c.available else "Unavailable")


def reserve(st: SimulatedStation, wanted: int | None, reservation_id: int, token: str) -> Payload:
    c = st.free_connector(wanted)
    if c is None:
        return {"status": "Occupied"}
    c.reservation_id = reservation_id
    c.reserved_for = token
    c.status = "Reserved"  # at once: the next ReserveNow must not pick it
    return {"status": "Accepted"}


async def hold(st: SimulatedStation, reservation_id: int, until: str) -> None:
    """Reserved until `until`, then free again (2.0.1: told to the CSMS)."""
    connector = next((c for c in st.connectors if c.reservation_id == reservation_id), None)
    if connector is None:
        return
    await st.status(connector, "Reserved")
    expiry = parse_timestamp(until)
    seconds = (expiry - dt.datetime.now(dt.UTC)).total_seconds() if expiry else 0.0
    await asyncio.sleep(max(seconds, 0.0))
    if connector.reservation_id != reservation_id or connector.transaction_id is not None:
        return  # used or cancelled meanwhile
    connector.reservation_id = None
    connector.reserved_for = None
    await st.dialect.reservation_expired(st, reservation_id)
    await st.status(connector, "Available")


def cancel_reservation(st: SimulatedStation, reservation_id: int) -> Payload:
    for c in st.connectors:
        if c.reservation_id == reservation_id:
            c.reservation_id = None
            c.reserved_for = None
            return {"status": "Accepted"}
    return {"status": "Rejected"}


async def release(st: SimulatedStation) -> None:
    """After CancelReservation: a connector shown Reserved that holds no
    reservation (and no session) is free again."""
    for c in st.connectors:
        if c.status == "Reserved" and c.reservation_id is None and c.transaction_id is None:
            await st.status(c, "Available")


def data_transfer(st: SimulatedStation, payload: Payload) -> Payload:
    if payload.get("vendorId") == "org.volta.simulator":
        # Echo the data, if any: 1.6 `data` is a string, never null.
        echo = {"data": payload["data"]} if payload.get("data") is not None else {}
        return {"status": "Accepted", **echo}
    return {"status": "UnknownVendorId"}


def reset(st: SimulatedStation, reason: str | None) -> Payload:
    """`reason` ends the sessions at once (1.6 Hard/Soft, 2.0.1 Immediate);
    None (2.0.1 OnIdle) answers Scheduled and waits for them to end (B12)."""
    busy = any(c.transaction_id is not None for c in st.connectors)
    return {"status": "Scheduled" if busy and reason is None else "Accepted"}


async def reboot(st: SimulatedStation, reason: str | None) -> None:
    """Reset: end the sessions with `reason` (None: let them finish), drop
    the connection, come back and boot with reason RemoteReset."""
    for c in st.connectors:
        if c.transaction_id is not None and reason is not None:
            c.stop_reason = reason
            c.stop_requested.set()
    # The stops are reported before going down; bounded for a CSMS that
    # does not answer (the next boot reports them then).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while any(c.transaction_id is not None for c in st.connectors):
        if reason is not None and loop.time() > deadline:
            break
        await asyncio.sleep(0.05)
    st.reconnect("RemoteReset")


async def triggered(st: SimulatedStation, message: str, connector_id: int | None) -> None:
    """Send what TriggerMessage asked for (F06 / 1.6 §5.17)."""
    targets = [c for c in st.connectors if connector_id in (None, c.id)]
    if message == "BootNotification":
        await st.boot("Triggered")
    elif message == "Heartbeat":
        await st.call("Heartbeat", {})
    elif message == "StatusNotification":
        for c in targets:
            await st.status(c, c.status)
    elif message == "MeterValues":
        for c in targets:
            await st.call("MeterValues", st.dialect.triggered_meter_values(st, c))
