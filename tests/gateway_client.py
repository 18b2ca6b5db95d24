"""A bare WebSocket upgrade over a real socket, for the gateway's refusals:
any path (percent-encoded or not), any headers, from any loopback address
(127.0.0.0/8 is all loopback on Linux, so each test "client" has its own)."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": "Basic " + token}


async def upgrade(
    port: int,
    path: str,
    headers: dict[str, str] | None = None,
    *,
    source: str = "127.0.0.1",
    protocol: str = "ocpp1.6",
    timeout: float = 10.0,
) -> Answer:
    loop = asyncio.get_running_loop()
    started = loop.time()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), timeout
    )
    try:
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
            f"Sec-WebSocket-Protocol: {protocol}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parsed: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                parsed[name.strip().lower()] = value.strip()
        body = b""
        length = int(parsed.get("content-length", "0"))
        if length:
            body = await asyncio.wait_for(reader.readexactly(length), timeout)
        return Answer(int(status_line.split()[1]), parsed, body, loop.time() - started)
    finally:
        writer.close()
