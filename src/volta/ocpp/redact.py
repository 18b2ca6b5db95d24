"""Secrets a CSMS sends to a station, hidden from what is kept of the frame.

Two CALLs carry a station's new HTTP Basic password in clear: 2.0.1
SetVariables of SecurityCtrlr.BasicAuthPassword (A01) and 1.6
ChangeConfiguration of AuthorizationKey (security whitepaper, A01). The wire
needs the value; the frame log, the commands table and the server log must
never hold it. `redact_payload()` gives the payload with the value replaced
by REDACTED, `redact_call()` the same for a serialised CALL frame.

Likewise the upload location of GetDiagnostics and GetLog: Volta's per-request
link is a credential (the /transfers/ token, an FTP login's password) until
it expires; what is kept shows the URL with it replaced.
"""

from __future__ import annotations

from typing import Any

import orjson

REDACTED = "********"
SECRET_ACTIONS = frozenset({"SetVariables", "ChangeConfiguration", "GetDiagnostics", "GetLog"})
# 1.6 configuration keys whose value is a secret (write-only by the whitepaper).
SECRET_KEYS_V16 = frozenset({"AuthorizationKey"})
# 2.0.1 (component, variable) pairs whose value is a secret.
SECRET_VARIABLES_V201 = frozenset({("SecurityCtrlr", "BasicAuthPassword")})


def redact_payload(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with every secret value replaced (a copy when one was found;
    the same object otherwise)."""
    if action == "ChangeConfiguration":
        if payload.get("key") in SECRET_KEYS_V16 and "value" in payload:
            return {**payload, "value": REDACTED}
        return payload
    if action == "GetDiagnostics" and isinstance(payload.get("location"), str):
        hidden = redact_url(payload["location"])
        return payload if hidden == payload["location"] else {**payload, "location": hidden}
    if action == "GetLog" and isinstance(payload.get("log"), dict):
        log = payload["log"]
        location = log.get("remoteLocation")
        if isinstance(location, str) and redact_url(location) != location:
            return {**payload, "log": {**log, "remoteLocation": redact_url(location)}}
        return payload
    if action == "SetVariables":
        data = payload.get("setVariableData")
        if not isinstance(data, list):
            return payload
        changed = False
        out: list[Any] = []
        for item in data:
            if isinstance(item, dict) and _secret_variable(item):
                out.append({**item, "attributeValue": REDACTED})
                changed = True
            else:
                out.append(item)
        return {**payload, "setVariableData": out} if changed else payload
    return payload


TRANSFERS = "/transfers/"


def redact_url(url: str) -> str:
    """`url` without the password of its user info and without the token of
    a /transfers/<token>/ path (Volta's per-request links)."""
    scheme, sep, rest = url.partition("://")
    if sep:
        authority, slash, path = rest.partition("/")
        user, at, host = authority.rpartition("@")
        if at and ":" in user:
            authority = f"{user.split(':', 1)[0]}:{REDACTED}@{host}"
        url = f"{scheme}://{authority}{slash}{path}"
    head, found, tail = url.partition(TRANSFERS)
    if found:
        _, slash, name = tail.partition("/")
        url = f"{head}{TRANSFERS}{REDACTED}{slash}{name}"
    return url


def _secret_variable(item: dict[str, Any]) -> bool:
    component = item.get("component")
    variable = item.get("variable")
    if not isinstance(component, dict) or not isinstance(variable, dict):
        return False
    return (component.get("name"), variable.get("name")) in SECRET_VARIABLES_V201


def redact_call(action: str | None, raw: str) -> str:
    """A CALL frame `[2, id, action, payload]` as text, its secrets replaced.
    A frame that cannot be read as one is kept whole only when it cannot
    hold a secret action's payload; otherwise it is replaced entirely."""
    if action not in SECRET_ACTIONS:
        return raw
    try:
        frame = orjson.loads(raw)
        payload = frame[3]
        if not isinstance(payload, dict):
            return raw
        hidden = redact_payload(action, payload)
    except (orjson.JSONDecodeError, IndexError, KeyError, TypeError):
        return REDACTED
    if hidden is payload:
        return raw
    return orjson.dumps([frame[0], frame[1], frame[2], hidden]).decode()
