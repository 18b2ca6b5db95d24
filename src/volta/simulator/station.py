"""One simulated charging station: connects, boots, reports status, lets
drivers charge, answers the CSMS's commands, and reconnects with back-off.

Everything on the wire goes through `volta.ocpp.session.OcppSession` in the
station role, so the simulator validates what it sends and what it receives
against the same official schemas as the CSMS.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from volta import __version__
from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.frames import Call
from volta.ocpp.schemas import SchemaRegistry
from volta.ocpp.schemas import registry as schema_registry
from volta.ocpp.session import (
    CallReceived,
    ErrorReceived,
    OcppSession,
    Reply,
    ResultReceived,
    Role,
)
from volta.ocpp.times import format_timestamp, parse_timestamp
from volta.ocpp.versions import Version
from volta.simulator.ev import Car, electrical
from volta.simulator.scenario import Scenario
from volta.store.models import utcnow

log = logging.getLogger(__name__)


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


@dataclass
class Stats:
    calls: int = 0
    errors: int = 0
    sessions: int = 0
    energy_wh: float = 0.0
    connects: int = 0
    commands: int = 0


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
        self.scenario = scenario
        self.rng = rng or random.Random()
        self.schemas = schemas or schema_registry()
        self.connectors = [
            Connector(i, register_wh=self.rng.uniform(0, 5e6))
            for i in range(1, scenario.connectors + 1)
        ]
        self.stats = Stats()
        self.accepted = asyncio.Event()
        self.heartbeat_interval = scenario.heartbeat_interval
        self.configuration: dict[str, tuple[str, bool]] = {
            # key: (value, readonly) - the 1.6 Core configuration keys we keep.
            "HeartbeatInterval": ("300", False),
            "MeterValueSampleInterval": (str(int(scenario.meter_interval)), False),
            "NumberOfConnectors": (str(scenario.connectors), True),
            "AuthorizeRemoteTxRequests": ("false", False),
            "MeterValuesSampledData": (
                "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC",
                False,
            ),
            "ConnectionTimeOut": ("60", False),
        }
        self.local_list_version = 0
        self._session: OcppSession | None = None
        self._ws: ClientConnection | None = None
        self._call_lock = asyncio.Lock()
        self._answer: asyncio.Future[ResultReceived | ErrorReceived] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconnect = asyncio.Event()
        self._boot_reason = "PowerUp"

    # -- connection --------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until `stop` is set, reconnecting with back-off."""
        delay = self.scenario.reconnect_min
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
        if self.scenario.password:
            secret = base64.b64encode(f"{self.id}:{self.scenario.password}".encode()).decode()
            headers["Authorization"] = "Basic " + secret
        async with websockets.connect(
            url,
            subprotocols=[Subprotocol(self.version.value)],
            additional_headers=headers,
            open_timeout=10,
            ping_interval=None,  # the CSMS pings us
        ) as ws:
            self._ws = ws
            self._session = OcppSession(self.version, self.schemas, role=Role.STATION)
            self.stats.connects += 1
            self._reconnect.clear()
            reader = asyncio.create_task(self._read(ws))
            life = asyncio.create_task(self._life())
            waits = [
                reader,
                life,
                asyncio.create_task(stop.wait()),
                asyncio.create_task(self._reconnect.wait()),
            ]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (*waits, *self._tasks):
                    task.cancel()
                for task in (*waits, *self._tasks):
                    with contextlib.suppress(BaseException):
                        await task
                self._tasks.clear()
                self.accepted.clear()
                self._ws = None
            if life.done() and not life.cancelled() and life.exception() is not None:
                raise life.exception()  # type: ignore[misc]

    async def _read(self, ws: ClientConnection) -> None:
        assert self._session is not None
        async for message in ws:
            event = self._session.receive(message)
            if isinstance(event, CallReceived):
                self._spawn(self._answer_call(event.call))
            elif isinstance(event, ResultReceived | ErrorReceived):
                if self._answer is not None and not self._answer.done():
                    self._answer.set_result(event)
            elif isinstance(event, Reply):
                await ws.send(event.text)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def call(
        self, action: str, payload: dict[str, Any], timeout: float = 30
    ) -> dict[str, Any]:
        """Send a CALL and wait for its CALLRESULT (one outstanding at a time)."""
        async with self._call_lock:
            session, ws = self._session, self._ws
            if session is None or ws is None:
                raise CallFailed("not connected")
            loop = asyncio.get_running_loop()
            _, text = session.call(action, payload, loop.time())
            self._answer = loop.create_future()
            self.stats.calls += 1
            await ws.send(text)
            try:
                async with asyncio.timeout(timeout):
                    event = await self._answer
            except TimeoutError:
                session.abandon()
                self.stats.errors += 1
                raise CallFailed(f"{action}: no answer within {timeout} s") from None
            finally:
                self._answer = None
        if isinstance(event, ErrorReceived):
            self.stats.errors += 1
            raise CallFailed(f"{action}: {event.error.error_code} {event.error.description}")
        return event.payload

    # -- the station's life --------------------------------------------------------

    async def _life(self) -> None:
        await self._boot(self._boot_reason)
        self._boot_reason = "PowerUp"
        for connector in self.connectors:
            if connector.transaction_id is not None:
                # A session the lost connection (or a reset) cut short: the
                # simulator does not charge offline, so this boot ends it.
                reason = connector.stop_reason if connector.stop_requested.is_set() else "Reboot"
                await self._stop(connector, None, reason)
                connector.id_token = None
                self.stats.sessions += 1
            await self._status(connector, "Available" if connector.available else "Unavailable")
        self._spawn(self._heartbeats())
        drivers = [asyncio.create_task(self._driver(c)) for c in self.connectors]
        try:
            await asyncio.gather(*drivers)
        finally:
            for d in drivers:
                d.cancel()

    async def _boot(self, reason: str = "PowerUp") -> None:
        while True:
            if self.version is Version.V16:
                payload: dict[str, Any] = {
                    "chargePointVendor": "Volta",
                    "chargePointModel": "Simulator",
                    "chargePointSerialNumber": self.id[:25],
                    "firmwareVersion": __version__,
                }
            else:
                payload = {
                    "chargingStation": {
                        "vendorName": "Volta",
                        "model": "Simulator",
                        "serialNumber": self.id[:25],
                        "firmwareVersion": __version__,
                    },
                    "reason": reason,
                }
            answer = await self.call("BootNotification", payload)
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

    def _now(self) -> str:
        return format_timestamp(utcnow())

    async def _status(self, connector: Connector, status: str) -> None:
        connector.status = status
        if self.version is Version.V16:
            payload = {
                "connectorId": connector.id,
                "errorCode": "NoError",
                "status": status,
                "timestamp": self._now(),
            }
        else:
            # 2.0.1 ConnectorStatusEnumType has no Preparing/Charging/Finishing.
            mapped = {"Preparing": "Occupied", "Charging": "Occupied", "Finishing": "Occupied"}
            payload = {
                "timestamp": self._now(),
                "connectorStatus": mapped.get(status, status),
                "evseId": connector.id,
                "connectorId": 1,
            }
        await self.call("StatusNotification", payload)

    async def _driver(self, connector: Connector) -> None:
        """Drivers come with a card, plug in, charge, leave: `sessions` times per
        connector, counted over reconnects. The CSMS may start a session at any
        time, also once those are done or when no driver has a card."""
        sc = self.scenario
        while True:
            scheduled = bool(sc.id_tokens) and (
                not sc.sessions or connector.scheduled_sessions < sc.sessions
            )
            remote: tuple[str, int | None] | None = None
            if scheduled:
                idle = self.rng.uniform(*sc.idle_seconds)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(idle):
                        remote = await connector.remote_start.get()
            else:
                remote = await connector.remote_start.get()
            if not connector.available:
                continue
            if remote is None and connector.reserved_for is not None:
                # The driver who reserved this connector is the one who comes.
                if connector.reserved_for in self.cards_in_use:
                    await asyncio.sleep(1.0)
                    continue
                connector.scheduled_sessions += 1
                card = connector.reserved_for
                self.cards_in_use.add(card)
                try:
                    await self._charge(connector, card, remote=False)
                finally:
                    self.cards_in_use.discard(card)
                continue
            if remote is None:
                free = [t for t in sc.id_tokens if t not in self.cards_in_use]
                if not free:
                    # Every card charges elsewhere: no driver comes just now.
                    await asyncio.sleep(1.0)
                    continue
                connector.scheduled_sessions += 1
                card = self.rng.choice(free)
                self.cards_in_use.add(card)
                try:
                    await self._charge(connector, card, remote=False)
                finally:
                    self.cards_in_use.discard(card)
            else:
                token, remote_start_id = remote
                await self._charge(connector, token, remote=True, remote_start_id=remote_start_id)

    async def _charge(
        self,
        connector: Connector,
        token: str,
        *,
        remote: bool,
        remote_start_id: int | None = None,
    ) -> None:
        sc = self.scenario
        await self._status(connector, "Preparing")
        # 1.6 AuthorizeRemoteTxRequests / 2.0.1 AuthCtrlr.AuthorizeRemoteStart:
        # a remote start is authorised by the CSMS that sent it unless set.
        must_authorize = not remote or self.configuration["AuthorizeRemoteTxRequests"][0] == "true"
        if must_authorize and not await self._authorize(token):
            await self._status(connector, "Available")
            return
        car = Car.arrive(self.rng, sc.power_kw)
        connector.stop_requested.clear()
        connector.id_token = token
        if not await self._start(connector, token, remote_start_id):
            await self._status(connector, "Available")
            return
        await self._status(connector, "Charging")
        duration = self.rng.uniform(*sc.session_seconds)
        started = time.monotonic()
        last = started
        reason = "Local"
        while True:
            remaining = duration - (time.monotonic() - started)
            if remaining <= 0:
                reason = "Local"
                break
            await wait_set(connector.stop_requested, min(sc.meter_interval, remaining))
            now = time.monotonic()
            energy = car.charge(now - last)
            last = now
            connector.register_wh += energy
            self.stats.energy_wh += energy
            if connector.stop_requested.is_set():
                reason = connector.stop_reason
                break
            await self._meter(connector, car, "Sample.Periodic")
        await self._stop(connector, car, reason)
        self.stats.sessions += 1
        await self._status(connector, "Finishing")
        await self._status(connector, "Available")
        connector.id_token = None

    async def _authorize(self, token: str) -> bool:
        if self.version is Version.V16:
            answer = await self.call("Authorize", {"idTag": token})
            return bool(answer["idTagInfo"]["status"] == "Accepted")
        answer = await self.call("Authorize", {"idToken": {"idToken": token, "type": "ISO14443"}})
        return bool(answer["idTokenInfo"]["status"] == "Accepted")

    def _sampled(self, connector: Connector, car: Car, context: str) -> list[dict[str, Any]]:
        power = car.power_w()
        voltage, current = electrical(power, self.rng)
        values: list[tuple[str, float, str, str | None, str | None]] = [
            ("Energy.Active.Import.Register", round(connector.register_wh, 1), "Wh", None, None),
            ("Power.Active.Import", round(power, 1), "W", None, None),
            ("Current.Import", round(current, 2), "A", "L1", None),
            ("Voltage", round(voltage, 1), "V", "L1-N", None),
            ("SoC", round(car.soc, 1), "Percent", None, "EV"),
        ]
        out = []
        for measurand, value, unit, phase, location in values:
            item: dict[str, Any] = {"measurand": measurand, "context": context}
            if self.version is Version.V16:
                item.update(value=str(value), unit=unit)
            else:
                item.update(value=value, unitOfMeasure={"unit": unit})
            if phase:
                item["phase"] = phase
            if location:
                item["location"] = location
            out.append(item)
        return out

    def _meter_value(self, connector: Connector, car: Car, context: str) -> list[dict[str, Any]]:
        return [{"timestamp": self._now(), "sampledValue": self._sampled(connector, car, context)}]

    async def _start(self, connector: Connector, token: str, remote_start_id: int | None) -> bool:
        car_mv = self._meter_value(connector, Car(1, 0, 0, 0), "Transaction.Begin")
        if self.version is Version.V16:
            answer = await self.call(
                "StartTransaction",
                {
                    "connectorId": connector.id,
                    "idTag": token,
                    "meterStart": int(connector.register_wh),
                    "timestamp": self._now(),
                    **(
                        {"reservationId": connector.reservation_id}
                        if connector.reservation_id
                        else {}
                    ),
                },
            )
            connector.reservation_id = None
            connector.reserved_for = None
            if answer["idTagInfo"]["status"] != "Accepted":
                # StopTransactionOnInvalidId: end it at once.
                connector.transaction_id = str(answer["transactionId"])
                await self._stop(connector, None, "DeAuthorized")
                return False
            connector.transaction_id = str(answer["transactionId"])
            return True
        connector.transaction_id = str(uuid.uuid4())
        connector.seq_no = 0
        info: dict[str, Any] = {
            "transactionId": connector.transaction_id,
            "chargingState": "Charging",
        }
        if remote_start_id is not None:
            info["remoteStartId"] = remote_start_id
        extra: dict[str, Any] = {}
        if connector.reservation_id:
            extra["reservationId"] = connector.reservation_id
            connector.reservation_id = None
            connector.reserved_for = None
        answer = await self._transaction_event(
            connector,
            "Started",
            "RemoteStart" if remote_start_id is not None else "Authorized",
            info,
            car_mv,
            idToken={"idToken": token, "type": "ISO14443"},
            **extra,
        )
        token_info = answer.get("idTokenInfo")
        if token_info and token_info["status"] != "Accepted":
            await self._stop(connector, None, "DeAuthorized")
            return False
        return True

    async def _transaction_event(
        self,
        connector: Connector,
        event_type: str,
        trigger: str,
        info: dict[str, Any],
        meter_value: list[dict[str, Any]] | None,
        **extra: Any,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "eventType": event_type,
            "timestamp": self._now(),
            "triggerReason": trigger,
            "seqNo": connector.seq_no,
            "transactionInfo": info,
            "evse": {"id": connector.id, "connectorId": 1},
            **{k: v for k, v in extra.items() if v is not None},
        }
        if meter_value:
            payload["meterValue"] = meter_value
        connector.seq_no += 1
        return await self.call("TransactionEvent", payload)

    async def _meter(self, connector: Connector, car: Car, context: str) -> None:
        mv = self._meter_value(connector, car, context)
        if connector.transaction_id is None:
            return
        if self.version is Version.V16:
            await self.call(
                "MeterValues",
                {
                    "connectorId": connector.id,
                    "transactionId": int(connector.transaction_id),
                    "meterValue": mv,
                },
            )
        else:
            await self._transaction_event(
                connector,
                "Updated",
                "MeterValuePeriodic",
                {"transactionId": connector.transaction_id, "chargingState": "Charging"},
                mv,
            )

    # 2.0.1 triggerReason of the Ended event, by stoppedReason.
    _STOP_TRIGGERS = {
        "Remote": "RemoteStop",
        "ImmediateReset": "ResetCommand",
        "Reboot": "AbnormalCondition",
        "DeAuthorized": "Deauthorized",
    }

    async def _stop(self, connector: Connector, car: Car | None, reason: str) -> None:
        tx = connector.transaction_id
        if tx is None:
            return
        end_car = car or Car(1, 0, 0, 0)
        if self.version is Version.V16:
            await self.call(
                "StopTransaction",
                {
                    "transactionId": int(tx),
                    "meterStop": int(connector.register_wh),
                    "timestamp": self._now(),
                    "reason": reason,
                    "idTag": connector.id_token or "",
                },
            )
        else:
            await self._transaction_event(
                connector,
                "Ended",
                self._STOP_TRIGGERS.get(reason, "StopAuthorized"),
                {"transactionId": tx, "chargingState": "Idle", "stoppedReason": reason},
                self._meter_value(connector, end_car, "Transaction.End"),
            )
        connector.transaction_id = None

    # -- answering the CSMS ----------------------------------------------------------

    async def _answer_call(self, call: Call) -> None:
        assert self._session is not None and self._ws is not None
        self.stats.commands += 1
        session, ws = self._session, self._ws
        after: Any = None
        try:
            payload, after = self._respond(call.action, call.payload)
            text = session.result(call, payload)
        except OcppError as exc:
            text = session.error(call.message_id, exc.code, exc.description)
        with contextlib.suppress(ConnectionClosed):
            await ws.send(text)
        if after is not None:
            await after

    def _connector(self, connector_id: int | None) -> Connector | None:
        for c in self.connectors:
            if c.id == connector_id:
                return c
        return None

    def _free_connector(self, wanted: int | None, token: str | None = None) -> Connector | None:
        """A connector a session may start on: available, or reserved for `token`."""
        candidates = [self._connector(wanted)] if wanted else self.connectors
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

    async def _hold(self, connector: Connector, reservation_id: int, until: str) -> None:
        """Reserved until `until`, then free again (2.0.1: told to the CSMS)."""
        await self._status(connector, "Reserved")
        expiry = parse_timestamp(until)
        seconds = (expiry - utcnow()).total_seconds() if expiry else 0.0
        await asyncio.sleep(max(seconds, 0.0))
        if connector.reservation_id != reservation_id or connector.transaction_id is not None:
            return  # used or cancelled meanwhile
        connector.reservation_id = None
        connector.reserved_for = None
        if self.version is Version.V201:
            await self.call(
                "ReservationStatusUpdate",
                {"reservationId": reservation_id, "reservationUpdateStatus": "Expired"},
            )
        await self._status(connector, "Available")

    async def _release(self, connector: Connector) -> None:
        await self._status(connector, "Available")

    def _by_transaction(self, tx: str) -> Connector | None:
        for c in self.connectors:
            if c.transaction_id == tx:
                return c
        return None

    def _respond(self, action: str, p: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """The answer to a CSMS CALL, and optionally work to do after sending it."""
        v16 = self.version is Version.V16
        if action in ("RemoteStartTransaction", "RequestStartTransaction"):
            token = p["idTag"] if v16 else p["idToken"]["idToken"]
            c = self._free_connector(p.get("connectorId") if v16 else p.get("evseId"), token)
            if c is None:
                return {"status": "Rejected"}, None
            c.remote_start.put_nowait((token, None if v16 else p["remoteStartId"]))
            return {"status": "Accepted"}, None
        if action in ("RemoteStopTransaction", "RequestStopTransaction"):
            c = self._by_transaction(str(p["transactionId"]))
            if c is None:
                return {"status": "Rejected"}, None
            c.stop_reason = "Remote"
            c.stop_requested.set()
            return {"status": "Accepted"}, None
        if action == "Reset":
            return self._reset(p)
        if action == "UnlockConnector":
            c = self._connector(p["connectorId"] if v16 else p["evseId"])
            if c is None:
                return {"status": "NotSupported" if v16 else "UnknownConnector"}, None
            return {"status": "Unlocked"}, None
        if action == "ChangeAvailability":
            return self._change_availability(p)
        if action == "GetConfiguration":
            keys = p.get("key") or list(self.configuration)
            known = [
                {"key": k, "readonly": self.configuration[k][1], "value": self.configuration[k][0]}
                for k in keys
                if k in self.configuration
            ]
            unknown = [k for k in keys if k not in self.configuration]
            answer: dict[str, Any] = {"configurationKey": known}
            if unknown:
                answer["unknownKey"] = unknown
            return answer, None
        if action == "ChangeConfiguration":
            key, value = p["key"], p["value"]
            if key not in self.configuration:
                return {"status": "NotSupported"}, None
            if self.configuration[key][1]:
                return {"status": "Rejected"}, None
            self.configuration[key] = (value, False)
            if key == "HeartbeatInterval" and value.isdigit():
                self.heartbeat_interval = float(value)
            return {"status": "Accepted"}, None
        if action == "GetVariables":
            return {
                "getVariableResult": [self._get_variable(i) for i in p["getVariableData"]]
            }, None
        if action == "SetVariables":
            return {
                "setVariableResult": [self._set_variable(i) for i in p["setVariableData"]]
            }, None
        if action == "GetBaseReport":
            return {"status": "Accepted"}, self._report(p["requestId"])
        if action in ("TriggerMessage", "ExtendedTriggerMessage"):
            return self._trigger(p)
        if action == "ClearCache":
            return {"status": "Accepted"}, None
        if action == "DataTransfer":
            if p.get("vendorId") == "org.volta.simulator":
                # Echo the data, if any: 1.6 `data` is a string, never null.
                echo = {"data": p["data"]} if p.get("data") is not None else {}
                return {"status": "Accepted", **echo}, None
            return {"status": "UnknownVendorId"}, None
        if action == "ReserveNow":
            c = self._free_connector(p.get("connectorId") if v16 else p.get("evseId"))
            if c is None:
                return {"status": "Occupied"}, None
            rid = p["reservationId"] if v16 else p["id"]
            c.reservation_id = rid
            c.reserved_for = p["idTag"] if v16 else p["idToken"]["idToken"]
            c.status = "Reserved"  # at once: the next ReserveNow must not pick it
            until = p["expiryDate"] if v16 else p["expiryDateTime"]
            return {"status": "Accepted"}, self._hold(c, rid, until)
        if action == "CancelReservation":
            for c in self.connectors:
                if c.reservation_id == p["reservationId"]:
                    c.reservation_id = None
                    c.reserved_for = None
                    return {"status": "Accepted"}, self._release(c)
            return {"status": "Rejected"}, None
        if action == "SendLocalList":
            self.local_list_version = p["listVersion"] if v16 else p["versionNumber"]
            return {"status": "Accepted"}, None
        if action == "GetLocalListVersion":
            key = "listVersion" if v16 else "versionNumber"
            return {key: self.local_list_version}, None
        if action in ("SetChargingProfile", "ClearChargingProfile"):
            return {"status": "Accepted"}, None
        if action == "GetCompositeSchedule":
            return {"status": "Rejected"}, None
        if action == "GetTransactionStatus":
            tx = p.get("transactionId")
            ongoing = tx is not None and self._by_transaction(tx) is not None
            answer = {"messagesInQueue": False}
            if tx is not None:
                answer["ongoingIndicator"] = ongoing
            return answer, None
        if action in ("GetDiagnostics", "UpdateFirmware"):
            return {}, None
        raise OcppError(ErrorCode.NOT_SUPPORTED, f"the simulator does not support {action}")

    def _change_availability(self, p: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        if self.version is Version.V16:
            target, wanted = p["connectorId"], p["type"] == "Operative"
        else:
            target, wanted = (
                (p.get("evse") or {}).get("id", 0),
                p["operationalStatus"] == "Operative",
            )
        affected = self.connectors if target == 0 else [c for c in [self._connector(target)] if c]
        if not affected:
            return {"status": "Rejected"}, None
        scheduled = any(c.transaction_id for c in affected)
        for c in affected:
            c.available = wanted

        async def report() -> None:
            for c in affected:
                if c.transaction_id is None:
                    await self._status(c, "Available" if wanted else "Unavailable")

        return {"status": "Scheduled" if scheduled else "Accepted"}, report()

    _VARIABLES = {
        ("OCPPCommCtrlr", "HeartbeatInterval"): "HeartbeatInterval",
        ("SampledDataCtrlr", "TxUpdatedInterval"): "MeterValueSampleInterval",
        ("AuthCtrlr", "AuthorizeRemoteStart"): "AuthorizeRemoteTxRequests",
    }

    def _unknown(self, key: tuple[str, str]) -> str | None:
        """The attributeStatus for a variable we do not have, None if we do."""
        if key in self._VARIABLES:
            return None
        known_component = any(k[0] == key[0] for k in self._VARIABLES)
        return "UnknownVariable" if known_component else "UnknownComponent"

    def _get_variable(self, item: dict[str, Any]) -> dict[str, Any]:
        key = (item["component"]["name"], item["variable"]["name"])
        result: dict[str, Any] = {"component": item["component"], "variable": item["variable"]}
        unknown = self._unknown(key)
        if unknown:
            result["attributeStatus"] = unknown
            return result
        result["attributeStatus"] = "Accepted"
        result["attributeValue"] = self.configuration[self._VARIABLES[key]][0]
        return result

    def _set_variable(self, item: dict[str, Any]) -> dict[str, Any]:
        key = (item["component"]["name"], item["variable"]["name"])
        result: dict[str, Any] = {"component": item["component"], "variable": item["variable"]}
        unknown = self._unknown(key)
        if unknown:
            result["attributeStatus"] = unknown
            return result
        name = self._VARIABLES[key]
        self.configuration[name] = (item["attributeValue"], False)
        if name == "HeartbeatInterval" and item["attributeValue"].isdigit():
            self.heartbeat_interval = float(item["attributeValue"])
        result["attributeStatus"] = "Accepted"
        return result

    async def _report(self, request_id: int) -> None:
        data = [
            {
                "component": {"name": component},
                "variable": {"name": variable},
                "variableAttribute": [
                    {
                        "type": "Actual",
                        "value": self.configuration[name][0],
                        "mutability": "ReadWrite",
                    }
                ],
                "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False},
            }
            for (component, variable), name in self._VARIABLES.items()
        ]
        for c in self.connectors:
            data.append(
                {
                    "component": {"name": "EVSE", "evse": {"id": c.id}},
                    "variable": {"name": "AvailabilityState"},
                    "variableAttribute": [
                        {"type": "Actual", "value": c.status, "mutability": "ReadOnly"}
                    ],
                    "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False},
                }
            )
        await self.call(
            "NotifyReport",
            {"requestId": request_id, "generatedAt": self._now(), "seqNo": 0, "reportData": data},
        )

    def _trigger(self, p: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        message = p["requestedMessage"]
        connector_id = (
            p.get("connectorId") if self.version is Version.V16 else (p.get("evse") or {}).get("id")
        )
        if message == "BootNotification":
            return {"status": "Accepted"}, self._boot("Triggered")
        if message == "Heartbeat":
            return {"status": "Accepted"}, self.call("Heartbeat", {})
        if message == "StatusNotification":
            targets = [c for c in self.connectors if connector_id in (None, c.id)]

            async def statuses() -> None:
                for c in targets:
                    await self._status(c, c.status)

            return {"status": "Accepted"}, statuses()
        if message == "MeterValues":
            targets = [c for c in self.connectors if connector_id in (None, c.id)]

            async def meters() -> None:
                for c in targets:
                    if self.version is Version.V16:
                        await self.call(
                            "MeterValues",
                            {
                                "connectorId": c.id,
                                "meterValue": [
                                    {
                                        "timestamp": self._now(),
                                        "sampledValue": [
                                            {
                                                "value": str(round(c.register_wh, 1)),
                                                "context": "Trigger",
                                                "unit": "Wh",
                                            }
                                        ],
                                    }
                                ],
                            },
                        )
                    else:
                        await self.call(
                            "MeterValues",
                            {
                                "evseId": c.id,
                                "meterValue": [
                                    {
                                        "timestamp": self._now(),
                                        "sampledValue": [
                                            {"value": round(c.register_wh, 1), "context": "Trigger"}
                                        ],
                                    }
                                ],
                            },
                        )

            return {"status": "Accepted"}, meters()
        return {"status": "NotImplemented"}, None

    def _reset(self, p: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """1.6 Reset Hard/Soft and 2.0.1 Immediate end the sessions at once; 2.0.1
        OnIdle answers Scheduled and waits for them to end (B12)."""
        if self.version is Version.V16:
            reason: str | None = "HardReset" if p["type"] == "Hard" else "SoftReset"
        else:
            reason = "ImmediateReset" if p["type"] == "Immediate" else None
        busy = any(c.transaction_id is not None for c in self.connectors)
        status = "Scheduled" if busy and reason is None else "Accepted"
        return {"status": status}, self._reboot(reason)

    async def _reboot(self, reason: str | None) -> None:
        """Reset: end the sessions with `reason` (None: let them finish), drop
        the connection, come back and boot with reason RemoteReset."""
        for c in self.connectors:
            if c.transaction_id is not None and reason is not None:
                c.stop_reason = reason
                c.stop_requested.set()
        # The stops are reported before going down; bounded for a CSMS that
        # does not answer (the next boot reports them then).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while any(c.transaction_id is not None for c in self.connectors):
            if reason is not None and loop.time() > deadline:
                break
            await asyncio.sleep(0.05)
        self._boot_reason = "RemoteReset"
        self._reconnect.set()
