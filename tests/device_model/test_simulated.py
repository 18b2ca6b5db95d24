"""The simulated station's device model against Volta: it reports and
enforces its ItemsPerMessage, and Volta's splitting keeps under it."""

from __future__ import annotations

from tests.helpers import wait_until
from tests.test_simulator import command, quiet, running
from volta.simulator import v201 as simulated


async def test_the_simulator_enforces_its_limit_and_volta_keeps_under_it(volta, api):
    too_many = simulated.ITEMS_PER_MESSAGE + 5
    variables = [{"component": "ChargingStation", "variable": "Model"}] * too_many
    async with running(volta, quiet(volta, "2.0.1")) as [station]:
        sid = station.id
        # Sent as it is (a raw command): every element Rejected, TooManyElements.
        raw = await command(
            api,
            sid,
            "GetVariables",
            {
                "getVariableData": [
                    {"component": {"name": v["component"]}, "variable": {"name": v["variable"]}}
                    for v in variables
                ]
            },
        )
        results = raw["response"]["getVariableResult"]
        assert {r["attributeStatus"] for r in results} == {"Rejected"}
        assert results[0]["attributeStatusInfo"] == {"reasonCode": "TooManyElements"}
        # Through the device model: asked for the limits, then split.
        r = await api.post(
            f"/api/v1/stations/{sid}/device-model/get-variables", json={"variables": variables}
        )
        assert r.status_code == 200, r.text
        assert r.json()["messages"] == 2
        assert {x["attribute_status"] for x in r.json()["results"]} == {"Accepted"}
        assert {x["value"] for x in r.json()["results"]} == {"Volta Simulator"}
        # A full report, in parts, fills the model and completes.
        r = await api.post(
            f"/api/v1/stations/{sid}/device-model/reports", json={"report_base": "FullInventory"}
        )
        assert r.status_code == 200, r.text
        request_id = r.json()["reports"][0]["request_id"]

        async def complete() -> bool:
            reports = (await api.get(f"/api/v1/stations/{sid}/device-model/reports")).json()
            return any(x["request_id"] == request_id and x["status"] == "complete" for x in reports)

        assert await wait_until(complete, 15)
        reports = (await api.get(f"/api/v1/stations/{sid}/device-model/reports")).json()
        assert next(x for x in reports if x["request_id"] == request_id)["parts"] >= 2
        power = (
            await api.get(f"/api/v1/stations/{sid}/device-model", params={"q": "power"})
        ).json()
        assert power["total"] >= 1 and power["items"][0]["unit"] == "W"
        # A ReadOnly variable cannot be set; a ReadWrite one can.
        r = await api.post(
            f"/api/v1/stations/{sid}/device-model/set-variables",
            json={
                "variables": [
                    {"component": "ChargingStation", "variable": "Model", "value": "X"},
                    {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "90"},
                ]
            },
        )
        assert [x["attribute_status"] for x in r.json()["results"]] == ["Rejected", "Accepted"]
        assert station.heartbeat_interval == 90


async def test_configuration_of_a_simulated_16_station(volta, api):
    async with running(volta, quiet(volta, "1.6")) as [station]:
        sid = station.id
        r = await api.post(f"/api/v1/stations/{sid}/configuration/get", json={})
        assert r.status_code == 200, r.text
        keys = {k["key"]: k for k in r.json()["keys"]}
        assert keys["GetConfigurationMaxKeys"]["value"] == "20"
        assert keys["NumberOfConnectors"]["readonly"] is True
        r = await api.post(
            f"/api/v1/stations/{sid}/configuration/change",
            json={"key": "HeartbeatInterval", "value": "45"},
        )
        assert r.json()["key"]["answer"] == "Accepted"
        assert station.heartbeat_interval == 45
