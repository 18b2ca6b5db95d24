"""Diagnostics and logs in a simulated station: GetDiagnostics and GetLog, the
file uploaded over HTTP(S) or FTP, the status notifications."""

from __future__ import annotations

from typing import TYPE_CHECKING

from volta.simulator.dialect import AnswerTable, Payload

if TYPE_CHECKING:
    from volta.simulator.station import SimulatedStation

# Answers of a 1.6 and of a 2.0.1 station (v16.py / v201.py include them).
v16 = AnswerTable()
v201 = AnswerTable()


@v16.on("GetDiagnostics")
def acknowledge(st: SimulatedStation, p: Payload) -> Payload:
    return {}
