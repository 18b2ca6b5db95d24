"""OCPP 1.6 adapter of this block: how GetConfiguration and
ChangeConfiguration are spelled (1.6 has no device model)."""

from __future__ import annotations

from typing import Any

from volta.blocks.device_model.service import (
    ChangeConfiguration,
    GetBaseReport,
    GetConfiguration,
    GetReport,
    GetVariables,
    SetVariables,
)
from volta.outgoing import CannotSpell, Message, OutgoingTable
from volta.services import HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()


@outgoing.builds(GetConfiguration)
def get_configuration(command: GetConfiguration) -> Message:
    payload: dict[str, Any] = {"key": list(command.keys)} if command.keys else {}
    return Message("GetConfiguration", payload)


@outgoing.builds(ChangeConfiguration)
def change_configuration(command: ChangeConfiguration) -> Message:
    return Message("ChangeConfiguration", {"key": command.key, "value": command.value})


def device_model(command: object) -> Message:
    raise CannotSpell("1.6 has no device model: its configuration keys hold the settings")


for _kind in (GetVariables, SetVariables, GetBaseReport, GetReport):
    outgoing.builds(_kind)(device_model)
