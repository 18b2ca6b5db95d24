"""The simulator against a real Volta, for 1.6 and 2.0.1, in a short run: a
mixed fleet charges, a blocked card is refused, the CSMS's commands are
answered as a charger would answer them, and a dropped connection comes back
with back-off.

Every station here is a `SimulatedStation` on loopback, every check goes
through the HTTP API (or the database, for the device model), and every wait
is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from websockets.exceptions import InvalidStatus

from tests.helpers import add_token, connect, register, wait_until
from volta.app import Volta
from volta.ocpp.versions import Version
from volta.simulator.fleet import build_fleet, run_fleet
from volta.simulator.scenario import Scenario
from volta.simulator.station import SimulatedStation
from volta.store.models import DeviceVariable

PASSWORD = "sim-secret-42"
CARD = "SIM-CARD-1"
REMOTE_CARD = "SIM-REMOTE-1"
MEASURANDS = {
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "SoC",
}
VERSIONS = ["1.6", "2.0.1"]


def scenario(volta: Volta, **overrides: Any) -> Scenario:
    """One station, one connector, one short session; a quick comeback."""
    values: dict[str, Any] = {
        "url": f"ws://127.0.0.1:{volta.ocpp_port}",
        "stations": 1,
        "connectors": 1,
        "password": PASSWORD,
        "id_tokens": [CARD],
        "meter_interval": 0.25,
        "session_seconds": (1.0, 1.5),
        "idle_seconds": (0.05, 0.2),
        "sessions": 1,
        "seed": 7,
        "reconnect_min": 0.1,
        "reconnect_max": 1.0,
    }
    values.update(overrides)
    return Scenario(**values)


def quiet(volta: Volta, version: str, **overrides: Any) -> Scenario:
    """A station no driver comes to with a card: it charges only when the
    CSMS starts a session, so the commands sent to it meet an idle charger."""
    return scenario(volta, protocol=version, id_tokens=[], **overrides)


@contextlib.asynccontextmanager
async def running(volta: Volta, sc: Scenario) -> AsyncIterator[list[SimulatedStation]]:
    """Register the scenario's stations with its password, run the fleet
    until every station is accepted, and stop it (bounded) afterwards."""
    for station_id in sc.station_ids():
        await register(volta, station_id, password=sc.password or None)
    stations = build_fleet(sc)
    stop = asyncio.Event()
    fleet = asyncio.create_task(run_fleet(stations, stop))
    try:
        assert await wait_until(lambda: all(s.accepted.is_set() for s in stations), 15)
        yield stations
    finally:
        stop.set()
        await asyncio.wait_for(fleet, 10)


async def command(
    api: httpx.AsyncClient, station_id: str, action: str, payload: dict[str, Any]
) -> dict[str, Any]:
    resp = await api.post(f"/api/v1/stations/{station_id}/commands/{action}", json=payload)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def station_of(api: httpx.AsyncClient, station_id: str) -> dict[str, Any]:
    resp = await api.get(f"/api/v1/stations/{station_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def statuses(api: httpx.AsyncClient, station_id: str) -> list[str]:
    return [c["status"] for c in (await station_of(api, station_id))["connectors"]]


async def transactions(api: httpx.AsyncClient, station_id: str, **params: Any) -> list[Any]:
    resp = await api.get("/api/v1/transactions", params={"station_id": station_id, **params})
    assert resp.status_code == 200, resp.text
    return list(resp.json())


async def frames(
    api: httpx.AsyncClient, station_id: str, action: str, direction: str = "in"
) -> list[dict[str, Any]]:
    """The frame log of one action, oldest first."""
    resp = await api.get(
        f"/api/v1/stations/{station_id}/messages",
        params={"action": action, "direction": direction, "limit": 500},
    )
    assert resp.status_code == 200, resp.text
    return list(reversed(resp.json()["items"]))


async def all_available(api: httpx.AsyncClient, station_id: str, count: int = 1) -> bool:
    return await statuses(api, station_id) == ["Available"] * count


def remote_start_command(version: str, token: str) -> tuple[str, dict[str, Any]]:
    if version == "1.6":
        return "RemoteStartTransaction", {"idTag": token, "connectorId": 1}
    return "RequestStartTransaction", {
        "idToken": {"idToken": token, "type": "ISO14443"},
        "remoteStartId": 42,
        "evseId": 1,
    }


def remote_stop_command(version: str, tx: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What the API shows is what to send: the 1.6 transaction id is Volta's
    integer id, the 2.0.1 one the station's own."""
    if version == "1.6":
        return "RemoteStopTransaction", {"transactionId": tx["id"]}
    return "RequestStopTransaction", {"transactionId": tx["station_transaction_id"]}


