"""One simulated charging station: connects, boots, reports status, lets
drivers charge, answers the CSMS's commands, and reconnects with back-off.

Everything on the wire goes through `volta.ocpp.link.OcppLink` over an
`OcppSession` in the station role, so the simulator validates what it sends
and what it receives against the same official schemas as the CSMS. This
file is the version-neutral life of a station. How each version answers the
CSMS (an answer table per version) and spells what it sends is in `v16.py` /
`v201.py` (`dialect.py` says what they provide); what the CSMS's commands do,
in either version, is in `commands.py`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.frames import Call
from volta.ocpp.link import OcppLink
from volta.ocpp.schemas import SchemaRegistry
from volta.ocpp.schemas import registry as schema_registry
from volta.ocpp.session import OcppSession, Role
from volta.ocpp.times import format_timestamp
from volta.ocpp.versions import Version
from volta.simulator import drawing, monitoring, v16, v21, v201
from volta.simulator.dialect import Dialect
from volta.simulator.ev import Car, electrical
from volta.simulator.profiles import ProfileStore
from volta.simulator.scenario import Scenario
from volta.simulator.transport import WebSocketTransport

log = logging.getLogger(__name__)

Reading = tuple[str, float, str, str | None, str | None]
PHASES = ("L1", "L2", "L3")
DIALECTS: dict[Version, Dialect] = {Version.V16: v16, Version.V201: v201, Version.V21: v21}


class CallFailed(Exception):
    """The CSMS answered CALLERROR, or not at all."""


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait at most `seconds` for `event`; whether it is set.

    asyncio.timeout rather than wait_for here and below: on Python 3.11,
    wait_for swallows a cancellation that arrives as the awaited thing
    completes, which left a disconnected station's driver charging on (and
    waiting 30 s for answers no reader would deliver)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


@dataclass
class Connector:
    id: int  # 1.6 connectorId; 2.0.1 EVSE id (one connector per EVSE)
    status: str = "Available"
    available: bool = True
    transaction_id: str | None = None  # 1.6: str(int)
    id_token: str | None = None
    register_wh: float = 0.0
    seq_no: int = 0
    reservation_id: int | None = None
    reserved_for: str | None = None  # the driver's token while reserved
    scheduled_sessions: int = 0  # the scenario's sessions started here, over reconnects
    remote_start: asyncio.Queue[tuple[str, int | None]] = field(default_factory=asyncio.Queue)
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str = "Remote"  # why stop_requested was set
    car: Car | None = None  # the car charging here, if any
    started_at: dt.datetime | None = None  # the transaction's start (Relative profiles)
    limit_changed: asyncio.Event = field(default_factory=asyncio.Event)
    metered_at: float = 0.0  # monotonic time energy was last accrued to


@dataclass
class Stats:
    calls: int = 0
    errors: int = 0
    sessions: int = 0
    energy_wh: float = 0.0
    connects: int = 0
    commands: int = 0
    by_action: dict[str, int] = field(default_factory=dict)  # commands answered, per action


class SimulatedStation:
    def __init__(
        self,
        station_id: str,
        version: Version,
        scenario: Scenario,
        *,
        rng: random.Random | None = None,
        schemas: SchemaRegistry | None = None,
        cards_in_use: set[str] | None = None,
    ) -> None:
        self.id = station_id
        # A driver's card charges one car at a time: shared by a fleet, so two
        # simulated stations never start with the same card at once.
        self.cards_in_use = cards_in_use if cards_in_use is not None else set()
        self.version = version
        self.dialect = DIALECTS[version]
        self.scenario = scenario
        self.rng = rng or random.Random()
        self.schemas = schemas or schema_registry()
        self.connectors = [
            Connector(i, register_wh=self.rng.uniform(0, 5e6))
            for i in range(1, scenario.connectors + 1)
        ]
        self.stats = Stats()
        self.accepted = asyncio.Event()
        # Set when the run ends: drivers leave, sessions end (StopTransaction /
        # TransactionEvent Ended), then the connection closes.
        self.stopping = asyncio.Event()
        self.heartbeat_interval = scenario.heartbeat_interval
        self.configuration: dict[str, tuple[str, bool]] = {
            # key: (value, readonly) - the 1.6 Core configuration keys we keep;
            # 2.0.1 variables map onto them (v201.VARIABLES).
            "HeartbeatInterval": ("300", False),
            "MeterValueSampleInterval": (str(int(scenario.meter_interval)), False),
            "NumberOfConnectors": (str(scenario.connectors), True),
            "AuthorizeRemoteTxRequests": ("false", False),
            "MeterValuesSampledData": (
                "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC",
                False,
            ),
            "ConnectionTimeOut": ("60", False),
            # 1.6 §9.1.13: how many keys one GetConfiguration may ask for.
            "GetConfigurationMaxKeys": ("20", True),
        }
        self.local_list_version = 0
        # What BootNotification reports; None: Volta's own version (firmware.py sets it).
        self.firmware_version: str | None = None
        self.profiles = ProfileStore()
        self._link: OcppLink | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconnect = asyncio.Event()
        self._boot_reason = "PowerUp"
        # HTTP Basic password (security profile 1/2): the scenario's, until
        # the CSMS gives a new one (2.0.1 SecurityCtrlr.BasicAuthPassword,
        # 1.6 AuthorizationKey), which the next connection uses.
        self.password = scenario.password
        # Set while the station waits to be idle to connect again (a new
        # password): no new driver starts meanwhile.
        self.reconnect_pending = False

    # -- connection --------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until `stop` is set, reconnecting with back-off; then
        end the sessions still open and leave (at most `stop_grace` seconds)."""
        delay = self.scenario.reconnect_min
        try:
            await self._run(stop, delay)
        finally:
            if stop.is_set() and self.open_sessions():
                # Stopped while away: come back once to end them.
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self.scenario.stop_grace):
                        await self._connected(stop)

    def open_sessions(self) -> list[Connector]:
        return [c for c in self.connectors if c.transaction_id is not None]

    async def _run(self, stop: asyncio.Event, delay: float) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self._connected(stop)
            except (OSError, InvalidHandshake, ConnectionClosed, CallFailed, TimeoutError) as exc:
                log.info("%s: connection lost (%s)", self.id, exc)
            except Exception:
                # A bug in a scenario must not take the whole fleet down.
                log.exception("%s: simulator failure; reconnecting", self.id)
            if stop.is_set():
                break
            if time.monotonic() - started > 30:
                delay = self.scenario.reconnect_min
            # Jitter keeps a fleet from reconnecting in lockstep.
            wait = delay * self.rng.uniform(0.5, 1.5)
            await wait_set(stop, wait)
            delay = min(delay * 2, self.scenario.reconnect_max)

    async def _connected(self, stop: asyncio.Event) -> None:
        url = self.scenario.url.rstrip("/") + "/" + self.id
        headers = {}
        if self.password:
            secret = base64.b64encode(f"{self.id}:{self.password}".encode()).decode()
            headers["Authorization"] = "Basic " + secret
        async with websockets.connect(
            url,
            subprotocols=[Subprotocol(self.version.value)],
            additional_headers=headers,
            open_timeout=10,
            ping_interval=None,  # the CSMS pings us
        ) as ws:
            session = OcppSession(self.version, self.schemas, role=Role.STATION)
            link = OcppLink(
                session,
                WebSocketTransport(ws),
                self._answer,
                name=self.id,
                on_result=self._follow_up,
            )
            self._link = link
            self.stats.connects += 1
            self._reconnect.clear()
            reader = asyncio.create_task(link.serve())
            life = asyncio.create_task(self._life())
            waits = [
                reader,
                life,
                asyncio.create_task(stop.wait()),
                asyncio.create_task(self._reconnect.wait()),
            ]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set() and not reader.done() and not self._reconnect.is_set():
                    await self._wind_down(life, reader)
            finally:
                for task in (*waits, *self._tasks):
                    task.cancel()
                for task in (*waits, *self._tasks):
                    with contextlib.suppress(BaseException):
                        await task
                self._tasks.clear()
                self.accepted.clear()
                self._link = None
            if life.done() and not life.cancelled() and life.exception() is not None:
                raise life.exception()  # type: ignore[misc]

    async def _wind_down(self, life: asyncio.Task[None], reader: asyncio.Task[Any]) -> None:
        """The run ends: every session ends as if stopped at the station
        (1.6 StopTransaction / 2.0.1 TransactionEvent Ended, reason Local),
        connectors report Available, then the connection closes. Bounded."""
        self.stopping.set()
        for connector in self.connectors:
            if not connector.stop_requested.is_set():
                connector.stop_reason = "Local"
                connector.stop_requested.set()
        if life.done():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.scenario.stop_grace):
                await asyncio.wait([life, reader], return_when=asyncio.FIRST_COMPLETED)

    def spawn(self, coro: Any) -> None:
        """Run `coro` while connected (cancelled when the connection goes)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def call(
        self, action: str, payload: dict[str, Any], timeout: float = 30
    ) -> dict[str, Any]:
        """Send a CALL and wait for its CALLRESULT (one outstanding at a time)."""
        link = self._link
        if link is None:
            raise CallFailed("not connected")
        self.stats.calls += 1
        outcome = await link.call(action, payload, timeout)
        if outcome.kind == "result":
            return outcome.payload
        self.stats.errors += 1
        if outcome.kind == "timeout":
            raise CallFailed(f"{action}: no answer within {timeout} s")
        if outcome.error is not None:  # error, or invalid (refused by our own schema)
            error = outcome.error
            raise CallFailed(f"{action}: {outcome.kind} {error.error_code} {error.description}")
        raise CallFailed(f"{action}: connection closed")

    # -- answering the CSMS ----------------------------------------------------------

    async def _answer(self, call: Call) -> dict[str, Any]:
        self.stats.commands += 1
        self.stats.by_action[call.action] = self.stats.by_action.get(call.action, 0) + 1
        answer = self.dialect.table.answers.get(call.action)
        if answer is None:
            raise OcppError(
                ErrorCode.NOT_SUPPORTED, f"the simulator does not support {call.action}"
            )
        return answer(self, call.payload)

    def _follow_up(self, call: Call, response: dict[str, Any]) -> None:
        follow_up = self.dialect.table.follow_ups.get(call.action)
        if follow_up is not None:
            self.spawn(follow_up(self, call.payload, response))

    # -- the station's life --------------------------------------------------------

    def now(self) -> str:
        return format_timestamp(dt.datetime.now(dt.UTC))

    async def _life(self) -> None:
        await self.boot(self._boot_reason)
        self.reconnect_pending = False
        self._boot_reason = "PowerUp"
        for connector in self.connectors:
            if connector.transaction_id is not None:
                # A session the lost connection (or a reset) cut short: the
                # simulator does not charge offline, so this boot ends it.
                reason = connector.stop_reason if connector.stop_requested.is_set() else "Reboot"
                await self.dialect.stop(self, connector, None, reason)
                connector.id_token = None
                self.stats.sessions += 1
            await self.status(connector, "Available" if connector.available else "Unavailable")
        self.spawn(self._heartbeats())
        # 2.0.1 / 2.1: the monitored values sampled, NotifyEvent when a monitor fires.
        self.spawn(monitoring.watch(self))
        drivers = [asyncio.create_task(self._driver(c)) for c in self.connectors]
        try:
            await asyncio.gather(*drivers)
        finally:
            for d in drivers:
                d.cancel()

    async def boot(self, reason: str = "PowerUp") -> None:
        while True:
            answer = await self.call("BootNotification", self.dialect.boot_request(self, reason))
            if not self.heartbeat_interval:
                self.heartbeat_interval = float(answer["interval"]) or 300.0
            if answer["status"] == "Accepted":
                self.accepted.set()
                return
            # Pending / Rejected: try again after the interval (B02/B03).
            await asyncio.sleep(max(1.0, float(answer["interval"])))

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval or 300.0)
            await self.call("Heartbeat", {})

    async def status(self, connector: Connector, status: str) -> None:
        connector.status = status
        payload = self.dialect.status_request(connector, status, self.now())
        await self.call("StatusNotification", payload)

    async def _driver(self, connector: Connector) -> None:
        """Drivers come with a card, plug in, charge, leave: `sessions` times per
        connector, counted over reconnects. The CSMS may start a session at any
        time, also once those are done or when no driver has a card."""
        sc = self.scenario
        cards = sc.cards()
        while not self.stopping.is_set():
            scheduled = bool(cards) and (
                not sc.sessions or connector.scheduled_sessions < sc.sessions
            )
            idle = self.rng.uniform(*sc.idle_seconds) if scheduled else None
            remote = await self._next_remote_start(connector, idle)
            if self.stopping.is_set():
                return
            if not connector.available:
                continue
            if remote is not None:
                token, remote_start_id = remote
                await self._charge(connector, token, remote=True, remote_start_id=remote_start_id)
                continue
            if self.reconnect_pending:
                # Waiting to be idle to connect again: no new driver comes.
                await wait_set(self.stopping, 1.0)
                continue
            if connector.reserved_for is not None:
                # The driver who reserved this connector is the one who comes.
                card: str | None = connector.reserved_for
                if card in self.cards_in_use:
                    card = None
            else:
                free = [t for t in cards if t not in self.cards_in_use]
                card = self.rng.choice(free) if free else None
            if card is None:
                # The card charges elsewhere: no driver comes just now.
                await wait_set(self.stopping, 1.0)
                continue
            connector.scheduled_sessions += 1
            self.cards_in_use.add(card)
            try:
                await self._charge(connector, card, remote=False)
            finally:
                self.cards_in_use.discard(card)

    async def _next_remote_start(
        self, connector: Connector, timeout: float | None
    ) -> tuple[str, int | None] | None:
        """The next remote start for `connector`, or None when `timeout`
        seconds pass or the run ends first."""
        getter = asyncio.ensure_future(connector.remote_start.get())
        stopping = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait(
                [getter, stopping], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopping.cancel()
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        return None

    async def _charge(
        self,
        connector: Connector,
        token: str,
        *,
        remote: bool,
        remote_start_id: int | None = None,
    ) -> None:
        sc = self.scenario
        await self.status(connector, "Preparing")
        # 1.6 AuthorizeRemoteTxRequests / 2.0.1 AuthCtrlr.AuthorizeRemoteStart:
        # a remote start is authorised by the CSMS that sent it unless set.
        must_authorize = not remote or self.configuration["AuthorizeRemoteTxRequests"][0] == "true"
        if must_authorize and not await self.dialect.authorize(self, token):
            await self.status(connector, "Available")
            return
        car = Car.arrive(
            self.rng, sc.power_kw, max_current=sc.max_current, one_phase_share=sc.one_phase_share
        )
        connector.stop_requested.clear()
        if self.stopping.is_set():  # the run ended meanwhile: start, then stop at once
            connector.stop_reason = "Local"
            connector.stop_requested.set()
        connector.id_token = token
        # Whole seconds, as the transaction's timestamp says (Relative profiles).
        connector.started_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        connector.car = car
        connector.metered_at = time.monotonic()
        # Plugged in: from now on the car draws within the limit in force
        # (TxDefaultProfile until a TxProfile names its transaction).
        drawing.apply_limit(self, connector, car)
        try:
            if not await self.dialect.start(self, connector, token, remote_start_id):
                await self.status(connector, "Available")
                return
            valid_s = drawing.apply_limit(self, connector, car)
            await self.status(connector, "SuspendedEVSE" if car.suspended else "Charging")
            await drawing.charge(self, connector, car, valid_s)
        finally:
            connector.car = None
        self.stats.sessions += 1
        await self.status(connector, "Finishing")
        await self.status(connector, "Available")
        connector.id_token = None

    def readings(self, connector: Connector, car: Car) -> list[Reading]:
        """What the meter reads now, as (measurand, value, unit, phase, location):
        the current on each phase the car uses (1.6 §7.31 / 2.0.1 phase L1-L3),
        and the current the EVSE offers (the limit in force)."""
        voltage, current, power = electrical(car, self.rng)
        out: list[Reading] = [
            ("Energy.Active.Import.Register", round(connector.register_wh, 1), "Wh", None, None),
            ("Power.Active.Import", round(power, 1), "W", None, None),
        ]
        # Rounded down: a reading never shows more than the car draws.
        amps = math.floor(current * 100) / 100
        out += [("Current.Import", amps, "A", p, None) for p in PHASES[: car.phases]]
        if car.offered_a is not None:
            offered = math.floor(car.offered_a * 10) / 10
            out.append(("Current.Offered", offered, "A", None, None))
        out += [
            ("Voltage", round(voltage, 1), "V", "L1-N", None),
            ("SoC", round(car.soc, 1), "Percent", None, "EV"),
        ]
        return out

    # -- connectors -----------------------------------------------------------------

    def connector(self, connector_id: int | None) -> Connector | None:
        for c in self.connectors:
            if c.id == connector_id:
                return c
        return None

    def by_transaction(self, tx: str) -> Connector | None:
        for c in self.connectors:
            if c.transaction_id == tx:
                return c
        return None

    def free_connector(self, wanted: int | None, token: str | None = None) -> Connector | None:
        """A connector a session may start on: available, or reserved for `token`
        (`wanted` None or 0: any)."""
        candidates = [self.connector(wanted)] if wanted else self.connectors
        for c in candidates:
            if (
                c is not None
                and c.available
                and c.transaction_id is None
                and (
                    c.status == "Available"
                    or (c.status == "Reserved" and token is not None and c.reserved_for == token)
                )
            ):
                return c
        return None

    def new_password(self, password: str) -> None:
        """The CSMS set a new Basic password (A01, 1.6 security whitepaper):
        the next connection uses it."""
        self.password = password

    def reconnect_when_idle(self) -> None:
        """Connect again (with the new password) once no session runs: the
        simulator ends its sessions when its connection drops. Called once
        the answer is sent."""
        self.reconnect_pending = True
        self.spawn(self._reconnect_when_idle())

    async def _reconnect_when_idle(self) -> None:
        # Polled: sessions end on their own time, and this runs once.
        while any(c.transaction_id is not None for c in self.connectors):  # noqa: ASYNC110
            await asyncio.sleep(1.0)
        self.reconnect("Unknown")

    def reconnect(self, boot_reason: str) -> None:
        """Drop the connection; come back and boot with `boot_reason`."""
        self._boot_reason = boot_reason
        self._reconnect.set()
