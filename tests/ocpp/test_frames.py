"""OCPP-J framing for both versions: parse_frame(), the encoders, and the error
code spelling each version puts on the wire. Text in, frames or FrameError out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from volta.ocpp.errors import ErrorCode, code_from_wire, wire_code
from volta.ocpp.frames import (
    MAX_ERROR_DESCRIPTION_LENGTH,
    Call,
    CallError,
    CallResult,
    FrameError,
    encode_call,
    encode_error,
    encode_result,
    parse_frame,
)
from volta.ocpp.versions import Version

V16, V201 = Version.V16, Version.V201
BOTH = pytest.mark.parametrize("version", [V16, V201], ids=["1.6", "2.0.1"])

# The "Valid Error Codes" tables: OCPP-J 1.6 §4.2.3 and OCPP-J 2.0.1 §4.3.
V16_ERROR_CODES = {
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
    "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
    "TypeConstraintViolation", "GenericError",
}  # fmt: skip
V201_ERROR_CODES = {
    "FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported",
    "NotImplemented", "NotSupported", "OccurrenceConstraintViolation",
    "PropertyConstraintViolation", "ProtocolError", "RpcFrameworkError", "SecurityError",
    "TypeConstraintViolation",
}  # fmt: skip

# What the frame-level errors are called on the wire, per version.
RPC_FRAMEWORK = {V16: "FormationViolation", V201: "RpcFrameworkError"}
FORMAT = {V16: "FormationViolation", V201: "FormatViolation"}


def frame_error(text: str | bytes, version: Version) -> FrameError:
    with pytest.raises(FrameError) as info:
        parse_frame(text, version)
    return info.value


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# --- valid frames ---------------------------------------------------------------


@BOTH
def test_parses_call(version: Version) -> None:
    frame = parse_frame('[2, "m-1", "Heartbeat", {}]', version)
    assert frame == Call("m-1", "Heartbeat", {})


@BOTH
def test_parses_bytes(version: Version) -> None:
    frame = parse_frame(b'[2, "m-1", "Authorize", {"idTag": "ABC"}]', version)
    assert frame == Call("m-1", "Authorize", {"idTag": "ABC"})


@BOTH
def test_parses_callresult(version: Version) -> None:
    frame = parse_frame('[3, "m-2", {"currentTime": "2024-01-01T00:00:00Z"}]', version)
    assert frame == CallResult("m-2", {"currentTime": "2024-01-01T00:00:00Z"})


@BOTH
def test_parses_callerror(version: Version) -> None:
    frame = parse_frame('[4, "m-3", "NotImplemented", "no such action", {"a": 1}]', version)
    assert frame == CallError("m-3", "NotImplemented", "no such action", {"a": 1})


@BOTH
def test_message_id_of_36_characters_is_accepted(version: Version) -> None:
    mid = "x" * 36
    assert parse_frame(dumps([3, mid, {}]), version) == CallResult(mid, {})


@BOTH
def test_encoders_round_trip(version: Version) -> None:
    assert parse_frame(encode_call("a", "Reset", {"type": "Soft"}), version) == Call(
        "a", "Reset", {"type": "Soft"}
    )
    assert parse_frame(encode_result("b", {"status": "Accepted"}), version) == CallResult(
        "b", {"status": "Accepted"}
    )


# --- unreadable frames: answered with id "-1" (OCPP-J 2.0.1 §4.2.3) --------------


@BOTH
@pytest.mark.parametrize(
    "text",
    ["not json", '[2, "m-1", "Heartbeat", {}', "", b"\xff\xfe"],
    ids=["garbage", "truncated", "empty-text", "not-utf8"],
)
def test_non_json_is_rpc_framework_error(version: Version, text: str | bytes) -> None:
    err = frame_error(text, version)
    assert (err.code, err.message_id, err.reply) == (ErrorCode.RPC_FRAMEWORK_ERROR, "-1", True)
    wire = orjson.loads(encode_error(err.message_id, err.code, err.description, version))
    assert wire[:3] == [4, "-1", RPC_FRAMEWORK[version]]


@BOTH
@pytest.mark.parametrize(
    "text",
    ['{"messageTypeId": 2}', "[]", '"text"', "2", "null"],
    ids=["object", "empty-array", "string", "number", "null"],
)
def test_not_a_non_empty_array_is_rpc_framework_error(version: Version, text: str) -> None:
    err = frame_error(text, version)
    assert (err.code, err.message_id, err.reply) == (ErrorCode.RPC_FRAMEWORK_ERROR, "-1", True)


@BOTH
@pytest.mark.parametrize(
    "mid",
    ["x" * 37, 123, "", None, ["m-1"]],
    ids=["37-chars", "int", "empty", "null", "list"],
)
@pytest.mark.parametrize("prefix, rest", [(2, ["Heartbeat", {}]), (3, [{}]), (4, ["E", "d", {}])])
def test_unreadable_message_id_is_answered_with_minus_one(
    version: Version, mid: Any, prefix: int, rest: list[Any]
) -> None:
    """OCPP-J 2.0.1 §4.2.3: the id of a message whose id cannot be read is "-1";
    1.6 has no RpcFrameworkError and says FormationViolation (§4.2.3)."""
    err = frame_error(dumps([prefix, mid, *rest]), version)
    assert (err.code, err.message_id, err.reply) == (ErrorCode.RPC_FRAMEWORK_ERROR, "-1", True)
    wire = orjson.loads(encode_error(err.message_id, err.code, err.description, version))
    assert wire[:3] == [4, "-1", RPC_FRAMEWORK[version]]


@BOTH
def test_only_a_message_id_is_rpc_framework_error(version: Version) -> None:
    err = frame_error("[2]", version)
    assert (err.code, err.message_id) == (ErrorCode.RPC_FRAMEWORK_ERROR, "-1")


# --- wrong shape with a readable id: answered with that id ------------------------


@BOTH
@pytest.mark.parametrize(
    "items",
    [
        [2, "m-1", "Heartbeat"],
        [2, "m-1", "Heartbeat", {}, {}],
        [2, "m-1", 7, {}],
        [3, "m-1"],
        [3, "m-1", {}, {}],
        [3, "m-1", []],
        [4, "m-1", "GenericError"],
        [4, "m-1", "GenericError", "d", {}, {}],
        [4, "m-1", 500, "d", {}],
    ],
    ids=[
        "call-3-items", "call-5-items", "call-action-int", "result-2-items", "result-4-items",
        "result-payload-array", "error-3-items", "error-6-items", "error-code-int",
    ],
)  # fmt: skip
def test_wrong_element_count_is_rpc_framework_error(version: Version, items: list[Any]) -> None:
    err = frame_error(dumps(items), version)
    assert (err.code, err.message_id, err.reply) == (ErrorCode.RPC_FRAMEWORK_ERROR, "m-1", True)


@BOTH
@pytest.mark.parametrize("payload", [[], "x", None, 1], ids=["array", "string", "null", "int"])
def test_call_payload_not_an_object_is_format_violation(version: Version, payload: Any) -> None:
    """OCPP-J 1.6 §4.2.3 FormationViolation / 2.0.1 §4.3 FormatViolation: the
    payload is not conform the PDU structure."""
    err = frame_error(dumps([2, "m-1", "Heartbeat", payload]), version)
    assert (err.code, err.message_id, err.reply) == (ErrorCode.FORMAT_VIOLATION, "m-1", True)
    wire = orjson.loads(encode_error(err.message_id, err.code, err.description, version))
    assert wire[:3] == [4, "m-1", FORMAT[version]]


# --- unknown message types (OCPP-J 1.6 §4.1.3, 2.0.1 §4.1.3) ------------------------


@pytest.mark.parametrize(
    "type_id", [5, 0, 1, -2, 2.0, True, None, "2"],
    ids=["5", "0", "1", "negative", "float", "bool", "null", "string"],
)  # fmt: skip
def test_v16_ignores_unknown_message_type(type_id: Any) -> None:
    """OCPP-J 1.6 §4.1.3: a message type number not in the list is ignored."""
    err = frame_error(dumps([type_id, "m-1", "Heartbeat", {}]), V16)
    assert err.reply is False
    assert err.code is ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED


@pytest.mark.parametrize(
    "type_id", [5, 0, 1, -2, 2.0, True, None, "2"],
    ids=["5", "0", "1", "negative", "float", "bool", "null", "string"],
)  # fmt: skip
def test_v201_answers_unknown_message_type(type_id: Any) -> None:
    """OCPP-J 2.0.1 §4.1.3 / §4.3: MessageTypeNotSupported, with the message's id."""
    err = frame_error(dumps([type_id, "m-1", "Heartbeat", {}]), V201)
    assert (err.code, err.message_id, err.reply) == (
        ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED,
        "m-1",
        True,
    )
    wire = orjson.loads(encode_error(err.message_id, err.code, err.description, V201))
    assert wire[:3] == [4, "m-1", "MessageTypeNotSupported"]


