"""The dashboard's command buttons: from a small form to the same paths the
API takes. Remote start and stop are the API's sessions
(`sessions.start_session`: the authorization checks, the remote-start
record, its id as remoteStartId; `sessions.stop_session`); the other buttons
make a version-neutral command that the station's version spells
(`volta.outgoing`). Only the raw form sends an action and payload as typed."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import orjson

from volta.blocks.remote_control import sessions
from volta.blocks.remote_control.service import (
    ChangeAvailability,
    CommandRecord,
    ConfigurationReport,
    Reset,
    TriggerMessage,
    UnlockConnector,
    send,
    send_command,
)
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell
from volta.services import Services


class CommandInputError(ValueError):
    """The form cannot make a command (not a number, not JSON, a token that
    may not start, ...); the message says why."""


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


def neutral_command(kind: str, form: Mapping[str, Any]) -> object:
    """The version-neutral command one of the plain buttons asks for."""
    if kind == "reset":
        return Reset(_text(form, "type"))
    if kind == "unlock":
        return UnlockConnector(_int(form, "connector", 1))
    if kind == "availability":
        return ChangeAvailability(
            operative=_text(form, "state") == "Operative", evse_id=_int(form, "connector")
        )
    if kind == "trigger":
        return TriggerMessage(_text(form, "message"), evse_id=_int(form, "connector", 0))
    if kind == "configuration":
        return ConfigurationReport(request_id=secrets.randbelow(2**31 - 1) + 1)
    raise CommandInputError(f"unknown command {kind!r}")


def _raw(form: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    action = _text(form, "action")
    text = str(form.get("payload") or "").strip() or "{}"
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CommandInputError(f"the payload is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise CommandInputError("the payload must be a JSON object")
    return action, payload


async def run_command(
    services: Services, station_id: str, last_version: Version, kind: str, form: Mapping[str, Any]
) -> CommandRecord:
    """Send what the form asks for; `last_version` spells it when the station
    is offline (the command is then recorded as such, nothing is sent)."""
    try:
        if kind == "start":
            started = await sessions.start_session(
                services,
                sessions.StartRequest(
                    station_id=station_id,
                    id_token=_text(form, "id_token"),
                    evse_id=_int(form, "connector", 1),
                ),
            )
            command: CommandRecord = started["command"]
            return command
        if kind == "stop":
            try:
                return await sessions.stop_session(
                    services, _int(form, "transaction"), station_id=station_id
                )
            except LookupError as exc:
                raise CommandInputError(str(exc)) from None
        if kind == "raw":
            action, payload = _raw(form)
            return await send_command(
                services, station_id, action, payload, offline_version=last_version
            )
        return await send(
            services, station_id, neutral_command(kind, form), offline_version=last_version
        )
    except (sessions.SessionRefused, CannotSpell) as exc:
        raise CommandInputError(str(exc)) from None
