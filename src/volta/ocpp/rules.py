"""Protocol rules the gateway applies whatever block handles a message:
what a station may send before it is accepted, how a notification Volta has
no block for is answered, and which answers to our CALLs count as a yes."""

from __future__ import annotations

from typing import Any

from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.schemas import SchemaRegistry
from volta.ocpp.versions import Version

# OCPP 2.0.1 B02.FR.09 / B03.FR.08 and OCPP 1.6 §4.2: until the CSMS has
# accepted the station, it answers any other CALL with SecurityError.
ALLOWED_BEFORE_ACCEPTED = frozenset({"BootNotification"})


def check_registration(action: str, registration_status: str) -> None:
    """Raise the SecurityError a CALL from a station not yet Accepted gets."""
    if registration_status != "Accepted" and action not in ALLOWED_BEFORE_ACCEPTED:
        raise OcppError(
            ErrorCode.SECURITY_ERROR,
            f"station is {registration_status}: send BootNotification first",
        )


def acknowledgement(schemas: SchemaRegistry, version: Version, action: str) -> dict[str, Any]:
    """The answer to a station notification Volta records (its frame is in
    the frame log) but has no block for yet, e.g. FirmwareStatusNotification:
    an empty CALLRESULT where the response schema allows one, NotSupported
    where the response must carry fields Volta cannot fill in honestly."""
    try:
        schemas.validate(version, action, {}, response=True)
    except OcppError:
        raise OcppError(
            ErrorCode.NOT_SUPPORTED, f"{action} is not supported by this CSMS yet"
        ) from None
    return {}


# Statuses other than "Accepted" that mean the station did what was asked,
# per action (the enumerations of the 1.6 and 2.0.1 response schemas; an
# action's name means the same in both). An answer without a status field
# (GetConfiguration, SetVariables, ...) is a yes.
_ALSO_YES: dict[str, frozenset[str]] = {
    # A report or list with nothing in it is still an answer (B07/B08, K09).
    "GetBaseReport": frozenset({"EmptyResultSet"}),
    "GetReport": frozenset({"EmptyResultSet"}),
    "GetMonitoringReport": frozenset({"EmptyResultSet"}),
    "GetChargingProfiles": frozenset({"NoProfiles"}),
    "UnlockConnector": frozenset({"Unlocked"}),
    "ChangeConfiguration": frozenset({"RebootRequired"}),
    "Reset": frozenset({"Scheduled"}),
    "ChangeAvailability": frozenset({"Scheduled"}),
    "GetLog": frozenset({"AcceptedCanceled"}),
    "UpdateFirmware": frozenset({"AcceptedCanceled"}),
    "SignedUpdateFirmware": frozenset({"AcceptedCanceled"}),
}
_YES = frozenset({"Accepted"})


def accepted_answer(action: str, payload: dict[str, Any]) -> bool:
    """Whether a CALLRESULT to our `action` means yes."""
    status = payload.get("status")
    if not isinstance(status, str):
        return True
    return status in _YES or status in _ALSO_YES.get(action, frozenset())
