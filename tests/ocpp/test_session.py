"""OcppSession: one connection's OCPP-J conversation, sans-I/O. Messages go in
as text, events and reply text come out; the test owns the clock."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.frames import Call
from volta.ocpp.schemas import SchemaRegistry, Validation, registry
from volta.ocpp.session import (
    CallInProgress,
    CallReceived,
    ErrorReceived,
    Ignored,
    OcppSession,
    PendingCall,
    Reply,
    ResultReceived,
    Role,
)
from volta.ocpp.versions import Version

V16, V201 = Version.V16, Version.V201
BOTH = pytest.mark.parametrize("version", [V16, V201], ids=["1.6", "2.0.1"])

BOOT: dict[Version, dict[str, Any]] = {
    V16: {"chargePointVendor": "Acme", "chargePointModel": "Wall-22"},
    V201: {"reason": "PowerUp", "chargingStation": {"model": "Wall-22", "vendorName": "Acme"}},
}
BOOT_RESPONSE: dict[Version, dict[str, Any]] = {
    V16: {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300},
    V201: {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300},
}
RESET: dict[Version, dict[str, Any]] = {V16: {"type": "Soft"}, V201: {"type": "Immediate"}}


@pytest.fixture(scope="module")
def schemas() -> SchemaRegistry:
    return registry()


def make(
    schemas: SchemaRegistry, version: Version, role: Role = Role.CSMS, **kw: Any
) -> OcppSession:
    ids = (f"out-{n}" for n in itertools.count(1))
    return OcppSession(
        version, schemas, role=role, call_timeout=30.0, new_message_id=lambda: next(ids), **kw
    )


def text(*items: Any) -> str:
    return orjson.dumps(list(items)).decode()


def reply_of(event: object) -> list[Any]:
    assert isinstance(event, Reply), event
    wire: list[Any] = orjson.loads(event.text)
    assert wire[0] == 4
    assert wire[1] == event.message_id
    return wire


# --- CALLs from the peer -----------------------------------------------------------


@BOTH
def test_valid_call_is_received(schemas: SchemaRegistry, version: Version) -> None:
    session = make(schemas, version)
    event = session.receive(text(2, "in-1", "BootNotification", BOOT[version]))
    assert event == CallReceived(Call("in-1", "BootNotification", BOOT[version]))


@BOTH
def test_unknown_action_is_not_implemented(schemas: SchemaRegistry, version: Version) -> None:
    """OCPP-J 1.6 §4.2.3 / 2.0.1 §4.3 NotImplemented: the action is not known."""
    session = make(schemas, version)
    wire = reply_of(session.receive(text(2, "in-1", "MakeCoffee", {})))
    assert wire[:3] == [4, "in-1", "NotImplemented"]


def test_action_of_the_other_version_is_not_implemented(schemas: SchemaRegistry) -> None:
    session = make(schemas, V16)
    wire = reply_of(session.receive(text(2, "in-1", "TransactionEvent", {})))
    assert wire[:3] == [4, "in-1", "NotImplemented"]


@BOTH
@pytest.mark.parametrize("action", ["Reset", "ClearCache", "UnlockConnector"])
def test_csms_action_sent_by_station_is_not_supported(
    schemas: SchemaRegistry, version: Version, action: str
) -> None:
    """OCPP-J 1.6 §4.2.3 / 2.0.1 §4.3 NotSupported: a known action the CSMS
    does not take from a station."""
    session = make(schemas, version)
    event = session.receive(text(2, "in-1", action, {}))
    assert isinstance(event, Reply)
    assert (event.code, event.message_id) == (ErrorCode.NOT_SUPPORTED, "in-1")
    assert reply_of(event)[:3] == [4, "in-1", "NotSupported"]


@BOTH
def test_data_transfer_goes_both_ways(schemas: SchemaRegistry, version: Version) -> None:
    for role in Role:
        session = make(schemas, version, role)
        event = session.receive(text(2, "in-1", "DataTransfer", {"vendorId": "Acme"}))
        assert isinstance(event, CallReceived)


@pytest.mark.parametrize(
    "version, payload, wire_code",
    [
        (V16, {"chargePointVendor": "Acme"}, "OccurenceConstraintViolation"),
        (V16, {**BOOT[V16], "colour": "red"}, "FormationViolation"),
        (V201, {"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
        (V201, {**BOOT[V201], "colour": "red"}, "FormatViolation"),
        (V201, {**BOOT[V201], "reason": "Bogus"}, "PropertyConstraintViolation"),
    ],
)
def test_invalid_call_payload_is_answered_in_the_versions_spelling(
    schemas: SchemaRegistry, version: Version, payload: dict[str, Any], wire_code: str
) -> None:
    session = make(schemas, version)
    wire = reply_of(session.receive(text(2, "in-7", "BootNotification", payload)))
    assert wire[:3] == [4, "in-7", wire_code]


@BOTH
def test_relaxed_session_accepts_unknown_property(
    schemas: SchemaRegistry, version: Version
) -> None:
    session = make(schemas, version, validation=Validation.RELAXED)
    payload = {**BOOT[version], "colour": "red"}
    event = session.receive(text(2, "in-1", "BootNotification", payload))
    assert event == CallReceived(Call("in-1", "BootNotification", payload))


# --- frames we cannot read -------------------------------------------------------------


@pytest.mark.parametrize(
    "version, wire_code", [(V16, "FormationViolation"), (V201, "RpcFrameworkError")]
)
@pytest.mark.parametrize(
    "message",
    ["not json", "{}", "[]", text(2, "x" * 37, "Heartbeat", {}), text(3, 17, {})],
    ids=["non-json", "object", "empty-array", "id-too-long", "id-not-string"],
)
def test_unreadable_frame_is_answered_with_minus_one(
    schemas: SchemaRegistry, version: Version, wire_code: str, message: str
) -> None:
    """OCPP-J 2.0.1 §4.2.3: id "-1" when the message id cannot be read."""
    session = make(schemas, version)
    event = session.receive(message)
    assert isinstance(event, Reply)
    assert event.code is ErrorCode.RPC_FRAMEWORK_ERROR
    assert reply_of(event)[:3] == [4, "-1", wire_code]


def test_v16_ignores_unknown_message_type(schemas: SchemaRegistry) -> None:
    """OCPP-J 1.6 §4.1.3: an unknown message type is ignored, nothing is sent."""
    assert isinstance(make(schemas, V16).receive(text(5, "in-1", {})), Ignored)


def test_v201_answers_unknown_message_type(schemas: SchemaRegistry) -> None:
    """OCPP-J 2.0.1 §4.1.3 / §4.3: MessageTypeNotSupported."""
    wire = reply_of(make(schemas, V201).receive(text(5, "in-1", {})))
    assert wire[:3] == [4, "in-1", "MessageTypeNotSupported"]


# --- our own CALLs ----------------------------------------------------------------


@BOTH
def test_call_encodes_and_becomes_pending(schemas: SchemaRegistry, version: Version) -> None:
    session = make(schemas, version)
    pending, wire = session.call("Reset", RESET[version], now=100.0)
    assert pending == PendingCall("out-1", "Reset", RESET[version], 130.0)
    assert orjson.loads(wire) == [2, "out-1", "Reset", RESET[version]]
    assert session.pending is pending


@BOTH
def test_matching_result_is_received(schemas: SchemaRegistry, version: Version) -> None:
    session = make(schemas, version)
    pending, _ = session.call("Reset", RESET[version], now=0.0)
    event = session.receive(text(3, "out-1", {"status": "Accepted"}))
    assert event == ResultReceived(pending, {"status": "Accepted"}, None)
    assert session.pending is None


@BOTH
def test_result_breaking_the_schema_is_kept_with_violation(
    schemas: SchemaRegistry, version: Version
) -> None:
    session = make(schemas, version)
    pending, _ = session.call("Reset", RESET[version], now=0.0)
    event = session.receive(text(3, "out-1", {"status": "Maybe"}))
    assert isinstance(event, ResultReceived)
    assert (event.pending, event.payload) == (pending, {"status": "Maybe"})
    assert event.violation is not None
    assert event.violation.startswith("PropertyConstraintViolation: ")
    assert session.pending is None


@BOTH
def test_result_missing_field_is_occurrence_violation(
    schemas: SchemaRegistry, version: Version
) -> None:
    session = make(schemas, version)
    session.call("Reset", RESET[version], now=0.0)
    event = session.receive(text(3, "out-1", {}))
    assert isinstance(event, ResultReceived)
    assert event.violation is not None
    assert event.violation.startswith("OccurrenceConstraintViolation: ")


def test_result_violation_ignored_when_validation_off(schemas: SchemaRegistry) -> None:
    session = make(schemas, V16, validation=Validation.OFF)
    session.call("Reset", RESET[V16], now=0.0)
    event = session.receive(text(3, "out-1", {"status": "Maybe"}))
    assert isinstance(event, ResultReceived)
    assert event.violation is None


@BOTH
def test_result_for_unknown_id_is_ignored(schemas: SchemaRegistry, version: Version) -> None:
    session = make(schemas, version)
    pending, _ = session.call("Reset", RESET[version], now=0.0)
    event = session.receive(text(3, "someone-else", {"status": "Accepted"}))
    assert isinstance(event, Ignored)
    assert session.pending is pending  # still waiting for ours


@BOTH
def test_answers_with_nothing_outstanding_are_ignored(
    schemas: SchemaRegistry, version: Version
) -> None:
    session = make(schemas, version)
    assert isinstance(session.receive(text(3, "out-1", {})), Ignored)
    assert isinstance(session.receive(text(4, "out-1", "GenericError", "", {})), Ignored)


@BOTH
def test_matching_error_is_received(schemas: SchemaRegistry, version: Version) -> None:
    session = make(schemas, version)
    pending, _ = session.call("Reset", RESET[version], now=0.0)
    event = session.receive(text(4, "out-1", "NotSupported", "no reset here", {"x": 1}))
    assert isinstance(event, ErrorReceived)
    assert event.pending is pending
    assert (event.error.error_code, event.error.description) == ("NotSupported", "no reset here")
    assert event.error.details == {"x": 1}
    assert session.pending is None


@BOTH
def test_error_for_unknown_id_is_ignored(schemas: SchemaRegistry, version: Version) -> None:
    session = make(schemas, version)
    pending, _ = session.call("Reset", RESET[version], now=0.0)
    assert isinstance(session.receive(text(4, "other", "GenericError", "", {})), Ignored)
    assert session.pending is pending


@BOTH
def test_only_one_outstanding_call(schemas: SchemaRegistry, version: Version) -> None:
    """OCPP-J 1.6 §4.1.1 / 2.0.1 §4.1.1: at most one CALL outstanding per sender."""
    session = make(schemas, version)
    first, _ = session.call("Reset", RESET[version], now=0.0)
    with pytest.raises(CallInProgress):
        session.call("ClearCache", {}, now=1.0)
    assert session.pending is first
    session.receive(text(3, "out-1", {"status": "Accepted"}))
    second, _ = session.call("ClearCache", {}, now=2.0)
    assert second.message_id == "out-2"


@BOTH
def test_expire_frees_the_slot_after_the_deadline(
    schemas: SchemaRegistry, version: Version
) -> None:
    session = make(schemas, version)
    pending, _ = session.call("Reset", RESET[version], now=10.0)
    assert session.expire(39.9) is None
    assert session.pending is pending
    assert session.expire(40.0) is pending
    assert session.pending is None
    assert session.expire(50.0) is None
    # A late answer to the expired call no longer matches anything.
    assert isinstance(session.receive(text(3, "out-1", {"status": "Accepted"})), Ignored)
    again, _ = session.call("ClearCache", {}, now=50.0)
    assert again.message_id == "out-2"


@BOTH
def test_abandon_forgets_the_pending_call(schemas: SchemaRegistry, version: Version) -> None:
    session = make(schemas, version)
    pending, _ = session.call("Reset", RESET[version], now=0.0)
    assert session.abandon() is pending
    assert session.pending is None
    assert session.abandon() is None


@pytest.mark.parametrize(
    "version, payload, code",
    [
        (V16, {}, ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION),
        (V16, {"type": "Sideways"}, ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
        (V201, {"type": "Immediate", "evseId": "1"}, ErrorCode.TYPE_CONSTRAINT_VIOLATION),
        (V201, {"type": "Immediate", "colour": "red"}, ErrorCode.FORMAT_VIOLATION),
    ],
)
def test_invalid_outgoing_payload_raises_and_nothing_is_pending(
    schemas: SchemaRegistry, version: Version, payload: dict[str, Any], code: ErrorCode
) -> None:
    session = make(schemas, version)
    with pytest.raises(OcppError) as info:
        session.call("Reset", payload, now=0.0)
    assert info.value.code is code
    assert session.pending is None


@BOTH
def test_outgoing_payload_is_strict_even_for_relaxed_station(
    schemas: SchemaRegistry, version: Version
) -> None:
    session = make(schemas, version, validation=Validation.RELAXED)
    with pytest.raises(OcppError):
        session.call("Reset", {**RESET[version], "colour": "red"}, now=0.0)
    assert session.pending is None


@BOTH
@pytest.mark.parametrize(
    "action, code",
    [("BootNotification", ErrorCode.NOT_SUPPORTED), ("MakeCoffee", ErrorCode.NOT_IMPLEMENTED)],
)
def test_csms_cannot_send_station_actions(
    schemas: SchemaRegistry, version: Version, action: str, code: ErrorCode
) -> None:
    session = make(schemas, version)
    with pytest.raises(OcppError) as info:
        session.call(action, BOOT[version], now=0.0)
    assert info.value.code is code
    assert session.pending is None


# --- answering the peer --------------------------------------------------------------


@BOTH
def test_result_encodes_a_valid_answer(schemas: SchemaRegistry, version: Version) -> None:
    session = make(schemas, version)
    event = session.receive(text(2, "in-1", "BootNotification", BOOT[version]))
    assert isinstance(event, CallReceived)
    wire = session.result(event.call, BOOT_RESPONSE[version])
    assert orjson.loads(wire) == [3, "in-1", BOOT_RESPONSE[version]]


@BOTH
@pytest.mark.parametrize(
    "response",
    [{"status": "Accepted"}, {"status": "Sure", "currentTime": "x", "interval": 1}],
    ids=["missing-fields", "bad-values"],
)
def test_invalid_own_answer_becomes_internal_error(
    schemas: SchemaRegistry, version: Version, response: dict[str, Any]
) -> None:
    session = make(schemas, version, validation=Validation.RELAXED)
    wire = orjson.loads(session.result(Call("in-1", "BootNotification", {}), response))
    assert wire[:3] == [4, "in-1", "InternalError"]
    assert wire[4] == {}
    assert "BootNotification" in wire[3]


@pytest.mark.parametrize(
    "version, wire_code", [(V16, "FormationViolation"), (V201, "FormatViolation")]
)
def test_error_uses_the_versions_spelling(
    schemas: SchemaRegistry, version: Version, wire_code: str
) -> None:
    wire = make(schemas, version).error("in-1", ErrorCode.FORMAT_VIOLATION, "bad", {"k": 1})
    assert orjson.loads(wire) == [4, "in-1", wire_code, "bad", {"k": 1}]


# --- the station's side ------------------------------------------------------------


@BOTH
def test_station_receives_csms_actions(schemas: SchemaRegistry, version: Version) -> None:
    session = make(schemas, version, Role.STATION)
    event = session.receive(text(2, "in-1", "Reset", RESET[version]))
    assert event == CallReceived(Call("in-1", "Reset", RESET[version]))


@BOTH
def test_station_refuses_station_actions(schemas: SchemaRegistry, version: Version) -> None:
    session = make(schemas, version, Role.STATION)
    event = session.receive(text(2, "in-1", "BootNotification", BOOT[version]))
    assert isinstance(event, Reply)
    assert reply_of(event)[:3] == [4, "in-1", "NotSupported"]


@BOTH
def test_station_calls_and_receives_result(schemas: SchemaRegistry, version: Version) -> None:
    session = make(schemas, version, Role.STATION)
    pending, wire = session.call("BootNotification", BOOT[version], now=0.0)
    assert orjson.loads(wire) == [2, "out-1", "BootNotification", BOOT[version]]
    event = session.receive(text(3, "out-1", BOOT_RESPONSE[version]))
    assert event == ResultReceived(pending, BOOT_RESPONSE[version], None)


@BOTH
def test_station_cannot_send_csms_actions(schemas: SchemaRegistry, version: Version) -> None:
    session = make(schemas, version, Role.STATION)
    with pytest.raises(OcppError) as info:
        session.call("Reset", RESET[version], now=0.0)
    assert info.value.code is ErrorCode.NOT_SUPPORTED
    assert session.pending is None
