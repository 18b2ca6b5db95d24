"""The OCPP WebSocket endpoint: ws[s]://HOST:9000/[prefix/]<station-id>.

Two transports behind the `transport` setting: websockets (here) and picows
(`volta.gateway.picows_server`). Both make the same checks before the upgrade
(`volta.gateway.handshake`: the id rule, 401 Basic auth and unknown station,
throttling, auto-registration limits, security profile, subprotocol)
and run the same loop after it (`Gateway.serve_station`).

With TLS (`volta.gateway.tls`) the OCPP port serves security profiles 2 and 3
(client certificates optional); `ocpp_plain_port` adds a plain port beside it
for profile 1 stations.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from volta import metrics
from volta.blocks.charger_profiles import service as charger_profiles
from volta.blocks.provisioning import service as provisioning
from volta.gateway.connection import StationConnection
from volta.gateway.handshake import (
    DRAINING,
    MAX_FRAME_BYTES,
    Admission,
    Admitter,
    Refusal,
    choose_subprotocol,
)
from volta.gateway.picows_server import PicowsServer
from volta.gateway.tls import PLAIN, TlsContexts, facts_of
from volta.gateway.transport import ServerTransport, WebSocketTransport
from volta.ocpp.schemas import Validation
from volta.ocpp.versions import SUPPORTED, Version, parse_version
from volta.services import Services, StationState
from volta.stations import StationLink

log = logging.getLogger(__name__)

TRANSPORTS = ("websockets", "picows")
# How long the stop waits for connections still recording their end.
STOP_WAIT_S = 5.0
# RFC 6455 §7.4.1 (IANA registry): the server is restarting; a client may
# reconnect (Volta's stations then find another node).
SERVICE_RESTART = 1012


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
        # The plain port for profile 1 beside a TLS port (ocpp_plain_port).
        self._plain_server: Server | None = None
        self._plain_picows: PicowsServer | None = None
        self.tls: TlsContexts | None = TlsContexts(self.settings) if self.settings.tls else None
        self._closing: set[asyncio.Task[None]] = set()
        # Connection ids, "<node id>/<serial>": the one in stations.connection_id
        # is the only connection that may record its station offline.
        self._serial = itertools.count(1)
        taken_over = getattr(services.router, "on_taken_over", False)
        if taken_over is None:  # several nodes: another node may take a station over
            services.router.on_taken_over = self._taken_over  # type: ignore[attr-defined]
        self.default_version = parse_version(self.settings.default_protocol)
        # The stations served here (for the drain); set while draining: the
        # listening socket is closed and an upgrade under way is refused (503).
        self._connections: set[StationConnection] = set()
        # Connections whose end is being recorded, and set when there are none.
        self._ending = 0
        self._ended_all = asyncio.Event()
        self.draining = False

    # -- websockets: the HTTP part of the handshake ----------------------------

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        ssl_object = connection.transport.get_extra_info("ssl_object")
        decision = await self.admitter.admit(
            request.path,
            request.headers,
            connection.remote_address,
            facts_of(ssl_object) if ssl_object is not None else PLAIN,
        )
        if self.draining:
            decision = DRAINING
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
            tolerated=charger_profiles.tolerated(self.settings, station.get("charger_profile")),
        )
        del station  # the row is not needed for the connection's life (memory per station)
        if self.draining:
            # Upgraded while the drain began: never attached, sent elsewhere.
            await transport.close(SERVICE_RESTART, "service restart")
            return
        conn = StationConnection(transport, state, version, self.services)
        conn.connection_id = f"{self.services.node.node_id}/{next(self._serial)}"
        self._connections.add(conn)
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
            self._connections.discard(conn)
            # Recording its end: the stop waits for it before the database closes.
            self._ending += 1
            self._ended_all.clear()
            try:
                await self._ended(conn, state, version, retry)
            finally:
                self._ending -= 1
                if not self._ending:
                    self._ended_all.set()
            log.info("station %s disconnected (code %s)", state.station_id, transport.close_code)

    async def _ended(
        self,
        conn: StationConnection,
        state: StationState,
        version: Version,
        retry: asyncio.Task[None] | None,
    ) -> None:
        """The connection closed: recorded offline if it was still the station's."""
        if retry is not None:
            retry.cancel()
        if self.services.router.detach(conn):
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
                self.services.db,
                station_id,
                protocol,
                conn.connection_id,
                # Still the station's connection here: not replaced, not
                # taken over by another node, not ended.
                current=lambda: self.services.router.link(station_id) is conn,
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
        return self.tls.front if self.tls is not None else None

    def reload_tls(self) -> bool:
        """Load changed TLS files now (new handshakes use them); True when
        something changed."""
        return self.tls.reload() if self.tls is not None else False

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        """Listen on (host, port); with `reuse_port`, beside other processes
        listening on the same port (SO_REUSEPORT: `volta serve --workers`).
        With TLS and `ocpp_plain_port` >= 0, also on a plain port."""
        context = self._ssl_context()
        plain = self.settings.ocpp_plain_port
        if self.tls is not None:
            self.tls.start()
        if self.settings.transport == "picows":
            self._picows = PicowsServer(self)
            await self._picows.start(host, port, context, reuse_port=reuse_port)
            if context is not None and plain >= 0:
                self._plain_picows = PicowsServer(self)
                await self._plain_picows.start(host, plain, None, reuse_port=reuse_port)
            return
        self._server = await self._serve(host, port, context, reuse_port)
        if context is not None and plain >= 0:
            self._plain_server = await self._serve(host, plain, None, reuse_port)

    async def _serve(
        self, host: str, port: int, context: ssl.SSLContext | None, reuse_port: bool
    ) -> Server:
        return await serve(
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
            ssl=context,
            backlog=4096,
            server_header="Volta",
            reuse_port=reuse_port or None,
        )

    @property
    def port(self) -> int:
        if self._picows is not None:
            return self._picows.port
        assert self._server is not None
        sock = next(iter(self._server.sockets))
        return int(sock.getsockname()[1])

    @property
    def plain_port(self) -> int | None:
        """The plain port beside the TLS one, if there is one."""
        if self._plain_picows is not None:
            return self._plain_picows.port
        if self._plain_server is not None:
            return int(next(iter(self._plain_server.sockets)).getsockname()[1])
        return None

    # -- drain ---------------------------------------------------------------

    def stop_accepting(self) -> None:
        """Close the listening socket (other processes on the same port, if
        any, go on accepting); refuse upgrades under way with 503."""
        self.draining = True
        for picows in (self._picows, self._plain_picows):
            if picows is not None:
                picows.stop_accepting()
        for server in (self._server, self._plain_server):
            if server is not None:
                server.server.close()

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def drain(self, batch: int, pause: float, grace: float) -> None:
        """Close every station with 1012 (service restart), `batch` at a time
        with `pause` seconds between batches, each once the CALLs it sent so
        far are answered (at most `grace` s): the stations reconnect, to
        another node when there is one, without all coming at once."""
        self.stop_accepting()
        stations = list(self._connections)
        batch = max(1, batch)
        for start in range(0, len(stations), batch):
            if start and pause > 0:
                await asyncio.sleep(pause)
            group = stations[start : start + batch]
            log.info(
                "draining: closing stations %d-%d of %d with 1012",
                start + 1,
                start + len(group),
                len(stations),
            )
            await asyncio.gather(
                *(conn.finish(SERVICE_RESTART, "service restart", grace) for conn in group),
                return_exceptions=True,
            )

    def abort_all(self) -> None:
        """Drop every station's connection at once (a second stop signal)."""
        self.stop_accepting()
        for conn in list(self._connections):
            conn.abort()

    async def stop(self) -> None:
        if self.tls is not None:
            await self.tls.stop()
        for picows in (self._picows, self._plain_picows):
            if picows is not None:
                await picows.stop()
        for server in (self._server, self._plain_server):
            if server is not None:
                server.close()
                await server.wait_closed()
        # Connections still ending (a station that closed on its own during
        # the stop) record their disconnection before the database closes.
        if self._ending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended_all.wait(), STOP_WAIT_S)
