"""Block B device model cases with Volta's own logic: the operator asks
through /device-model, Volta splits and combines (TC_B_08) and builds the
custom report (TC_B_18)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import now_iso

LIMITS = {("ItemsPerMessage", "GetVariables"): "4", ("BytesPerMessage", "GetVariables"): "4096"}
VALUES = LIMITS | {
    ("ItemsPerMessage", "GetReport"): "10",
    ("BytesPerMessage", "GetReport"): "8192",
    ("AuthorizeRemoteStart", None): "true",
}


def _get_variables(p: dict[str, Any]) -> dict[str, Any]:
    results = []
    for d in p["getVariableData"]:
        value = VALUES.get((d["variable"]["name"], d["variable"].get("instance")))
        result = {"component": d["component"], "variable": d["variable"]}
        if value is None:
            result["attributeStatus"] = "UnknownVariable"
        else:
            result |= {"attributeStatus": "Accepted", "attributeValue": value}
        results.append(result)
    return {"getVariableResult": results}


def _variable(component: str, name: str, instance: str | None = None) -> dict[str, Any]:
    item = {"component": component, "variable": name}
    return item | {"variable_instance": instance} if instance else item


async def test_TC_B_08_CSMS(cs, api, answers):
    """B06.FR.05: the CSMS sends no more GetVariableData elements in one
    GetVariablesRequest than the station's ItemsPerMessageGetVariables (4,
    configured on the station and read first); 5 variables go as 4 + 1 and
    the answers come back combined."""
    answers["GetVariables"] = _get_variables
    wanted = [
        _variable("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"),
        _variable("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables"),
        _variable("DeviceDataCtrlr", "BytesPerMessage", "GetReport"),
        _variable("DeviceDataCtrlr", "BytesPerMessage", "GetVariables"),
        _variable("AuthCtrlr", "AuthorizeRemoteStart"),
    ]
    request = asyncio.create_task(
        api.post("/api/v1/stations/CS201/device-model/get-variables", json={"variables": wanted})
    )
    limits = await cs.expect("GetVariables")
    assert {d["variable"]["instance"] for d in limits["getVariableData"]} == {"GetVariables"}
    sizes, asked = [], set()
    for _ in range(2):
        sent = (await cs.expect("GetVariables"))["getVariableData"]
        sizes.append(len(sent))
        asked |= {
            (d["component"]["name"], d["variable"]["name"], d["variable"].get("instance"))
            for d in sent
        }
    assert sorted(sizes) == [1, 4]
    assert asked == {
        ("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"),
        ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables"),
        ("DeviceDataCtrlr", "BytesPerMessage", "GetReport"),
        ("DeviceDataCtrlr", "BytesPerMessage", "GetVariables"),
        ("AuthCtrlr", "AuthorizeRemoteStart", None),
    }
    r = await request
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["messages"] == 2
    assert [x["value"] for x in body["results"]] == ["10", "4", "8192", "4096", "true"]


async def test_TC_B_18_CSMS(cs, api, answers):
    """B08.FR.01/03: GetReportRequest of EVSE #1 AvailabilityState with
    componentCriteria Problem (EmptyResultSet: the report ends, nothing
    comes), then Available (Accepted: the NotifyReport is answered and stored)."""
    answers["GetReport"] = lambda p: {
        "status": "EmptyResultSet" if "Problem" in p["componentCriteria"] else "Accepted"
    }
    wanted = [{"component": "EVSE", "evse_id": 1, "variable": "AvailabilityState"}]
    for criterion, answer, state in (
        ("Problem", "EmptyResultSet", "refused"),
        ("Available", "Accepted", "requested"),
    ):
        request = asyncio.create_task(
            api.post(
                "/api/v1/stations/CS201/device-model/reports",
                json={"component_variables": wanted, "component_criteria": [criterion]},
            )
        )
        sent = await cs.expect("GetReport")
        assert sent["componentCriteria"] == [criterion]
        (cv,) = sent["componentVariable"]
        assert cv["component"] == {"name": "EVSE", "evse": {"id": 1}}
        assert cv["variable"] == {"name": "AvailabilityState"}
        r = await request
        assert r.status_code == 200, r.text
        (report,) = r.json()["reports"]
        assert (report["answer"], report["status"]) == (answer, state)
    data = [
        {
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "AvailabilityState"},
            "variableAttribute": [
                {"type": "Actual", "value": "Available", "mutability": "ReadOnly"}
            ],
            "variableCharacteristics": {"dataType": "OptionList", "supportsMonitoring": True},
        }
    ]
    notify = {
        "requestId": sent["requestId"],
        "generatedAt": now_iso(),
        "seqNo": 0,
        "reportData": data,
    }
    assert await cs.call("NotifyReport", notify) == {}
    reports = (await api.get("/api/v1/stations/CS201/device-model/reports")).json()
    done = next(x for x in reports if x["request_id"] == sent["requestId"])
    assert done["status"] == "complete" and done["items"] == 1
    model = (await api.get("/api/v1/stations/CS201/device-model", params={"evse_id": 1})).json()
    assert [(i["variable"], i["value"]) for i in model["items"]] == [
        ("AvailabilityState", "Available")
    ]
