"""OCPP 1.6 has no display messages (2.0.1 block O): the commands are
registered so both tables know the same commands, and say why not."""

from __future__ import annotations

from volta.blocks.display_messages.service import (
    ClearDisplayMessage,
    GetDisplayMessages,
    SetDisplayMessage,
)
from volta.outgoing import CannotSpell, Message, OutgoingTable

outgoing = OutgoingTable()


def _refuse(command: object) -> Message:
    raise CannotSpell(f"OCPP 1.6 has no {type(command).__name__} (a 2.0.1 block O message)")


for _kind in (SetDisplayMessage, GetDisplayMessages, ClearDisplayMessage):
    outgoing.builds(_kind)(_refuse)
