"""OCPP-J frames: parsing and serialising CALL, CALLRESULT and CALLERROR, and
2.1's CALLRESULTERROR and SEND.

OCPP-J 1.6 §4.1 / 2.0.1 §4.1: every message is a JSON array whose first
element is the message type number (2 CALL, 3 CALLRESULT, 4 CALLERROR) and
whose second is the message id, a string of at most 36 characters.
OCPP-J 2.1 adds 5 CALLRESULTERROR (the receiver of a CALLRESULT could not
process it: [5, messageId, errorCode, errorDescription, errorDetails]) and
6 SEND (an unconfirmed message, never answered: [6, messageId, action,
payload]); older versions treat both as unknown message types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from volta.ocpp.errors import ErrorCode, wire_code
from volta.ocpp.versions import Version

CALL = 2
CALLRESULT = 3
CALLERROR = 4
CALLRESULTERROR = 5  # OCPP-J 2.1
SEND = 6  # OCPP-J 2.1

MAX_MESSAGE_ID_LENGTH = 36  # OCPP-J 1.6 §4.1.3, 2.0.1 §4.2.1
MAX_ERROR_DESCRIPTION_LENGTH = 255  # OCPP-J 2.0.1 §4.2.3
# OCPP-J 2.0.1 §4.2.3: the id to use when the offending message's id cannot be read.
UNKNOWN_MESSAGE_ID = "-1"

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    message_id: str
    action: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class CallResult:
    message_id: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class CallError:
    message_id: str
    error_code: str
    description: str
    details: Payload = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallResultError:
    """2.1: the peer could not process our CALLRESULT to its CALL `message_id`."""

    message_id: str
    error_code: str
    description: str
    details: Payload = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Send:
    """2.1: an unconfirmed message; nothing is ever sent back for it."""

    message_id: str
    action: str
    payload: Payload


Frame = Call | CallResult | CallError | CallResultError | Send


def message_types(version: Version) -> tuple[int, ...]:
    """The message types a version knows."""
    if version is Version.V21:
        return (CALL, CALLRESULT, CALLERROR, CALLRESULTERROR, SEND)
    return (CALL, CALLRESULT, CALLERROR)


class FrameError(Exception):
    """A frame that cannot be understood; `message_id` is what we could read.

    `reply` is False when the specification says to say nothing back (an
    unknown message type under OCPP-J 1.6 §4.1.3 is ignored).
    """

    def __init__(
        self,
        code: ErrorCode,
        description: str,
        message_id: str = UNKNOWN_MESSAGE_ID,
        reply: bool = True,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.message_id = message_id
        self.reply = reply


def _read_message_id(items: list[Any]) -> str | None:
    if len(items) < 2:
        return None
    mid = items[1]
    if not isinstance(mid, str) or not mid or len(mid) > MAX_MESSAGE_ID_LENGTH:
        return None
    return mid


def parse_frame(text: str | bytes, version: Version) -> Frame:
    """Parse one WebSocket message into a frame, or raise FrameError."""
    try:
        items = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "message is not valid JSON") from None
    if not isinstance(items, list) or not items:
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "message is not a non-empty JSON array")
    type_id = items[0]
    mid = _read_message_id(items)
    if type(type_id) is not int or type_id not in message_types(version):
        # OCPP-J 1.6 §4.1.3: an unknown message type is ignored.
        # OCPP-J 2.0.1 §4.1.3 (first edition): answered with MessageTypeNotSupported.
        raise FrameError(
            ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED,
            f"message type {type_id!r} is not supported",
            mid or UNKNOWN_MESSAGE_ID,
            reply=version is not Version.V16,
        )
    if mid is None:
        raise FrameError(
            ErrorCode.RPC_FRAMEWORK_ERROR,
            f"message id must be a non-empty string of at most {MAX_MESSAGE_ID_LENGTH} characters",
        )
    if type_id == SEND:
        # Never answered, whatever is wrong with it (OCPP-J 2.1): the
        # session drops a SEND it cannot read.
        if len(items) != 4 or not isinstance(items[2], str) or not isinstance(items[3], dict):
            raise FrameError(
                ErrorCode.RPC_FRAMEWORK_ERROR,
                "a SEND is [6, messageId, action, payload]",
                mid,
                reply=False,
            )
        return Send(mid, items[2], items[3])
    if type_id == CALL:
        if len(items) != 4 or not isinstance(items[2], str):
            raise FrameError(
                ErrorCode.RPC_FRAMEWORK_ERROR,
                "a CALL is [2, messageId, action, payload]",
                mid,
            )
        if not isinstance(items[3], dict):
            raise FrameError(ErrorCode.FORMAT_VIOLATION, "CALL payload must be a JSON object", mid)
        return Call(mid, items[2], items[3])
    if type_id == CALLRESULT:
        if len(items) != 3 or not isinstance(items[2], dict):
            raise FrameError(
                ErrorCode.RPC_FRAMEWORK_ERROR, "a CALLRESULT is [3, messageId, payload]", mid
            )
        return CallResult(mid, items[2])
    name = "CALLERROR" if type_id == CALLERROR else "CALLRESULTERROR"
    if len(items) not in (4, 5) or not isinstance(items[2], str):
        raise FrameError(
            ErrorCode.RPC_FRAMEWORK_ERROR,
            f"a {name} is [{type_id}, messageId, errorCode, errorDescription, errorDetails]",
            mid,
            # Nothing answers an error about an answer (OCPP-J 2.1).
            reply=type_id == CALLERROR,
        )
    details = items[4] if len(items) == 5 and isinstance(items[4], dict) else {}
    description = items[3] if isinstance(items[3], str) else ""
    if type_id == CALLRESULTERROR:
        return CallResultError(mid, items[2], description, details)
    return CallError(mid, items[2], description, details)


def encode_call(message_id: str, action: str, payload: Payload) -> str:
    return orjson.dumps([CALL, message_id, action, payload]).decode()


def encode_result(message_id: str, payload: Payload) -> str:
    return orjson.dumps([CALLRESULT, message_id, payload]).decode()


def encode_error(
    message_id: str,
    code: ErrorCode,
    description: str,
    version: Version,
    details: Payload | None = None,
) -> str:
    return orjson.dumps(
        [
            CALLERROR,
            message_id,
            wire_code(code, version),
            description[:MAX_ERROR_DESCRIPTION_LENGTH],
            details or {},
        ]
    ).decode()


def encode_send(message_id: str, action: str, payload: Payload) -> str:
    return orjson.dumps([SEND, message_id, action, payload]).decode()


def encode_result_error(
    message_id: str, code: ErrorCode, description: str, details: Payload | None = None
) -> str:
    """2.1's CALLRESULTERROR: the CALLRESULT to our CALL `message_id` could not
    be processed (it breaks the response schema)."""
    return orjson.dumps(
        [
            CALLRESULTERROR,
            message_id,
            code.value,
            description[:MAX_ERROR_DESCRIPTION_LENGTH],
            details or {},
        ]
    ).decode()
