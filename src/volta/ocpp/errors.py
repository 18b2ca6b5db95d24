"""CALLERROR codes, spelled the way each version spells them.

OCPP-J 1.6 §4.2.3 keeps two historic misspellings (`FormationViolation`,
`OccurenceConstraintViolation`); OCPP-J 2.0.1 §4.3 renamed the first to
`FormatViolation`, fixed the second and added `MessageTypeNotSupported` and
`RpcFrameworkError`. Code inside Volta uses the semantic `ErrorCode`; the
wire spelling is chosen per connection by `wire_code()`.
"""

from __future__ import annotations

import enum

from volta.ocpp.versions import Version


class ErrorCode(enum.Enum):
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMAT_VIOLATION = "FormatViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"
    # 2.0.1 only; 1.6 falls back as noted in wire_code().
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"


_V16_SPELLING = {
    ErrorCode.FORMAT_VIOLATION: "FormationViolation",
    ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION: "OccurenceConstraintViolation",
    # 1.6 has no RpcFrameworkError: an unreadable frame is "not conform the PDU
    # structure", which 1.6 calls FormationViolation.
    ErrorCode.RPC_FRAMEWORK_ERROR: "FormationViolation",
    ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED: "NotSupported",
}

_FROM_WIRE = {code.value: code for code in ErrorCode}
# Only 1.6's own spellings map back; its fallbacks for 2.0.1-only codes
# ("NotSupported", "FormationViolation") keep their 1.6 meaning.
_FROM_WIRE["FormationViolation"] = ErrorCode.FORMAT_VIOLATION
_FROM_WIRE["OccurenceConstraintViolation"] = ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION


def wire_code(code: ErrorCode, version: Version) -> str:
    if version is Version.V16:
        return _V16_SPELLING.get(code, code.value)
    return code.value


def code_from_wire(text: str) -> ErrorCode:
    """Map a received errorCode of either version to the semantic code."""
    return _FROM_WIRE.get(text, ErrorCode.GENERIC_ERROR)


class OcppError(Exception):
    """Raised by a handler (or the core) to answer a CALL with a CALLERROR."""

    def __init__(
        self, code: ErrorCode, description: str = "", details: dict[str, object] | None = None
    ) -> None:
        super().__init__(description or code.value)
        self.code = code
        self.description = description
        self.details = details or {}
