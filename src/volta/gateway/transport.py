"""A station's WebSocket as the OCPP link reads from and sends to it
(`volta.ocpp.link.Transport`), whichever stack carries it: picows through
`volta.gateway.picows_server.PicowsStation`, which is one already, and
websockets' `ServerConnection` through `WebSocketTransport`."""

from __future__ import annotations

from typing import Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from volta.ocpp.link import Transport, TransportClosed

__all__ = ["ServerTransport", "Transport", "TransportClosed", "WebSocketTransport"]


class ServerTransport(Transport, Protocol):
    """What the gateway's server loop also reads, for its log line."""

    @property
    def close_code(self) -> int | None: ...

    def abort(self) -> None:
        """Drop the TCP connection at once, without a closing handshake."""


class WebSocketTransport:
    def __init__(self, websocket: ServerConnection) -> None:
        self.websocket = websocket

    @property
    def close_code(self) -> int | None:
        return self.websocket.close_code

    def __aiter__(self) -> WebSocketTransport:
        return self

    async def __anext__(self) -> str | bytes:
        # Normal or abnormal, a close ends the messages; the close code stays
        # on the websocket for the gateway's log.
        try:
            return await self.websocket.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def send(self, text: str) -> None:
        try:
            await self.websocket.send(text)
        except ConnectionClosed:
            raise TransportClosed from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.websocket.close(code, reason)

    def abort(self) -> None:
        self.websocket.transport.abort()
