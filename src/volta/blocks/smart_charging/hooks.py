"""What makes the site allocator recompute: follow-ups on what stations say,
run once Volta has answered (so a TxProfile never overtakes the answer to
the StartTransaction / TransactionEvent that opened the session).

Session start and stop, a change of charging state (Charging, SuspendedEV,
SuspendedEVSE), a meter value whose current moved by more than
engine.DRAW_CHANGE_A from what the last run assumed, an EV's charging needs
(2.0.1 K15) and a BootNotification (a station that restarted may have lost
its profiles: its fallback and TxProfiles are sent again). A station on no
site costs one dict lookup per message (after its first).

With several nodes these run on the node holding the station, and all but
`managed()` (and the placement read at a boot) on the leader: `leader_hook`
forwards the input to it from any other node (leader.py).
"""

from __future__ import annotations

from typing import Any

from volta.blocks.smart_charging.engine import engine_of
from volta.blocks.smart_charging.leader import forward, leader_hook
from volta.ocpp.versions import Version
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
V16, V201 = Version.V16, Version.V201


def draw_of(meter_values: list[dict[str, Any]]) -> tuple[float | None, int | None]:
    """The EV's current per phase (the highest phase's Current.Import, in A)
    from the newest meter value, and how many phases carry it (None when
    the station does not say per phase)."""
    if not meter_values:
        return None, None
    per_phase: dict[str, float] = {}
    total: float | None = None
    for sampled in meter_values[-1].get("sampledValue", []):
        if sampled.get("measurand") != "Current.Import":
            continue
        try:
            value = float(sampled["value"])
        except (KeyError, TypeError, ValueError):
            continue
        phase = sampled.get("phase")
        if phase:
            per_phase[phase[:2]] = max(value, per_phase.get(phase[:2], 0.0))
        else:
            total = value
    if per_phase:
        carrying = sum(1 for v in per_phase.values() if v > 1.0)
        return max(per_phase.values()), carrying or None
    return total, None


def currents_of(meter_values: list[dict[str, Any]]) -> list[float] | None:
    """Current.Import per phase [L1, L2, L3] from the newest meter value (a
    value without a phase counts on every phase); None when there is none."""
    if not meter_values:
        return None
    out: list[float] | None = None
    for sampled in meter_values[-1].get("sampledValue", []):
        if sampled.get("measurand") != "Current.Import":
            continue
        try:
            value = float(sampled["value"])
        except (KeyError, TypeError, ValueError):
            continue
        out = out or [0.0, 0.0, 0.0]
        phase = (sampled.get("phase") or "")[:2]
        for i, name in enumerate(("L1", "L2", "L3")):
            if phase in ("", name):
                out[i] = value
    return out


def export_of(meter_values: list[dict[str, Any]]) -> float | None:
    """The current an EV feeds back per phase (V2X: the highest phase's
    Current.Export, in A) from the newest meter value; None when not said."""
    if not meter_values:
        return None
    found: float | None = None
    for sampled in meter_values[-1].get("sampledValue", []):
        if sampled.get("measurand") != "Current.Export":
            continue
        try:
            value = abs(float(sampled["value"]))
        except (KeyError, TypeError, ValueError):
            continue
        found = value if found is None else max(found, value)
    return found


def managed(ctx: CallContext) -> bool:
    """Whether smart charging may care about this station's message (no I/O)."""
    return engine_of(ctx.services).wants(ctx.station_id)


async def _on_site(ctx: CallContext) -> bool:
    return await engine_of(ctx.services).root_of_station(ctx.station_id) is not None


async def _meter(ctx: CallContext, evse_id: int | None, meter: list[dict[str, Any]]) -> None:
    if not meter:
        return
    engine = engine_of(ctx.services)
    if not evse_id:
        # The station's main meter (EVSE / connector 0): a site's meter?
        site_id = await engine.metered_site(ctx.station_id)
        currents = currents_of(meter) if site_id is not None else None
        if site_id is not None and currents is not None:
            await engine.site_meter(site_id, currents)
        return
    if not await _on_site(ctx):
        return
    draw, phases = draw_of(meter)
    moved = engine.meter((ctx.station_id, evse_id), draw, phases)
    export = export_of(meter)
    if export is not None:
        moved = engine.meter_export((ctx.station_id, evse_id), export) or moved
    if moved:
        await engine.touch(ctx.station_id)


async def _boot(ctx: CallContext, response: dict[str, Any]) -> None:
    if response.get("status") != "Accepted":
        return
    engine = engine_of(ctx.services)
    # Every node reads where the station hangs from now (its cached tree
    # answers `managed()`); the leader recomputes.
    await engine.station_booted(ctx.station_id)
    if ctx.services.node.is_leader():
        await engine.touch(ctx.station_id, resend=True)
    elif await engine.root_of_station(ctx.station_id) is not None:
        await forward(ctx, "booted", {}, response)


