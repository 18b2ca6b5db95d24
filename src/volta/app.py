"""Wires the parts together and runs them in one event loop: the OCPP
gateway (port 9000), the HTTP API (port 8000) and the frame-log writer."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from volta import ftp, housekeeping
from volta.api.app import create_api
from volta.blocks.authorization import v16 as authorization_v16
from volta.blocks.authorization import v201 as authorization_v201
from volta.blocks.battery_swap import v21 as battery_swap_v21
from volta.blocks.certificates import v16 as certificates_v16
from volta.blocks.certificates import v21 as certificates_v21
from volta.blocks.certificates import v201 as certificates_v201
from volta.blocks.charger_profiles import service as charger_profiles
from volta.blocks.charger_profiles import v16 as charger_profiles_v16
from volta.blocks.charger_profiles import v201 as charger_profiles_v201
from volta.blocks.customer_information import v16 as customer_information_v16
from volta.blocks.customer_information import v201 as customer_information_v201
from volta.blocks.data_transfer import handlers as data_transfer
from volta.blocks.der import v21 as der_v21
from volta.blocks.device_model import v16 as device_model_v16
from volta.blocks.device_model import v201 as device_model_v201
from volta.blocks.diagnostics import v16 as diagnostics_v16
from volta.blocks.diagnostics import v201 as diagnostics_v201
from volta.blocks.display_messages import v16 as display_messages_v16
from volta.blocks.display_messages import v201 as display_messages_v201
from volta.blocks.event_streams import v21 as event_streams_v21
from volta.blocks.firmware import v16 as firmware_v16
from volta.blocks.firmware import v201 as firmware_v201
from volta.blocks.local_list import service as local_list
from volta.blocks.local_list import v16 as local_list_v16
from volta.blocks.local_list import v201 as local_list_v201
from volta.blocks.monitoring import v16 as monitoring_v16
from volta.blocks.monitoring import v201 as monitoring_v201
from volta.blocks.payment import v21 as payment_v21
from volta.blocks.plug_and_charge import v16 as plug_and_charge_v16
from volta.blocks.plug_and_charge import v201 as plug_and_charge_v201
from volta.blocks.priority_charging import v21 as priority_charging_v21
from volta.blocks.provisioning import v16 as provisioning_v16
from volta.blocks.provisioning import v201 as provisioning_v201
from volta.blocks.remote_control import v16 as remote_control_v16
from volta.blocks.remote_control import v201 as remote_control_v201
from volta.blocks.remote_control.service import recover_pending
from volta.blocks.reservations import v16 as reservations_v16
from volta.blocks.reservations import v201 as reservations_v201
from volta.blocks.security import v16 as security_v16
from volta.blocks.security import v201 as security_v201
from volta.blocks.smart_charging import hooks as smart_charging_hooks
from volta.blocks.smart_charging import service as smart_charging
from volta.blocks.smart_charging import v16 as smart_charging_v16
from volta.blocks.smart_charging import v21 as smart_charging_v21
from volta.blocks.smart_charging import v201 as smart_charging_v201
from volta.blocks.smart_charging import v201_incoming as smart_charging_incoming
from volta.blocks.tariffs import hooks as tariffs_hooks
from volta.blocks.tariffs import v21 as tariffs_v21
from volta.blocks.transactions import v16 as transactions_v16
from volta.blocks.transactions import v21 as transactions_v21
from volta.blocks.transactions import v201 as transactions_v201
from volta.cluster import ClusterNode, ClusterRouter
from volta.config import Settings
from volta.events.webhooks import Dispatcher, prepare_secrets
from volta.gateway.router import LocalRouter
from volta.gateway.server import Gateway
from volta.ocpp.actions import STATION_INITIATED, STATION_SENDS
from volta.ocpp.schemas import registry as schema_registry
from volta.ocpp.versions import Version
from volta.outgoing import OutgoingTable
from volta.security import hash_api_token, new_api_token, new_station_password
from volta.services import HandlerTable, Services
from volta.stations import Node, SoloNode
from volta.store import locks, migrate
from volta.store.db import Database, DatabaseMissing, SchemaBehind, redact
from volta.store.framelog import FrameLog
from volta.store.models import ApiToken, utcnow
from volta.web import views as dashboard
from volta.web.fleet import OnlineHistory

log = logging.getLogger(__name__)


class _ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: Volta stops everything together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def handler_table() -> HandlerTable:
    """Every block's handlers and follow-ups, for the gateway. 2.1 stations
    are served the 2.0.1 handlers for every action the two share, unless a
    block's v21.py handles it its own way (HandlerTable.serving)."""
    combined = HandlerTable.combine(
        provisioning_v16.handlers,
        provisioning_v201.handlers,
        authorization_v16.handlers,
        authorization_v201.handlers,
        transactions_v16.handlers,
        transactions_v201.handlers,
        reservations_v201.handlers,
        data_transfer.handlers,
        local_list.handlers,
        tariffs_hooks.handlers,
        smart_charging_incoming.handlers,
        smart_charging_hooks.handlers,
        security_v16.handlers,
        security_v201.handlers,
        certificates_v16.handlers,
        certificates_v201.handlers,
        plug_and_charge_v16.handlers,
        plug_and_charge_v201.handlers,
        # Device management (issue 15)
        charger_profiles_v16.handlers,
        charger_profiles_v201.handlers,
        customer_information_v201.handlers,
        device_model_v16.handlers,
        device_model_v201.handlers,
        diagnostics_v16.handlers,
        diagnostics_v201.handlers,
        display_messages_v201.handlers,
        firmware_v16.handlers,
        firmware_v201.handlers,
        monitoring_v201.handlers,
        # OCPP 2.1 (issue 16)
        transactions_v21.handlers,
        tariffs_v21.handlers,
        payment_v21.handlers,
        priority_charging_v21.handlers,
        battery_swap_v21.handlers,
        event_streams_v21.handlers,
        certificates_v21.handlers,
        smart_charging_v21.handlers,
        der_v21.handlers,
    )
    v21 = Version.V21
    return combined.serving(Version.V201, v21, STATION_INITIATED[v21] | STATION_SENDS[v21])


