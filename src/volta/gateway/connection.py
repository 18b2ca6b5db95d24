"""One station's WebSocket connection: feeds frames to the sans-I/O session,
runs handlers for the station's CALLs, and sends our CALLs one at a time."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from websockets.exceptions import ConnectionClosed

from volta import metrics
from volta.gateway.transport import Transport
from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.frames import CALL, CALLERROR, CALLRESULT, Call
from volta.ocpp.rules import accepted_answer, acknowledgement, check_registration
from volta.ocpp.session import (
    CallInProgress,
    CallReceived,
    ErrorReceived,
    OcppSession,
    Reply,
    ResultReceived,
)
from volta.ocpp.versions import Version
from volta.services import CallContext, Services, StationState
from volta.stations import CallOutcome

log = logging.getLogger(__name__)


class StationConnection:
    def __init__(
        self,
        websocket: Transport,
        station: StationState,
        version: Version,
        services: Services,
    ) -> None:
        self.websocket = websocket
        self.station = station
        self.station_id = station.station_id
        self.version = version
        self.services = services
        self.session = OcppSession(
            version,
            services.schemas,
            validation=station.validation,
            call_timeout=services.settings.call_timeout,
        )
        self._context = CallContext(services, station, version)
        self._call_lock = asyncio.Lock()
        self._answer: asyncio.Future[ResultReceived | ErrorReceived] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- receiving -------------------------------------------------------------

    async def serve(self) -> None:
        """Read frames until the connection closes."""
        try:
            async for message in self.websocket:
                self._on_message(message)
        except ConnectionClosed:
            pass
        finally:
            if self._answer is not None and not self._answer.done():
                self._answer.cancel()
            # Handlers still running are left to finish: cancelling one in the
            # middle of its commit helps nobody, and the station, which got no
            # answer, will retry (the transaction handlers are idempotent).

    def _on_message(self, message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        event = self.session.receive(message)
        if isinstance(event, CallReceived):
            self._log_in(text, CALL, event.call.message_id, event.call.action)
            # Answered concurrently: a slow handler never holds up the next CALL.
            task = asyncio.create_task(self._answer_call(event.call))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(event, ResultReceived | ErrorReceived):
            mtype = CALLRESULT if isinstance(event, ResultReceived) else CALLERROR
            self._log_in(text, mtype, event.pending.message_id, event.pending.action)
            if self._answer is not None and not self._answer.done():
                self._answer.set_result(event)
        elif isinstance(event, Reply):
            self._log_in(text, None, None, None)
            self._send_soon(event.text, CALLERROR, event.message_id, None, event.code)
        else:
            self._log_in(text, None, None, None)
            log.info("ignored message from %s: %s", self.station_id, event.reason)

    def _log_in(
        self, text: str, mtype: int | None, message_id: str | None, action: str | None
    ) -> None:
        self.services.frames.record(
            self.station_id, "in", text, message_type=mtype, message_id=message_id, action=action
        )
        metrics.FRAMES.labels("in", action or "-").inc()

    async def _answer_call(self, call: Call) -> None:
        started = time.perf_counter()
        try:
            check_registration(call.action, self.station.registration_status)
            handlers = self.services.handlers
            handler = handlers.handler(self.version, call.action)
            if handler is None:
                payload = acknowledgement(self.services.schemas, self.version, call.action)
            else:
                payload = await handler(self._context, call.payload)
            text = self.session.result(call, payload)
            await self._send(text, CALLRESULT, call.message_id, call.action)
            for follow_up in handlers.follow_ups_of(self.version, call.action):
                self.services.spawn(
                    follow_up(self._context, call.payload, payload),
                    name=f"{call.action}-follow-up-{self.station_id}",
                )
        except OcppError as exc:
            text = self.session.error(call.message_id, exc.code, exc.description, exc.details)
            await self._send(text, CALLERROR, call.message_id, call.action, exc.code)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler for %s from %s failed", call.action, self.station_id)
            text = self.session.error(
                call.message_id, ErrorCode.INTERNAL_ERROR, f"{call.action} could not be processed"
            )
            await self._send(
                text, CALLERROR, call.message_id, call.action, ErrorCode.INTERNAL_ERROR
            )
        finally:
            metrics.HANDLER_SECONDS.labels(call.action).observe(time.perf_counter() - started)

    # -- sending ---------------------------------------------------------------

    async def _send(
        self,
        text: str,
        mtype: int,
        message_id: str | None,
        action: str | None,
        error: ErrorCode | None = None,
    ) -> None:
        self.services.frames.record(
            self.station_id,
            "out",
            text,
            message_type=mtype,
            message_id=message_id,
            action=action,
            error_code=error.value if error else None,
        )
        metrics.FRAMES.labels("out", action or "-").inc()
        if error is not None:
            metrics.CALL_ERRORS.labels(error.value).inc()
        try:
            await self.websocket.send(text)
        except ConnectionClosed:
            log.info("could not answer %s: connection to %s closed", action, self.station_id)

    def _send_soon(
        self,
        text: str,
        mtype: int,
        message_id: str | None,
        action: str | None,
        error: ErrorCode | None,
    ) -> None:
        task = asyncio.create_task(self._send(text, mtype, message_id, action, error))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def call(self, action: str, payload: dict[str, Any]) -> CallOutcome:
        """Send a CALL and wait for its answer; one outstanding CALL at a time."""
        async with self._call_lock:
            loop = asyncio.get_running_loop()
            try:
                pending, text = self.session.call(action, payload, loop.time())
            except OcppError as exc:
                return CallOutcome(
                    "invalid", error_code=exc.code.value, error_description=exc.description
                )
            except CallInProgress:  # pragma: no cover - the lock prevents it
                return CallOutcome("error", error_description="another CALL is outstanding")
            answer: asyncio.Future[ResultReceived | ErrorReceived] = loop.create_future()
            self._answer = answer
            await self._send(text, CALL, pending.message_id, action)
            try:
                event = await asyncio.wait_for(
                    asyncio.shield(answer), max(0.0, pending.deadline - loop.time())
                )
            except TimeoutError:
                self.session.abandon()
                return CallOutcome(
                    "timeout",
                    pending.message_id,
                    error_description=f"no answer within {self.session.call_timeout:g} s",
                )
            except asyncio.CancelledError:
                if answer.cancelled():
                    self.session.abandon()
                    return CallOutcome(
                        "offline",
                        pending.message_id,
                        error_description="connection closed before the station answered",
                    )
                raise
            finally:
                self._answer = None
            if isinstance(event, ErrorReceived):
                return CallOutcome(
                    "error",
                    pending.message_id,
                    error_code=event.error.error_code,
                    error_description=event.error.description,
                    details=event.error.details,
                )
            ok = accepted_answer(action, event.payload)
            outcome = CallOutcome(
                "accepted" if ok else "rejected", pending.message_id, event.payload
            )
            if event.violation:
                log.warning(
                    "%s answered %s with an invalid payload: %s",
                    self.station_id,
                    action,
                    event.violation,
                )
            return outcome

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.websocket.close(code, reason)
