"""The OCPP WebSocket endpoint: ws[s]://HOST:9000/[prefix/]<station-id>.

Before the upgrade: the station must be known (404 otherwise, unless
auto-registration is on) and, when it has a password, present HTTP Basic
credentials with its id as username (security profile 1; 401 otherwise).
The subprotocol is the first of the client's list that Volta speaks.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import ssl
import urllib.parse
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from volta import metrics
from volta.blocks.provisioning import service as provisioning
from volta.gateway.connection import StationConnection
from volta.ocpp.schemas import Validation
from volta.ocpp.versions import SUPPORTED, Version, parse_version
from volta.security import verify_password
from volta.services import Services, StationState

log = logging.getLogger(__name__)

MAX_STATION_ID_LENGTH = 48  # 2.0.1 identity: string[48]
MAX_FRAME_BYTES = 1024 * 1024  # larger frames are closed with 1009


def station_id_from_path(path: str) -> str | None:
    """The last path segment, percent-decoded; anything before it is a prefix."""
    path = path.split("?", 1)[0].rstrip("/")
    segment = urllib.parse.unquote(path.rsplit("/", 1)[-1])
    if not segment or len(segment) > MAX_STATION_ID_LENGTH or any(c in segment for c in "/\x00"):
        return None
    return segment


def basic_credentials(headers: Headers) -> tuple[str, str] | None:
    value = headers.get("Authorization")
    if not value or value[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class Gateway:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self._server: Server | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._verified: dict[str, tuple[str, bytes]] = {}
        self.default_version = parse_version(self.settings.default_protocol)

    # -- the HTTP part of the handshake ----------------------------------------

    def _refuse(
        self,
        connection: ServerConnection,
        status: HTTPStatus,
        text: str,
        headers: dict[str, str] | None = None,
    ) -> Response:
        response = connection.respond(status, text + "\n")
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        station_id = station_id_from_path(request.path)
        if station_id is None:
            return self._refuse(connection, HTTPStatus.NOT_FOUND, "no station id in the path")
        db = self.services.db
        station = await provisioning.find_station(db, station_id)
        if station is None:
            if not self.settings.auto_register:
                log.info("refused unknown station %s", station_id)
                return self._refuse(connection, HTTPStatus.NOT_FOUND, "unknown station")
            # It may have been created concurrently by another of its connections.
            with contextlib.suppress(Exception):
                await provisioning.create_station(
                    db, station_id, registration_status=self.settings.auto_register_status
                )
            station = await provisioning.find_station(db, station_id)
            if station is None:  # pragma: no cover
                return self._refuse(connection, HTTPStatus.SERVICE_UNAVAILABLE, "try again")
            log.info("registered station %s on first connection", station_id)
        if station["password_hash"]:
            credentials = basic_credentials(request.headers)
            ok = False
            if credentials is not None and credentials[0] == station_id:
                ok = await self._check_password(
                    station_id, credentials[1], station["password_hash"]
                )
            if not ok:
                log.info("refused station %s: wrong or missing credentials", station_id)
                return self._refuse(
                    connection,
                    HTTPStatus.UNAUTHORIZED,
                    "authentication required",
                    {"WWW-Authenticate": 'Basic realm="Volta", charset="UTF-8"'},
                )
        offered = request.headers.get_all("Sec-WebSocket-Protocol")
        if offered and self._choose(offered) is None:
            return self._refuse(
                connection,
                HTTPStatus.BAD_REQUEST,
                "no supported OCPP subprotocol (ocpp1.6, ocpp2.0.1)",
            )
        connection.volta_station = station  # type: ignore[attr-defined]
        return None

    async def _check_password(self, station_id: str, password: str, stored: str) -> bool:
        """PBKDF2 costs milliseconds by design; a station that reconnects (after a
        network blip, or all of them after a restart of the load balancer) is
        checked against a digest of its last verified password instead, while
        its stored hash is unchanged."""
        digest = hashlib.sha256(password.encode()).digest()
        if self._verified.get(station_id) == (stored, digest):
            return True
        ok = await asyncio.to_thread(verify_password, password, stored)
        if ok:
            self._verified[station_id] = (stored, digest)
        return ok

    @staticmethod
    def _choose(header_values: list[str]) -> Version | None:
        offered = [p.strip() for value in header_values for p in value.split(",") if p.strip()]
        for name in offered:  # the client's order is its preference
            for version in SUPPORTED:
                if name == version.value:
                    return version
        return None

    def select_subprotocol(
        self, connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        version = self._choose(list(subprotocols))
        return Subprotocol(version.value) if version else None

    # -- the WebSocket part ----------------------------------------------------

    async def handler(self, websocket: ServerConnection) -> None:
        station: dict[str, Any] = websocket.volta_station  # type: ignore[attr-defined]
        version = Version(websocket.subprotocol) if websocket.subprotocol else self.default_version
        state = StationState(
            station_id=station["id"],
            registration_status=station["registration_status"],
            validation=Validation(station["validation"] or self.settings.validation),
        )
        conn = StationConnection(websocket, state, version, self.services)
        router = self.services.router
        replaced = router.attach(conn)
        metrics.STATIONS_CONNECTED.labels(version.value).inc()
        if replaced is not None:
            log.info("station %s reconnected; closing its previous connection", state.station_id)
            metrics.STATIONS_CONNECTED.labels(replaced.version.value).dec()
            task = asyncio.create_task(replaced.close(1000, "replaced by a new connection"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        log.info(
            "station %s connected (%s) from %s",
            state.station_id,
            version.value,
            websocket.remote_address,
        )
        try:
            await provisioning.record_connection(self.services.db, state.station_id, version.value)
            await conn.serve()
        finally:
            if router.detach(conn):
                metrics.STATIONS_CONNECTED.labels(version.value).dec()
                try:
                    await provisioning.record_disconnection(self.services.db, state.station_id)
                except Exception:
                    log.exception("could not record disconnection of %s", state.station_id)
            log.info("station %s disconnected (code %s)", state.station_id, websocket.close_code)

    # -- lifecycle -------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.settings.tls:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # OCPP security profiles 2/3 require TLS 1.2 or later.
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key or None)
        return context

    async def start(self, host: str, port: int) -> Server:
        self._server = await serve(
            self.handler,
            host,
            port,
            process_request=self.process_request,
            select_subprotocol=self.select_subprotocol,
            subprotocols=[Subprotocol(v.value) for v in SUPPORTED],
            compression="deflate" if self.settings.compression else None,
            ping_interval=self.settings.ping_interval or None,
            ping_timeout=self.settings.ping_timeout or None,
            # A peer that missed its pong will not complete a closing handshake
            # either: don't wait the default 10 s for it.
            close_timeout=min(5.0, self.settings.ping_timeout or 5.0),
            max_size=MAX_FRAME_BYTES,
            ssl=self._ssl_context(),
            backlog=4096,
            server_header="Volta",
        )
        return self._server

    @property
    def port(self) -> int:
        assert self._server is not None
        sock = next(iter(self._server.sockets))
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