def http_app(services: Services, online_history: OnlineHistory) -> FastAPI:
    """The HTTP application on the API port: the API (/api/v1, /healthz,
    /metrics) and the operator dashboard (its pages, fragments and static
    files, the fleet's online history) side by side. The two adapters do not
    import each other; they meet here."""
    app = create_api(services)
    dashboard.install(app, online_history)
    return app


def outgoing_tables() -> dict[Version, OutgoingTable]:
    """Every block's outgoing builders, one table per version. A later
    version is one of these plus its own: 2.1 is the 2.0.1 table and the
    blocks' v21.py tables (OutgoingTable.derive)."""
    tables = {
        Version.V16: OutgoingTable.combine(
            remote_control_v16.outgoing,
            reservations_v16.outgoing,
            local_list_v16.outgoing,
            smart_charging_v16.outgoing,
            security_v16.outgoing,
            certificates_v16.outgoing,
            plug_and_charge_v16.outgoing,
            charger_profiles_v16.outgoing,
            device_model_v16.outgoing,
            diagnostics_v16.outgoing,
            firmware_v16.outgoing,
            monitoring_v16.outgoing,
            # 2.0.1-only commands, refused in 1.6 words.
            customer_information_v16.outgoing,
            display_messages_v16.outgoing,
        ),
        Version.V201: OutgoingTable.combine(
            remote_control_v201.outgoing,
            reservations_v201.outgoing,
            local_list_v201.outgoing,
            smart_charging_v201.outgoing,
            security_v201.outgoing,
            certificates_v201.outgoing,
            plug_and_charge_v201.outgoing,
            charger_profiles_v201.outgoing,
            customer_information_v201.outgoing,
            device_model_v201.outgoing,
            diagnostics_v201.outgoing,
            display_messages_v201.outgoing,
            firmware_v201.outgoing,
            monitoring_v201.outgoing,
        ),
    }
    tables[Version.V21] = tables[Version.V201].derive(
        OutgoingTable.combine(
            transactions_v21.outgoing,
            tariffs_v21.outgoing,
            payment_v21.outgoing,
            priority_charging_v21.outgoing,
            battery_swap_v21.outgoing,
            event_streams_v21.outgoing,
            certificates_v21.outgoing,
            smart_charging_v21.outgoing,
            der_v21.outgoing,
        )
    )
    return tables


