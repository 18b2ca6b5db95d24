"""The OCPP WebSocket endpoint: ws[s]://HOST:9000/[prefix/]<station-id>.

Two transports behind the `transport` setting: websockets (here) and picows
(`volta.gateway.picows_server`). Both make the same checks before the upgrade
(`volta.gateway.handshake`: the id rule, 401 Basic auth and unknown station,
throttling, auto-registration limits, subprotocol)
and run the same loop after it (`Gateway.serve_station`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from volta import metrics
from volta.blocks.provisioning import service as provisioning
from volta.gateway.connection import StationConnection
from volta.gateway.handshake import (
    MAX_FRAME_BYTES,
    Admission,
    Admitter,
    Refusal,
    choose_subprotocol,
)
from volta.gateway.picows_server import PicowsServer
from volta.gateway.transport import ServerTransport, WebSocketTransport
from volta.ocpp.schemas import Validation
from volta.ocpp.versions import SUPPORTED, Version, parse_version
from volta.services import Services, StationState
from volta.stations import StationLink

log = logging.getLogger(__name__)

TRANSPORTS = ("websockets", "picows")


class Gateway:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        if self.settings.transport not in TRANSPORTS:
            raise ValueError(
                f"transport must be one of {', '.join(TRANSPORTS)}, not {self.settings.transport!r}"
            )
        self.admitter = Admitter(services)
        self._server: Server | None = None
        self._picows: PicowsServer | None = None
        self._closing: set[asyncio.Task[None]] = set()
        # Connection ids, "<node id>/<serial>": the one in stations.connection_id
        # is the only connection that may record its station offline.
        self._serial = itertools.count(1)
        taken_over = getattr(services.router, "on_taken_over", False)
        if taken_over is None:  # several nodes: another node may take a station over
            services.router.on_taken_over = self._taken_over  # type: ignore[attr-defined]
        self.default_version = parse_version(self.settings.default_protocol)

    # -- websockets: the HTTP part of the handshake ----------------------------

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        decision = await self.admitter.admit(
            request.path, request.headers, connection.remote_address
        )
        if isinstance(decision, Refusal):
            response = connection.respond(decision.status, decision.text + "\n")
            for key, value in decision.headers.items():
                response.headers[key] = value
            return response
        connection.volta_admission = decision  # type: ignore[attr-defined]
        return None

    def select_subprotocol(
        self, connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        version = choose_subprotocol(list(subprotocols))
        return Subprotocol(version.value) if version else None

    async def handler(self, websocket: ServerConnection) -> None:
        admission: Admission = websocket.volta_admission  # type: ignore[attr-defined]
        version = Version(websocket.subprotocol) if websocket.subprotocol else self.default_version
        await self.serve_station(
            WebSocketTransport(websocket), admission.station, version, websocket.remote_address
        )

    # -- after the upgrade, on either transport --------------------------------

    async def serve_station(
        self, transport: ServerTransport, station: dict[str, Any], version: Version, peer: object
    ) -> None:
        """One station's connection after the upgrade, on either transport."""
        state = StationState(
            station_id=station["id"],
            registration_status=station["registration_status"],
            validation=Validation(station["validation"] or self.settings.validation),
        )
        del station  # the row is not needed for the connection's life (memory per station)
        conn = StationConnection(transport, state, version, self.services)
        conn.connection_id = f"{self.services.node.node_id}/{next(self._serial)}"
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
            peer,
        )
        # The database cannot be written (disk full, read-only): the station
        # stays connected, CALLs that must write are answered InternalError
        # (docs/protocol.md), and its connection is recorded once it can.
        retry: asyncio.Task[None] | None = None
        try:
            if not await self._record_connection(state.station_id, version.value, conn):
                retry = asyncio.create_task(
                    self._record_later(state.station_id, version.value, conn)
                )
            await conn.serve()
        finally:
            if retry is not None:
                retry.cancel()
            if router.detach(conn):
                metrics.STATIONS_CONNECTED.labels(version.value).dec()
                try:
                    await provisioning.record_disconnection(
                        self.services.db,
                        state.station_id,
                        conn.connection_id,
                        guarded=self.services.node.clustered,
                    )
                except Exception:
                    log.exception("could not record disconnection of %s", state.station_id)
            log.info("station %s disconnected (code %s)", state.station_id, transport.close_code)

    def _taken_over(self, link: StationLink) -> None:
        """The station connected to another node: close its connection here
        (already out of the router, so its close records nothing)."""
        metrics.STATIONS_CONNECTED.labels(link.version.value).dec()
        task = asyncio.create_task(link.close(1000, "replaced by a new connection on another node"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _record_connection(
        self, station_id: str, protocol: str, conn: StationConnection
    ) -> bool:
        try:
            await provisioning.record_connection(
                self.services.db, station_id, protocol, conn.connection_id
            )
            return True
        except Exception as exc:
            log.warning(
                "could not record the connection of %s (%s); serving it anyway",
                station_id,
                type(exc).__name__,
            )
            return False

    async def _record_later(self, station_id: str, protocol: str, conn: StationConnection) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            if await self._record_connection(station_id, protocol, conn):
                return
            delay = min(delay * 2, 30.0)

    # -- lifecycle -------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.settings.tls:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # OCPP security profiles 2/3 require TLS 1.2 or later.
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key or None)
        return context

    async def start(self, host: str, port: int) -> None:
        if self.settings.transport == "picows":
            self._picows = PicowsServer(self)
            await self._picows.start(host, port, self._ssl_context())
            return
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

    @property
    def port(self) -> int:
        if self._picows is not None:
            return self._picows.port
        assert self._server is not None
        sock = next(iter(self._server.sockets))
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self._picows is not None:
            await self._picows.stop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
