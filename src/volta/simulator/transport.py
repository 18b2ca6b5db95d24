"""A `websockets` client connection (the station's side) as the
`volta.ocpp.link.Transport` the OCPP link reads from and sends to."""

from __future__ import annotations

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from volta.ocpp.link import TransportClosed


class WebSocketTransport:
    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket

    def __aiter__(self) -> WebSocketTransport:
        return self

    async def __anext__(self) -> str | bytes:
        # Normal or abnormal, a close ends the messages.
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