async def recover_in_flight(services: Services, older_than: dt.timedelta | None = None) -> None:
    """Commands and profiles a stop (or a dead node) left waiting for an
    answer that cannot come: error / Failed."""
    recovered = await recover_pending(services, older_than)
    if recovered:
        log.warning("%d commands were pending at the last stop; marked as error", recovered)
    if await smart_charging.recover_requested(services.db, older_than):
        log.warning("charging profiles left Requested at the last stop are marked Failed")


IN_FLIGHT_SWEEP_S = 10.0


async def sweep_in_flight(services: Services) -> None:
    """Several nodes: the leader marks what dead nodes left in flight, once it
    is older than any live node's wait (a remote call waits call_timeout + 5 s)."""
    settings = services.settings
    older_than = dt.timedelta(seconds=settings.call_timeout + settings.node_lease + 15)
    while True:
        await asyncio.sleep(IN_FLIGHT_SWEEP_S)
        if not services.node.is_leader():
            continue
        try:
            await recover_in_flight(services, older_than)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweeping commands left in flight failed")


# A worker may get one stop request twice at once: from its supervisor and
# from a service manager signalling the whole group (systemd's default
# KillMode): within this many seconds, a second signal is the same request.
SAME_SIGNAL = 1.0
# How long a drain waits for a station's CALLs under way to be answered
# before closing it, and for the follow-ups of answered CALLs at the end.
DRAIN_GRACE = 10.0