def test_v201_unknown_message_type_with_unreadable_id_uses_minus_one() -> None:
    err = frame_error(dumps([9, 42, {}]), V201)
    assert (err.code, err.message_id) == (ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED, "-1")


# --- error codes on the wire (OCPP-J 1.6 §4.2.3, 2.0.1 §4.3) -------------------------


@pytest.mark.parametrize(
    "code, v16, v201",
    [
        (ErrorCode.FORMAT_VIOLATION, "FormationViolation", "FormatViolation"),
        (
            ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
            "OccurenceConstraintViolation",
            "OccurrenceConstraintViolation",
        ),
        (ErrorCode.RPC_FRAMEWORK_ERROR, "FormationViolation", "RpcFrameworkError"),
        (ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED, "NotSupported", "MessageTypeNotSupported"),
        (ErrorCode.TYPE_CONSTRAINT_VIOLATION, "TypeConstraintViolation", "TypeConstraintViolation"),
        (
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
            "PropertyConstraintViolation",
            "PropertyConstraintViolation",
        ),
        (ErrorCode.NOT_IMPLEMENTED, "NotImplemented", "NotImplemented"),
        (ErrorCode.NOT_SUPPORTED, "NotSupported", "NotSupported"),
        (ErrorCode.INTERNAL_ERROR, "InternalError", "InternalError"),
        (ErrorCode.PROTOCOL_ERROR, "ProtocolError", "ProtocolError"),
        (ErrorCode.SECURITY_ERROR, "SecurityError", "SecurityError"),
        (ErrorCode.GENERIC_ERROR, "GenericError", "GenericError"),
    ],
)
def test_error_code_spelling_per_version(code: ErrorCode, v16: str, v201: str) -> None:
    assert wire_code(code, V16) == v16
    assert wire_code(code, V201) == v201
    assert orjson.loads(encode_error("m-1", code, "why", V16)) == [4, "m-1", v16, "why", {}]
    assert orjson.loads(encode_error("m-1", code, "why", V201)) == [4, "m-1", v201, "why", {}]


