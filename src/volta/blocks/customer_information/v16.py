"""OCPP 1.6 has no CustomerInformation (2.0.1 N09/N10): registered so both
tables know the same commands, and say why not."""

from __future__ import annotations

from volta.blocks.customer_information.service import CustomerInformation
from volta.outgoing import CannotSpell, Message, OutgoingTable

outgoing = OutgoingTable()


@outgoing.builds(CustomerInformation)
def customer_information(command: CustomerInformation) -> Message:
    raise CannotSpell("OCPP 1.6 has no CustomerInformation (a 2.0.1 N09/N10 message)")