class Volta:
    # Set before start(): this process is worker `worker` (1..N) of `volta
    # serve --workers N`: its ports are shared with the other workers
    # (SO_REUSEPORT), and the first-start work was done by the supervisor.
    worker: int = 0
    # Set by drain(): no new station is taken, those here are being closed.
    draining: bool = False
    _drain_task: asyncio.Task[None] | None = None
    _hurried: bool = False

    def __init__(self, settings: Settings, *, db_schema: str | None = None) -> None:
        self.settings = settings
        self.db = Database(
            settings.database_url, schema=db_schema, pool_size=settings.database_pool_size
        )
        self.frames = FrameLog(self.db)
        # One process, or one node of several (docs/scale-out.md).
        self.cluster: ClusterNode | None = None
        self.router: LocalRouter | ClusterRouter
        node: Node = SoloNode()
        if settings.nats_url:
            self.cluster = node = ClusterNode(settings, self.db)
            self.router = ClusterRouter(self.cluster)
        else:
            self.router = LocalRouter()
        self.services = Services(
            settings,
            self.db,
            self.frames,
            self.router,
            schema_registry(),
            handler_table(),
            outgoing=outgoing_tables(),
            node=node,
        )
        self.gateway = Gateway(self.services)
        self.services.reload_tls = self.gateway.reload_tls
        self.online_history = OnlineHistory(self.router)
        self._api_server: _ApiServer | None = None
        self._api_task: asyncio.Task[None] | None = None
        self._ftp: ftp.UploadServer | None = None
        self.generated_api_token: str | None = None

    async def start(self) -> None:
        charger_profiles.check(self.settings)  # a broken profiles file: no start
        if self.worker:
            # The supervisor did the first-start work before any worker ran;
            # the secret key is loaded in every process.
            await refuse_old_schema(self.db)
            await prepare_secrets(self.db, self.settings)
        else:
            await self.prepare()
        self.frames.start()
        self.online_history.start()
        # What each node does of the blocks' work, before the node joins (its
        # leadership callback) and the gateway accepts stations; on one node
        # also the first allocation run.
        housekeeping.register_cluster_callbacks(self.services)
        if self.cluster is not None:
            assert isinstance(self.router, ClusterRouter)
            await self.cluster.start()
            await self.router.start()
            await self.cluster.joined()
        await self.gateway.start(
            self.settings.host, self.settings.ocpp_port, reuse_port=self.worker > 0
        )
        self.services.spawn(housekeeping.run_forever(self.services), name="housekeeping")
        if self.cluster is not None:
            self.services.spawn(sweep_in_flight(self.services), name="in-flight sweep")
        self.services.spawn(
            Dispatcher(self.db, self.settings, node_id=self.services.node.node_id).run(),
            name="webhooks",
        )
        config = uvicorn.Config(
            http_app(self.services, self.online_history),
            host=self.settings.host,
            port=self.settings.api_port,
            log_config=None,
            lifespan="off",
            access_log=False,
        )
        self._api_server = _ApiServer(config)
        # A worker binds the API port itself, beside the other workers.
        sockets = (
            [reuse_port_socket(self.settings.host, self.settings.api_port)] if self.worker else None
        )
        self._api_task = asyncio.create_task(self._api_server.serve(sockets), name="http-api")
        while not self._api_server.started:
            if self._api_task.done():
                self._api_task.result()  # re-raise why it could not start
                raise RuntimeError("the HTTP API could not start")
            await asyncio.sleep(0.01)
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.getfqdn()
        self.services.files_url = f"http://{host}:{self.api_port}"
        if self.settings.files_ftp_port and self.worker <= 1:
            # One process binds it (FTP's data connections must reach the
            # process that holds the login): the only worker, or worker 1.
            self._ftp = await ftp.start(
                self.services, self.settings.host, self.settings.files_ftp_port
            )
            self.services.ftp_port = self._ftp.address[1]
        log.info(
            "Volta listening: OCPP %s://%s:%d/<station-id>, API http://%s:%d (database %s)",
            "wss" if self.settings.tls else "ws",
            self.settings.host,
            self.ocpp_port,
            self.settings.host,
            self.api_port,
            redact(self.db.url),
        )
        if self.gateway.plain_port is not None:
            log.info(
                "OCPP without TLS (security profile 1) on ws://%s:%d/<station-id>",
                self.settings.host,
                self.gateway.plain_port,
            )

    async def prepare(self) -> None:
        """The work done once before serving: the schema migrated, the
        webhook secrets' key checked, an API token made at the first start,
        and what the last stop left pending closed. `volta serve --workers`
        runs it in the supervisor, before the workers start."""
        refuse_missing_database(self.db)
        await migrate.upgrade(self.db)
        await prepare_secrets(self.db, self.settings)
        await self._ensure_api_token()
        if self.cluster is None:
            # One process: nothing can be in flight at start. Several nodes
            # (and the workers' supervisor, a member of the deployment): the
            # leader sweeps what a dead node left (sweep_in_flight).
            await recover_in_flight(self.services)

    async def _ensure_api_token(self) -> None:
        if self.settings.api_token:
            return
        async with self.db.read() as conn:
            count = (await conn.execute(sa.select(sa.func.count()).select_from(ApiToken))).scalar()
        if count:
            return
        token = new_api_token()
        async with self.db.write() as conn:
            await conn.execute(
                sa.insert(ApiToken).values(
                    name="generated at first start",
                    token_hash=hash_api_token(token),
                    created_at=utcnow(),
                )
            )
        self.generated_api_token = token
        # Printed once, to the terminal, never to the log.
        print(
            "\n  Volta generated an API token (shown only now; `volta api-token` makes another):"
            f"\n\n    {token}\n",
            flush=True,
        )

    @property
    def ocpp_port(self) -> int:
        return self.gateway.port

    @property
    def api_port(self) -> int:
        assert self._api_server is not None
        sock = self._api_server.servers[0].sockets[0]
        return int(sock.getsockname()[1])

    async def drain(self) -> None:
        """Hand the stations over (SIGTERM, a rolling upgrade): stop accepting
        OCPP connections (with --workers, the other workers go on accepting
        on the port), mark the node draining, and close the stations with
        1012 in batches of `drain_batch`, `drain_pause` seconds apart, each
        once the CALLs it sent so far are answered. The API keeps serving."""
        if self.draining:
            if self._drain_task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._drain_task
            return
        self.draining = True
        self.gateway.stop_accepting()
        if self.cluster is not None:
            # The others know (nodes.state = draining), and it leads no more.
            try:
                await self.cluster.set_draining()
            except Exception:
                log.exception("could not mark the node draining")
        log.info(
            "draining %d stations: closed with 1012, %d every %g s",
            self.gateway.connection_count,
            self.settings.drain_batch,
            self.settings.drain_pause,
        )
        self._drain_task = asyncio.create_task(
            self.gateway.drain(self.settings.drain_batch, self.settings.drain_pause, DRAIN_GRACE),
            name="drain",
        )
        with contextlib.suppress(asyncio.CancelledError):
            await self._drain_task

    def hurry(self) -> None:
        """Stop at once (a second SIGTERM or SIGINT): the drain's pauses and
        closing handshakes are cut short, the stations' connections dropped,
        the API's open requests not waited for."""
        log.warning("stopping at once")
        self._hurried = True
        if self._drain_task is not None:
            self._drain_task.cancel()
        self.gateway.abort_all()
        if self._api_server is not None:
            self._api_server.force_exit = True

    async def stop(self) -> None:
        """Drain, then stop: the connections' handlers end (their writes
        committed), the follow-ups of answered CALLs finish, the frame log is
        flushed, and the API port closes last."""
        await self.drain()
        await self.online_history.stop()
        await self.gateway.stop()
        await self.services.drain(0.0 if self._hurried else DRAIN_GRACE)
        await self.frames.stop()
        if self._ftp is not None:
            await self._ftp.close()
        if self._api_server is not None:
            # An open event stream must not hold the stop for ever.
            if self._api_server.config.timeout_graceful_shutdown is None:
                self._api_server.config.timeout_graceful_shutdown = 5
            self._api_server.should_exit = True
        if self._api_task is not None:
            with contextlib.suppress(Exception):
                await self._api_task
        if self.cluster is not None:
            # Last: the API asked the deployment (through NATS) until now.
            await self.cluster.stop()
        await locks.close(self.db)
        await self.db.close()


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT: other processes
    bind the same port the same way, and the kernel spreads new connections
    over the ones listening. Not listening yet."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


