"""OCPP 1.6 Smart Charging profile: how SetChargingProfile (§5.16),
ClearChargingProfile (§5.5) and GetCompositeSchedule (§5.7) are asked for.
1.6 has no GetChargingProfiles and no external-constraints purpose."""

from __future__ import annotations

from typing import Any

from volta.blocks.smart_charging.service import (
    ClearChargingProfile,
    GetChargingProfiles,
    GetCompositeSchedule,
    SetChargingProfile,
)
from volta.ocpp.charging import NotExpressible, purpose_to_v16, to_v16
from volta.outgoing import CannotSpell, Message, OutgoingTable

outgoing = OutgoingTable()


def purpose_v16(purpose: str) -> str:
    """The 1.6 name of a (2.0.1-named) purpose; CannotSpell when 1.6 has none."""
    try:
        return purpose_to_v16(purpose)
    except NotExpressible as exc:
        raise CannotSpell(str(exc)) from None


@outgoing.builds(SetChargingProfile)
def set_charging_profile(command: SetChargingProfile) -> Message:
    try:
        profile = to_v16(command.profile)
    except NotExpressible as exc:
        raise CannotSpell(str(exc)) from None
    return Message(
        "SetChargingProfile", {"connectorId": command.evse_id, "csChargingProfiles": profile}
    )


@outgoing.builds(ClearChargingProfile)
def clear_charging_profile(command: ClearChargingProfile) -> Message:
    # §5.5: every field optional; none clears every profile.
    payload: dict[str, Any] = {}
    if command.profile_id is not None:
        payload["id"] = command.profile_id
    if command.evse_id is not None:
        payload["connectorId"] = command.evse_id
    if command.purpose is not None:
        payload["chargingProfilePurpose"] = purpose_v16(command.purpose)
    if command.stack_level is not None:
        payload["stackLevel"] = command.stack_level
    return Message("ClearChargingProfile", payload)


@outgoing.builds(GetCompositeSchedule)
def get_composite_schedule(command: GetCompositeSchedule) -> Message:
    payload: dict[str, Any] = {"connectorId": command.evse_id, "duration": command.duration_s}
    if command.unit is not None:
        payload["chargingRateUnit"] = command.unit
    return Message("GetCompositeSchedule", payload)


@outgoing.builds(GetChargingProfiles)
def get_charging_profiles(command: GetChargingProfiles) -> Message:
    # Registered so both tables know the same commands (and say why not).
    raise CannotSpell("OCPP 1.6 has no GetChargingProfiles (a 2.0.1 K09 message)")