async def remote_start(
    api: httpx.AsyncClient, station: SimulatedStation, token: str = REMOTE_CARD
) -> dict[str, Any]:
    """Start a session from the API; the transaction once the station charges."""
    version = "1.6" if station.version is Version.V16 else "2.0.1"
    started = await command(api, station.id, *remote_start_command(version, token))
    assert (started["status"], started["response"]["status"]) == ("accepted", "Accepted")

    async def active() -> list[Any]:
        return await transactions(api, station.id, active="true")

    assert await wait_until(active, 15)
    [tx] = await active()
    assert await wait_until(lambda: station.connectors[0].status == "Charging", 15)
    return dict(tx)


async def ended(api: httpx.AsyncClient, tx: dict[str, Any]) -> dict[str, Any]:
    """The transaction once Volta shows it Ended."""

    async def get() -> dict[str, Any]:
        return dict((await api.get(f"/api/v1/transactions/{tx['id']}")).json())

    async def is_ended() -> bool:
        return bool((await get())["status"] == "Ended")

    assert await wait_until(is_ended, 15)
    return await get()


# -- a mixed fleet charges -------------------------------------------------------------


async def test_mixed_fleet_boots_reports_and_charges(volta, api):
    sc = scenario(volta, stations=2, protocol="mixed", connectors=2, id_prefix="MIX-")
    await add_token(volta, CARD)
    async with running(volta, sc) as stations:
        assert [s.version for s in stations] == [Version.V16, Version.V201]
        assert await wait_until(lambda: all(s.stats.sessions == 2 for s in stations), 20)
        for s in stations:
            assert await wait_until(lambda s=s: all_available(api, s.id, 2), 15)

        for s in stations:
            body = await station_of(api, s.id)
            assert body["online"] is True
            assert body["protocol"] == s.version.value
            assert body["has_password"] is True
            assert (body["vendor"], body["model"], body["serial_number"]) == (
                "Volta",
                "Simulator",
                s.id,
            )
            assert body["last_boot_at"] is not None
            assert [(c["evse_id"], c["status"]) for c in body["connectors"]] == [
                (1, "Available"),
                (2, "Available"),
            ]
            assert s.stats.errors == 0

            txs = await transactions(api, s.id)
            assert len(txs) == 2
            assert sorted(t["evse_id"] for t in txs) == [1, 2]
            total = 0.0
            for listed in txs:
                tx = (await api.get(f"/api/v1/transactions/{listed['id']}")).json()
                assert tx["status"] == "Ended"
                assert tx["protocol"] == s.version.value
                assert tx["id_token"] == CARD
                assert tx["authorization_status"] == "Accepted"
                assert tx["stop_reason"] == "Local"
                if s.version is Version.V201:
                    assert tx["station_transaction_id"]
                assert tx["energy_wh"] > 0
                assert tx["energy_wh"] == pytest.approx(
                    tx["meter_stop_wh"] - tx["meter_start_wh"], abs=1e-3
                )
                total += tx["energy_wh"]

                values = tx["meter_values"]
                assert {v["measurand"] for v in values} >= MEASURANDS
                periodic = [v for v in values if v["context"] == "Sample.Periodic"]
                assert len({v["timestamp"] for v in periodic}) >= 2
                register_wh = [
                    v["value"] for v in values if v["measurand"] == "Energy.Active.Import.Register"
                ]
                assert register_wh == sorted(register_wh)
                # 1.6 meterStart/meterStop are whole Wh, the samples tenths.
                assert tx["meter_start_wh"] <= register_wh[0]
                assert register_wh[-1] < tx["meter_stop_wh"] + 1
                for v in periodic:
                    if v["measurand"] == "Power.Active.Import":
                        assert v["value"] > 0 and v["unit"] == "W"
                    elif v["measurand"] == "Voltage":
                        assert 220 < v["value"] < 240 and v["unit"] == "V"
                    elif v["measurand"] == "SoC":
                        assert 0 < v["value"] <= 100 and v["unit"] == "Percent"
                    elif v["measurand"] == "Current.Import":
                        assert v["value"] > 0 and v["unit"] == "A"
            # What the cars took is what the CSMS billed, within the 1.6
            # whole-Wh register readings.
            assert total == pytest.approx(s.stats.energy_wh, abs=2.0)