async def run(
    settings: Settings,
    *,
    demo: int = 0,
    worker: int = 0,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """`volta serve`: run until SIGINT or SIGTERM, with `demo` simulated stations.

    The first signal drains (`Volta.drain`) and stops; a second one stops at
    once (`Volta.hurry`). As `worker` i of `volta serve --workers`, the
    process also drains when its supervisor goes away (its stdin, the
    supervisor's pipe, ends); `on_ready` tells the supervisor it serves."""
    volta = Volta(settings)
    volta.worker = worker
    await volta.start()
    tune_garbage_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    first: list[float] = []

    def on_signal() -> None:
        now = loop.time()
        if not first:
            first.append(now)
            stop.set()
        elif not (worker and now - first[0] < SAME_SIGNAL):
            volta.hurry()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal)
    if worker:
        watch_supervisor(stop)
    if worker <= 1:
        await announce_dashboard(volta, create_admin=demo > 0)
    demo_task = asyncio.create_task(run_demo(volta, demo, stop)) if demo else None
    if on_ready is not None:
        on_ready()
    await stop.wait()
    log.info("stopping: draining first (a second signal stops at once)")
    if demo_task is not None:
        await demo_task
    await volta.stop()
    log.info("stopped")


def watch_supervisor(stop: asyncio.Event) -> None:
    """Set `stop` when stdin ends: a worker's stdin is a pipe its supervisor
    holds open for as long as it lives (killed, it cannot forward a signal)."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            if not stop.is_set():
                log.warning("the supervisor is gone: stopping")
                stop.set()

    os.set_blocking(fd, False)
    loop.add_reader(fd, readable)


ADMIN_PASSWORD_FILE = "volta-admin-password.txt"


async def announce_dashboard(volta: Volta, *, create_admin: bool) -> None:
    """Tell where the dashboard is and how to sign in. With --demo and no user
    yet, create `admin` with a random password, written once to a file only
    its owner can read (never to the log or the terminal)."""
    from volta.web import users

    host = "localhost" if volta.settings.host in ("0.0.0.0", "::", "") else volta.settings.host
    url = f"http://{host}:{volta.api_port}/"
    if await users.count_users(volta.db):
        print(f"\n  Dashboard: {url}\n", flush=True)
        return
    if not create_admin:
        print(
            f"\n  Dashboard: {url} - no user yet; add one with"
            "\n    volta users add NAME --role admin\n",
            flush=True,
        )
        return
    password = new_station_password()
    try:
        fd, path = create_private_file(ADMIN_PASSWORD_FILE)
    except FileExistsError:
        # Never overwritten: it may hold the password of a database that is
        # only missing for now (restored from a backup later).
        print(
            f"\n  Dashboard: {url} - no user yet, and {admin_password_path()} "
            "exists from an earlier start: it is kept and no admin was created; move it "
            "away and restart, or add one with\n    volta users add NAME --role admin\n",
            flush=True,
        )
        return
    with os.fdopen(fd, "w") as f:
        try:
            await users.add_user(volta.db, "admin", password, "admin")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        f.write(password + "\n")
    print(
        f"\n  Dashboard: {url} - sign in as admin with the password in {path}"
        "\n  (readable by you only; `volta users passwd admin` changes it)\n",
        flush=True,
    )


def admin_password_path() -> Path:
    return Path(ADMIN_PASSWORD_FILE).resolve()


async def refuse_old_schema(db: Database) -> None:
    """A worker does not migrate (its supervisor did, at its own start): one
    started later, by a rolling restart onto a newer version, refuses a
    database whose schema is not this version's."""
    current, wanted = await migrate.current_revision(db), migrate.head()
    if current != wanted:
        raise SchemaBehind(
            f"the database schema is at revision {current}, this version of Volta needs "
            f"{wanted}: run `volta migrate` (or stop and start `volta serve`)"
        )


