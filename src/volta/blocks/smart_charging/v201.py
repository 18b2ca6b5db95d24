"""OCPP 2.0.1 block K: how SetChargingProfile (K01), ClearChargingProfile
(K10), GetCompositeSchedule (K08) and GetChargingProfiles (K09) are asked for.
The station's own K messages (ReportChargingProfiles, NotifyChargingLimit,
NotifyEVChargingNeeds, ...) are handled in `v201_incoming.py`."""

from __future__ import annotations

from typing import Any

from volta.blocks.smart_charging.service import (
    ClearChargingProfile,
    GetChargingProfiles,
    GetCompositeSchedule,
    SetChargingProfile,
)
from volta.ocpp.charging import to_v201
from volta.outgoing import Message, OutgoingTable

outgoing = OutgoingTable()


@outgoing.builds(SetChargingProfile)
def set_charging_profile(command: SetChargingProfile) -> Message:
    return Message(
        "SetChargingProfile",
        {"evseId": command.evse_id, "chargingProfile": to_v201(command.profile)},
    )


@outgoing.builds(ClearChargingProfile)
def clear_charging_profile(command: ClearChargingProfile) -> Message:
    # K10: by chargingProfileId, or by criteria; nothing clears every profile
    # the CSMS may clear.
    payload: dict[str, Any] = {}
    if command.profile_id is not None:
        payload["chargingProfileId"] = command.profile_id
    criteria: dict[str, Any] = {}
    if command.evse_id is not None:
        criteria["evseId"] = command.evse_id
    if command.purpose is not None:
        criteria["chargingProfilePurpose"] = command.purpose
    if command.stack_level is not None:
        criteria["stackLevel"] = command.stack_level
    if criteria:
        payload["chargingProfileCriteria"] = criteria
    return Message("ClearChargingProfile", payload)


@outgoing.builds(GetCompositeSchedule)
def get_composite_schedule(command: GetCompositeSchedule) -> Message:
    payload: dict[str, Any] = {"duration": command.duration_s, "evseId": command.evse_id}
    if command.unit is not None:
        payload["chargingRateUnit"] = command.unit
    return Message("GetCompositeSchedule", payload)


@outgoing.builds(GetChargingProfiles)
def get_charging_profiles(command: GetChargingProfiles) -> Message:
    criterion: dict[str, Any] = {}
    if command.purpose is not None:
        criterion["chargingProfilePurpose"] = command.purpose
    if command.stack_level is not None:
        criterion["stackLevel"] = command.stack_level
    if command.profile_ids:
        criterion["chargingProfileId"] = list(command.profile_ids)
    if command.limit_sources:
        criterion["chargingLimitSource"] = list(command.limit_sources)
    payload: dict[str, Any] = {"requestId": command.request_id, "chargingProfile": criterion}
    if command.evse_id is not None:
        payload["evseId"] = command.evse_id
    return Message("GetChargingProfiles", payload)