@pytest.mark.parametrize("version", VERSIONS)
async def test_blocked_card_is_refused_and_starts_nothing(volta, api, version):
    sc = scenario(volta, protocol=version, id_tokens=["SIM-BLOCKED"], sessions=2)
    await add_token(volta, "SIM-BLOCKED", status="Blocked")
    async with running(volta, sc) as [station]:
        # Available at boot, then twice Preparing -> Authorize refused -> Available.
        async def settled() -> bool:
            return len(await frames(api, station.id, "StatusNotification")) >= 5

        assert await wait_until(settled, 15)
        answers = await frames(api, station.id, "Authorize", "out")
        assert len(answers) == 2
        info = "idTagInfo" if version == "1.6" else "idTokenInfo"
        assert [a["frame"][2][info]["status"] for a in answers] == ["Blocked", "Blocked"]
        start = "StartTransaction" if version == "1.6" else "TransactionEvent"
        assert await frames(api, station.id, start) == []
        assert await transactions(api, station.id) == []
        assert await wait_until(lambda: all_available(api, station.id), 15)
        assert station.stats.sessions == 0
        assert station.connectors[0].transaction_id is None


# -- commands from the CSMS ------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_remote_start_and_stop(volta, api, version):
    sc = scenario(volta, protocol=version)
    await add_token(volta, CARD)
    await add_token(volta, REMOTE_CARD)
    async with running(volta, sc) as [station]:
        sid = station.id
        # The scheduled session first: remote starts still work after it
        # (1-1.5 s of charging; generous for a loaded CI machine).
        assert await wait_until(lambda: station.stats.sessions == 1, 15)
        assert await wait_until(lambda: all_available(api, sid), 15)
        # The remote session lasts until the remote stop.
        station.scenario.session_seconds = (60.0, 60.0)

        tx = await remote_start(api, station)
        assert tx["id_token"] == REMOTE_CARD
        assert tx["authorization_status"] == "Accepted"

        # The connector is taken: a second remote start is refused.
        again = await command(api, sid, *remote_start_command(version, REMOTE_CARD))
        assert (again["status"], again["response"]) == ("rejected", {"status": "Rejected"})

        if version == "1.6":
            # AuthorizeRemoteTxRequests is false: no Authorize for a remote
            # start. (The log is written in order: once both starts are in it,
            # so is any Authorize before them.)
            async def both_started() -> bool:
                return len(await frames(api, sid, "StartTransaction")) == 2

            assert await wait_until(both_started, 15)
            calls = await frames(api, sid, "Authorize")
            assert [c["frame"][3]["idTag"] for c in calls] == [CARD]
        else:

            async def events() -> list[dict[str, Any]]:
                return [
                    e["frame"][3]
                    for e in await frames(api, sid, "TransactionEvent")
                    if e["frame"][3]["transactionInfo"]["transactionId"]
                    == tx["station_transaction_id"]
                ]

            assert await wait_until(events, 15)
            first = (await events())[0]
            assert first["eventType"] == "Started"
            assert first["triggerReason"] == "RemoteStart"
            assert first["transactionInfo"]["remoteStartId"] == 42
        stopped = await command(api, sid, *remote_stop_command(version, tx))
        assert (stopped["status"], stopped["response"]) == ("accepted", {"status": "Accepted"})

        done = await ended(api, tx)
        assert done["stop_reason"] == "Remote"
        assert done["energy_wh"] >= 0
        assert await wait_until(lambda: all_available(api, sid), 15)
        assert station.stats.sessions == 2

        # Nothing left to stop.
        late = await command(api, sid, *remote_stop_command(version, tx))
        assert (late["status"], late["response"]) == ("rejected", {"status": "Rejected"})


