"""The OCPP endpoint on picows (`transport = "picows"`).

picows parses and writes frames in Cython, at about a quarter of websockets'
CPU per message (docs/performance.md, "Transport"). Three things it does not
do are done here:

- Checks before the upgrade that read the database. picows' upgrade hook (its
  listener factory) is synchronous, so `_Upgrade`, a plain asyncio protocol,
  reads the HTTP request first, runs the checks every transport shares
  (`volta.gateway.handshake`), and either writes the refusal itself or hands
  the socket to picows' protocol and replays the request bytes into it. picows
  then validates the upgrade headers (RFC 6455 §4.2.1) and answers 101 with
  the subprotocol and extension chosen here.
- RFC 7692 permessage-deflate. The offer is negotiated with the same
  parameter handling websockets' server uses (`enable_server_permessage_deflate`:
  server and client windows of 2^12, memLevel 5), so both transports accept
  the same offers and answer them alike, and messages are inflated and
  deflated by websockets' sans-I/O `PerMessageDeflate` (zlib, RSV1, context
  takeover and window bits as negotiated, RFC 7692 §7).
- Messages rather than frames: continuation frames are joined, text is checked
  to be UTF-8 (RFC 6455 §8.1: 1007 otherwise), the size limit applies to the
  whole message (1009), and writes wait while the socket's buffer is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import ssl
import zlib
from typing import TYPE_CHECKING, Any, cast

from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)
from picows.picows import WSProtocol  # type: ignore[attr-defined]
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeader, NegotiationError, PayloadTooBig, ProtocolError
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    enable_server_permessage_deflate,
)
from websockets.frames import Frame, Opcode
from websockets.headers import build_extension, parse_extension
from websockets.http11 import Request, Response
from websockets.streams import StreamReader

from volta.gateway.handshake import DRAINING, MAX_FRAME_BYTES, Admission, Refusal
from volta.gateway.tls import PLAIN, facts_of
from volta.gateway.transport import TransportClosed
from volta.ocpp.versions import Version

if TYPE_CHECKING:
    from volta.gateway.server import Gateway

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 16 * 1024  # an upgrade request's head; picows' own limit too
HANDSHAKE_TIMEOUT = 10.0  # websockets' open_timeout default
# Messages read but not yet taken by the connection; past this, reading
# pauses (a station flooding CALLs waits on its own TCP window), as
# websockets' max_queue=16 does.
MAX_QUEUE = 16
# A read buffer grows by doubling when a frame needs it; a Heartbeat or a
# StatusNotification fits in 1 KiB, and an idle connection keeps only this
# much (measured: 4 KiB of 20 per idle connection at 4096).
READ_BUFFER_BYTES = 1024


class _QuietLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """picows logs every connection and disconnection at INFO; Volta logs its
    own line per station, so picows' go to DEBUG. (Being an adapter, not a
    Logger, also spares picows a child Logger per connection.)"""

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)


_PICOWS_LOG = _QuietLog(logging.getLogger("volta.gateway.picows"), {})


def negotiate_deflate(headers: Headers) -> tuple[str, PerMessageDeflate] | None:
    """The Sec-WebSocket-Extensions answer and codec for the client's first
    acceptable permessage-deflate offer (RFC 7692 §5), or None. Raises
    InvalidHeader on a header that does not parse (websockets answers 400)."""
    factories = enable_server_permessage_deflate(None)
    for value in headers.get_all("Sec-WebSocket-Extensions"):
        for name, params in parse_extension(value):
            for factory in factories:
                if factory.name != name:
                    continue
                try:
                    answer, extension = factory.process_request_params(params, [])
                except NegotiationError:
                    continue  # RFC 7692 §5: decline this offer, try the next one
                return build_extension([(name, answer)]), cast(PerMessageDeflate, extension)
    return None


def parse_request(head: bytes) -> Request:
    """The upgrade request, by websockets' HTTP/1.1 parser (both transports
    read a request alike)."""
    reader = StreamReader()
    reader.feed_data(head)
    reader.feed_eof()
    parser = Request.parse(reader.read_line)
    try:
        next(parser)
    except StopIteration as done:
        return cast(Request, done.value)
    raise EOFError("incomplete request")  # pragma: no cover - the head ends in CRLF CRLF


def http_refusal(status: int, phrase: str, text: str, headers: dict[str, str]) -> bytes:
    body = (text + "\n").encode()
    response = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Server", "Volta"),
        ]
    )
    for key, value in headers.items():
        response[key] = value
    return Response(status, phrase, response, body).serialize()


class PicowsStation(WSListener):
    """One station's picows connection, as the `Transport` the gateway's
    connection consumes: messages in through `async for`, text out through
    `send`, `close`."""

    def __init__(
        self,
        server: PicowsServer,
        admission: Admission,
        version: Version,
        deflate: PerMessageDeflate | None,
        peer: object,
    ) -> None:
        self.server = server
        # The station's row, until the gateway serves it (then only its id).
        self.admission: Admission | None = admission
        self.station_id = str(admission.station["id"])
        self.version = version
        self.peer = peer
        self.close_code: int | None = None
        self._deflate = deflate
        self._loop = asyncio.get_running_loop()
        self._transport: WSTransport | None = None
        # At most MAX_QUEUE messages: a list (56 bytes empty) rather than a
        # deque (624), on every idle connection.
        self._messages: list[str | bytes] = []
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._writable: asyncio.Future[None] | None = None  # set while writing is paused
        self._closed = False
        self._failing = False
        # A fragmented (or compressed) message being put together.
        self._parts: list[bytes] | None = None
        self._kind = WSMsgType.TEXT
        self._size = 0

    # -- picows callbacks ------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        self.server.started(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if self._failing:
            if frame.msg_type is WSMsgType.CLOSE:
                transport.disconnect()
            return
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            if self._parts is not None:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "expected a continuation frame")
            elif frame.fin and not (frame.rsv1 or frame.rsv2 or frame.rsv3):
                # The common case: a whole, uncompressed message in one frame.
                if kind is WSMsgType.TEXT:
                    try:
                        self._deliver(frame.get_payload_as_utf8_text())
                    except UnicodeDecodeError:
                        self._fail(WSCloseCode.INVALID_TEXT, "invalid UTF-8")
                else:
                    self._deliver(frame.get_payload_as_bytes())
            else:
                if frame.rsv2 or frame.rsv3 or (frame.rsv1 and self._deflate is None):
                    # RFC 6455 §5.2: a reserved bit no extension gave a meaning.
                    self._fail(WSCloseCode.PROTOCOL_ERROR, "reserved bit set")
                    return
                self._kind, self._parts, self._size = kind, [], 0
                self._add(frame, Opcode.TEXT if kind is WSMsgType.TEXT else Opcode.BINARY)
        elif kind is WSMsgType.CONTINUATION:
            if self._parts is None:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "continuation frame outside a message")
            else:
                self._add(frame, Opcode.CONT)
        elif kind is WSMsgType.CLOSE:
            code = frame.get_close_code()
            if not transport.is_close_frame_sent:
                # RFC 6455 §5.5.1: answer with a close frame, echoing the code.
                if code is WSCloseCode.NO_INFO:
                    transport.send(WSMsgType.CLOSE, b"")
                else:
                    transport.send_close(code)
            self.close_code = 1005 if code is WSCloseCode.NO_INFO else int(code.value)
            # §7.1.1: the server closes the TCP connection first.
            transport.disconnect()
        # PING is answered by picows (enable_auto_pong); PONG settles its auto-ping.

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._closed = True
        if self.close_code is None:
            self.close_code = 1006  # RFC 6455 §7.1.5: closed without a close frame
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None:
            if not self._writable.done():
                self._writable.set_result(None)
            self._writable = None

    # -- receiving -------------------------------------------------------------

    def _add(self, frame: WSFrame, opcode: Opcode) -> None:
        assert self._parts is not None
        data: bytes = frame.get_payload_as_bytes()
        if self._deflate is not None:
            try:
                data = bytes(
                    self._deflate.decode(
                        Frame(opcode, data, frame.fin, frame.rsv1),
                        max_size=MAX_FRAME_BYTES - self._size,
                    ).data
                )
            except PayloadTooBig:
                self._fail(WSCloseCode.MESSAGE_TOO_BIG, "message too big")
                return
            except (ProtocolError, zlib.error) as exc:
                self._fail(WSCloseCode.PROTOCOL_ERROR, str(exc))
                return
        self._size += len(data)
        if self._size > MAX_FRAME_BYTES:
            self._fail(WSCloseCode.MESSAGE_TOO_BIG, "message too big")
            return
        self._parts.append(data)
        if not frame.fin:
            return
        message = b"".join(self._parts)
        self._parts = None
        if self._kind is WSMsgType.BINARY:
            self._deliver(message)
            return
        try:
            self._deliver(message.decode("utf-8"))
        except UnicodeDecodeError:
            self._fail(WSCloseCode.INVALID_TEXT, "invalid UTF-8")

    def _deliver(self, message: str | bytes) -> None:
        self._messages.append(message)
        self._wake()
        if len(self._messages) >= MAX_QUEUE and not self._reading_paused:
            assert self._transport is not None
            self._transport.underlying_transport.pause_reading()
            self._reading_paused = True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, code: WSCloseCode, reason: str) -> None:
        """RFC 6455 §7.1.7: send a close frame, read nothing more, and close the
        TCP connection once the peer's close frame comes, or after a while
        (closing at once could reset a connection whose peer still has our
        close frame unread)."""
        transport = self._transport
        assert transport is not None
        log.info("closing %s with %s: %s", self.station_id, code.value, reason)
        self._failing = True
        self._parts = None
        if not transport.is_close_frame_sent:
            transport.send_close(code, reason.encode())
        self.close_code = int(code.value)
        self._loop.call_later(self.server.close_timeout, transport.disconnect)

    def __aiter__(self) -> PicowsStation:
        return self

    async def __anext__(self) -> str | bytes:
        while not self._messages:
            if self._closed or self._failing:
                raise StopAsyncIteration
            self._waiter = self._loop.create_future()
            await self._waiter
        message = self._messages.pop(0)
        if self._reading_paused and len(self._messages) <= MAX_QUEUE // 4:
            self._reading_paused = False
            if self._transport is not None and not self._closed:
                self._transport.underlying_transport.resume_reading()
        return message

    # -- sending ---------------------------------------------------------------

    async def send(self, text: str) -> None:
        transport = self._transport
        while True:
            if transport is None or self._closed or transport.is_close_frame_sent:
                raise TransportClosed
            writable = self._writable
            if writable is None:
                break
            # Back-pressure: wait while the socket's write buffer is over its
            # high-water mark (a slow station), as websockets' drain does.
            await asyncio.shield(writable)
        data = text.encode()
        if self._deflate is None:
            transport.send(WSMsgType.TEXT, data)
        else:
            frame = self._deflate.encode(Frame(Opcode.TEXT, data))
            transport.send(WSMsgType.TEXT, frame.data, rsv1=frame.rsv1)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.disconnect(graceful=False)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        transport = self._transport
        if transport is None or transport.is_disconnected:
            return
        if not transport.is_close_frame_sent:
            transport.send_close(WSCloseCode(code), reason.encode())
        # Wait for the peer's close frame (on_ws_frame then disconnects), not
        # for ever: a peer that stopped reading will not send one.
        try:
            await asyncio.wait_for(transport.wait_disconnected(), self.server.close_timeout)
        except TimeoutError:
            transport.disconnect(graceful=False)
        except Exception:  # wait_disconnected re-raises a callback's error
            log.debug("while closing %s", self.station_id, exc_info=True)


class _Upgrade(asyncio.Protocol):
    """The HTTP part of one connection, until picows takes it over."""

    def __init__(self, server: PicowsServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.timer = asyncio.get_running_loop().call_later(HANDSHAKE_TIMEOUT, transport.abort)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.transport is None:  # handed over to picows
            return
        self.buffer += data
        if self.task is not None:
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_REQUEST_BYTES:
                log.info("refused a connection from %s: request head too large", self._peer())
                self._refuse(431, "Request Header Fields Too Large", "request too large")
            return
        assert self.transport is not None
        # The checks read the database; frames that follow wait in the socket.
        self.transport.pause_reading()
        self.task = asyncio.get_running_loop().create_task(self._upgrade(end + 4))
        self.server.track(self.task)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.timer is not None:
            self.timer.cancel()

    def _peer(self) -> object:
        return self.transport.get_extra_info("peername") if self.transport else None

    def _refuse(
        self, status: int, phrase: str, text: str, headers: dict[str, str] | None = None
    ) -> None:
        assert self.transport is not None
        self.transport.write(http_refusal(status, phrase, text, headers or {}))
        self.transport.close()

    async def _upgrade(self, head_length: int) -> None:
        try:
            request = parse_request(bytes(self.buffer[:head_length]))
        except Exception as exc:
            log.info("refused a connection from %s: unreadable request", self._peer())
            self._refuse(400, "Bad Request", f"failed to open a WebSocket connection: {exc}")
            return
        peer = self._peer()
        try:
            assert self.transport is not None
            ssl_object = self.transport.get_extra_info("ssl_object")
            tls = facts_of(ssl_object) if ssl_object is not None else PLAIN
            decision = await self.server.gateway.admitter.admit(
                request.path, request.headers, peer, tls
            )
        except Exception:
            # As websockets answers an exception in process_request.
            log.exception("upgrade check failed for %r from %s", request.path[:100], peer)
            if not self.lost:
                self._refuse(500, "Internal Server Error", "failed to open a WebSocket connection")
            return
        if self.lost:
            return
        if self.server.gateway.draining:
            decision = DRAINING
        if isinstance(decision, Refusal):
            status = decision.status
            self._refuse(status.value, status.phrase, decision.text, decision.headers)
            return
        headers: dict[str, str] = {"Server": "Volta"}
        if decision.subprotocol is not None:
            headers["Sec-WebSocket-Protocol"] = decision.subprotocol.value
        deflate = None
        if self.server.compression:
            try:
                negotiated = negotiate_deflate(request.headers)
            except InvalidHeader as exc:
                log.info(
                    "refused station %s from %s: bad extension header", decision.station["id"], peer
                )
                self._refuse(400, "Bad Request", f"failed to open a WebSocket connection: {exc}")
                return
            if negotiated is not None:
                headers["Sec-WebSocket-Extensions"], deflate = negotiated
        self._hand_over(decision, headers, deflate)

    def _hand_over(
        self, admission: Admission, headers: dict[str, str], deflate: PerMessageDeflate | None
    ) -> None:
        transport = self.transport
        assert transport is not None
        if self.timer is not None:
            self.timer.cancel()
        version = admission.subprotocol or self.server.gateway.default_version
        station = PicowsStation(
            self.server, admission, version, deflate, transport.get_extra_info("peername")
        )
        # Handed over once: the protocol keeps its factory for the connection's
        # life, and the 101 response need not live as long (1.6 KB, measured).
        answers = [
            WSUpgradeResponseWithListener(WSUpgradeResponse.create_101_response(headers), station)
        ]

        def listener_factory(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
            return answers.pop()

        protocol = self.server.protocol(listener_factory)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        # picows reads the request again from its own buffer, answers 101 (or
        # 400 when the upgrade headers are wrong) and parses what follows.
        data = memoryview(bytes(self.buffer))
        self.buffer.clear()
        while data and not transport.is_closing():
            into = cast(memoryview, protocol.get_buffer(-1))
            n = min(len(into), len(data))
            into[:n] = data[:n]
            data = data[n:]
            protocol.buffer_updated(n)
        if not transport.is_closing():
            transport.resume_reading()
        # This object may outlive the hand-over (the transport's old protocol):
        # it keeps nothing of the connection.
        self.transport, self.task, self.timer = None, None, None


class PicowsServer:
    """The listening socket and the connections picows carries."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        settings = gateway.settings
        self.compression = settings.compression
        self.ping_interval = settings.ping_interval
        self.ping_timeout = settings.ping_timeout
        # A peer that missed its pong will not complete a closing handshake either.
        self.close_timeout = min(5.0, settings.ping_timeout or 5.0)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stations: set[PicowsStation] = set()

    def protocol(self, listener_factory: Any) -> asyncio.BufferedProtocol:
        """picows' protocol for one connection, set up as `ws_create_server`
        sets it up, with pings as Volta's settings say."""
        ping = self.ping_interval > 0
        # picows pings a connection only when it has been silent that long
        # (PING_WHEN_IDLE): a station whose messages keep coming is alive.
        interval = self.ping_interval if ping else 20.0
        timeout = min(self.ping_timeout or interval, interval)  # picows: timeout <= interval
        return cast(
            asyncio.BufferedProtocol,
            WSProtocol(
                None,  # host and port: a client's
                None,  # path: a client's
                False,  # server side
                listener_factory,
                _PICOWS_LOG,
                True,  # disconnect when a callback raises
                HANDSHAKE_TIMEOUT,
                ping,
                interval,
                timeout,
                WSAutoPingStrategy.PING_WHEN_IDLE,
                True,  # answer pings
                MAX_FRAME_BYTES,
                None,  # extra headers: a client's
                READ_BUFFER_BYTES,
            ),
        )

    def track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def started(self, station: PicowsStation) -> None:
        self._stations.add(station)

        admission, station.admission = station.admission, None
        assert admission is not None
        task = asyncio.get_running_loop().create_task(
            self.gateway.serve_station(station, admission.station, station.version, station.peer)
        )
        self.track(task)
        task.add_done_callback(lambda _: self._stations.discard(station))

    async def start(
        self, host: str, port: int, ssl_context: ssl.SSLContext | None, *, reuse_port: bool = False
    ) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Upgrade(self),
            host,
            port,
            ssl=ssl_context,
            backlog=4096,
            reuse_port=reuse_port or None,
        )

    def stop_accepting(self) -> None:
        """Close the listening socket; the connections stay (a drain)."""
        if self._server is not None:
            self._server.close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening, close every connection with 1001 (going away) and
        wait for their handlers, as websockets' Server.close does."""
        if self._server is None:
            return
        self._server.close()
        await asyncio.gather(
            *(station.close(1001, "server shutting down") for station in list(self._stations)),
            return_exceptions=True,
        )
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.close_timeout + 5)
        with contextlib.suppress(Exception):
            await self._server.wait_closed()
