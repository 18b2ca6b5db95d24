"""The asyncio side of one OCPP-J connection, for either end of it.

`OcppSession` is the sans-I/O state machine; `OcppLink` is the glue that both
the CSMS gateway and the stations (the simulator, the test stations) put
around it: it reads frames from a `Transport` and feeds the session, answers
the peer's CALLs through a handler callback, and sends our own CALLs one at a
time. It knows nothing of the rest of Volta (no store, no metrics, no
websockets): the frame log and metrics watch it through `on_frame`, and work
that must wait for an answer to be sent runs from `on_result`.

Cost per message, on purpose: a received CALL costs one task (its handler may
be slow and must not hold up the next CALL); a received answer, a Reply, a
retried CALL (2.1: answered from the session's memory) and an ignored frame
cost none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.frames import (
    CALL,
    CALLERROR,
    CALLRESULT,
    CALLRESULTERROR,
    SEND,
    Call,
    CallError,
    Send,
)
from volta.ocpp.session import (
    CallReceived,
    ErrorReceived,
    OcppSession,
    Reply,
    ResultErrorReceived,
    ResultReceived,
    Retried,
    SendReceived,
)

log = logging.getLogger(__name__)


class TransportClosed(Exception):
    """The connection is closed: nothing more can be sent."""


class Transport(Protocol):
    """A message-oriented connection (a WebSocket), as the link needs it."""

    def __aiter__(self) -> AsyncIterator[str | bytes]: ...  # ends when the connection closes

    async def send(self, text: str) -> None: ...  # raises TransportClosed when closed

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


Direction = Literal["in", "out"]


class FrameObserver(Protocol):
    """Sees every frame received and sent, with what the link read of it.

    `message_type` is None for a frame that is not a valid CALL or answer
    (it was answered with a Reply or ignored); `action` is the CALL's, also
    for its answer; `error_code` is set on CALLERRORs."""

    def __call__(
        self,
        direction: Direction,
        text: str,
        message_type: int | None,
        message_id: str | None,
        action: str | None,
        error_code: str | None,
    ) -> None: ...


# Answers the peer's CALL with the response payload, or raises OcppError
# (sent as that CALLERROR) or anything else (sent as InternalError).
CallHandler = Callable[[Call], Awaitable[dict[str, Any]]]
# Runs once the CALLRESULT for `call` was handed to the transport.
ResultHook = Callable[[Call, dict[str, Any]], None]
# Handles the peer's SEND (2.1); whatever it returns or raises, nothing is sent back.
SendHandler = Callable[[Send], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    """What became of a CALL we sent.

    kind: result  - CALLRESULT; `payload`, and `violation` when it breaks the
                    response schema (kept, so the operator sees it)
          error   - CALLERROR; `error`
          timeout - no answer within the timeout (a late answer is ignored)
          closed  - the connection closed before an answer (or before sending)
          invalid - our payload breaks the request schema; nothing was sent,
                    `error` says why
    """

    kind: Literal["result", "error", "timeout", "closed", "invalid"]
    action: str
    message_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    violation: str | None = None
    error: CallError | None = None


class OcppLink:
    def __init__(
        self,
        session: OcppSession,
        transport: Transport,
        handler: CallHandler,
        *,
        name: str = "",
        on_frame: FrameObserver | None = None,
        on_result: ResultHook | None = None,
        on_send: SendHandler | None = None,
    ) -> None:
        self.session = session
        self.transport = transport
        self.name = name  # for log lines: the station id
        self._handler = handler
        self._on_frame = on_frame
        self._on_result = on_result
        self._on_send = on_send
        self._call_lock = asyncio.Lock()
        self._answer: asyncio.Future[ResultReceived | ErrorReceived | None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    # -- receiving -------------------------------------------------------------

    async def serve(self) -> None:
        """Read frames until the connection closes."""
        try:
            async for message in self.transport:
                await self._receive(message)
        except TransportClosed:
            pass
        finally:
            self._closed = True
            if self._answer is not None and not self._answer.done():
                self._answer.set_result(None)
            # Handlers still running are left to finish: cancelling one in the
            # middle of its commit helps nobody, and the peer, which got no
            # answer, will retry.

    async def _receive(self, message: str | bytes) -> None:
        event = self.session.receive(message)
        observe = self._on_frame
        text = ""
        if observe is not None:
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        if isinstance(event, CallReceived):
            call = event.call
            if observe is not None:
                observe("in", text, CALL, call.message_id, call.action, None)
            # Answered concurrently: a slow handler never holds up the next CALL.
            task = asyncio.create_task(self._answer_call(call))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(event, ResultReceived):
            if observe is not None:
                p = event.pending
                observe("in", text, CALLRESULT, p.message_id, p.action, None)
            if self._answer is not None and not self._answer.done():
                self._answer.set_result(event)
            if event.reply is not None:
                # 2.1: tell the peer its answer could not be processed.
                p = event.pending
                code = (event.violation or "").split(":", 1)[0] or None
                await self._send(event.reply, CALLRESULTERROR, p.message_id, p.action, code)
        elif isinstance(event, SendReceived):
            send = event.send
            if observe is not None:
                observe("in", text, SEND, send.message_id, send.action, None)
            if self._on_send is not None:
                task = asyncio.create_task(self._handle_send(send))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif isinstance(event, ResultErrorReceived):
            error = event.error
            if observe is not None:
                observe(
                    "in", text, CALLRESULTERROR, error.message_id, event.action, error.error_code
                )
            log.warning(
                "%s could not process the answer to its %s %s: %s %s",
                self.name,
                event.action or "message",
                error.message_id,
                error.error_code,
                error.description,
            )
        elif isinstance(event, Retried):
            # OCPP-J 2.1 §4.2.1: a retried CALL (same id, same action) is not
            # handled again: it gets the answer already sent, or nothing while
            # the first is still being handled (that answer will come).
            call = event.call
            if observe is not None:
                observe("in", text, CALL, call.message_id, call.action, None)
            if event.answer is None:
                log.info(
                    "%s retried its %s %s while it is being handled",
                    self.name,
                    call.action,
                    call.message_id,
                )
            else:
                assert event.answer_type is not None
                code = None
                if event.answer_type == CALLERROR:
                    code = orjson.loads(event.answer)[2]
                await self._send(
                    event.answer, event.answer_type, call.message_id, call.action, code
                )
        elif isinstance(event, ErrorReceived):
            if observe is not None:
                p = event.pending
                observe("in", text, CALLERROR, p.message_id, p.action, event.error.error_code)
            if self._answer is not None and not self._answer.done():
                self._answer.set_result(event)
        elif isinstance(event, Reply):
            # OCPP-J 1.6 §4.2.3 / 2.0.1 §4.2.3: a message we cannot read is
            # answered with a CALLERROR at once (message id "-1" when even
            # that is unreadable). Awaited here: a flood of bad frames is
            # read no faster than its answers can be sent.
            if observe is not None:
                observe("in", text, None, None, None, None)
            await self._send(event.text, CALLERROR, event.message_id, None, event.code.value)
        else:
            if observe is not None:
                observe("in", text, None, None, None, None)
            log.info("ignored message from %s: %s", self.name, event.reason)

    async def _handle_send(self, send: Send) -> None:
        assert self._on_send is not None
        try:
            await self._on_send(send)
        except asyncio.CancelledError:
            raise
        except Exception:
            # OCPP-J 2.1: a SEND gets no answer, not even an error.
            log.exception("handler for the %s SEND from %s failed", send.action, self.name)

    async def _answer_call(self, call: Call) -> None:
        session = self.session
        try:
            payload = await self._handler(call)
        except OcppError as exc:
            text = session.error(call.message_id, exc.code, exc.description, exc.details)
            session.answered(call, text)
            await self._send(text, CALLERROR, call.message_id, call.action, exc.code.value)
            return
        except asyncio.CancelledError:
            session.answered(call, None)
            raise
        except Exception:
            log.exception("handler for %s from %s failed", call.action, self.name)
            code = ErrorCode.INTERNAL_ERROR
            text = session.error(call.message_id, code, f"{call.action} could not be processed")
            session.answered(call, text)
            await self._send(text, CALLERROR, call.message_id, call.action, code.value)
            return
        text = session.result(call, payload)
        # 2.1: remembered for a retry of this CALL before it is sent, so that
        # a retry crossing the answer on the wire gets it again.
        session.answered(call, text)
        if text.startswith("[4"):
            # The session turned an answer that breaks the schema into an
            # InternalError ([4, ...]): our bug, and no result to follow up.
            await self._send(
                text, CALLERROR, call.message_id, call.action, ErrorCode.INTERNAL_ERROR.value
            )
            return
        await self._send(text, CALLRESULT, call.message_id, call.action, None)
        if self._on_result is not None:
            # Also when the connection had closed meanwhile: what the answer
            # stands for (a stored transaction) happened, so its follow-up
            # work (a CDR) is still owed.
            self._on_result(call, payload)

    # -- sending ---------------------------------------------------------------

    async def _send(
        self,
        text: str,
        mtype: int,
        message_id: str | None,
        action: str | None,
        error_code: str | None,
    ) -> bool:
        """Send a frame; whether it went (False: the connection is closed)."""
        if self._on_frame is not None:
            self._on_frame("out", text, mtype, message_id, action, error_code)
        try:
            await self.transport.send(text)
        except TransportClosed:
            log.info("could not send %s: connection to %s closed", action, self.name)
            return False
        return True

    async def send(self, action: str, payload: dict[str, Any]) -> bool:
        """2.1: send a SEND (an unconfirmed message) at once, beside any CALL
        under way; whether it went. Raises OcppError for an invalid one."""
        text = self.session.send(action, payload)
        mid = text.split('"', 2)[1]
        return await self._send(text, SEND, mid, action, None)

    async def call(
        self, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> LinkOutcome:
        """Send a CALL and wait for its answer.

        OCPP-J 1.6 §4.1.1 / 2.0.1 §4.1.1: one outstanding CALL at a time; a
        second caller waits here for the first to be answered or time out.
        `timeout` defaults to the session's call timeout."""
        async with self._call_lock:
            if self._closed:
                return LinkOutcome("closed", action)
            loop = asyncio.get_running_loop()
            try:
                pending, text = self.session.call(action, payload, loop.time())
            except OcppError as exc:
                invalid = CallError("", exc.code.value, exc.description, exc.details or {})
                return LinkOutcome("invalid", action, error=invalid)
            mid = pending.message_id
            answer: asyncio.Future[ResultReceived | ErrorReceived | None] = loop.create_future()
            self._answer = answer
            deadline = pending.deadline if timeout is None else loop.time() + timeout
            event: ResultReceived | ErrorReceived | None = None
            try:
                if not await self._send(text, CALL, mid, action, None):
                    return LinkOutcome("closed", action, mid)
                try:
                    async with asyncio.timeout_at(deadline):
                        event = await answer
                except TimeoutError:
                    return LinkOutcome("timeout", action, mid)
            finally:
                self._answer = None
                if event is None:
                    # Timed out, closed, or our caller was cancelled: an answer
                    # arriving later matches nothing and is dropped.
                    self.session.abandon()
            if event is None:
                return LinkOutcome("closed", action, mid)
            if isinstance(event, ErrorReceived):
                return LinkOutcome("error", action, mid, error=event.error)
            return LinkOutcome("result", action, mid, event.payload, event.violation)

    async def settle(self, timeout: float) -> bool:
        """Wait, at most `timeout` seconds, for the handlers of the CALLs
        received so far to send their answers, and for the answer to our
        CALL under way, if any (a graceful close: what either side asked is
        answered); whether nothing is left waiting."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            waiting: list[asyncio.Future[Any]] = list(self._tasks)
            if self._answer is not None and not self._answer.done():
                waiting.append(self._answer)
            if not waiting:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(waiting, timeout=remaining)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.transport.close(code, reason)
