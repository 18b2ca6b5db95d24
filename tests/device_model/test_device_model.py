"""The device model over real WebSockets and real HTTP, on both databases:
splitting by ItemsPerMessage (TC_B_08: 50 variables as 5 messages), reports in
parts, what was set and answered, search, the 1.6 configuration keys."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from tests.helpers import connect, now_iso, register
from volta.app import Volta

PASSWORD = "device-model-pass"
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
BOOT_16 = {"chargePointVendor": "V", "chargePointModel": "M"}

Answer = Callable[[dict[str, Any]], dict[str, Any]]


class RawStation:
    """A station speaking raw OCPP-J: answers the CSMS's CALLs from `answers`
    and keeps each CALL it got in `received`."""

    _ids = itertools.count(1)

    def __init__(self, ws: Any, answers: dict[str, Answer]) -> None:
        self.ws = ws
        self.answers = answers
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._waiting: dict[str, asyncio.Future[list[Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.ws:
            frame = orjson.loads(text)
            if frame[0] == 2:
                _, mid, action, payload = frame
                self.received.append((action, payload))
                body = self.answers[action](payload)
                await self.ws.send(orjson.dumps([3, mid, body]).decode())
            elif frame[1] in self._waiting:
                self._waiting.pop(frame[1]).set_result(frame)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        mid = f"m{next(self._ids)}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting[mid] = future
        await self.ws.send(orjson.dumps([2, mid, action, payload]).decode())
        frame = await asyncio.wait_for(future, 10)
        assert frame[0] == 3, frame
        return frame[2]  # type: ignore[no-any-return]

    def sent(self, action: str) -> list[dict[str, Any]]:
        return [p for a, p in self.received if a == action]


@contextlib.asynccontextmanager
async def raw_station(
    volta: Volta, station_id: str, protocol: str, answers: dict[str, Answer]
) -> AsyncIterator[RawStation]:
    await register(volta, station_id, password=PASSWORD)
    async with connect(volta, station_id, protocol, PASSWORD) as ws:
        st = RawStation(ws, answers)
        try:
            boot = BOOT_16 if protocol == "ocpp1.6" else BOOT_201
            assert (await st.call("BootNotification", boot))["status"] == "Accepted"
            yield st
        finally:
            st._reader.cancel()
            with contextlib.suppress(BaseException):
                await st._reader


def variables_station(values: dict[tuple[str, str | None], str]) -> Answer:
    """GetVariables answers: the value of (variable, instance) or UnknownVariable."""

    def answer(p: dict[str, Any]) -> dict[str, Any]:
        results = []
        for d in p["getVariableData"]:
            key = (d["variable"]["name"], d["variable"].get("instance"))
            result = {"component": d["component"], "variable": d["variable"]}
            if key in values:
                result |= {"attributeStatus": "Accepted", "attributeValue": values[key]}
            else:
                result["attributeStatus"] = "UnknownVariable"
            results.append(result)
        return {"getVariableResult": results}

    return answer


def attribute(
    component: str, variable: str, value: str, *, evse: int | None = None, **extra: Any
) -> dict[str, Any]:
    comp: dict[str, Any] = {"name": component}
    if evse is not None:
        comp["evse"] = {"id": evse}
    name, _, instance = variable.partition("[")
    var: dict[str, Any] = {"name": name}
    if instance:
        var["instance"] = instance.rstrip("]")
    return {
        "component": comp,
        "variable": var,
        "variableAttribute": [{"type": "Actual", "value": value, "mutability": "ReadWrite"}],
        "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": True, **extra},
    }


async def test_get_variables_of_50_go_out_as_5_messages_of_10(volta, api):
    """B06.FR.05 / TC_B_08: limits never reported are asked first (one
    GetVariables), then 50 variables go as 5 messages of 10 and the 50
    answers come back combined, in order, and are stored."""
    values = {
        ("ItemsPerMessage", "GetVariables"): "10",
        ("BytesPerMessage", "GetVariables"): "65000",
    }
    values |= {(f"Var{i:02d}", None): str(i) for i in range(50)}
    async with raw_station(
        volta, "DM1", "ocpp2.0.1", {"GetVariables": variables_station(values)}
    ) as st:
        wanted = [{"component": "Vendor", "variable": f"Var{i:02d}"} for i in range(50)]
        r = await api.post(
            "/api/v1/stations/DM1/device-model/get-variables", json={"variables": wanted}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        sent = st.sent("GetVariables")
        assert [len(p["getVariableData"]) for p in sent] == [2, 10, 10, 10, 10, 10]
        assert sent[0]["getVariableData"][0]["component"] == {"name": "DeviceDataCtrlr"}
        assert body["messages"] == 5 and len(set(body["command_ids"])) == 5
        assert [x["variable"] for x in body["results"]] == [f"Var{i:02d}" for i in range(50)]
        assert {x["attribute_status"] for x in body["results"]} == {"Accepted"}
        assert body["results"][42]["value"] == "42"
        # Known now: the next request does not ask again.
        r = await api.post(
            "/api/v1/stations/DM1/device-model/get-variables", json={"variables": wanted[:20]}
        )
        assert r.json()["messages"] == 2
        assert [len(p["getVariableData"]) for p in st.sent("GetVariables")][6:] == [10, 10]
    page = (await api.get("/api/v1/stations/DM1/device-model", params={"q": "var4"})).json()
    assert page["total"] == 10
    assert {i["value"] for i in page["items"]} == {str(i) for i in range(40, 50)}


async def test_bytes_per_message_splits_too(volta, api):
    values = {
        ("ItemsPerMessage", "GetVariables"): "100",
        ("BytesPerMessage", "GetVariables"): "400",
    }
    async with raw_station(
        volta, "DM2", "ocpp2.0.1", {"GetVariables": variables_station(values)}
    ) as st:
        wanted = [
            {"component": "Vendor", "variable": f"LongVariableName{i:02d}"} for i in range(12)
        ]
        r = await api.post(
            "/api/v1/stations/DM2/device-model/get-variables", json={"variables": wanted}
        )
        assert r.status_code == 200, r.text
        parts = st.sent("GetVariables")[1:]
        assert len(parts) > 1 and sum(len(p["getVariableData"]) for p in parts) == 12
        for p in parts:
            # The CALL frame as the station got it: [2,"<id>","GetVariables",{...}].
            assert len(orjson.dumps([2, "x" * 36, "GetVariables", p])) <= 400
        assert [x["attribute_status"] for x in r.json()["results"]] == ["UnknownVariable"] * 12


async def test_a_report_in_parts_is_stored_and_completes_by_request_id(volta, api):
    """B07: GetBaseReport, then NotifyReport parts (seqNo, tbc) with the same
    requestId: requested, receiving, complete; the attributes and their
    characteristics are browsable, searchable and paged."""
    answers = {"GetBaseReport": lambda p: {"status": "Accepted"}}
    async with raw_station(volta, "DM3", "ocpp2.0.1", answers) as st:
        r = await api.post(
            "/api/v1/stations/DM3/device-model/reports", json={"report_base": "FullInventory"}
        )
        assert r.status_code == 200, r.text
        (report,) = r.json()["reports"]
        assert report["status"] == "requested" and report["answer"] == "Accepted"
        request_id = report["request_id"]
        assert st.sent("GetBaseReport") == [
            {"requestId": request_id, "reportBase": "FullInventory"}
        ]
        parts = [
            [
                attribute(
                    "OCPPCommCtrlr",
                    "HeartbeatInterval",
                    "300",
                    unit="s",
                    minLimit=1,
                    maxLimit=86400,
                ),
                attribute("DeviceDataCtrlr", "ItemsPerMessage[GetVariables]", "8"),
            ],
            [
                attribute(
                    "EVSE",
                    "AvailabilityState",
                    "Available",
                    evse=1,
                    dataType="OptionList",
                    valuesList="Available,Occupied",
                )
            ],
            [attribute("EVSE", "Power", "22000", evse=2, unit="W")],
        ]
        for seq, data in enumerate(parts):
            tbc = seq < len(parts) - 1
            payload = {
                "requestId": request_id,
                "generatedAt": now_iso(),
                "seqNo": seq,
                "tbc": tbc,
                "reportData": data,
            }
            assert await st.call("NotifyReport", payload) == {}
            (found,) = (await api.get("/api/v1/stations/DM3/device-model/reports")).json()
            assert found["status"] == ("receiving" if tbc else "complete")
            assert found["parts"] == seq + 1
        assert found["items"] == 4 and found["completed_at"]
    every = (await api.get("/api/v1/stations/DM3/device-model")).json()
    assert every["total"] == 4
    heartbeat = next(i for i in every["items"] if i["variable"] == "HeartbeatInterval")
    assert heartbeat == {
        **heartbeat,
        "value": "300",
        "unit": "s",
        "min_limit": 1,
        "max_limit": 86400,
    }
    assert heartbeat["data_type"] == "integer" and heartbeat["supports_monitoring"] is True
    evse1 = (await api.get("/api/v1/stations/DM3/device-model", params={"evse_id": 1})).json()
    assert [i["values_list"] for i in evse1["items"]] == ["Available,Occupied"]
    page = (
        await api.get(
            "/api/v1/stations/DM3/device-model", params={"q": "evse", "limit": 1, "offset": 1}
        )
    ).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    # A searched name with LIKE's wildcards is taken as text.
    assert (await api.get("/api/v1/stations/DM3/device-model", params={"q": "%"})).json()[
        "total"
    ] == 0


async def test_set_variables_keeps_what_was_asked_and_answered(volta, api):
    """B05: the values asked (when, by whom) and each answer (attributeStatus,
    statusInfo) per variable; an Accepted value becomes the stored one; the
    limits reported in a report split the request without asking."""

    def set_answer(p: dict[str, Any]) -> dict[str, Any]:
        results = []
        for d in p["setVariableData"]:
            ok = d["variable"]["name"] != "ReadOnlyThing"
            result = {
                "component": d["component"],
                "variable": d["variable"],
                "attributeStatus": "Accepted" if ok else "Rejected",
            }
            if not ok:
                result["attributeStatusInfo"] = {"reasonCode": "ReadOnly"}
            results.append(result)
        return {"setVariableResult": results}

    answers = {"SetVariables": set_answer, "GetVariables": variables_station({})}
    async with raw_station(volta, "DM4", "ocpp2.0.1", answers) as st:
        limits = [
            attribute("DeviceDataCtrlr", "ItemsPerMessage[SetVariables]", "1"),
            attribute("DeviceDataCtrlr", "BytesPerMessage[SetVariables]", "4000"),
            attribute("OCPPCommCtrlr", "HeartbeatInterval", "300"),
        ]
        await st.call(
            "NotifyReport",
            {"requestId": 9, "generatedAt": now_iso(), "seqNo": 0, "reportData": limits},
        )
        r = await api.post(
            "/api/v1/stations/DM4/device-model/set-variables",
            json={
                "variables": [
                    {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "120"},
                    {"component": "Vendor", "variable": "ReadOnlyThing", "value": "x"},
                ]
            },
        )
        assert r.status_code == 200, r.text
        assert [len(p["setVariableData"]) for p in st.sent("SetVariables")] == [1, 1]
        assert st.sent("GetVariables") == []
        results = r.json()["results"]
        assert [x["attribute_status"] for x in results] == ["Accepted", "Rejected"]
        assert results[1]["status_info"] == {"reasonCode": "ReadOnly"}
    items = {
        i["variable"]: i
        for i in (await api.get("/api/v1/stations/DM4/device-model")).json()["items"]
    }
    heartbeat, readonly = items["HeartbeatInterval"], items["ReadOnlyThing"]
    assert heartbeat["value"] == "120" and heartbeat["requested_value"] == "120"
    assert (
        heartbeat["requested_by"] == "api"
        and heartbeat["requested_at"]
        and heartbeat["answered_at"]
    )
    assert heartbeat["mutability"] == "ReadWrite"  # what the report said stays
    assert readonly["value"] is None and readonly["requested_value"] == "x"
    assert readonly["attribute_status"] == "Rejected"
    assert readonly["status_info"] == {"reasonCode": "ReadOnly"}


async def test_the_password_is_sent_but_never_kept(volta, api):
    answers = {
        "SetVariables": lambda p: {
            "setVariableResult": [
                {
                    "component": d["component"],
                    "variable": d["variable"],
                    "attributeStatus": "Rejected",
                }
                for d in p["setVariableData"]
            ]
        }
    }
    secret = "a-very-secret-password-123"
    async with raw_station(volta, "DM5", "ocpp2.0.1", answers) as st:
        r = await api.post(
            "/api/v1/stations/DM5/device-model/set-variables",
            json={
                "variables": [
                    {"component": "SecurityCtrlr", "variable": "BasicAuthPassword", "value": secret}
                ]
            },
        )
        assert r.status_code == 200
        assert st.sent("SetVariables")[0]["setVariableData"][0]["attributeValue"] == secret
    stored = (await api.get("/api/v1/stations/DM5/device-model")).text
    assert secret not in stored and "BasicAuthPassword" in stored


async def test_custom_report_with_criteria_and_a_refusal(volta, api):
    """B08: GetReport with componentVariable and componentCriteria; an
    EmptyResultSet ends the report as refused (nothing will come)."""
    answers = {"GetReport": lambda p: {"status": "EmptyResultSet"}}
    async with raw_station(volta, "DM6", "ocpp2.0.1", answers) as st:
        r = await api.post(
            "/api/v1/stations/DM6/device-model/reports",
            json={
                "component_variables": [
                    {"component": "EVSE", "evse_id": 1, "variable": "AvailabilityState"}
                ],
                "component_criteria": ["Problem"],
            },
        )
        assert r.status_code == 200, r.text
        (sent,) = st.sent("GetReport")
        assert sent["componentCriteria"] == ["Problem"]
        assert sent["componentVariable"] == [
            {
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "AvailabilityState"},
            }
        ]
        (report,) = r.json()["reports"]
        assert report["status"] == "refused" and report["answer"] == "EmptyResultSet"
        assert report["kind"] == "Custom"


async def test_configuration_keys_of_a_16_station(volta, api):
    """1.6: GetConfiguration stored (value, readonly, unknown keys), split by
    GetConfigurationMaxKeys once known; ChangeConfiguration's value asked and
    answer kept per key."""
    config = {
        "HeartbeatInterval": ("300", False),
        "NumberOfConnectors": ("2", True),
        "GetConfigurationMaxKeys": ("2", True),
        "MeterValueSampleInterval": ("60", False),
    }

    def get_configuration(p: dict[str, Any]) -> dict[str, Any]:
        keys = p.get("key") or list(config)
        answer: dict[str, Any] = {
            "configurationKey": [
                {"key": k, "value": config[k][0], "readonly": config[k][1]}
                for k in keys
                if k in config
            ]
        }
        if unknown := [k for k in keys if k not in config]:
            answer["unknownKey"] = unknown
        return answer

    def change_configuration(p: dict[str, Any]) -> dict[str, Any]:
        if p["key"] not in config:
            return {"status": "NotSupported"}
        if config[p["key"]][1]:
            return {"status": "Rejected"}
        return {
            "status": "RebootRequired" if p["key"] == "MeterValueSampleInterval" else "Accepted"
        }

    answers = {"GetConfiguration": get_configuration, "ChangeConfiguration": change_configuration}
    async with raw_station(volta, "C16", "ocpp1.6", answers) as st:
        r = await api.post("/api/v1/stations/C16/configuration/get", json={})
        assert r.status_code == 200, r.text
        assert st.sent("GetConfiguration") == [{}]
        assert {k["key"] for k in r.json()["keys"]} == set(config)
        r = await api.post(
            "/api/v1/stations/C16/configuration/get",
            json={"keys": ["HeartbeatInterval", "NumberOfConnectors", "NoSuchKey"]},
        )
        assert [len(p["key"]) for p in st.sent("GetConfiguration")[1:]] == [2, 1]
        assert len(r.json()["command_ids"]) == 2
        by_key = {k["key"]: k for k in r.json()["keys"]}
        assert by_key["NoSuchKey"]["unknown"] is True
        assert by_key["NumberOfConnectors"]["readonly"] is True
        for key, value in (
            ("HeartbeatInterval", "60"),
            ("NumberOfConnectors", "4"),
            ("MeterValueSampleInterval", "10"),
            ("Other", "1"),
        ):
            r = await api.post(
                "/api/v1/stations/C16/configuration/change", json={"key": key, "value": value}
            )
            assert r.status_code == 200, r.text
        assert st.sent("ChangeConfiguration")[0] == {"key": "HeartbeatInterval", "value": "60"}
        # 2.0.1 routes refuse a 1.6 station.
        r = await api.post(
            "/api/v1/stations/C16/device-model/get-variables",
            json={"variables": [{"component": "A", "variable": "B"}]},
        )
        assert r.status_code == 409 and "1.6" in r.json()["detail"]
    keys = {k["key"]: k for k in (await api.get("/api/v1/stations/C16/configuration")).json()}
    assert keys["HeartbeatInterval"] == {
        **keys["HeartbeatInterval"],
        "value": "60",
        "requested_value": "60",
        "answer": "Accepted",
        "requested_by": "api",
    }
    assert keys["NumberOfConnectors"] == {
        **keys["NumberOfConnectors"],
        "value": "2",
        "requested_value": "4",
        "answer": "Rejected",
    }
    assert keys["MeterValueSampleInterval"] == {
        **keys["MeterValueSampleInterval"],
        "value": "60",
        "requested_value": "10",
        "answer": "RebootRequired",
    }
    assert keys["Other"] == {
        **keys["Other"],
        "unknown": True,
        "answer": "NotSupported",
        "value": None,
    }


async def test_bad_requests_are_clear_4xx(volta, api):
    await register(volta, "OFF1")
    one = {"variables": [{"component": "A", "variable": "B"}]}
    r = await api.post("/api/v1/stations/OFF1/device-model/get-variables", json=one)
    assert r.status_code == 409 and "not connected" in r.json()["detail"]
    r = await api.post("/api/v1/stations/NOPE/device-model/get-variables", json=one)
    assert r.status_code == 404
    r = await api.get("/api/v1/stations/NOPE/configuration")
    assert r.status_code == 404
    for body in (
        {"variables": []},
        {"variables": [{"component": "A" * 51, "variable": "B"}]},
        {"variables": [{"component": "A", "variable": "B", "connector_id": 1}]},
        {"variables": [{"component": "A", "variable": "B"}] * 1001},
    ):
        r = await api.post("/api/v1/stations/OFF1/device-model/get-variables", json=body)
        assert r.status_code == 422, body
    for body in (
        {},
        {"report_base": "FullInventory", "component_criteria": ["Problem"]},
        {"report_base": "Everything"},
    ):
        r = await api.post("/api/v1/stations/OFF1/device-model/reports", json=body)
        assert r.status_code == 422, body
    r = await api.post(
        "/api/v1/stations/OFF1/configuration/change", json={"key": "K", "value": "v" * 501}
    )
    assert r.status_code == 422


class TestBounded:
    @pytest.fixture
    def volta_settings(self):
        return {"device_model_max_attributes": 3}

    async def test_a_station_cannot_fill_the_database(self, volta, api):
        async with raw_station(volta, "BIG", "ocpp2.0.1", {}) as st:
            data = [attribute("Vendor", f"V{i}", str(i)) for i in range(5)]
            await st.call(
                "NotifyReport",
                {"requestId": 1, "generatedAt": now_iso(), "seqNo": 0, "reportData": data},
            )
            again = [attribute("Vendor", "V0", "changed")]
            await st.call(
                "NotifyReport",
                {"requestId": 2, "generatedAt": now_iso(), "seqNo": 0, "reportData": again},
            )
        page = (await api.get("/api/v1/stations/BIG/device-model")).json()
        assert page["total"] == 3
        assert {i["variable"]: i["value"] for i in page["items"]}["V0"] == "changed"


def test_each_command_is_one_versions_and_valid():
    """2.0.1 spells the device model's requests, 1.6 the configuration
    keys'; the other version refuses; what is built passes the schema."""
    from volta.app import outgoing_tables
    from volta.blocks.device_model.service import (
        ChangeConfiguration,
        ComponentVariable,
        GetBaseReport,
        GetConfiguration,
        GetReport,
        GetVariables,
        SetVariables,
        VariableRef,
    )
    from volta.ocpp.schemas import registry
    from volta.ocpp.versions import Version
    from volta.outgoing import CannotSpell

    tables, schemas = outgoing_tables(), registry()
    ref = VariableRef("EVSE", "Power", evse_id=1, connector_id=2, attribute_type="MaxSet")
    v201 = [
        GetVariables((ref,)),
        SetVariables(((ref, "11000"),)),
        GetBaseReport(3, "SummaryInventory"),
        GetReport(4, (ComponentVariable("EVSE", evse_id=1),), ("Problem",)),
    ]
    v16 = [
        GetConfiguration(("HeartbeatInterval",)),
        GetConfiguration(),
        ChangeConfiguration("K", "v"),
    ]
    for own, other, commands in (
        (Version.V201, Version.V16, v201),
        (Version.V16, Version.V201, v16),
    ):
        for command in commands:
            message = tables[own].build(command)
            schemas.validate(own, message.action, message.payload)
            with pytest.raises(CannotSpell):
                tables[other].build(command)
    assert tables[Version.V201].build(GetVariables((ref,))).payload == {
        "getVariableData": [
            {
                "component": {"name": "EVSE", "evse": {"id": 1, "connectorId": 2}},
                "variable": {"name": "Power"},
                "attributeType": "MaxSet",
            }
        ]
    }
