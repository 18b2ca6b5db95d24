"""How each OCPP version spells the commands Volta sends: the outgoing half of
the adapters.

The blocks describe a command once, version-neutral, as a small frozen
dataclass (`remote_control.service.Reset`, `reservations.service.ReserveNow`,
...). Each block's `v16.py` / `v201.py` fills an `OutgoingTable` that turns
such a command into the (action, payload) its version expects; `app.py`
combines the blocks' tables into one per version (`Services.outgoing`), and
the services, the API, the dashboard and housekeeping pick the table by the
station's version from the router. They never spell a version's payload
themselves.

A later version is the table it resembles plus overrides:
`v21 = tables[Version.V201].derive(v21_overrides)` answers every command the
2.0.1 table knows and builds the overridden ones its own way, with no change
to the services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Message:
    """A CALL to send: the action and its payload, in one version's words."""

    action: str
    payload: dict[str, Any]


class CannotSpell(ValueError):
    """The station's version has no way to say what the command asks (e.g. a
    reservation by connector type to a 1.6 station); the message says why."""


Builder = Callable[[Any], Message]


class OutgoingTable:
    """Builders by command type, for one OCPP version."""

    def __init__(self) -> None:
        self.builders: dict[type, Builder] = {}
        # The values a command's field takes in this version, where they
        # differ between versions (Reset's kinds, the messages TriggerMessage
        # may ask for): what the dashboard offers.
        self.choices: dict[type, tuple[str, ...]] = {}

    def builds(self, kind: type[C]) -> Callable[[Callable[[C], Message]], Callable[[C], Message]]:
        """Register `fn(command) -> Message` as how this version sends `kind`."""

        def register(fn: Callable[[C], Message]) -> Callable[[C], Message]:
            if kind in self.builders:
                raise RuntimeError(f"two builders for {kind.__name__}")
            self.builders[kind] = fn
            return fn

        return register

    def offers(self, kind: type, values: tuple[str, ...]) -> None:
        self.choices[kind] = values

    def build(self, command: object) -> Message:
        builder = self.builders.get(type(command))
        if builder is None:
            raise CannotSpell(f"no message for {type(command).__name__} in this OCPP version")
        return builder(command)

    @classmethod
    def combine(cls, *tables: OutgoingTable) -> OutgoingTable:
        """The blocks' tables for one version; a command built twice is a bug."""
        combined = cls()
        for table in tables:
            for kind, fn in table.builders.items():
                combined.builds(kind)(fn)
            combined.choices.update(table.choices)
        return combined

    def derive(self, *overrides: OutgoingTable) -> OutgoingTable:
        """This table with `overrides` taking precedence: how a version that
        differs from this one in a few messages is added."""
        derived = OutgoingTable()
        derived.builders.update(self.builders)
        derived.choices.update(self.choices)
        for table in overrides:
            derived.builders.update(table.builders)
            derived.choices.update(table.choices)
        return derived