async def test_configuration_16(volta, api):
    async with running(volta, quiet(volta, "1.6")) as [station]:
        sid = station.id
        got = await command(
            api, sid, "GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]}
        )
        assert got["status"] == "accepted"
        assert got["response"] == {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            "unknownKey": ["NoSuchKey"],
        }
        everything = await command(api, sid, "GetConfiguration", {})
        keys = {k["key"] for k in everything["response"]["configurationKey"]}
        assert {"HeartbeatInterval", "MeterValuesSampledData", "NumberOfConnectors"} <= keys

        changed = await command(
            api, sid, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}
        )
        assert (changed["status"], changed["response"]) == ("accepted", {"status": "Accepted"})
        unknown = await command(api, sid, "ChangeConfiguration", {"key": "NoSuchKey", "value": "1"})
        assert (unknown["status"], unknown["response"]) == ("rejected", {"status": "NotSupported"})
        readonly = await command(
            api, sid, "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "4"}
        )
        assert (readonly["status"], readonly["response"]) == ("rejected", {"status": "Rejected"})

        got = await command(api, sid, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert got["response"]["configurationKey"][0]["value"] == "60"


async def test_variables_and_base_report_201(volta, api):
    component, variable = {"name": "OCPPCommCtrlr"}, {"name": "HeartbeatInterval"}
    async with running(volta, quiet(volta, "2.0.1")) as [station]:
        sid = station.id
        got = await command(
            api,
            sid,
            "GetVariables",
            {
                "getVariableData": [
                    {"component": component, "variable": variable},
                    {"component": component, "variable": {"name": "NoSuchVariable"}},
                    {"component": {"name": "NoSuchCtrlr"}, "variable": variable},
                ]
            },
        )
        assert got["status"] == "accepted"
        results = got["response"]["getVariableResult"]
        assert [r["attributeStatus"] for r in results] == [
            "Accepted",
            "UnknownVariable",
            "UnknownComponent",
        ]
        assert results[0]["attributeValue"] == "300"

        set_ = await command(
            api,
            sid,
            "SetVariables",
            {
                "setVariableData": [
                    {"attributeValue": "60", "component": component, "variable": variable},
                    {
                        "attributeValue": "1",
                        "component": {"name": "NoSuchCtrlr"},
                        "variable": variable,
                    },
                ]
            },
        )
        assert set_["status"] == "accepted"
        assert [r["attributeStatus"] for r in set_["response"]["setVariableResult"]] == [
            "Accepted",
            "UnknownComponent",
        ]
        got = await command(
            api,
            sid,
            "GetVariables",
            {"getVariableData": [{"component": component, "variable": variable}]},
        )
        assert got["response"]["getVariableResult"][0]["attributeValue"] == "60"

        report = await command(
            api, sid, "GetBaseReport", {"requestId": 9, "reportBase": "FullInventory"}
        )
        assert (report["status"], report["response"]) == ("accepted", {"status": "Accepted"})

        async def device_model() -> dict[str, Any]:
            async with volta.db.read() as conn:
                rows = (
                    (
                        await conn.execute(
                            sa.select(DeviceVariable).where(DeviceVariable.station_id == sid)
                        )
                    )
                    .mappings()
                    .all()
                )
            return {r["key"]: r for r in rows}

        async def complete() -> bool:
            # The report comes in parts (ItemsPerMessage); the EVSEs are last.
            return "EVSE@1/AvailabilityState#Actual" in await device_model()

        assert await wait_until(complete, 15)
        stored = await device_model()
        assert stored["OCPPCommCtrlr/HeartbeatInterval#Actual"]["value"] == "60"
        assert stored["OCPPCommCtrlr/HeartbeatInterval#Actual"]["mutability"] == "ReadWrite"
        assert stored["EVSE@1/AvailabilityState#Actual"]["value"] == "Available"
        assert stored["EVSE@1/AvailabilityState#Actual"]["evse_id"] == 1

        async def notified() -> list[dict[str, Any]]:
            return await frames(api, sid, "NotifyReport")

        async def in_parts() -> bool:
            # The frame log is written in batches: wait for the parts, not the first.
            return len(await notified()) >= 2

        # In parts of at most the simulator's ItemsPerMessage, by requestId.
        assert await wait_until(in_parts, 15)
        notifies = await notified()
        assert {n["frame"][3]["requestId"] for n in notifies} == {9}


@pytest.mark.parametrize("version", VERSIONS)
async def test_change_availability(volta, api, version):
    def payload(status: str) -> dict[str, Any]:
        if version == "1.6":
            return {"connectorId": 1, "type": status}
        return {"operationalStatus": status, "evse": {"id": 1}}

    async with running(volta, quiet(volta, version)) as [station]:
        sid = station.id
        assert await wait_until(lambda: all_available(api, sid), 15)
        off = await command(api, sid, "ChangeAvailability", payload("Inoperative"))
        assert (off["status"], off["response"]) == ("accepted", {"status": "Accepted"})

        async def unavailable() -> bool:
            return await statuses(api, sid) == ["Unavailable"]

        assert await wait_until(unavailable, 15)
        # An inoperative connector takes no session.
        refused = await command(api, sid, *remote_start_command(version, CARD))
        assert (refused["status"], refused["response"]) == ("rejected", {"status": "Rejected"})
        on = await command(api, sid, "ChangeAvailability", payload("Operative"))
        assert (on["status"], on["response"]) == ("accepted", {"status": "Accepted"})
        assert await wait_until(lambda: all_available(api, sid), 15)


@pytest.mark.parametrize("version", VERSIONS)
async def test_trigger_message(volta, api, version):
    if version == "1.6":
        triggers = [
            {"requestedMessage": "Heartbeat"},
            {"requestedMessage": "StatusNotification", "connectorId": 1},
            {"requestedMessage": "MeterValues", "connectorId": 1},
        ]
    else:
        triggers = [
            {"requestedMessage": "Heartbeat"},
            {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
            {"requestedMessage": "MeterValues", "evse": {"id": 1}},
        ]
    async with running(volta, quiet(volta, version)) as [station]:
        sid = station.id
        for payload in triggers:
            sent = await command(api, sid, "TriggerMessage", payload)
            assert (sent["status"], sent["response"]) == ("accepted", {"status": "Accepted"})
            asked_at = dt.datetime.fromisoformat(sent["created_at"])
            action = payload["requestedMessage"]

            async def arrived(action: str = action, asked_at: dt.datetime = asked_at) -> bool:
                return any(
                    dt.datetime.fromisoformat(f["created_at"]) > asked_at
                    for f in await frames(api, sid, action)
                )

            assert await wait_until(arrived, 3), action
        [meter] = await frames(api, sid, "MeterValues")
        assert meter["frame"][3]["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
        unknown = await command(
            api, sid, "TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"}
        )
        assert (unknown["status"], unknown["response"]) == (
            "rejected",
            {"status": "NotImplemented"},
        )


def _other_cases(version: str) -> list[tuple[str, dict[str, Any], str, dict[str, Any] | None]]:
    """(action, payload, command status, the station's answer) in the order sent."""
    expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    if version == "1.6":
        return [
            ("UnlockConnector", {"connectorId": 1}, "accepted", {"status": "Unlocked"}),
            ("UnlockConnector", {"connectorId": 9}, "rejected", {"status": "NotSupported"}),
            (
                "ReserveNow",
                {"connectorId": 1, "expiryDate": expiry, "idTag": CARD, "reservationId": 5},
                "accepted",
                {"status": "Accepted"},
            ),
            ("CancelReservation", {"reservationId": 5}, "accepted", {"status": "Accepted"}),
            ("CancelReservation", {"reservationId": 5}, "rejected", {"status": "Rejected"}),
            (
                "SendLocalList",
                {
                    "listVersion": 3,
                    "updateType": "Full",
                    "localAuthorizationList": [
                        {"idTag": CARD, "idTagInfo": {"status": "Accepted"}}
                    ],
                },
                "accepted",
                {"status": "Accepted"},
            ),
            ("GetLocalListVersion", {}, "accepted", {"listVersion": 3}),
            (
                "SetChargingProfile",
                {
                    "connectorId": 1,
                    "csChargingProfiles": {
                        "chargingProfileId": 1,
                        "stackLevel": 0,
                        "chargingProfilePurpose": "TxDefaultProfile",
                        "chargingProfileKind": "Relative",
                        "chargingSchedule": {
                            "chargingRateUnit": "W",
                            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
                        },
                    },
                },
                "accepted",
                {"status": "Accepted"},
            ),
            ("ClearChargingProfile", {"id": 1}, "accepted", {"status": "Accepted"}),
            (
                "DataTransfer",
                {"vendorId": "org.volta.simulator", "messageId": "ping", "data": "hi"},
                "accepted",
                {"status": "Accepted", "data": "hi"},
            ),
            (
                "DataTransfer",
                {"vendorId": "org.volta.simulator"},
                "accepted",
                {"status": "Accepted"},
            ),
            ("DataTransfer", {"vendorId": "com.acme"}, "rejected", {"status": "UnknownVendorId"}),
            ("ClearCache", {}, "accepted", {"status": "Accepted"}),
            ("CertificateSigned", {"certificateChain": "x"}, "error", None),
        ]
    return [
        ("UnlockConnector", {"evseId": 1, "connectorId": 1}, "accepted", {"status": "Unlocked"}),
        (
            "UnlockConnector",
            {"evseId": 9, "connectorId": 1},
            "rejected",
            {"status": "UnknownConnector"},
        ),
        (
            "ReserveNow",
            {
                "id": 5,
                "expiryDateTime": expiry,
                "idToken": {"idToken": CARD, "type": "ISO14443"},
                "evseId": 1,
            },
            "accepted",
            {"status": "Accepted"},
        ),
        ("CancelReservation", {"reservationId": 5}, "accepted", {"status": "Accepted"}),
        ("CancelReservation", {"reservationId": 5}, "rejected", {"status": "Rejected"}),
        (
            "SendLocalList",
            {
                "versionNumber": 3,
                "updateType": "Full",
                "localAuthorizationList": [
                    {
                        "idToken": {"idToken": CARD, "type": "ISO14443"},
                        "idTokenInfo": {"status": "Accepted"},
                    }
                ],
            },
            "accepted",
            {"status": "Accepted"},
        ),
        ("GetLocalListVersion", {}, "accepted", {"versionNumber": 3}),
        (
            "SetChargingProfile",
            {
                "evseId": 1,
                "chargingProfile": {
                    "id": 1,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": [
                        {
                            "id": 1,
                            "chargingRateUnit": "W",
                            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
                        }
                    ],
                },
            },
            "accepted",
            {"status": "Accepted"},
        ),
        ("ClearChargingProfile", {"chargingProfileId": 1}, "accepted", {"status": "Accepted"}),
        (
            "DataTransfer",
            {"vendorId": "org.volta.simulator", "messageId": "ping", "data": {"n": 1}},
            "accepted",
            {"status": "Accepted", "data": {"n": 1}},
        ),
        ("DataTransfer", {"vendorId": "org.volta.simulator"}, "accepted", {"status": "Accepted"}),
        ("DataTransfer", {"vendorId": "com.acme"}, "rejected", {"status": "UnknownVendorId"}),
        ("ClearCache", {}, "accepted", {"status": "Accepted"}),
        ("CertificateSigned", {"certificateChain": "x"}, "error", None),
    ]


@pytest.mark.parametrize("version", VERSIONS)
async def test_reservation_local_list_profiles_data_transfer(volta, api, version):
    async with running(volta, quiet(volta, version)) as [station]:
        for action, payload, status, answer in _other_cases(version):
            sent = await command(api, station.id, action, payload)
            assert (action, sent["status"], sent["response"]) == (action, status, answer)
            if status == "error":
                # A CALL the simulator knows no answer to: CALLERROR NotSupported.
                assert sent["error_code"] == "NotSupported"
                assert action in sent["error_description"]
            else:
                assert sent["error_code"] is None
        assert station.accepted.is_set()
        assert station.stats.connects == 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_reset_ends_the_session_and_reboots(volta, api, version):
    if version == "1.6":
        reset, reason = {"type": "Soft"}, "SoftReset"
    else:
        reset, reason = {"type": "Immediate"}, "ImmediateReset"
    await add_token(volta, REMOTE_CARD)
    async with running(volta, quiet(volta, version, session_seconds=(60, 60))) as [station]:
        sid = station.id
        tx = await remote_start(api, station)
        before = (await station_of(api, sid))["last_boot_at"]
        assert before is not None
        sent = await command(api, sid, "Reset", reset)
        assert (sent["status"], sent["response"]) == ("accepted", {"status": "Accepted"})

        async def rebooted() -> bool:
            body = await station_of(api, sid)
            return bool(body["online"] and body["last_boot_at"] != before)

        assert await wait_until(rebooted, 15)
        assert await wait_until(station.accepted.is_set, 15)
        assert station.stats.connects == 2
        assert (await ended(api, tx))["stop_reason"] == reason
        assert await wait_until(lambda: all_available(api, sid), 15)

        async def boots() -> list[dict[str, Any]]:
            return await frames(api, sid, "BootNotification")

        async def booted_twice() -> bool:
            return len(await boots()) == 2

        assert await wait_until(booted_twice, 15)
        if version == "2.0.1":
            # B11: the boot after a reset says so.
            assert [b["frame"][3]["reason"] for b in await boots()] == ["PowerUp", "RemoteReset"]


async def test_reset_on_idle_waits_for_the_session_201(volta, api):
    """B12: OnIdle with a session going is Scheduled; the station reboots once it ends."""
    await add_token(volta, REMOTE_CARD)
    async with running(volta, quiet(volta, "2.0.1", session_seconds=(60, 60))) as [station]:
        sid = station.id
        tx = await remote_start(api, station)
        sent = await command(api, sid, "Reset", {"type": "OnIdle"})
        assert (sent["status"], sent["response"]) == ("accepted", {"status": "Scheduled"})
        await asyncio.sleep(0.3)
        assert station.stats.connects == 1
        assert (await api.get(f"/api/v1/transactions/{tx['id']}")).json()["status"] == "Active"

        await command(api, sid, *remote_stop_command("2.0.1", tx))
        assert (await ended(api, tx))["stop_reason"] == "Remote"
        assert await wait_until(
            lambda: station.stats.connects == 2 and station.accepted.is_set(), 5
        )


# -- the connection ------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_reconnects_with_back_off_after_server_close(volta, api, version):
    await add_token(volta, REMOTE_CARD)
    async with running(volta, quiet(volta, version, session_seconds=(60, 60))) as [station]:
        sid = station.id
        tx = await remote_start(api, station)
        # A second connection under the station's id makes Volta close the
        # first one from its side ("replaced by a new connection").
        loop = asyncio.get_running_loop()
        async with connect(volta, sid, station.version.value, PASSWORD):
            assert await wait_until(lambda: not station.accepted.is_set(), 3, interval=0.005)
            lost_at = loop.time()
        assert await wait_until(
            lambda: station.accepted.is_set() and sid in volta.router.online(), 5, interval=0.005
        )
        # Not at once: the first back-off is reconnect_min (0.1 s) +-50 %.
        assert loop.time() - lost_at >= 0.05
        assert station.stats.connects == 2
        body = await station_of(api, sid)
        assert body["online"] is True
        assert body["last_disconnected_at"] is not None

        # The cut-short session is ended after the comeback, and the connector
        # serves the next one.
        assert (await ended(api, tx))["stop_reason"] == "Reboot"
        assert await wait_until(lambda: all_available(api, sid), 15)
        again = await remote_start(api, station)
        assert again["id"] != tx["id"]


async def test_default_cards_let_every_connector_charge_at_once(volta, api):
    """Issue 12: README's `volta simulate` example registered one card for
    four connectors, so only one session could run. Without `--token` the
    simulator now has one card per connector (SIM-CARD-1 .. SIM-CARD-4 for
    2 stations x 2 connectors), and all four connectors charge at once."""
    sc = scenario(
        volta,
        stations=2,
        connectors=2,
        protocol="mixed",
        id_tokens=None,
        id_prefix="CARDS-",
        session_seconds=(30.0, 30.0),
        idle_seconds=(0.05, 0.2),
    )
    assert sc.cards() == ["SIM-CARD-1", "SIM-CARD-2", "SIM-CARD-3", "SIM-CARD-4"]
    for card in sc.cards():
        await add_token(volta, card)

    async def active() -> list[Any]:
        resp = await api.get("/api/v1/transactions", params={"active": "true"})
        assert resp.status_code == 200, resp.text
        return [t for t in resp.json() if t["station_id"].startswith("CARDS-")]

    async with running(volta, sc) as stations:
        ok = False
        for _ in range(100):  # bounded: 10 s
            if len(await active()) == 4:
                ok = True
                break
            await asyncio.sleep(0.1)
        assert ok, await active()
        txs = await active()
        assert len({t["id_token"] for t in txs}) == 4
        assert all(s.stats.errors == 0 for s in stations)


async def test_the_end_of_a_run_ends_every_session(volta, api):
    """Issue 12: `volta simulate --duration` left its sessions Active. When
    the run ends every session ends first, as stopped at the station: 1.6
    StopTransaction and 2.0.1 TransactionEvent `Ended` (E06, stoppedReason
    Local), connectors back to Available, within the bounded grace."""
    sc = scenario(
        volta,
        stations=2,
        connectors=2,
        protocol="mixed",
        id_tokens=None,
        id_prefix="END-",
        session_seconds=(600.0, 600.0),
        idle_seconds=(0.05, 0.2),
        sessions=0,
    )
    for station_id in sc.station_ids():
        await register(volta, station_id, password=sc.password)
    for card in sc.cards():
        await add_token(volta, card)
    stations = build_fleet(sc)
    stop = asyncio.Event()
    fleet = asyncio.create_task(run_fleet(stations, stop, duration=60))
    try:
        assert await wait_until(
            lambda: sum(1 for s in stations for c in s.connectors if c.transaction_id) == 4, 10
        )
        started = asyncio.get_running_loop().time()
        stop.set()  # what --duration (or Ctrl-C) does
        await asyncio.wait_for(fleet, sc.stop_grace + 5)
        assert asyncio.get_running_loop().time() - started < sc.stop_grace
    finally:
        stop.set()
        if not fleet.done():
            fleet.cancel()
    for s in stations:
        assert s.open_sessions() == []
        txs = await transactions(api, s.id)
        assert len(txs) == 2
        for listed in txs:
            tx = (await api.get(f"/api/v1/transactions/{listed['id']}")).json()
            assert tx["status"] == "Ended", tx
            assert tx["stop_reason"] == "Local"
            assert tx["meter_stop_wh"] is not None
        assert await wait_until(lambda s=s: all_available(api, s.id, 2), 15)


async def test_a_station_away_when_the_run_ends_comes_back_to_end_its_session(volta, api):
    """A station whose connection dropped mid-session when the run ends
    reconnects once, boots and ends that session, then leaves."""
    sc = scenario(
        volta,
        protocol="2.0.1",
        id_prefix="AWAY-",
        session_seconds=(600.0, 600.0),
        reconnect_min=30.0,
        reconnect_max=30.0,
    )
    await add_token(volta, CARD)
    await register(volta, sc.station_ids()[0], password=sc.password)
    stations = build_fleet(sc)
    stop = asyncio.Event()
    fleet = asyncio.create_task(run_fleet(stations, stop))
    try:
        station = stations[0]
        assert await wait_until(lambda: bool(station.open_sessions()), 10)
        # The connection drops; the station waits 15-45 s before coming back.
        station.reconnect("PowerUp")
        assert await wait_until(lambda: not station.accepted.is_set(), 15)
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(fleet, sc.stop_grace + 5)
    finally:
        stop.set()
        if not fleet.done():
            fleet.cancel()
    (tx,) = await transactions(api, station.id)
    tx = (await api.get(f"/api/v1/transactions/{tx['id']}")).json()
    assert tx["status"] == "Ended", tx


@pytest.mark.parametrize("version", VERSIONS)
async def test_password_rotation_reaches_the_simulator(volta, api, version):
    """A01 / 1.6 security whitepaper: the simulated station takes the new Basic
    password Volta sends (SetVariables SecurityCtrlr.BasicAuthPassword,
    ChangeConfiguration AuthorizationKey), connects again with it once idle,
    and the rotation completes: what `make run` shows an operator."""
    async with running(volta, quiet(volta, version)) as [station]:
        sid = station.id
        r = await api.post(f"/api/v1/stations/{sid}/password-rotation")
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "pending"

        async def rotated() -> bool:
            got = await api.get(f"/api/v1/stations/{sid}/password-rotation")
            return bool(got.json()["state"] == "rotated")

        assert await wait_until(rotated, 10)
        assert station.password != PASSWORD
        assert await wait_until(
            lambda: station.stats.connects == 2 and station.accepted.is_set(), 5
        )
        assert sid in volta.router.online()
    # The old password no longer opens the station.
    with pytest.raises(InvalidStatus) as refused:
        async with connect(volta, sid, station.version.value, PASSWORD):
            pass
    assert refused.value.response.status_code == 401


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_busy_simulator_takes_its_new_password_between_sessions(volta, api, version):
    """A station whose drivers keep coming (sessions without end) finishes the
    session under way, lets no new driver start, and connects again with its
    new password: the rotation completes even on a busy demo station."""
    await add_token(volta, CARD)
    sc = scenario(volta, protocol=version, sessions=0, session_seconds=(2.0, 2.5))
    async with running(volta, sc) as [station]:
        sid = station.id
        assert await wait_until(lambda: bool(station.open_sessions()), 15)
        r = await api.post(f"/api/v1/stations/{sid}/password-rotation")
        assert r.status_code == 200, r.text

        async def rotated() -> bool:
            got = await api.get(f"/api/v1/stations/{sid}/password-rotation")
            return bool(got.json()["state"] == "rotated")

        assert await wait_until(rotated, 20)
        # The session under way ended as the driver meant it to, not cut short.
        first = min(await transactions(api, sid), key=lambda t: t["id"])
        assert first["stop_reason"] not in (None, "Reboot")
