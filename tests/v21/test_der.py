"""OCPP 2.1 DER control (block R) end to end: a 2.1 station over a real
WebSocket, the operator through the HTTP API, SQLite and PostgreSQL.

R04 (Configure DER control settings at Charging Station): SetDERControl
(R04.FR.01-11), NotifyDERStartStop (R04.FR.20-23), GetDERControl and its
ReportDERControl parts (R04.FR.30-36), ClearDERControl (R04.FR.40-45);
R05 (Charging station reporting a DER event): NotifyDERAlarm."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, get_args

import httpx
import pytest

from tests.helpers import answer, now_iso, register, station, wait_until
from volta.api.der import ControlType
from volta.blocks.der import v21 as der_v21
from volta.blocks.der.service import (
    CONTROL_TYPES,
    ClearDerControl,
    GetDerControl,
    SetDerControl,
)
from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version
from volta.outgoing import Message

BOOT = {"reason": "PowerUp", "chargingStation": {"model": "V2X-21", "vendorName": "Volta"}}

VOLT_VAR = {
    "priority": 1,
    "yUnit": "PctMaxVar",
    "curveData": [{"x": 92.0, "y": 30.0}, {"x": 98.0, "y": 0.0}, {"x": 108.0, "y": -30.0}],
    "startTime": "2030-01-01T00:00:00Z",
    "duration": 3600,
}
FREQ_DROOP = {
    "priority": 0,
    "overFreq": 50.2,
    "underFreq": 49.8,
    "overDroop": 5.0,
    "underDroop": 5.0,
    "responseTime": 2.0,
}
ENTER_SERVICE = {
    "priority": 0,
    "highVoltage": 253.0,
    "lowVoltage": 196.0,
    "highFreq": 50.1,
    "lowFreq": 49.9,
    "delay": 60.0,
}

OUTGOING_CASES: list[tuple[object, Message]] = [
    (
        SetDerControl("vv-1", "VoltVar", False, VOLT_VAR),
        Message(
            "SetDERControl",
            {"isDefault": False, "controlId": "vv-1", "controlType": "VoltVar", "curve": VOLT_VAR},
        ),
    ),
    (
        SetDerControl("fd-1", "FreqDroop", True, FREQ_DROOP),
        Message(
            "SetDERControl",
            {
                "isDefault": True,
                "controlId": "fd-1",
                "controlType": "FreqDroop",
                "freqDroop": FREQ_DROOP,
            },
        ),
    ),
    (GetDerControl(7), Message("GetDERControl", {"requestId": 7})),
    (
        GetDerControl(8, "VoltVar", False, None),
        Message("GetDERControl", {"requestId": 8, "isDefault": False, "controlType": "VoltVar"}),
    ),
    (
        GetDerControl(9, None, None, "vv-1"),
        Message("GetDERControl", {"requestId": 9, "controlId": "vv-1"}),
    ),
    (ClearDerControl(True), Message("ClearDERControl", {"isDefault": True})),
    (
        ClearDerControl(False, "VoltVar"),
        Message("ClearDERControl", {"isDefault": False, "controlType": "VoltVar"}),
    ),
    (
        ClearDerControl(False, None, "vv-1"),
        Message("ClearDERControl", {"isDefault": False, "controlId": "vv-1"}),
    ),
]


@pytest.mark.parametrize(("command", "expected"), OUTGOING_CASES)
def test_the_v21_table_spells_each_der_command(command: object, expected: Message) -> None:
    built = der_v21.outgoing.build(command)
    assert built == expected
    registry().validate(Version.V21, built.action, built.payload)


def test_the_api_knows_every_control_type() -> None:
    schema = registry()  # every name is the 2.1 DERControlEnumType's
    for control_type in CONTROL_TYPES:
        schema.validate(
            Version.V21, "ClearDERControl", {"isDefault": True, "controlType": control_type}
        )
    assert set(get_args(ControlType)) == set(CONTROL_TYPES)


class Recorder:
    """Answers Volta's DER CALLs and keeps what Volta sent (raw camelCase)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, list[dict[str, Any]]] = {}

    def handler(self, action: str) -> Any:
        async def handle(request: dict[str, Any]) -> dict[str, Any]:
            self.sent.append((action, request))
            queue = self.answers.get(action) or []
            return queue.pop(0) if queue else {"status": "Accepted"}

        return handle


