"""The shape of a station's WebSocket, as the gateway's connection consumes it.

Both transports fit it: websockets' `ServerConnection` as it is, and picows
through `volta.gateway.picows_server.PicowsStation`. (To be pointed at
`volta.ocpp.link.Transport` / `TransportClosed` once that exists.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from websockets.exceptions import ConnectionClosed


class TransportClosed(ConnectionClosed):
    """`send` on a closed connection. A subclass of websockets' ConnectionClosed
    for now, so the connection's `except ConnectionClosed` catches both."""

    def __init__(self) -> None:
        super().__init__(None, None)

    def __str__(self) -> str:
        return "connection closed"


class Transport(Protocol):
    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """The station's messages; ends when the connection closes."""
        ...

    # Positional-only: websockets names the parameter `message`.
    async def send(self, text: str, /) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class ServerTransport(Transport, Protocol):
    """What the gateway's server loop also reads, for its log line."""

    @property
    def close_code(self) -> int | None: ...