def test_every_wire_code_is_in_the_versions_table() -> None:
    assert {wire_code(code, V16) for code in ErrorCode} <= V16_ERROR_CODES
    assert {wire_code(code, V201) for code in ErrorCode} == V201_ERROR_CODES


@BOTH
def test_encode_error_keeps_details_and_truncates_description(version: Version) -> None:
    """OCPP-J 2.0.1 §4.2.3: errorDescription is at most 255 characters."""
    wire = orjson.loads(
        encode_error("m-1", ErrorCode.GENERIC_ERROR, "x" * 300, version, {"k": "v"})
    )
    assert wire == [4, "m-1", "GenericError", "x" * MAX_ERROR_DESCRIPTION_LENGTH, {"k": "v"}]


@pytest.mark.parametrize(
    "text, code",
    [
        ("FormationViolation", ErrorCode.FORMAT_VIOLATION),
        ("FormatViolation", ErrorCode.FORMAT_VIOLATION),
        ("OccurenceConstraintViolation", ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION),
        ("OccurrenceConstraintViolation", ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION),
        # 1.6's NotSupported is a NotSupported, not a MessageTypeNotSupported.
        ("NotSupported", ErrorCode.NOT_SUPPORTED),
        ("MessageTypeNotSupported", ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED),
        ("RpcFrameworkError", ErrorCode.RPC_FRAMEWORK_ERROR),
        ("NotImplemented", ErrorCode.NOT_IMPLEMENTED),
        ("SomethingVendorSpecific", ErrorCode.GENERIC_ERROR),
    ],
)
def test_code_from_wire_reads_both_spellings(text: str, code: ErrorCode) -> None:
    assert code_from_wire(text) is code
