"""The protocol rules the gateway applies whatever block handles a message
(`volta.ocpp.rules`): the boot gate, the answer to a notification without a
block, and which answers to Volta's CALLs count as a yes. Sans-I/O: no
network, no database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import ocpp
from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.rules import (
    _ALSO_YES,
    ALLOWED_BEFORE_ACCEPTED,
    accepted_answer,
    acknowledgement,
    check_registration,
)
from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version

V16, V201 = Version.V16, Version.V201
SCHEMAS = Path(ocpp.__file__).parent

# -- the boot gate ------------------------------------------------------------------


@pytest.mark.parametrize("registration_status", ["Pending", "Rejected"])
@pytest.mark.parametrize(
    "action", ["Heartbeat", "StatusNotification", "Authorize", "TransactionEvent", "DataTransfer"]
)
def test_station_not_accepted_gets_security_error(registration_status: str, action: str) -> None:
    """B02.FR.09 / B03.FR.08 (2.0.1) and OCPP 1.6 §4.2: until the CSMS has
    accepted the station, any CALL but BootNotification is answered with a
    SecurityError, and the error says what to do."""
    with pytest.raises(OcppError) as raised:
        check_registration(action, registration_status)
    assert raised.value.code is ErrorCode.SECURITY_ERROR
    assert registration_status in raised.value.description
    assert "BootNotification" in raised.value.description


@pytest.mark.parametrize("registration_status", ["Pending", "Rejected", "Accepted"])
def test_boot_notification_always_passes_the_gate(registration_status: str) -> None:
    """B02.FR.09, OCPP 1.6 §4.2: a station that is Pending or Rejected boots
    again; that BootNotification must reach the provisioning block."""
    check_registration("BootNotification", registration_status)
    assert frozenset({"BootNotification"}) == ALLOWED_BEFORE_ACCEPTED


@pytest.mark.parametrize("action", ["Heartbeat", "MeterValues", "StopTransaction"])
def test_accepted_station_passes_the_gate(action: str) -> None:
    check_registration(action, "Accepted")


# -- notifications without a block ----------------------------------------------------


@pytest.mark.parametrize(
    ("version", "action"),
    [
        (V16, "FirmwareStatusNotification"),
        (V16, "DiagnosticsStatusNotification"),
        (V201, "FirmwareStatusNotification"),
        (V201, "NotifyEvent"),
    ],
)
def test_notification_with_empty_response_is_acknowledged(version: Version, action: str) -> None:
    """Its response schema allows an empty object: Volta answers {} (the frame
    itself is kept in the frame log)."""
    assert acknowledgement(registry(), version, action) == {}


@pytest.mark.parametrize(
    ("version", "action"),
    [(V16, "Authorize"), (V201, "NotifyEVChargingNeeds"), (V201, "Get15118EVCertificate")],
)
def test_message_whose_response_needs_fields_is_not_supported(
    version: Version, action: str
) -> None:
    """Where the response must carry fields (a status, an idTagInfo) Volta
    cannot fill in honestly, the answer is NotSupported, never a made-up yes."""
    with pytest.raises(OcppError) as raised:
        acknowledgement(registry(), version, action)
    assert raised.value.code is ErrorCode.NOT_SUPPORTED
    assert action in raised.value.description


# -- which answers count as a yes ------------------------------------------------------


@pytest.mark.parametrize("action", ["GetBaseReport", "GetReport", "GetMonitoringReport"])
def test_empty_result_set_is_an_answer(action: str) -> None:
    """B07 / B08 (GetBaseReport, GetReport) and N02 (GetMonitoringReport): a
    station with nothing to report answers EmptyResultSet; the request was
    carried out, so the command is accepted, not rejected."""
    assert accepted_answer(action, {"status": "EmptyResultSet"})
    assert accepted_answer(action, {"status": "Accepted"})
    assert not accepted_answer(action, {"status": "Rejected"})
    assert not accepted_answer(action, {"status": "NotSupported"})


@pytest.mark.parametrize(
    ("action", "yes"),
    [
        ("GetChargingProfiles", "NoProfiles"),  # K09
        ("UnlockConnector", "Unlocked"),
        ("ChangeConfiguration", "RebootRequired"),
        ("Reset", "Scheduled"),
        ("ChangeAvailability", "Scheduled"),
        ("UpdateFirmware", "AcceptedCanceled"),
    ],
)
def test_action_specific_statuses_that_mean_yes(action: str, yes: str) -> None:
    assert accepted_answer(action, {"status": yes})
    assert not accepted_answer(action, {"status": "Rejected"})


def test_a_yes_of_one_action_is_not_a_yes_of_another() -> None:
    """EmptyResultSet means "done, nothing found" only where the schema has it."""
    assert not accepted_answer("Reset", {"status": "EmptyResultSet"})
    assert not accepted_answer("GetReport", {"status": "NoProfiles"})
    assert not accepted_answer("RemoteStartTransaction", {"status": "Unlocked"})


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("GetConfiguration", {"configurationKey": [], "unknownKey": ["X"]}),
        ("SetVariables", {"setVariableResult": [{"attributeStatus": "Rejected"}]}),
        ("DataTransfer", {"status": "Accepted", "data": "pong"}),
    ],
)
def test_answer_without_a_status_field_is_a_yes(action: str, payload: dict[str, Any]) -> None:
    """The station answered with a CALLRESULT; per-item results (SetVariables'
    attributeStatus) are the caller's to read, not a no for the command."""
    assert accepted_answer(action, payload)


def _response_statuses(action: str) -> set[str]:
    """The status enumeration of `action`'s response in the 1.6 and 2.0.1 schemas."""
    statuses: set[str] = set()
    for folder in ("v16", "v201"):
        path = SCHEMAS / folder / "schemas" / f"{action}Response.json"
        if not path.exists():
            continue
        schema = json.loads(path.read_text())
        status = schema.get("properties", {}).get("status", {})
        if "$ref" in status:
            status = schema["definitions"][status["$ref"].rsplit("/", 1)[1]]
        statuses |= set(status.get("enum", []))
    return statuses


@pytest.mark.parametrize("action", sorted(_ALSO_YES))
def test_every_extra_yes_is_a_status_the_schema_defines(action: str) -> None:
    """The table spells statuses of the official response schemas (1.6 or
    2.0.1), so a typo cannot silently turn a yes into a no."""
    statuses = _response_statuses(action)
    assert statuses, f"no response schema with a status for {action}"
    assert _ALSO_YES[action] <= statuses