def refuse_missing_database(db: Database) -> None:
    """Refuse to start on a SQLite file that is missing while the admin
    password file of an earlier first start is here: the database was lost,
    and starting would create an empty one. (`migrate.upgrade` also refuses
    when the database's lock file is still there.)"""
    path = db.path
    if path is not None and not path.exists() and admin_password_path().exists():
        raise DatabaseMissing(
            f"the database {path} is missing, but {admin_password_path()} shows Volta "
            "ran here before: restore the database from a backup, or move the password "
            "file away to start with an empty database"
        )


def create_private_file(name: str) -> tuple[int, Path]:
    """A new file only its owner can read or write, opened for writing; its
    descriptor and full path. FileExistsError when it exists (O_EXCL: an
    existing file is never overwritten, nor a symlink followed)."""
    path = Path(name).resolve()
    old = os.umask(0o077)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    finally:
        os.umask(old)
    os.fchmod(fd, 0o600)
    return fd, path


def tune_garbage_collector() -> None:
    """For a long-running server process (not for tests, which start many).

    What is loaded at start-up lives as long as the process: freeze it out of
    the collector's way, and collect the young generation less often. With
    thousands of connections the full collections otherwise walk every
    station's objects; the reference CSMS paused heartbeats for ~1 s that way.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


async def run_demo(volta: Volta, count: int, stop: asyncio.Event) -> None:
    """Register `count` simulated stations and a driver card, and let them charge
    against this server, so a new user sees sessions happen."""
    from volta.blocks.authorization import service as tokens
    from volta.blocks.provisioning import service as provisioning
    from volta.simulator.fleet import build_fleet, run_fleet
    from volta.simulator.scenario import Scenario

    password = new_station_password()
    scenario = Scenario(
        url=f"ws://127.0.0.1:{volta.ocpp_port}",
        stations=count,
        # In turn 1.6, 2.0.1, 2.1: DEMO-003 speaks 2.1, its drivers pay at a
        # payment terminal and its cars are V2X (docs/ocpp21.md, "The simulator").
        protocol="mixed",
        payment_terminal=True,
        v2x=True,
        id_prefix="DEMO-",
        password=password,
        # One card per connector: a card charges one car at a time (ConcurrentTx).
        id_tokens=[f"DEMO-CARD-{i}" for i in range(1, 2 * count + 1)],
        meter_interval=5.0,
        session_seconds=(60.0, 180.0),
        idle_seconds=(5.0, 30.0),
    )
    for station_id in scenario.station_ids():
        if await provisioning.find_station(volta.db, station_id) is None:
            await provisioning.create_station(volta.db, station_id, password=password)
        else:
            await provisioning.update_station(volta.db, station_id, password=password)
    for token in scenario.cards():
        if await tokens.get_token(volta.db, token) is None:
            await tokens.add_token(volta.db, token)
    site_id = await demo_site(volta, scenario.station_ids())
    await demo_firmware(volta)
    await demo_tariff(volta)
    log.info(
        "demo: %d simulated stations (%s...) on site %d (%.0f A, 3-phase): /sites/%d",
        count,
        scenario.station_ids()[0],
        site_id,
        DEMO_SITE_A,
        site_id,
    )
    await run_fleet(build_fleet(scenario), stop)


# A firmware image on the Files page, so a newcomer can update a demo station
# or run a campaign at once: the simulator installs it and boots with the
# version in its name (docs/device-management.md, "The simulator").
DEMO_FIRMWARE = "volta-simulator-2.0.0.bin"


async def demo_firmware(volta: Volta) -> None:
    from volta.blocks.files import service as files

    stored = await files.list_files(volta.db, kind="firmware", limit=1000)
    if any(f["name"] == DEMO_FIRMWARE for f in stored):
        return

    async def image() -> AsyncIterator[bytes]:
        yield b"VOLTA-SIMULATOR-FIRMWARE 2.0.0\n" + bytes(range(256)) * 256

    await files.store(volta.services, image(), kind="firmware", name=DEMO_FIRMWARE)


async def demo_tariff(volta: Volta) -> None:
    """A default tariff, so the demo's sessions have costs and CDRs and the
    2.1 station's payment terminal settles a real amount (made only when no
    tariff is the default)."""
    from volta.blocks.tariffs import service as tariffs

    if any(t["is_default"] for t in await tariffs.list_tariffs(volta.db)):
        return
    await tariffs.create_tariff(
        volta.db,
        {"name": "Demo tariff", "currency": "EUR", "price_kwh": "0.35", "tax_percent": "22"},
        is_default=True,
    )


DEMO_SITE = "Demo site"
DEMO_SITE_A = 32.0


async def demo_site(volta: Volta, station_ids: list[str]) -> int:
    """One 32 A 3-phase site holding the demo's stations (made once, found
    again by name), so a newcomer sees load management on the Sites page:
    six EVSEs share 32 A, each never below 6 A."""
    from volta.blocks.smart_charging import sites
    from volta.blocks.smart_charging.engine import engine_of

    found = [s for s in (await sites.all_sites(volta.db)).values() if s.name == DEMO_SITE]
    if found:
        site_id = found[0].id
    else:
        made = await sites.create_site(
            volta.db, name=DEMO_SITE, max_current_a=DEMO_SITE_A, phases=3
        )
        site_id = made.id
    engine = engine_of(volta.services)
    for station_id in station_ids:
        await sites.place_station(volta.db, station_id, site_id)
        engine.station_moved(station_id)
    engine.tree_changed()
    return site_id
