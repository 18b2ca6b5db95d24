"""OCPP 2.1 bidirectional power (V2X, block Q): NotifyAllowedEnergyTransfer,
charging schedules with operation modes, discharge limits and setpoints,
UpdateDynamicSchedule, PullDynamicScheduleUpdate, AFRRSignal."""

from __future__ import annotations

from volta.outgoing import OutgoingTable
from volta.services import HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()
