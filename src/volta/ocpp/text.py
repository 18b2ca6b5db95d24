"""Control characters in a station's strings.

JSON cannot carry a raw control character in a string, but it can carry an
escaped one (`"Acme\\u0000"`), and a NUL cannot be stored by PostgreSQL (text
or jsonb) at all. So a CALL whose payload holds a C0 control character other
than TAB, LF and CR (PEM certificates and DataTransfer text have line breaks)
in any string, key or value, is answered at the protocol edge with
PropertyConstraintViolation naming the field (OCPP-J 1.6 §4.2.3 and 2.0.1
§4.3: "Payload is syntactically correct but at least one field contains an
invalid value"); it never reaches a handler or the database.

The check is cheap where it matters: an escaped control character needs a
backslash in the message, and OCPP messages rarely hold one, so the payload
is walked only when the raw text has a backslash.
"""

from __future__ import annotations

import re
from typing import Any

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def may_hold_control(text: str | bytes) -> bool:
    """False when `text` (a whole JSON message) cannot hold one."""
    return ("\\" in text) if isinstance(text, str) else (b"\\" in text)


def forbidden_in(value: str) -> str | None:
    """The first forbidden character of `value`, as U+XXXX, or None."""
    found = _FORBIDDEN.search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def control_character(value: Any, path: str = "") -> str | None:
    """Describe the first string of `value` (keys too) holding a forbidden
    control character: "chargingStation/vendorName: control character U+0000
    is not allowed", or None when there is none."""
    if isinstance(value, str):
        char = forbidden_in(value)
        if char is None:
            return None
        return f"{path or '(value)'}: control character {char} is not allowed"
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}/{key}" if path else str(key)
            if forbidden_in(key) is not None:
                return f"{where!a}: control character {forbidden_in(key)} is not allowed in a name"
            found = control_character(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = control_character(item, f"{path}/{index}" if path else str(index))
            if found is not None:
                return found
    return None


def scrub(value: Any) -> Any:
    """`value` with every forbidden control character replaced by U+FFFD (for
    an answer we keep but cannot refuse)."""
    if isinstance(value, str):
        return _FORBIDDEN.sub("\ufffd", value)
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value
