"""OCPP 2.1 priority charging: how 2.1 stations are answered and asked."""

from __future__ import annotations

from volta.outgoing import OutgoingTable
from volta.services import HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()
