"""OCPP 1.6 has no monitoring (a 2.0.1 block N feature): its builders are
registered so both versions' tables know the same commands, and say why not."""

from __future__ import annotations

from volta.blocks.monitoring.service import (
    ClearVariableMonitoring,
    GetMonitoringReport,
    SetMonitoringBase,
    SetMonitoringLevel,
    SetVariableMonitoring,
)
from volta.outgoing import CannotSpell, Message, OutgoingTable

outgoing = OutgoingTable()


def _none(command: object) -> Message:
    raise CannotSpell(f"OCPP 1.6 has no {type(command).__name__} (a 2.0.1 monitoring message)")


for _kind in (
    SetVariableMonitoring,
    ClearVariableMonitoring,
    SetMonitoringBase,
    SetMonitoringLevel,
    GetMonitoringReport,
):
    outgoing.builds(_kind)(_none)
