"""OCPP 2.1 transactions: transaction limits held by the station (transactionLimit
in TransactionEventResponse), limit-reached triggers and stopped reasons.
Everything else of TransactionEvent is the 2.0.1 handler's."""

from __future__ import annotations

from volta.outgoing import OutgoingTable
from volta.services import HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()
