"""OCPP 2.0.1 adapter of this block: incoming handlers and outgoing builders."""

from __future__ import annotations

from volta.outgoing import OutgoingTable
from volta.services import HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()
