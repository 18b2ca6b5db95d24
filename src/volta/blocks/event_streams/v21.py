"""OCPP 2.1 periodic event streams: how 2.1 stations are answered and asked."""

from __future__ import annotations

from volta.outgoing import OutgoingTable
from volta.services import HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()