@leader_hook
async def booted(ctx: CallContext, _: dict[str, Any], __: dict[str, Any]) -> None:
    """A station on a site (re)booted at another node: on the leader."""
    engine = engine_of(ctx.services)
    await engine.station_booted(ctx.station_id)
    await engine.touch(ctx.station_id, resend=True)


# -- OCPP 1.6 -----------------------------------------------------------------


@handlers.after(V16, "BootNotification")
async def boot_v16(ctx: CallContext, _: dict[str, Any], response: dict[str, Any]) -> None:
    await _boot(ctx, response)


@handlers.after(V16, "StartTransaction", when=managed)
@leader_hook
async def started_v16(ctx: CallContext, request: dict[str, Any], response: dict[str, Any]) -> None:
    if not await _on_site(ctx):
        return
    engine = engine_of(ctx.services)
    engine.forget_draw((ctx.station_id, int(request["connectorId"])))  # a new session
    await engine.touch(ctx.station_id)


@handlers.after(V16, "StopTransaction", when=managed)
@leader_hook
async def stopped_v16(ctx: CallContext, _: dict[str, Any], __: dict[str, Any]) -> None:
    await engine_of(ctx.services).touch(ctx.station_id)


@handlers.after(V16, "StatusNotification", when=managed)
@leader_hook
async def status_v16(ctx: CallContext, request: dict[str, Any], _: dict[str, Any]) -> None:
    connector = int(request["connectorId"])
    if connector == 0 or not await _on_site(ctx):
        return
    if engine_of(ctx.services).status((ctx.station_id, connector), request["status"]):
        await engine_of(ctx.services).touch(ctx.station_id)


@handlers.after(V16, "MeterValues", when=managed)
@leader_hook
async def meter_v16(ctx: CallContext, request: dict[str, Any], _: dict[str, Any]) -> None:
    await _meter(ctx, int(request["connectorId"]), request.get("meterValue", []))


# -- OCPP 2.0.1 ----------------------------------------------------------------


@handlers.after(V201, "BootNotification")
async def boot_v201(ctx: CallContext, _: dict[str, Any], response: dict[str, Any]) -> None:
    await _boot(ctx, response)


@handlers.after(V201, "TransactionEvent", when=managed)
@leader_hook
async def transaction_event(ctx: CallContext, request: dict[str, Any], _: dict[str, Any]) -> None:
    if not await _on_site(ctx):
        return
    engine = engine_of(ctx.services)
    info = request["transactionInfo"]
    evse_id = (request.get("evse") or {}).get("id") or engine.evse_of(
        ctx.station_id, info["transactionId"]
    )
    key = (ctx.station_id, int(evse_id or 0))
    kind = request["eventType"]
    if kind == "Started":
        engine.forget_draw(key)  # a new session
        engine.status(key, info.get("chargingState", "Charging"))
        await engine.touch(ctx.station_id)
        return
    if kind == "Ended":
        engine.forget_draw(key)
        await engine.touch(ctx.station_id)
        return
    if not evse_id:
        return
    state = info.get("chargingState")
    if state is not None and engine.status(key, state):
        await engine.touch(ctx.station_id)
        return
    await _meter(ctx, key[1], request.get("meterValue", []))


@handlers.after(V201, "MeterValues", when=managed)
@leader_hook
async def meter_v201(ctx: CallContext, request: dict[str, Any], _: dict[str, Any]) -> None:
    await _meter(ctx, int(request["evseId"]), request.get("meterValue", []))


@handlers.after(V201, "StatusNotification", when=managed)
@leader_hook
async def status_v201(ctx: CallContext, request: dict[str, Any], _: dict[str, Any]) -> None:
    # 2.0.1 says Occupied / Available (charging states come with
    # TransactionEvent); an EVSE that was charging and is Available again
    # has ended its session even if its TransactionEvent is still to come.
    key = (ctx.station_id, int(request["evseId"]))
    engine = engine_of(ctx.services)
    if request["connectorStatus"] == "Available" and key in engine.live:
        engine.forget_draw(key)
        await engine.touch(ctx.station_id)


@handlers.after(V201, "NotifyEVChargingNeeds")
@leader_hook
async def needs(ctx: CallContext, request: dict[str, Any], response: dict[str, Any]) -> None:
    if response.get("status") == "Accepted":
        await engine_of(ctx.services).needs_accepted(ctx.station_id, int(request["evseId"]))
