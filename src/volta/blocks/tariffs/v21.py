"""OCPP 2.1 tariffs and cost calculated in the station (block I): Volta's
tariffs sent as 2.1 TariffType (SetDefaultTariff, ChangeTransactionTariff,
in AuthorizeResponse), GetTariffs, ClearTariffs, and the station's
costDetails compared with Volta's own calculation."""

from __future__ import annotations

from volta.outgoing import OutgoingTable
from volta.services import HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()
