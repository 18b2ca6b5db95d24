"""The dashboard's command buttons: from a small form to the OCPP message the
station's version expects. The message then goes through the same
`remote_control.send_command` as the API's, validated against the schema."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import orjson

from volta.ocpp.versions import Version

RESET_TYPES = {Version.V16: ("Soft", "Hard"), Version.V201: ("Immediate", "OnIdle")}
TRIGGERS = {
    Version.V16: (
        "StatusNotification",
        "Heartbeat",
        "BootNotification",
        "MeterValues",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
    ),
    Version.V201: (
        "StatusNotification",
        "Heartbeat",
        "BootNotification",
        "MeterValues",
        "TransactionEvent",
        "FirmwareStatusNotification",
        "LogStatusNotification",
    ),
}


class CommandInputError(ValueError):
    """The form cannot make a message (not a number, not JSON, ...)."""


def _int(form: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = str(form.get(name) or "").strip()
    if not value:
        if default is None:
            raise CommandInputError(f"{name} is required")
        return default
    try:
        return int(value)
    except ValueError:
        raise CommandInputError(f"{name} must be a whole number") from None


def _text(form: Mapping[str, Any], name: str) -> str:
    value = str(form.get(name) or "").strip()
    if not value:
        raise CommandInputError(f"{name} is required")
    return value


def build_command(
    version: Version, kind: str, form: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """(action, payload) for one of the dashboard's commands."""
    v16 = version is Version.V16
    if kind == "reset":
        return "Reset", {"type": _text(form, "type")}
    if kind == "unlock":
        connector = _int(form, "connector", 1)
        if v16:
            return "UnlockConnector", {"connectorId": connector}
        return "UnlockConnector", {"evseId": connector, "connectorId": 1}
    if kind == "availability":
        connector = _int(form, "connector", 0)
        state = _text(form, "state")
        if v16:
            return "ChangeAvailability", {"connectorId": connector, "type": state}
        payload: dict[str, Any] = {"operationalStatus": state}
        if connector:
            payload["evse"] = {"id": connector}
        return "ChangeAvailability", payload
    if kind == "start":
        connector = _int(form, "connector", 1)
        token = _text(form, "id_token")
        if v16:
            return "RemoteStartTransaction", {"connectorId": connector, "idTag": token}
        return "RequestStartTransaction", {
            "evseId": connector,
            "idToken": {"idToken": token, "type": "ISO14443"},
            "remoteStartId": secrets.randbelow(2**31 - 1) + 1,
        }
    if kind == "stop":
        tx = _text(form, "transaction")
        if v16:
            return "RemoteStopTransaction", {"transactionId": _int(form, "transaction")}
        return "RequestStopTransaction", {"transactionId": tx}
    if kind == "trigger":
        payload = {"requestedMessage": _text(form, "message")}
        connector = _int(form, "connector", 0)
        if connector:
            payload.update({"connectorId": connector} if v16 else {"evse": {"id": connector}})
        return "TriggerMessage", payload
    if kind == "configuration":
        if v16:
            return "GetConfiguration", {}
        return "GetBaseReport", {
            "requestId": secrets.randbelow(2**31 - 1) + 1,
            "reportBase": "FullInventory",
        }
    if kind == "raw":
        action = _text(form, "action")
        text = str(form.get("payload") or "").strip() or "{}"
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise CommandInputError(f"the payload is not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise CommandInputError("the payload must be a JSON object")
        return action, payload
    raise CommandInputError(f"unknown command {kind!r}")
