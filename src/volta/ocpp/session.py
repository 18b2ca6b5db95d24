"""The OCPP-J conversation of one connection, as a sans-I/O state machine.

Text in, events out. The caller owns the socket and the clock: it feeds every
received message to `receive()`, sends whatever text the session hands back,
and calls `expire()` with the current time to time out our outgoing CALL.

OCPP-J 1.6 §4.1.1 / 2.0.1 §4.1.1: a sender has at most one outstanding CALL;
`call()` refuses a second until the first is answered or has timed out.

OCPP-J 2.1 §4.2.1 (the message id): a CALL that is retried keeps its
message id. On a 2.1 session the peer's CALLs being handled and the last
`RETRY_MEMORY` answers are remembered by message id, so a retry is not
handled twice: it gets the answer already sent (`Retried`), or nothing
while the first is still being handled (its answer will come). A reused id
with another action is no retry: the peer broke the RPC framework's rule
that a CALL's id is its own, and gets a CALLERROR RpcFrameworkError.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from volta.ocpp.actions import CSMS_INITIATED, STATION_INITIATED, STATION_SENDS
from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.frames import (
    CALLERROR,
    CALLRESULT,
    Call,
    CallError,
    CallResult,
    CallResultError,
    FrameError,
    Send,
    encode_call,
    encode_error,
    encode_result,
    encode_result_error,
    encode_send,
    parse_frame,
)
from volta.ocpp.schemas import SchemaRegistry, Tolerated, Validation
from volta.ocpp.text import control_character, may_hold_control, scrub
from volta.ocpp.versions import Version

# OCPP-J 2.1 §4.2.1: how many answers to the peer's CALLs a 2.1 session keeps
# for retries. A station has one CALL outstanding at a time (§4.1.1) and
# retries it, so a retry is of one of its last few CALLs; a fixed number
# keeps a station's memory here bounded whatever it sends.
RETRY_MEMORY = 8


class Role(enum.Enum):
    CSMS = "csms"
    STATION = "station"


@dataclass(frozen=True, slots=True)
class PendingCall:
    message_id: str
    action: str
    payload: dict[str, Any]
    deadline: float


# --- events -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallReceived:
    """A valid CALL from the peer: answer it with `result()` or `error()`."""

    call: Call


@dataclass(frozen=True, slots=True)
class ResultReceived:
    """The answer to our outstanding CALL. `violation` is set when the payload
    does not match the response schema (kept, so the operator sees it)."""

    pending: PendingCall
    payload: dict[str, Any]
    violation: str | None = None
    # 2.1: the CALLRESULTERROR to send back for an answer that breaks the
    # response schema (OCPP-J 2.1 CALLRESULTERROR); None otherwise.
    reply: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorReceived:
    pending: PendingCall
    error: CallError


@dataclass(frozen=True, slots=True)
class SendReceived:
    """2.1: a valid SEND from the peer: handle it, never answer it."""

    send: Send


@dataclass(frozen=True, slots=True)
class ResultErrorReceived:
    """2.1: the peer could not process our answer to its CALL `error.message_id`
    (nothing is sent back; the operator sees it in the frame log). `action`
    is that CALL's, when the answer is still remembered."""

    error: CallResultError
    action: str | None = None


@dataclass(frozen=True, slots=True)
class Retried:
    """2.1: the peer sent again a CALL it had sent before (same message id,
    same action; OCPP-J 2.1 §4.2.1). `answer` is the text sent for the first
    and `answer_type` its message type (CALLRESULT or CALLERROR), to send
    again as it was; None while the first is still being handled (its
    answer will come; nothing is handled twice)."""

    call: Call
    answer: str | None = None
    answer_type: int | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """Text to send back at once (a CALLERROR for a message we cannot accept)."""

    text: str
    message_id: str
    code: ErrorCode
    description: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """Nothing to do: the specification says to drop this message."""

    reason: str


Event = (
    CallReceived
    | ResultReceived
    | ErrorReceived
    | SendReceived
    | ResultErrorReceived
    | Retried
    | Reply
    | Ignored
)


class CallInProgress(Exception):
    """A second outgoing CALL while one is outstanding."""