@contextlib.asynccontextmanager
async def der_station(volta: Any, station_id: str) -> AsyncIterator[tuple[Any, Recorder]]:
    await register(volta, station_id)
    recorder = Recorder()
    async with station(volta, station_id, "2.1") as cp:
        for action in ("SetDERControl", "GetDERControl", "ClearDERControl"):
            cp.handlers[action] = recorder.handler(action)
        assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
        yield cp, recorder


async def controls(api: httpx.AsyncClient, sid: str, **params: Any) -> dict[str, dict[str, Any]]:
    r = await api.get(f"/api/v1/stations/{sid}/der-controls", params=params)
    assert r.status_code == 200, r.text
    return {c["control_id"]: c for c in r.json()}


async def events_of(api: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    r = await api.get("/api/v1/events", params={"type": kind})
    assert r.status_code == 200, r.text
    return [e["data"] for e in r.json()]


async def test_set_der_control_is_stored_with_the_answer_and_supersedes_R04(volta, api):
    """R04 SetDERControl: the control goes out as the 2.1 schema spells it,
    is kept with the station's answer; a later control whose answer names
    the first in supersededIds marks it superseded (R04.FR.09)."""
    async with der_station(volta, "DER-1") as (_, rec):
        url = "/api/v1/stations/DER-1/der-controls"
        r = await api.post(
            url,
            json={
                "control_id": "vv-1",
                "control_type": "VoltVar",
                "is_default": False,
                "setting": VOLT_VAR,
            },
        )
        assert r.status_code == 201, r.text
        first = r.json()
        assert (first["control_id"], first["status"], first["source"]) == (
            "vv-1",
            "Accepted",
            "api",
        )
        assert first["superseded"] is False and first["active"] is None
        assert rec.sent[-1] == (
            "SetDERControl",
            {"isDefault": False, "controlId": "vv-1", "controlType": "VoltVar", "curve": VOLT_VAR},
        )

        # A second VoltVar of higher priority supersedes the first.
        rec.answers["SetDERControl"] = [{"status": "Accepted", "supersededIds": ["vv-1"]}]
        stronger = {**VOLT_VAR, "priority": 0}
        r = await api.post(
            url,
            json={
                "control_id": "vv-2",
                "control_type": "VoltVar",
                "is_default": False,
                "setting": stronger,
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["superseded_ids"] == ["vv-1"]
        held = await controls(api, "DER-1")
        assert held["vv-1"]["superseded"] is True and held["vv-1"]["superseded_by"] == "vv-2"
        assert held["vv-2"]["superseded"] is False and held["vv-2"]["setting"] == stronger

        # Refusals are kept with the station's word; no id: a UUID.
        rec.answers["SetDERControl"] = [
            {"status": "NotSupported", "statusInfo": {"reasonCode": "NoDroop"}}
        ]
        r = await api.post(
            url,
            json={"control_type": "FreqDroop", "is_default": True, "setting": FREQ_DROOP},
        )
        assert r.status_code == 201, r.text
        refused = r.json()
        assert refused["status"] == "NotSupported"
        assert refused["status_info"] == {"reasonCode": "NoDroop"}
        assert len(refused["control_id"]) == 36
        assert rec.sent[-1][1]["freqDroop"] == FREQ_DROOP

        # The same id again replaces the control (its superseding is undone).
        rec.answers["SetDERControl"] = [{"status": "Rejected"}]
        r = await api.post(
            url,
            json={
                "control_id": "vv-1",
                "control_type": "VoltVar",
                "is_default": False,
                "setting": {**VOLT_VAR, "priority": 5},
            },
        )
        held = await controls(api, "DER-1")
        assert held["vv-1"]["status"] == "Rejected" and held["vv-1"]["setting"]["priority"] == 5
        assert held["vv-1"]["superseded"] is False
        assert set(await controls(api, "DER-1", control_type="VoltVar")) == {"vv-1", "vv-2"}
        assert set(await controls(api, "DER-1", is_default="true")) == {refused["control_id"]}

        answered = await events_of(api, "der.control_answered")
        assert [(e["control_id"], e["status"]) for e in answered] == [
            ("vv-1", "Accepted"),
            ("vv-2", "Accepted"),
            (refused["control_id"], "NotSupported"),
            ("vv-1", "Rejected"),
        ]
        assert answered[1]["superseded_ids"] == ["vv-1"]


async def test_der_controls_are_refused_to_other_versions_and_bad_settings(volta, api):
    """DER control is OCPP 2.1 only: 409 for a 1.6 or 2.0.1 station and an
    offline one; 422 for a setting the 2.1 schema refuses; 404 for no station."""
    body = {"control_type": "VoltVar", "is_default": False, "setting": VOLT_VAR}
    for sid, version in (("DER-16", "1.6"), ("DER-201", "2.0.1")):
        await register(volta, sid)
        async with station(volta, sid, version):
            for method, path, payload in (
                ("post", "der-controls", body),
                ("post", "der-controls/refresh", {}),
                ("post", "der-controls/clear", {"is_default": True}),
            ):
                r = await api.request(method, f"/api/v1/stations/{sid}/{path}", json=payload)
                assert r.status_code == 409, r.text
                assert "OCPP 2.1" in r.json()["detail"]
    await register(volta, "DER-OFF")
    r = await api.post("/api/v1/stations/DER-OFF/der-controls", json=body)
    assert r.status_code == 409 and "not connected" in r.json()["detail"]
    assert (await api.post("/api/v1/stations/nowhere/der-controls", json=body)).status_code == 404
    for path in ("der-controls", "der-reports", "der-alarms", "der-start-stops"):
        assert (await api.get(f"/api/v1/stations/nowhere/{path}")).status_code == 404

    async with der_station(volta, "DER-2") as (_, rec):
        url = "/api/v1/stations/DER-2/der-controls"
        no_points = {**VOLT_VAR, "curveData": []}
        for bad in (
            {**body, "setting": no_points},
            {**body, "setting": {"priority": 1, "yUnit": "PctMaxVar"}},
            {**body, "setting": {**VOLT_VAR, "yUnit": "Volts"}},
            {**body, "setting": {**VOLT_VAR, "surprise": 1}},
            {"control_type": "EnterService", "is_default": False, "setting": ENTER_SERVICE},
            {**body, "control_type": "Sideways"},
            {**body, "control_id": "x" * 37},
            {**body, "extra": True},
        ):
            r = await api.post(url, json=bad)
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["errors"], r.text
        assert rec.sent == []  # nothing invalid reached the station
        assert await controls(api, "DER-2") == {}
        r = await api.post(
            url, json={"control_type": "EnterService", "is_default": True, "setting": ENTER_SERVICE}
        )
        assert r.status_code == 201 and rec.sent[-1][1]["enterService"] == ENTER_SERVICE


def _curve_item(control_id: str, curve_type: str, *, superseded: bool = False) -> dict[str, Any]:
    return {
        "id": control_id,
        "curveType": curve_type,
        "isDefault": False,
        "isSuperseded": superseded,
        "curve": VOLT_VAR,
    }


async def test_get_der_control_report_in_parts_replaces_the_last_R04_FR_31(volta, api):
    """R04 GetDERControl: the station answers, then reports in several
    ReportDERControl parts (tbc on all but the last, R04.FR.31/32); Volta
    stores the reported controls beside what it set, and a new report
    replaces what the previous one said."""
    async with der_station(volta, "DER-3") as (cp, rec):
        url = "/api/v1/stations/DER-3/der-controls"
        r = await api.post(
            url,
            json={
                "control_id": "vv-1",
                "control_type": "VoltVar",
                "is_default": False,
                "setting": VOLT_VAR,
            },
        )
        assert r.status_code == 201

        parts: list[dict[str, Any]] = []

        async def get_der_control(request: dict[str, Any]) -> dict[str, Any]:
            rec.sent.append(("GetDERControl", request))

            async def report() -> None:
                for i, part in enumerate(parts):
                    last = i == len(parts) - 1
                    payload = {"requestId": request["requestId"], **part}
                    if not last:
                        payload["tbc"] = True
                    assert await cp.call("ReportDERControl", payload) == {}

            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(report()))
            return {"status": "Accepted"}

        cp.handlers["GetDERControl"] = get_der_control
        parts[:] = [
            {
                "curve": [_curve_item("vv-1", "VoltVar"), _curve_item("hv-9", "HVMustTrip")],
                "freqDroop": [
                    {
                        "id": "fd-9",
                        "isDefault": True,
                        "isSuperseded": False,
                        "freqDroop": FREQ_DROOP,
                    }
                ],
            },
            {
                "enterService": [{"id": "es-9", "enterService": ENTER_SERVICE}],
                "limitMaxDischarge": [
                    {
                        "id": "lmd-9",
                        "isDefault": False,
                        "isSuperseded": True,
                        "limitMaxDischarge": {"priority": 3, "pctMaxDischargePower": 50.0},
                    }
                ],
            },
        ]
        r = await api.post(f"{url}/refresh")
        assert r.status_code == 202, r.text
        first = r.json()
        assert first["status"] == "Accepted" and first["criteria"]["control_type"] is None
        assert rec.sent[-1] == ("GetDERControl", {"requestId": first["request_id"]})

        async def report_of(request_id: int) -> dict[str, Any]:
            r = await api.get("/api/v1/stations/DER-3/der-reports")
            assert r.status_code == 200, r.text
            return next(x for x in r.json() if x["request_id"] == request_id)

        async def complete(request_id: int) -> bool:
            return bool((await report_of(request_id))["complete"])

        assert await wait_until(lambda: complete(first["request_id"]), 15)
        done = await report_of(first["request_id"])
        assert done["parts"] == 2
        assert {c["control_id"] for c in done["controls"]} == {
            "vv-1",
            "hv-9",
            "fd-9",
            "es-9",
            "lmd-9",
        }
        held = await controls(api, "DER-3")
        assert set(held) == {"vv-1", "hv-9", "fd-9", "es-9", "lmd-9"}
        # What Volta set, with what the station reported beside it.
        assert held["vv-1"]["source"] == "api" and held["vv-1"]["status"] == "Accepted"
        assert held["vv-1"]["setting"] == VOLT_VAR
        assert held["vv-1"]["reported"] == {"setting": VOLT_VAR, "is_superseded": False}
        # Known only from the report.
        assert (held["hv-9"]["source"], held["hv-9"]["status"]) == ("station", "Reported")
        assert held["hv-9"]["control_type"] == "HVMustTrip" and held["hv-9"]["setting"] is None
        assert held["es-9"]["control_type"] == "EnterService" and held["es-9"]["is_default"]
        assert held["fd-9"]["reported"]["setting"] == FREQ_DROOP
        assert held["lmd-9"]["superseded"] is True

        # A new report of every control replaces the previous one: hv-9 and
        # lmd-9 are gone from the station; vv-1 no longer reported.
        parts[:] = [{"freqDroop": [dict(parts[0]["freqDroop"][0])]}, {"enterService": []}]
        parts[1] = {"enterService": [{"id": "es-9", "enterService": ENTER_SERVICE}]}
        r = await api.post(f"{url}/refresh")
        second = r.json()
        assert await wait_until(lambda: complete(second["request_id"]), 15)
        held = await controls(api, "DER-3")
        assert set(held) == {"vv-1", "fd-9", "es-9"}
        assert held["vv-1"]["reported"] is None and held["vv-1"]["status"] == "Accepted"

        # A report of one type replaces only what was said of that type.
        parts[:] = [{"curve": [_curve_item("vv-3", "VoltVar", superseded=True)]}]
        r = await api.post(f"{url}/refresh", json={"control_type": "VoltVar", "is_default": False})
        third = r.json()
        assert rec.sent[-1][1] == {
            "requestId": third["request_id"],
            "controlType": "VoltVar",
            "isDefault": False,
        }
        assert await wait_until(lambda: complete(third["request_id"]), 15)
        held = await controls(api, "DER-3")
        assert set(held) == {"vv-1", "vv-3", "fd-9", "es-9"}
        assert held["vv-3"]["superseded"] is True

        # The station has nothing of a kind: NotFound, kept on the report.
        cp.handlers["GetDERControl"] = answer({"status": "NotFound"})
        r = await api.post(f"{url}/refresh", json={"control_id": "nope"})
        assert (r.status_code, r.json()["status"], r.json()["parts"]) == (202, "NotFound", 0)

        # A report nobody asked for is answered and its controls kept.
        assert await cp.call("ReportDERControl", {"requestId": 99999, **parts[0]}) == {}


async def test_clear_der_control_by_id_and_by_type_R04(volta, api):
    """R04 ClearDERControl: by controlId, or every default / scheduled
    control of a type; what the station cleared leaves Volta's list, and a
    NotFound answer removes nothing."""
    async with der_station(volta, "DER-4") as (_, rec):
        url = "/api/v1/stations/DER-4/der-controls"
        for control_id, kind, default, setting in (
            ("vv-1", "VoltVar", False, VOLT_VAR),
            ("vv-2", "VoltVar", False, VOLT_VAR),
            ("vv-d", "VoltVar", True, VOLT_VAR),
            ("fd-1", "FreqDroop", False, FREQ_DROOP),
        ):
            r = await api.post(
                url,
                json={
                    "control_id": control_id,
                    "control_type": kind,
                    "is_default": default,
                    "setting": setting,
                },
            )
            assert r.status_code == 201, r.text

        r = await api.post(f"{url}/clear", json={"is_default": False, "control_id": "vv-1"})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["removed"]) == ("Accepted", ["vv-1"])
        assert rec.sent[-1] == ("ClearDERControl", {"isDefault": False, "controlId": "vv-1"})
        assert set(await controls(api, "DER-4")) == {"vv-2", "vv-d", "fd-1"}

        rec.answers["ClearDERControl"] = [{"status": "NotFound"}]
        r = await api.post(f"{url}/clear", json={"is_default": True, "control_type": "FreqDroop"})
        assert (r.json()["status"], r.json()["removed"]) == ("NotFound", [])

        # Scheduled VoltVars only: the default one stays.
        r = await api.post(f"{url}/clear", json={"is_default": False, "control_type": "VoltVar"})
        assert r.json()["removed"] == ["vv-2"]
        assert rec.sent[-1][1] == {"isDefault": False, "controlType": "VoltVar"}
        assert set(await controls(api, "DER-4")) == {"vv-d", "fd-1"}

        # Every scheduled control, of any type.
        r = await api.post(f"{url}/clear", json={"is_default": False})
        assert r.json()["removed"] == ["fd-1"]
        assert set(await controls(api, "DER-4")) == {"vv-d"}
        r = await api.post(f"{url}/clear", json={"control_type": "VoltVar"})
        assert r.status_code == 422  # isDefault is required


async def test_notify_der_alarm_is_stored_raised_and_cleared_R05(volta, api):
    """R05 NotifyDERAlarm: the alarm is stored with its grid event and raised
    as `der.alarm`; alarmEnded closes it (`der.alarm_ended`)."""
    async with der_station(volta, "DER-5") as (cp, _):
        start = now_iso()
        assert (
            await cp.call(
                "NotifyDERAlarm",
                {
                    "controlType": "HVMustTrip",
                    "gridEventFault": "OverVoltage",
                    "timestamp": start,
                    "extraInfo": "L1 at 262 V",
                },
            )
            == {}
        )
        await cp.call(
            "NotifyDERAlarm",
            {"controlType": "LFMustTrip", "gridEventFault": "UnderFrequency", "timestamp": start},
        )
        url = "/api/v1/stations/DER-5/der-alarms"
        on = (await api.get(url, params={"active": "true"})).json()
        assert [(a["control_type"], a["grid_event_fault"]) for a in on] == [
            ("LFMustTrip", "UnderFrequency"),
            ("HVMustTrip", "OverVoltage"),
        ]
        assert on[1]["extra_info"] == "L1 at 262 V" and on[1]["ended_at"] is None
        raised = await events_of(api, "der.alarm")
        assert [(e["control_type"], e["grid_event_fault"]) for e in raised] == [
            ("HVMustTrip", "OverVoltage"),
            ("LFMustTrip", "UnderFrequency"),
        ]

        end = now_iso()
        await cp.call(
            "NotifyDERAlarm",
            {
                "controlType": "HVMustTrip",
                "gridEventFault": "OverVoltage",
                "alarmEnded": True,
                "timestamp": end,
            },
        )
        on = (await api.get(url, params={"active": "true"})).json()
        assert [a["control_type"] for a in on] == ["LFMustTrip"]
        ended = (await api.get(url, params={"active": "false"})).json()
        assert len(ended) == 1 and ended[0]["id"] == raised[0]["alarm_id"]
        assert ended[0]["started_at"] is not None and ended[0]["ended_at"] is not None
        cleared = await events_of(api, "der.alarm_ended")
        assert [(e["alarm_id"], e["control_type"]) for e in cleared] == [
            (raised[0]["alarm_id"], "HVMustTrip")
        ]

        # An end Volta never saw the start of is kept all the same.
        await cp.call(
            "NotifyDERAlarm", {"controlType": "VoltVar", "alarmEnded": True, "timestamp": end}
        )
        alarms = (await api.get(url)).json()
        assert len(alarms) == 3
        assert alarms[0]["control_type"] == "VoltVar" and alarms[0]["started_at"] is None


async def test_notify_der_start_stop_marks_the_control_and_keeps_history_R04_FR_20(volta, api):
    """R04 NotifyDERStartStop: a control started (with the controls it
    superseded) or ended is kept in the station's history, shown on the
    control and raised as an event."""
    async with der_station(volta, "DER-6") as (cp, _):
        url = "/api/v1/stations/DER-6/der-controls"
        for control_id in ("vv-1", "vv-2"):
            r = await api.post(
                url,
                json={
                    "control_id": control_id,
                    "control_type": "VoltVar",
                    "is_default": False,
                    "setting": VOLT_VAR,
                },
            )
            assert r.status_code == 201
        await cp.call(
            "NotifyDERStartStop", {"controlId": "vv-1", "started": True, "timestamp": now_iso()}
        )
        assert (await controls(api, "DER-6", active="true")).keys() == {"vv-1"}
        assert (
            await cp.call(
                "NotifyDERStartStop",
                {
                    "controlId": "vv-2",
                    "started": True,
                    "timestamp": now_iso(),
                    "supersededIds": ["vv-1"],
                },
            )
            == {}
        )
        held = await controls(api, "DER-6")
        assert held["vv-2"]["active"] is True and held["vv-2"]["started_at"] is not None
        assert held["vv-1"]["superseded"] is True and held["vv-1"]["superseded_by"] == "vv-2"
        await cp.call(
            "NotifyDERStartStop", {"controlId": "vv-2", "started": False, "timestamp": now_iso()}
        )
        held = await controls(api, "DER-6")
        assert held["vv-2"]["active"] is False and held["vv-2"]["stopped_at"] is not None
        assert set(await controls(api, "DER-6", active="false")) == {"vv-2"}

        # A control Volta does not know: kept in the history only.
        await cp.call(
            "NotifyDERStartStop", {"controlId": "local-7", "started": True, "timestamp": now_iso()}
        )
        history = (await api.get("/api/v1/stations/DER-6/der-start-stops")).json()
        assert [(h["control_id"], h["started"]) for h in history] == [
            ("local-7", True),
            ("vv-2", False),
            ("vv-2", True),
            ("vv-1", True),
        ]
        assert history[2]["superseded_ids"] == ["vv-1"]
        only = await api.get(
            "/api/v1/stations/DER-6/der-start-stops", params={"control_id": "vv-2"}
        )
        assert len(only.json()) == 2
        started = await events_of(api, "der.control_started")
        assert [(e["control_id"], e["control_type"]) for e in started] == [
            ("vv-1", "VoltVar"),
            ("vv-2", "VoltVar"),
            ("local-7", None),
        ]
        stopped = await events_of(api, "der.control_stopped")
        assert [e["control_id"] for e in stopped] == ["vv-2"]


@pytest.mark.parametrize("volta_settings", [{"der_history_per_station": 2}])
async def test_der_history_is_bounded_per_station(volta, api):
    """A station cannot grow its DER alarms and start/stop history without
    end: the oldest go beyond der_history_per_station."""
    async with der_station(volta, "DER-7") as (cp, _):
        for n in range(4):
            await cp.call(
                "NotifyDERAlarm",
                {"controlType": "VoltVar", "timestamp": now_iso(), "extraInfo": f"a{n}"},
            )
            await cp.call(
                "NotifyDERStartStop",
                {"controlId": f"c{n}", "started": True, "timestamp": now_iso()},
            )
        alarms = (await api.get("/api/v1/stations/DER-7/der-alarms")).json()
        assert [a["extra_info"] for a in alarms] == ["a3", "a2"]
        history = (await api.get("/api/v1/stations/DER-7/der-start-stops")).json()
        assert [h["control_id"] for h in history] == ["c3", "c2"]
        # Every alarm was raised all the same.
        assert len(await events_of(api, "der.alarm")) == 4
