"""One station's connection, as the CSMS serves it: an `OcppLink` whose CALL
handler is the blocks' handler table (after the protocol rules), whose
frames go to the frame log and metrics, and whose CALLs become
`CallOutcome`s."""

from __future__ import annotations

import logging
import time
from typing import Any

from volta import metrics
from volta.gateway.transport import ServerTransport
from volta.ocpp.errors import OcppError
from volta.ocpp.frames import CALLRESULTERROR, SEND, Call, Send
from volta.ocpp.link import Direction, OcppLink
from volta.ocpp.rules import accepted_answer, acknowledgement, check_registration
from volta.ocpp.session import OcppSession
from volta.ocpp.versions import Version
from volta.services import CallContext, Services, StationState
from volta.stations import CallOutcome

log = logging.getLogger(__name__)


class StationConnection:
    def __init__(
        self,
        websocket: ServerTransport,
        station: StationState,
        version: Version,
        services: Services,
    ) -> None:
        self.websocket = websocket
        self.station = station
        self.station_id = station.station_id
        self.version = version
        self.services = services
        # "<node id>/<serial>", given by the gateway (stations.connection_id).
        self.connection_id = ""
        self.session = OcppSession(
            version,
            services.schemas,
            validation=station.validation,
            tolerated=station.tolerated,
            call_timeout=services.settings.call_timeout,
        )
        self._context = CallContext(services, station, version)
        self._record = services.frames.record
        self.link = OcppLink(
            self.session,
            websocket,
            self._answer,
            name=station.station_id,
            on_frame=self._observe,
            on_result=self._follow_up,
            on_send=self._handle_send,
        )

    async def serve(self) -> None:
        """Read frames until the connection closes."""
        await self.link.serve()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.link.close(code, reason)

    async def finish(self, code: int, reason: str, grace: float) -> None:
        """Close once the CALLs received so far are answered (at most `grace`
        seconds): the drain's close. Nothing is awaited between the last
        handler's answer and the close frame, so no CALL slips in between."""
        if not await self.link.settle(grace):
            log.warning("closing %s with CALLs still unanswered after %g s", self.station_id, grace)
        await self.link.close(code, reason)

    def abort(self) -> None:
        """Drop the connection without a closing handshake (a hurried stop)."""
        self.websocket.abort()

    # -- the station's CALLs -------------------------------------------------------

    async def _answer(self, call: Call) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            check_registration(call.action, self.station.registration_status)
            handler = self.services.handlers.handler(self.version, call.action)
            if handler is None:
                return acknowledgement(self.services.schemas, self.version, call.action)
            return await handler(self._context, call.payload)
        finally:
            elapsed = time.perf_counter() - started
            metrics.child(metrics.HANDLER_SECONDS, call.action).observe(elapsed)

    async def _handle_send(self, send: Send) -> None:
        """A 2.1 SEND: handled by the blocks' handler for its action like a
        CALL, but nothing goes back (OCPP-J 2.1), so a refusal is only logged."""
        if self.services.handlers.handler(self.version, send.action) is None:
            log.info("no handler for the %s SEND from %s", send.action, self.station_id)
            return
        try:
            await self._answer(Call(send.message_id, send.action, send.payload))
        except OcppError as exc:
            log.info(
                "dropped the %s SEND from %s: %s", send.action, self.station_id, exc.description
            )

    def _follow_up(self, call: Call, response: dict[str, Any]) -> None:
        for follow_up in self.services.handlers.follow_ups_of(self._context, call.action):
            # Owed: the station was told its CALL was done (a graceful stop
            # lets these finish before it cancels the rest).
            self.services.spawn(
                follow_up(self._context, call.payload, response),
                name=f"{call.action}-follow-up-{self.station_id}",
                owed=True,
            )

    def _observe(
        self,
        direction: Direction,
        text: str,
        message_type: int | None,
        message_id: str | None,
        action: str | None,
        error_code: str | None,
    ) -> None:
        self._record(
            self.station_id,
            direction,
            text,
            message_type=message_type,
            message_id=message_id,
            action=action,
            error_code=error_code,
        )
        metrics.child(metrics.FRAMES, direction, action or "-").inc()
        if error_code is not None:
            if message_type == CALLRESULTERROR:
                # 2.1: an answer one side could not process, either way.
                metrics.child(metrics.RESULT_ERRORS, direction, error_code).inc()
            elif direction == "out":
                metrics.child(metrics.CALL_ERRORS, error_code).inc()
        elif message_type == SEND:
            metrics.child(metrics.SENDS, direction, action or "-").inc()

    # -- our CALLs -----------------------------------------------------------------

    async def call(self, action: str, payload: dict[str, Any]) -> CallOutcome:
        """Send a CALL and wait for its answer; one outstanding CALL at a time."""
        outcome = await self.link.call(action, payload)
        mid = outcome.message_id
        if outcome.kind == "result":
            if outcome.violation:
                log.warning(
                    "%s answered %s with an invalid payload: %s",
                    self.station_id,
                    action,
                    outcome.violation,
                )
            ok = accepted_answer(action, outcome.payload)
            if outcome.violation:
                # Kept, with what is wrong with it beside it (on 2.1 the
                # station was also sent a CALLRESULTERROR saying so).
                code, _, description = outcome.violation.partition(": ")
                return CallOutcome(
                    "accepted" if ok else "rejected",
                    mid,
                    outcome.payload,
                    error_code=code,
                    error_description=f"the answer breaks the {action} response schema: "
                    f"{description or code}",
                )
            return CallOutcome("accepted" if ok else "rejected", mid, outcome.payload)
        error = outcome.error
        if outcome.kind == "error" and error is not None:
            return CallOutcome(
                "error",
                mid,
                error_code=error.error_code,
                error_description=error.description,
                details=error.details,
            )
        if outcome.kind == "invalid" and error is not None:
            return CallOutcome(
                "invalid", error_code=error.error_code, error_description=error.description
            )
        if outcome.kind == "timeout":
            return CallOutcome(
                "timeout",
                mid,
                error_description=f"no answer within {self.session.call_timeout:g} s",
            )
        return CallOutcome(
            "offline", mid, error_description="connection closed before the station answered"
        )
