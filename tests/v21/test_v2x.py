"""OCPP 2.1 bidirectional power transfer (V2X, block Q) over real
WebSockets, on SQLite and PostgreSQL: 2.1 charging profiles with operation
modes, discharge limits and setpoints (refused for 1.6 / 2.0.1 stations),
allowedEnergyTransfer in the AuthorizeResponse (Q01), NotifyAllowedEnergyTransfer
(after NotifyEVChargingNeeds, and through the API), UpdateDynamicSchedule and
PullDynamicScheduleUpdate, AFRRSignal; and two 2.1 stations on a site where
the discharging EV is capacity for the other."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.helpers import add_token, answer, now_iso, register, station, wait_until
from volta.blocks.smart_charging import v2x
from volta.blocks.smart_charging.allocations import FALLBACK_ID
from volta.blocks.smart_charging.service import SetChargingProfile
from volta.blocks.smart_charging.v21 import outgoing
from volta.ocpp.charging import Period, Profile, Schedule
from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version
from volta.outgoing import Message

BOOT21 = {"reason": "PowerUp", "chargingStation": {"model": "V2X", "vendorName": "Volta"}}

_V21_PROFILE: dict[str, Any] = {
    "id": 40,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": [
        {
            "id": 1,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [
                {
                    "startPeriod": 0,
                    "operationMode": "CentralSetpoint",
                    "setpoint": -7000.0,
                    "dischargeLimit": -11000.0,
                    "limit": 11000.0,
                }
            ],
        }
    ],
}
_PLAIN = Profile(40, 0, "TxDefaultProfile", "Relative", (Schedule("A", (Period(0, 16.0),), 1),))
_WITH_V21 = Profile(40, 1, "TxDefaultProfile", "Relative", (Schedule("W", (Period(0, 11000.0),)),))
_WITH_V21.extra["v21"] = _V21_PROFILE

OUTGOING_CASES: list[tuple[object, Message]] = [
    (
        SetChargingProfile(1, _WITH_V21),
        Message("SetChargingProfile", {"evseId": 1, "chargingProfile": _V21_PROFILE}),
    ),
    (
        SetChargingProfile(0, _PLAIN),
        Message(
            "SetChargingProfile",
            {
                "evseId": 0,
                "chargingProfile": {
                    "id": 40,
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "stackLevel": 0,
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": [
                        {
                            "id": 1,
                            "chargingRateUnit": "A",
                            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                        }
                    ],
                },
            },
        ),
    ),
    (
        v2x.NotifyAllowedEnergyTransfer("tx-1", ("AC_three_phase", "AC_BPT")),
        Message(
            "NotifyAllowedEnergyTransfer",
            {"transactionId": "tx-1", "allowedEnergyTransfer": ["AC_three_phase", "AC_BPT"]},
        ),
    ),
    (
        v2x.UpdateDynamicSchedule(41, {"setpoint": -5000.0, "dischargeLimit": -9000.0}),
        Message(
            "UpdateDynamicSchedule",
            {
                "chargingProfileId": 41,
                "scheduleUpdate": {"setpoint": -5000.0, "dischargeLimit": -9000.0},
            },
        ),
    ),
    (
        v2x.AFRRSignal(-3, dt.datetime(2026, 12, 7, 5, 0, tzinfo=dt.UTC)),
        Message("AFRRSignal", {"timestamp": "2026-12-07T05:00:00.000Z", "signal": -3}),
    ),
]


@pytest.mark.parametrize(("command", "expected"), OUTGOING_CASES)
def test_v21_builders_spell_the_2_1_requests(command: object, expected: Message) -> None:
    """Each V21 builder builds the message, valid against the 2.1 request schema."""
    built = outgoing.build(command)
    assert built.action == expected.action
    assert built.payload == expected.payload
    registry().validate(Version.V21, built.action, built.payload)


# -- helpers -----------------------------------------------------------------------


ANSWERED = (
    "SetChargingProfile",
    "ClearChargingProfile",
    "NotifyAllowedEnergyTransfer",
    "UpdateDynamicSchedule",
    "AFRRSignal",
)


@contextlib.asynccontextmanager
async def online(
    volta: Any, station_id: str, version: str = "2.1", *, registered: bool = False
) -> AsyncIterator[Any]:
    """A booted station that records what Volta sends it (raw, as on the
    wire: `cp.raw`) and answers with `cp.replies[action]` (Accepted)."""
    if not registered:
        await register(volta, station_id)
    async with station(volta, station_id, version) as cp:
        cp.raw = []
        cp.replies = dict.fromkeys(ANSWERED, "Accepted")

        def recording(action: str) -> Any:
            async def handle(p: dict[str, Any]) -> dict[str, Any]:
                cp.raw.append((action, p))
                return {"status": cp.replies[action]}

            return handle

        for action in ANSWERED:
            cp.handlers[action] = recording(action)
        if version == "1.6":
            await cp.call("BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"})
        else:
            await cp.call("BootNotification", BOOT21)
        assert await wait_until(lambda: volta.router.version_of(station_id) is not None)
        yield cp


def sent(cp: Any, action: str) -> list[dict[str, Any]]:
    return [payload for name, payload in cp.raw if name == action]


async def start_tx(cp: Any, token: str, evse: int = 1) -> str:
    tx = uuid.uuid4().hex[:12]
    await cp.call(
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": now_iso(),
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": tx, "chargingState": "Charging"},
            "evse": {"id": evse, "connectorId": 1},
            "idToken": {"idToken": token, "type": "ISO14443"},
        },
    )
    return tx


def dynamic_profile(pid: int = 41, tx: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": pid,
        "stackLevel": 2,
        "chargingProfilePurpose": "TxProfile" if tx else "TxDefaultProfile",
        "chargingProfileKind": "Dynamic",
        "dynUpdateInterval": 60,
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {
                        "startPeriod": 0,
                        "operationMode": "CentralSetpoint",
                        "setpoint": -6.0,
                        "dischargeLimit": -16.0,
                        "limit": 16.0,
                    }
                ],
            }
        ],
    }
    if tx:
        body["transactionId"] = tx
    return body


# -- 2.1 charging profiles -------------------------------------------------------------


async def test_a_2_1_profile_with_a_discharge_setpoint_is_sent_as_given(volta, api):
    """2.1 ChargingSchedulePeriodType: operationMode CentralSetpoint, a
    negative setpoint (discharge) within dischargeLimit and limit; validated
    against the 2.1 SetChargingProfile schema, sent and stored in 2.1 shape."""
    async with online(volta, "V2X-P1") as cp:
        r = await api.post(
            "/api/v1/stations/V2X-P1/charging-profiles",
            json={"evse_id": 1, "profile": _V21_PROFILE},
        )
        assert r.status_code == 201, r.text
        assert sent(cp, "SetChargingProfile") == [{"evseId": 1, "chargingProfile": _V21_PROFILE}]
        listed = (await api.get("/api/v1/stations/V2X-P1/charging-profiles")).json()
        stored = listed["evses"][0]["profiles"][0]["profile"]
        assert stored["chargingSchedule"][0]["chargingSchedulePeriod"][0]["setpoint"] == -7000.0
        # A setpoint mode may leave the limit out; Volta's own composite
        # schedule then has no limit for that period.
        body = {**_V21_PROFILE, "id": 42, "stackLevel": 2}
        period = {"startPeriod": 0, "operationMode": "ExternalSetpoint", "dischargeLimit": -5000.0}
        body["chargingSchedule"] = [{**_V21_PROFILE["chargingSchedule"][0]}]
        body["chargingSchedule"][0]["chargingSchedulePeriod"] = [period]
        r = await api.post(
            "/api/v1/stations/V2X-P1/charging-profiles", json={"evse_id": 1, "profile": body}
        )
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("period", "says"),
    [
        ({"startPeriod": 0, "limit": 16.0, "dischargeLimit": -10.0}, "operationMode"),
        (
            {"startPeriod": 0, "operationMode": "ChargingOnly", "limit": 16.0, "setpoint": -5.0},
            "ChargingOnly",
        ),
        ({"startPeriod": 0, "operationMode": "CentralSetpoint", "limit": 16.0}, "setpoint"),
        (
            {
                "startPeriod": 0,
                "operationMode": "CentralSetpoint",
                "setpoint": -12.0,
                "dischargeLimit": -10.0,
            },
            "below dischargeLimit",
        ),
        ({"startPeriod": 0, "operationMode": "CentralFrequency", "limit": 16.0}, "v2xSignalWatt"),
        ({"startPeriod": 0, "operationMode": "ChargingOnly"}, "needs a limit"),
        ({"startPeriod": 0, "limit": -10.0}, "limit must be 0 or more"),
    ],
)
async def test_discharging_only_where_the_spec_allows(volta, api, period, says):
    """Discharge (negative setpoint, dischargeLimit < 0) needs an operation
    mode that allows it; a setpoint within the limits; CentralSetpoint needs
    a setpoint, CentralFrequency a signal-watt curve; a limit where the mode
    requires one and never negative (2.1 ChargingSchedulePeriodType)."""
    async with online(volta, "V2X-R1") as cp:
        body = {**_V21_PROFILE, "chargingSchedule": [{**_V21_PROFILE["chargingSchedule"][0]}]}
        body["chargingSchedule"][0]["chargingRateUnit"] = "A"
        body["chargingSchedule"][0]["chargingSchedulePeriod"] = [period]
        r = await api.post(
            "/api/v1/stations/V2X-R1/charging-profiles", json={"evse_id": 1, "profile": body}
        )
        assert r.status_code == 422, r.text
        assert says in r.text
        assert sent(cp, "SetChargingProfile") == []


@pytest.mark.parametrize("version", ["2.0.1", "1.6"])
async def test_a_2_1_profile_is_refused_for_an_older_station(volta, api, version):
    """A V2X profile cannot go to a 1.6 / 2.0.1 station: a clear 422, nothing sent."""
    async with online(volta, "V2X-OLD", version) as cp:
        r = await api.post(
            "/api/v1/stations/V2X-OLD/charging-profiles",
            json={"evse_id": 1, "profile": _V21_PROFILE},
        )
        assert r.status_code == 422, r.text
        assert "OCPP 2.1" in r.text
        assert sent(cp, "SetChargingProfile") == []


# -- Q01: who may discharge ---------------------------------------------------------------


async def test_authorize_tells_the_modes_the_contract_allows(volta, api):
    """Q01: AuthorizeResponse.allowedEnergyTransfer for a token allowed a
    bidirectional mode (its permission, kept through the API); without one
    the field is absent (charging only)."""
    await add_token(volta, "V2X-CARD")
    await add_token(volta, "PLAIN-CARD")
    r = await api.get("/api/v1/id-tokens/V2X-CARD/energy-transfer")
    assert r.json() == {"token": "V2X-CARD", "modes": [], "source": "none"}
    r = await api.put("/api/v1/id-tokens/V2X-CARD/energy-transfer", json={"modes": ["AC_BPT"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"token": "V2X-CARD", "modes": ["AC_BPT"], "source": "token"}
    assert (
        await api.put("/api/v1/id-tokens/NOPE/energy-transfer", json={"modes": ["DC"]})
    ).status_code == 404
    bad = await api.put("/api/v1/id-tokens/V2X-CARD/energy-transfer", json={"modes": ["AC_XYZ"]})
    assert bad.status_code == 422
    async with online(volta, "V2X-A1") as cp:
        auth = await cp.call("Authorize", {"idToken": {"idToken": "V2X-CARD", "type": "ISO14443"}})
        assert auth["idTokenInfo"]["status"] == "Accepted"
        assert "AC_BPT" in auth["allowedEnergyTransfer"]
        assert "AC_three_phase" in auth["allowedEnergyTransfer"]
        assert "DC_BPT" not in auth["allowedEnergyTransfer"]
        plain = await cp.call(
            "Authorize", {"idToken": {"idToken": "PLAIN-CARD", "type": "ISO14443"}}
        )
        assert "allowedEnergyTransfer" not in plain
        unknown = await cp.call("Authorize", {"idToken": {"idToken": "WHO", "type": "ISO14443"}})
        assert "allowedEnergyTransfer" not in unknown
    r = await api.delete("/api/v1/id-tokens/V2X-CARD/energy-transfer")
    assert r.json()["source"] == "none"


async def test_ev_charging_needs_with_bpt_get_notify_allowed_energy_transfer(volta, api):
    """Q01: the EV offers AC_BPT in NotifyEVChargingNeeds; its token's
    contract allows it, so Volta tells the station with
    NotifyAllowedEnergyTransfer (the offered modes it allows); a token
    without the permission is told the charging modes only."""
    await add_token(volta, "BPT-CARD")
    await add_token(volta, "NO-BPT")
    await api.put("/api/v1/id-tokens/BPT-CARD/energy-transfer", json={"modes": ["AC_BPT"]})
    # On a site, so that Volta plans the EV's schedule (K15: else Rejected).
    site = (await api.post("/api/v1/sites", json={"name": "n1", "max_current_a": 64})).json()
    await register(volta, "V2X-N1")
    await api.put("/api/v1/stations/V2X-N1", json={"site_id": site["id"]})
    async with online(volta, "V2X-N1", registered=True) as cp:
        tx = await start_tx(cp, "BPT-CARD", evse=1)
        other = await start_tx(cp, "NO-BPT", evse=2)
        needs = {
            "requestedEnergyTransfer": "AC_BPT",
            "availableEnergyTransfer": ["AC_three_phase", "AC_BPT"],
            "controlMode": "ScheduledControl",
            "v2xChargingParameters": {"maxDischargePower": 11000.0, "maxChargePower": 11000.0},
        }
        # The first EV gives only its V2X parameters (2.1), the second its AC ones too.
        ac = {"energyAmount": 20000, "evMinCurrent": 6, "evMaxCurrent": 32, "evMaxVoltage": 400}
        for evse in (1, 2):
            told_needs = needs if evse == 1 else {**needs, "acChargingParameters": ac}
            got = await cp.call(
                "NotifyEVChargingNeeds",
                {"evseId": evse, "chargingNeeds": told_needs, "timestamp": now_iso()},
            )
            assert got["status"] in ("Accepted", "Processing", "NoChargingProfile")
        assert await wait_until(lambda: len(sent(cp, "NotifyAllowedEnergyTransfer")) == 2)
        told = {
            p["transactionId"]: p["allowedEnergyTransfer"]
            for p in sent(cp, "NotifyAllowedEnergyTransfer")
        }
        assert told == {tx: ["AC_three_phase", "AC_BPT"], other: ["AC_three_phase"]}

        async def session() -> dict[str, Any]:
            return (await api.get("/api/v1/stations/V2X-N1/evses/1/v2x")).json()  # type: ignore[no-any-return]

        assert await wait_until(lambda: _status_is(session(), "Accepted"))
        body = await session()
        assert body["transaction_id"] == tx
        assert body["requested"] == "AC_BPT"
        assert body["ev_max_discharge_w"] == 11000.0
        events = (
            await api.get("/api/v1/events", params={"type": "v2x.energy_transfer_allowed"})
        ).json()
        assert events


async def _status_is(body: Any, want: str) -> bool:
    return bool((await body).get("allowed_status") == want)


async def test_notify_allowed_energy_transfer_through_the_api(volta, api):
    """NotifyAllowedEnergyTransfer on the operator's word: sent with the
    transaction's id, the station's answer returned; 409 for a 2.0.1 station."""
    await add_token(volta, "API-CARD")
    async with online(volta, "V2X-N2") as cp:
        tx = await start_tx(cp, "API-CARD")
        r = await api.post(
            f"/api/v1/stations/V2X-N2/transactions/{tx}/allowed-energy-transfer",
            json={"modes": ["AC_three_phase", "AC_BPT"]},
        )
        assert r.status_code == 200, r.text
        assert r.json()["station_status"] == "Accepted"
        assert sent(cp, "NotifyAllowedEnergyTransfer") == [
            {"transactionId": tx, "allowedEnergyTransfer": ["AC_three_phase", "AC_BPT"]}
        ]
        cp.replies["NotifyAllowedEnergyTransfer"] = "Rejected"
        r = await api.post(
            f"/api/v1/stations/V2X-N2/transactions/{tx}/allowed-energy-transfer",
            json={"modes": ["AC_BPT"]},
        )
        assert r.json()["station_status"] == "Rejected"
    async with online(volta, "V2X-OLD2", "2.0.1") as old:
        r = await api.post(
            "/api/v1/stations/V2X-OLD2/transactions/t1/allowed-energy-transfer",
            json={"modes": ["AC_BPT"]},
        )
        assert r.status_code == 409
        assert "OCPP 2.1" in r.json()["detail"]
        assert sent(old, "NotifyAllowedEnergyTransfer") == []


# -- dynamic profiles -----------------------------------------------------------------------


async def test_update_dynamic_schedule_then_the_station_pulls_the_values(volta, api):
    """UpdateDynamicSchedule for an installed Dynamic profile; the station's
    PullDynamicScheduleUpdate gets the values Volta holds (the period's,
    updated); an unknown profile is Rejected; a non-Dynamic profile and
    values breaking the operation mode are a 422."""
    async with online(volta, "V2X-D1") as cp:
        # Before any update: the profile's own values.
        r = await api.post(
            "/api/v1/stations/V2X-D1/charging-profiles",
            json={"evse_id": 1, "profile": dynamic_profile()},
        )
        assert r.status_code == 201, r.text
        pulled = await cp.call("PullDynamicScheduleUpdate", {"chargingProfileId": 41})
        assert pulled == {
            "status": "Accepted",
            "scheduleUpdate": {"limit": 16.0, "dischargeLimit": -16.0, "setpoint": -6.0},
        }
        r = await api.post(
            "/api/v1/stations/V2X-D1/charging-profiles/41/dynamic-schedule",
            json={"schedule_update": {"setpoint": -10.0}},
        )
        assert r.status_code == 200, r.text
        assert r.json()["station_status"] == "Accepted"
        assert sent(cp, "UpdateDynamicSchedule") == [
            {"chargingProfileId": 41, "scheduleUpdate": {"setpoint": -10.0}}
        ]
        pulled = await cp.call("PullDynamicScheduleUpdate", {"chargingProfileId": 41})
        assert pulled["scheduleUpdate"]["setpoint"] == -10.0
        assert pulled["scheduleUpdate"]["dischargeLimit"] == -16.0
        view = (
            await api.get("/api/v1/stations/V2X-D1/charging-profiles/41/dynamic-schedule")
        ).json()
        assert view["values"]["setpoint"] == -10.0
        assert view["pulled_at"] is not None
        unknown = await cp.call("PullDynamicScheduleUpdate", {"chargingProfileId": 99})
        assert unknown["status"] == "Rejected"
        assert unknown["statusInfo"]["reasonCode"] == "UnknownProfile"
        # A rejected update keeps the values Volta held.
        cp.replies["UpdateDynamicSchedule"] = "Rejected"
        r = await api.post(
            "/api/v1/stations/V2X-D1/charging-profiles/41/dynamic-schedule",
            json={"schedule_update": {"setpoint": -12.0}},
        )
        assert r.json()["station_status"] == "Rejected"
        pulled = await cp.call("PullDynamicScheduleUpdate", {"chargingProfileId": 41})
        assert pulled["scheduleUpdate"]["setpoint"] == -10.0
        cp.replies["UpdateDynamicSchedule"] = "Accepted"
        # Outside the limits, or not a Dynamic profile: 422, nothing sent.
        before = len(sent(cp, "UpdateDynamicSchedule"))
        r = await api.post(
            "/api/v1/stations/V2X-D1/charging-profiles/41/dynamic-schedule",
            json={"schedule_update": {"setpoint": -20.0}},
        )
        assert r.status_code == 422 and "dischargeLimit" in r.text
        r = await api.post(
            "/api/v1/stations/V2X-D1/charging-profiles",
            json={"evse_id": 1, "profile": {**_V21_PROFILE, "id": 43, "stackLevel": 3}},
        )
        assert r.status_code == 201
        r = await api.post(
            "/api/v1/stations/V2X-D1/charging-profiles/43/dynamic-schedule",
            json={"schedule_update": {"setpoint": -1000.0}},
        )
        assert r.status_code == 422 and "Dynamic" in r.text
        assert len(sent(cp, "UpdateDynamicSchedule")) == before


# -- aFRR ----------------------------------------------------------------------------------


async def test_afrr_signal_through_the_api(volta, api):
    """AFRRSignal: the signal (and when it applies) sent to a 2.1 station;
    409 for a 2.0.1 one."""
    async with online(volta, "V2X-F1") as cp:
        r = await api.post(
            "/api/v1/stations/V2X-F1/afrr-signal",
            json={"signal": -2, "timestamp": "2026-12-07T05:00:00Z"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["station_status"] == "Accepted"
        assert sent(cp, "AFRRSignal") == [{"timestamp": "2026-12-07T05:00:00.000Z", "signal": -2}]
        r = await api.post("/api/v1/stations/V2X-F1/afrr-signal", json={"signal": 1})
        assert r.status_code == 200
        assert sent(cp, "AFRRSignal")[-1]["signal"] == 1
    async with online(volta, "V2X-F2", "2.0.1"):
        r = await api.post("/api/v1/stations/V2X-F2/afrr-signal", json={"signal": 1})
        assert r.status_code == 409
    r = await api.post("/api/v1/stations/NOPE/afrr-signal", json={"signal": 1})
    assert r.status_code == 404


# -- the site allocator, end to end ---------------------------------------------------------


class Recorder:
    """The TxProfile limit (A) a station holds from the allocator, and its
    discharge limit when the allocator holds its discharge back."""

    def __init__(self, cp: Any) -> None:
        self.cp = cp
        self.tx_limit: float | None = None
        self.discharge: float | None = None
        cp.handlers["SetChargingProfile"] = self.set_profile

    async def set_profile(self, p: dict[str, Any]) -> dict[str, Any]:
        profile = p["chargingProfile"]
        if (
            profile["id"] == FALLBACK_ID + p["evseId"]
            and profile["chargingProfilePurpose"] == "TxProfile"
        ):
            period = profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]
            self.tx_limit = float(period["limit"])
            self.discharge = period.get("dischargeLimit")
        return {"status": "Accepted"}


async def test_two_2_1_stations_on_a_site_the_discharging_ev_is_capacity(volta, api):
    """A 32 A site with two 2.1 stations. Both charge: 16 A each. One's EV
    gets a V2X TxProfile discharging 10 A per phase: the other may take
    32 + 10 = 42 A, held at its EVSE's 32 A, and the site's net import
    stays within 32 A. When the EV stops feeding back (measured), the other
    is brought back to 16 A."""
    r = await api.post("/api/v1/sites", json={"name": "v2x", "max_current_a": 32})
    assert r.status_code == 201, r.text
    site = r.json()["id"]
    for sid in ("V2X-S1", "V2X-S2"):
        await register(volta, sid)
        assert (await api.put(f"/api/v1/stations/{sid}", json={"site_id": site})).status_code == 200
        await add_token(volta, f"CARD-{sid}")
    async with station(volta, "V2X-S1", "2.1") as a, station(volta, "V2X-S2", "2.1") as b:
        ra, rb = Recorder(a), Recorder(b)
        for cp in (a, b):
            cp.handlers["ClearChargingProfile"] = answer({"status": "Accepted"})
            await cp.call("BootNotification", BOOT21)
        tx_a = await start_tx(a, "CARD-V2X-S1")
        await asyncio.sleep(0.05)
        await start_tx(b, "CARD-V2X-S2")
        assert await wait_until(lambda: ra.tx_limit == 16.0 and rb.tx_limit == 16.0)
        v2x_profile = {
            "id": 50,
            "stackLevel": 5,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "transactionId": tx_a,
            "chargingSchedule": [
                {
                    "id": 1,
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [
                        {
                            "startPeriod": 0,
                            "operationMode": "CentralSetpoint",
                            "setpoint": -10.0,
                            "dischargeLimit": -32.0,
                        }
                    ],
                }
            ],
        }
        r = await api.post(
            "/api/v1/stations/V2X-S1/charging-profiles", json={"evse_id": 1, "profile": v2x_profile}
        )
        assert r.status_code == 201, r.text
        # The EV feeds back what it was told (its meter says so): the run
        # that follows counts it as capacity.
        await export(a, 10.0)
        assert await wait_until(lambda: rb.tx_limit == 32.0), rb.tx_limit
        assert ra.discharge is None  # within the limits: the operator's profile steers it

        async def given() -> dict[tuple[str, int], float]:
            body = (await api.get(f"/api/v1/sites/{site}")).json()
            return {(x["station_id"], x["evse_id"]): x["limit_a"] for x in body["allocations"]}

        async def stored() -> bool:
            return (await given()).get(("V2X-S2", 1)) == 32.0

        assert await wait_until(stored)
        # It stops feeding back (measured 0 A): no capacity any more, the
        # other is lowered to its equal share again.
        await export(a, 0.0)
        assert await wait_until(lambda: rb.tx_limit == 16.0), rb.tx_limit


async def export(cp: Any, amps: float) -> None:
    await cp.call(
        "MeterValues",
        {
            "evseId": 1,
            "meterValue": [
                {
                    "timestamp": now_iso(),
                    "sampledValue": [{"value": amps, "measurand": "Current.Export"}],
                }
            ],
        },
    )


async def test_a_discharge_beyond_the_limits_is_held_back_by_the_allocator(volta, api):
    """An EV told to feed back 40 A per phase on a 32 A EVSE: the allocator
    counts 32 A of it (the EVSE's rating holds both ways) and sends the EVSE
    its own 2.1 TxProfile, a CentralSetpoint period with setpoint and
    dischargeLimit at -32 A; the site view shows the negative current."""
    r = await api.post("/api/v1/sites", json={"name": "clamp", "max_current_a": 32})
    site = r.json()["id"]
    await register(volta, "V2X-C1")
    await api.put("/api/v1/stations/V2X-C1", json={"site_id": site})
    await add_token(volta, "CARD-C1")
    async with station(volta, "V2X-C1", "2.1") as a:
        ra = Recorder(a)
        a.handlers["ClearChargingProfile"] = answer({"status": "Accepted"})
        await a.call("BootNotification", BOOT21)
        tx = await start_tx(a, "CARD-C1")
        assert await wait_until(lambda: ra.tx_limit == 32.0)
        period = {
            "startPeriod": 0,
            "operationMode": "CentralSetpoint",
            "setpoint": -40.0,
            "dischargeLimit": -40.0,
        }
        profile = {
            "id": 51,
            "stackLevel": 5,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "transactionId": tx,
            "chargingSchedule": [
                {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [period]}
            ],
        }
        r = await api.post(
            "/api/v1/stations/V2X-C1/charging-profiles", json={"evse_id": 1, "profile": profile}
        )
        assert r.status_code == 201, r.text
        await export(a, 40.0)
        assert await wait_until(lambda: ra.discharge == -32.0), ra.discharge
        assert ra.tx_limit == 0.0

        async def shown() -> bool:
            body = (await api.get(f"/api/v1/sites/{site}")).json()
            return any(x["limit_a"] == -32.0 for x in body["allocations"])

        assert await wait_until(shown)