class OcppSession:
    def __init__(
        self,
        version: Version,
        schemas: SchemaRegistry,
        *,
        role: Role = Role.CSMS,
        validation: Validation = Validation.STRICT,
        tolerated: Tolerated | None = None,
        call_timeout: float = 30.0,
        new_message_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        retry_memory: int = RETRY_MEMORY,
    ) -> None:
        self.version = version
        self.role = role
        self.validation = validation
        # The deviations the peer's messages may carry (a charger profile's).
        self.tolerated = tolerated
        self.call_timeout = call_timeout
        self._schemas = schemas
        self._new_id = new_message_id
        self._pending: PendingCall | None = None
        # OCPP-J 2.1 §4.2.1: the peer's CALLs being handled (id -> action) and
        # the last RETRY_MEMORY answers (id -> action, message type, text).
        self._retries = version is Version.V21 and retry_memory > 0
        self._retry_memory = retry_memory
        self._busy: dict[str, str] = {}
        self._answered: dict[str, tuple[str, int, str]] = {}
        if role is Role.CSMS:
            self._accepts, self._sends = STATION_INITIATED[version], CSMS_INITIATED[version]
            self._accepts_send, self._sends_send = STATION_SENDS[version], frozenset[str]()
        else:
            self._accepts, self._sends = CSMS_INITIATED[version], STATION_INITIATED[version]
            self._accepts_send, self._sends_send = frozenset[str](), STATION_SENDS[version]

    @property
    def pending(self) -> PendingCall | None:
        return self._pending

    # -- incoming --------------------------------------------------------------

    def receive(self, text: str | bytes) -> Event:
        try:
            frame = parse_frame(text, self.version)
        except FrameError as exc:
            if not exc.reply:
                return Ignored(exc.description)
            return self._reply(exc.message_id, exc.code, exc.description)
        # Rare: only a message with a backslash can hold an escaped control
        # character (volta.ocpp.text); the payload is walked only then.
        control = may_hold_control(text)
        if isinstance(frame, Call):
            return self._receive_call(frame, control)
        if isinstance(frame, Send):
            return self._receive_send(frame, control)
        if isinstance(frame, CallResultError):
            if control:
                frame = CallResultError(
                    frame.message_id,
                    scrub(frame.error_code),
                    scrub(frame.description),
                    scrub(frame.details),
                )
            answered = self._answered.get(frame.message_id)
            return ResultErrorReceived(frame, answered[0] if answered is not None else None)
        control_violation = None
        if control:
            frame, control_violation = self._scrubbed(frame)
        pending = self._pending
        if pending is None or pending.message_id != frame.message_id:
            # OCPP-J: an answer whose id matches no outstanding CALL is dropped.
            return Ignored(f"answer to unknown message id {frame.message_id!r}")
        self._pending = None
        if isinstance(frame, CallResult):
            violation = None
            try:
                self._schemas.validate(
                    self.version,
                    pending.action,
                    frame.payload,
                    response=True,
                    mode=self.validation,
                    tolerated=self.tolerated,
                )
            except OcppError as exc:
                violation = f"{exc.code.value}: {exc.description}"
                if self.version is Version.V21:
                    reply = encode_result_error(pending.message_id, exc.code, exc.description)
                    return ResultReceived(pending, frame.payload, violation, reply)
            violation = violation or control_violation
            return ResultReceived(pending, frame.payload, violation)
        return ErrorReceived(pending, frame)

    @staticmethod
    def _scrubbed(
        frame: CallResult | CallError,
    ) -> tuple[CallResult | CallError, str | None]:
        """An answer cannot be refused: one holding control characters is kept
        with U+FFFD in their place, and a result carries the violation (the
        operator sees it in the command's outcome)."""
        if isinstance(frame, CallResult):
            found = control_character(frame.payload)
            if found is None:
                return frame, None
            violation = f"{ErrorCode.PROPERTY_CONSTRAINT_VIOLATION.value}: {found}"
            return CallResult(frame.message_id, scrub(frame.payload)), violation
        found = control_character([frame.error_code, frame.description, frame.details])
        if found is None:
            return frame, None
        code, description, details = scrub([frame.error_code, frame.description, frame.details])
        return CallError(frame.message_id, code, description, details), None

    def _receive_call(self, call: Call, control: bool = False) -> Event:
        if self._retries and (call.message_id in self._busy or call.message_id in self._answered):
            return self._retry(call)
        if not self._schemas.knows(self.version, call.action):
            return self._reply(
                call.message_id,
                ErrorCode.NOT_IMPLEMENTED,
                f"action {call.action!r} is not an OCPP {self.version.label} action",
            )
        if call.action not in self._accepts:
            return self._reply(
                call.message_id,
                ErrorCode.NOT_SUPPORTED,
                f"{call.action} is not sent by a {'station' if self.role is Role.CSMS else 'CSMS'}",
            )
        try:
            self._schemas.validate(
                self.version,
                call.action,
                call.payload,
                mode=self.validation,
                tolerated=self.tolerated,
            )
        except OcppError as exc:
            return self._reply(call.message_id, exc.code, exc.description)
        if control:
            # Whatever the validation mode: the database cannot store a NUL.
            found = control_character(call.payload)
            if found is not None:
                return self._reply(call.message_id, ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, found)
        if self._retries:
            self._busy[call.message_id] = call.action
        return CallReceived(call)

    def _retry(self, call: Call) -> Retried | Reply:
        """OCPP-J 2.1 §4.2.1: a CALL whose message id is being handled or was
        answered lately: the same answer again for a retry, a CALLERROR for
        an id reused by another action."""
        mid = call.message_id
        busy = self._busy.get(mid)
        if busy is not None:
            if busy == call.action:
                return Retried(call)
            return self._reused(call, busy)
        action, answer_type, text = self._answered[mid]
        if action == call.action:
            return Retried(call, text, answer_type)
        return self._reused(call, action)

    def _reused(self, call: Call, action: str) -> Reply:
        return self._reply(
            call.message_id,
            ErrorCode.RPC_FRAMEWORK_ERROR,
            f"message id {call.message_id!r} is that of a {action} CALL: "
            f"a retry keeps its action, a new CALL needs a new id",
        )

    def answered(self, call: Call, text: str | None) -> None:
        """Remember the answer sent to the peer's CALL (2.1, for its retries);
        `text` None: no answer will come (the handling was cancelled)."""
        if not self._retries:
            return
        mid = call.message_id
        self._busy.pop(mid, None)
        if text is None:
            return
        answered = self._answered
        # Never there already: a CALL with a remembered id is not handled.
        answered[mid] = (call.action, CALLERROR if text.startswith("[4") else CALLRESULT, text)
        if len(answered) > self._retry_memory:
            del answered[next(iter(answered))]

    def _receive_send(self, send: Send, control: bool) -> Event:
        """OCPP-J 2.1: a SEND is never answered, not even with a CALLERROR;
        one Volta cannot accept is dropped (and logged by the caller)."""
        if send.action not in self._accepts_send:
            return Ignored(f"SEND of {send.action!r} is not one a peer in this role sends")
        try:
            self._schemas.validate(
                self.version,
                send.action,
                send.payload,
                mode=self.validation,
                tolerated=self.tolerated,
            )
        except OcppError as exc:
            return Ignored(f"invalid {send.action} SEND: {exc.code.value}: {exc.description}")
        if control and control_character(send.payload) is not None:
            return Ignored(f"{send.action} SEND holds a control character")
        return SendReceived(send)

    def _reply(self, message_id: str, code: ErrorCode, description: str) -> Reply:
        return Reply(
            encode_error(message_id, code, description, self.version), message_id, code, description
        )

    # -- answering the peer's CALLs ---------------------------------------------

    def result(self, call: Call, payload: dict[str, Any]) -> str:
        """Serialise our answer; an answer that breaks the schema is our own bug,
        so it becomes an InternalError rather than a malformed reply."""
        try:
            self._schemas.validate(self.version, call.action, payload, response=True)
        except OcppError as exc:
            return self.error(
                call.message_id,
                ErrorCode.INTERNAL_ERROR,
                f"{self.role.value} produced an invalid {call.action} response: {exc.description}",
            )
        return encode_result(call.message_id, payload)

    def error(
        self,
        message_id: str,
        code: ErrorCode,
        description: str = "",
        details: dict[str, Any] | None = None,
    ) -> str:
        return encode_error(message_id, code, description, self.version, details)

    # -- our own CALLs -----------------------------------------------------------

    def call(self, action: str, payload: dict[str, Any], now: float) -> tuple[PendingCall, str]:
        """Start an outgoing CALL. Raises OcppError for a payload the schema
        refuses (nothing is sent) and CallInProgress if one is outstanding."""
        if self._pending is not None:
            raise CallInProgress(self._pending.action)
        if action not in self._sends:
            known = self._schemas.knows(self.version, action)
            raise OcppError(
                ErrorCode.NOT_SUPPORTED if known else ErrorCode.NOT_IMPLEMENTED,
                f"{action} cannot be sent to a {self.version.label} "
                f"{'station' if self.role is Role.CSMS else 'CSMS'}",
            )
        self._schemas.validate(self.version, action, payload)
        pending = PendingCall(self._new_id(), action, payload, now + self.call_timeout)
        self._pending = pending
        return pending, encode_call(pending.message_id, action, payload)

    def send(self, action: str, payload: dict[str, Any]) -> str:
        """2.1: serialise a SEND (no answer is awaited, none will come).
        Raises OcppError for an action this role does not SEND or a payload
        the schema refuses."""
        if action not in self._sends_send:
            raise OcppError(
                ErrorCode.NOT_SUPPORTED,
                f"{action} is not sent as a SEND by a {self.version.label} {self.role.value}",
            )
        self._schemas.validate(self.version, action, payload)
        return encode_send(self._new_id(), action, payload)

    def expire(self, now: float) -> PendingCall | None:
        """Give up on the outstanding CALL once its deadline has passed."""
        pending = self._pending
        if pending is not None and now >= pending.deadline:
            self._pending = None
            return pending
        return None

    def abandon(self) -> PendingCall | None:
        """Forget the outstanding CALL (the connection is gone)."""
        pending, self._pending = self._pending, None
        return pending
