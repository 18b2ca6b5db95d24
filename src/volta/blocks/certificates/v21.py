"""OCPP 2.1 certificates: GetCertificateChainStatus (M07)."""

from __future__ import annotations

from volta.outgoing import OutgoingTable
from volta.services import HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()
