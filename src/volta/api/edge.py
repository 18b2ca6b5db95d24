"""The edge of the HTTP port: what is refused before any route runs.

A pure ASGI middleware (nothing is buffered before it decides), in this order:

1. `/api/v1` without a valid bearer token: 401, the body never read.
2. A path or query string with a control character: 422.
3. A body over `max_body_bytes`: 413 at once when Content-Length says so;
   a streamed (chunked) body is counted as it arrives and reading stops at
   the limit. File uploads (`upload_paths`: a station's PUT/POST to
   /transfers/..., a firmware image POSTed to the API or the dashboard) are
   bounded by `upload_bytes` instead; their routes stream them to disk.

The answers are the API's JSON error shape (`{"detail": ...}`, and `errors`
for a 422) with `Connection: close` where the body is left unread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import HTTPException

from volta.http import control_character

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
TokenCheck = Callable[[str | None], Awaitable[str | None]]

API_PREFIX = "/api/v1"
AUTHENTICATED = "volta.authenticated"  # scope key: the edge checked the token


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the limit; the
    route's exception handling turns it into the 413 answer."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"request body larger than {limit} bytes", headers={"Connection": "close"}
        )


async def _answer(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    data = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def bad_characters(scope: Scope) -> dict[str, Any] | None:
    """The 422 body for a path or query string holding a control character."""
    errors: list[dict[str, Any]] = []
    path: str = scope.get("path", "")
    if control_character(path, allow_whitespace=False):
        errors.append({"loc": ["path"], "msg": "control characters are not allowed"})
    raw = bytes(scope.get("query_string", b"")).decode("latin-1")
    for name, value in parse_qsl(raw, keep_blank_values=True, encoding="latin-1"):
        for text in (name, value):
            if control_character(text, allow_whitespace=False):
                errors.append({"loc": ["query", name], "msg": "control characters are not allowed"})
                break
    if not errors:
        return None
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return {"detail": detail, "errors": errors}


TRANSFERS_PREFIX = "/transfers/"
# A multipart upload's framing and small fields on top of the file itself.
MULTIPART_SLACK = 1024 * 1024


class Edge:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        check_token: TokenCheck,
        upload_bytes: int = 0,
        upload_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.check_token = check_token
        self.upload_bytes = upload_bytes
        self.upload_paths = upload_paths

    def _limit(self, scope: Scope, path: str) -> int:
        if not self.upload_bytes or scope.get("method") not in ("PUT", "POST"):
            return self.max_body_bytes
        if path.startswith(TRANSFERS_PREFIX):
            return max(self.upload_bytes, self.max_body_bytes)
        if path in self.upload_paths:
            return max(self.upload_bytes + MULTIPART_SLACK, self.max_body_bytes)
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        close = [(b"connection", b"close")]
        path: str = scope.get("path", "")
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            refused = await self.check_token(_header(scope, b"authorization"))
            if refused is not None:
                headers = [(b"www-authenticate", b"Bearer"), *close]
                await _answer(send, 401, {"detail": refused}, headers)
                return
            scope[AUTHENTICATED] = True
        invalid = bad_characters(scope)
        if invalid is not None:
            await _answer(send, 422, invalid, close)
            return
        limit = self._limit(scope, path)
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await _answer(send, 413, {"detail": f"request body larger than {limit} bytes"}, close)
            return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _answer(send, 413, {"detail": exc.detail}, close)
