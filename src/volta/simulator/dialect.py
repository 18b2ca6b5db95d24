"""What differs between a 1.6 and a 2.0.1 simulated station: how it answers
the CSMS's CALLs (an answer table per version) and how it spells what it
sends (builders per version). `v16.py` and `v201.py` each implement
`Dialect`; `station.py` holds the version-neutral life of a station."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from volta.simulator.ev import Car
    from volta.simulator.station import Connector, SimulatedStation

Payload = dict[str, Any]
# The answer to one CSMS CALL: a CALLRESULT payload, or OcppError for a CALLERROR.
Answer = Callable[["SimulatedStation", Payload], Payload]
# Work that must wait until the answer was sent (a reservation is held, a
# triggered message sent): (station, request, response).
FollowUp = Callable[["SimulatedStation", Payload, Payload], Awaitable[None]]


class AnswerTable:
    """A version's answers to the CSMS's CALLs, by action, and their follow-ups."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.follow_ups: dict[str, FollowUp] = {}

    def on(self, *actions: str) -> Callable[[Answer], Answer]:
        def register(fn: Answer) -> Answer:
            for action in actions:
                self.answers[action] = fn
            return fn

        return register

    def after(self, *actions: str) -> Callable[[FollowUp], FollowUp]:
        def register(fn: FollowUp) -> FollowUp:
            for action in actions:
                self.follow_ups[action] = fn
            return fn

        return register

    def include(self, *others: AnswerTable) -> None:
        """Add the answers of other tables (the device-management modules'),
        none of them for an action this table answers already."""
        for other in others:
            for action, fn in other.answers.items():
                if action in self.answers:
                    raise RuntimeError(f"two simulator answers for {action}")
                self.answers[action] = fn
            self.follow_ups.update(other.follow_ups)


class Dialect(Protocol):
    """One OCPP version as a simulated station speaks it (a module: v16, v201)."""

    table: AnswerTable

    def boot_request(self, station: SimulatedStation, reason: str) -> Payload: ...

    def status_request(self, connector: Connector, status: str, timestamp: str) -> Payload: ...

    def meter_value(
        self, station: SimulatedStation, connector: Connector, car: Car, context: str
    ) -> list[Payload]: ...

    def triggered_meter_values(self, station: SimulatedStation, connector: Connector) -> Payload:
        """A MeterValues request sent because TriggerMessage asked for it."""

    async def authorize(self, station: SimulatedStation, token: str) -> bool: ...

    async def start(
        self,
        station: SimulatedStation,
        connector: Connector,
        token: str,
        remote_start_id: int | None,
    ) -> bool: ...

    async def meter(
        self,
        station: SimulatedStation,
        connector: Connector,
        car: Car,
        context: str,
        *,
        rate_changed: bool = False,
    ) -> None:
        """A sample of the session; `rate_changed`: sent because the limit changed."""

    async def stop(
        self, station: SimulatedStation, connector: Connector, car: Car | None, reason: str
    ) -> None: ...

    async def reservation_expired(self, station: SimulatedStation, reservation_id: int) -> None: ...
