"""OCPP 2.1 bidirectional power (V2X, block Q): NotifyAllowedEnergyTransfer,
charging schedules with operation modes, discharge limits and setpoints,
UpdateDynamicSchedule, PullDynamicScheduleUpdate, AFRRSignal.

The logic is in v2x.py (and the pure v2x_profiles.py); here the 2.1 words:
- SetChargingProfile: a 2.1 profile (operation modes, dischargeLimit,
  setpoint, ...) goes as it was given (`Profile.extra["v21"]`), any other
  as the 2.0.1 ChargingProfileType (2.1's is a superset).
- AuthorizeResponse.allowedEnergyTransfer for a token whose contract allows
  a bidirectional mode (Q01), added to the authorization block's answer.
- After a NotifyEVChargingNeeds offering a bidirectional mode (answered by
  the 2.0.1 handler, served to 2.1), NotifyAllowedEnergyTransfer with the
  offered modes the contract allows.
- PullDynamicScheduleUpdate answered with the dynamic values Volta holds.
"""

from __future__ import annotations

import logging
from typing import Any

from volta.blocks.smart_charging import v2x, v2x_profiles
from volta.blocks.smart_charging.service import SetChargingProfile
from volta.ocpp.charging import to_v201
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

log = logging.getLogger(__name__)
V21 = Version.V21

handlers = HandlerTable()
outgoing = OutgoingTable()

# What a token may always do: every mode without bidirectional transfer.
CHARGING_MODES = tuple(
    m for m in v2x_profiles.ENERGY_TRANSFER_MODES if m not in v2x_profiles.BIDIRECTIONAL
)


# -- outgoing --------------------------------------------------------------------


@outgoing.builds(SetChargingProfile)
def set_charging_profile(command: SetChargingProfile) -> Message:
    v21 = command.profile.extra.get("v21")
    profile = dict(v21) if v21 is not None else to_v201(command.profile)
    return Message("SetChargingProfile", {"evseId": command.evse_id, "chargingProfile": profile})


@outgoing.builds(v2x.NotifyAllowedEnergyTransfer)
def notify_allowed_energy_transfer(command: v2x.NotifyAllowedEnergyTransfer) -> Message:
    return Message(
        "NotifyAllowedEnergyTransfer",
        {"transactionId": command.transaction_id, "allowedEnergyTransfer": list(command.modes)},
    )


@outgoing.builds(v2x.UpdateDynamicSchedule)
def update_dynamic_schedule(command: v2x.UpdateDynamicSchedule) -> Message:
    return Message(
        "UpdateDynamicSchedule",
        {"chargingProfileId": command.profile_id, "scheduleUpdate": dict(command.update)},
    )


@outgoing.builds(v2x.AFRRSignal)
def afrr_signal(command: v2x.AFRRSignal) -> Message:
    return Message("AFRRSignal", v2x.afrr_payload(command))


# -- what 2.1 stations send ---------------------------------------------------------


@handlers.amend(V21, "Authorize")
async def allowed_energy_transfer(
    ctx: CallContext, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """Q01: an accepted token whose contract allows a bidirectional mode gets
    `allowedEnergyTransfer`: the charging modes and the bidirectional ones it
    may use. Without one the field is left out (charging only)."""
    info = response.get("idTokenInfo") or {}
    if info.get("status") != "Accepted":
        return
    token = (request.get("idToken") or {}).get("idToken")
    if not token:
        return
    permitted = [
        m for m in await v2x.token_modes(ctx.services, token) if m in v2x_profiles.BIDIRECTIONAL
    ]
    if permitted:
        response["allowedEnergyTransfer"] = [*CHARGING_MODES, *permitted]


@handlers.after(V21, "NotifyEVChargingNeeds")
async def tell_allowed(ctx: CallContext, request: dict[str, Any], response: dict[str, Any]) -> None:
    """The EV told its needs; one that offers a bidirectional mode is told,
    through the station, which of its modes its contract allows
    (NotifyAllowedEnergyTransfer, Q01)."""
    transaction_id, allowed = await v2x.record_needs(ctx.services, ctx.station_id, request)
    if transaction_id is None or not allowed or response.get("status") == "Rejected":
        return
    try:
        await v2x.notify_allowed(
            ctx.services, ctx.station_id, transaction_id, allowed, evse_id=int(request["evseId"])
        )
    except v2x.V2xRefused as exc:
        log.info("%s: NotifyAllowedEnergyTransfer not sent: %s", ctx.station_id, exc)


@handlers.on(V21, "PullDynamicScheduleUpdate")
async def pull_dynamic_schedule_update(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    """The station asks for the values of a Dynamic profile (its
    dynUpdateInterval ran out): the values Volta holds."""
    return await v2x.pull(ctx.services.db, ctx.station_id, int(p["chargingProfileId"]))
