"""The HTTP API's front door: bearer-token auth, health, metrics, OpenAPI."""

from __future__ import annotations

import asyncio
import os

import httpx
from ocpp.v16 import call
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import API_TOKEN
from tests.helpers import register, station

# The operator-facing surface: every path and method the API promises.
API_V1 = {
    # display messages, customer information
    "/api/v1/stations/{station_id}/display-messages": {"get", "post"},
    "/api/v1/stations/{station_id}/display-messages/{message_id}": {"delete"},
    "/api/v1/stations/{station_id}/display-messages/refresh": {"post"},
    "/api/v1/stations/{station_id}/customer-information": {"post"},
    "/api/v1/customer-information-requests/{request_id}": {"get"},
    "/api/v1/id-tokens/{token}/erase": {"post"},
    "/api/v1/stations": {"get", "post"},
    "/api/v1/stations/{station_id}": {"get", "put", "patch", "delete"},
    "/api/v1/stations/{station_id}/messages": {"get"},
    "/api/v1/stations/{station_id}/commands/{action}": {"post"},
    "/api/v1/stations/{station_id}/security-profile": {"post"},
    "/api/v1/tls/reload": {"post"},
    "/api/v1/security-events": {"get"},
    "/api/v1/stations/{station_id}/password-rotation": {"get", "post"},
    "/api/v1/plug-and-charge": {"get"},
    "/api/v1/plug-and-charge/contract-check": {"post"},
    "/api/v1/plug-and-charge/ocsp-cache": {"delete"},
    "/api/v1/commands/{command_id}": {"get"},
    "/api/v1/id-tokens": {"get", "post"},
    "/api/v1/id-tokens/{token}": {"get", "patch", "delete"},
    "/api/v1/transactions": {"get"},
    "/api/v1/transactions/{transaction_id}": {"get"},
    "/api/v1/transactions/{transaction_id}/stop": {"post"},
    "/api/v1/transactions/{transaction_id}/close": {"post"},
    "/api/v1/remote-starts": {"get", "post"},
    "/api/v1/remote-starts/{remote_start_id}": {"get"},
    "/api/v1/reservations": {"get", "post"},
    "/api/v1/reservations/{reservation_id}": {"get", "delete"},
    "/api/v1/stations/{station_id}/local-list": {"get", "put", "patch", "delete"},
    "/api/v1/stations/{station_id}/local-list/sync": {"post"},
    "/api/v1/stations/{station_id}/local-list/version": {"post"},
    "/api/v1/stations/{station_id}/device-model": {"get"},
    "/api/v1/stations/{station_id}/device-model/get-variables": {"post"},
    "/api/v1/stations/{station_id}/device-model/set-variables": {"post"},
    "/api/v1/stations/{station_id}/device-model/reports": {"get", "post"},
    "/api/v1/stations/{station_id}/configuration": {"get"},
    "/api/v1/stations/{station_id}/configuration/get": {"post"},
    "/api/v1/stations/{station_id}/configuration/change": {"post"},
    "/api/v1/stations/{station_id}/evses/{evse_id}/qr": {"get"},
    "/api/v1/transactions/{transaction_id}/limits": {"put"},
    "/api/v1/events": {"get"},
    "/api/v1/events/stream": {"get"},
    "/api/v1/webhooks": {"get", "post"},
    "/api/v1/webhooks/{webhook_id}": {"get", "patch", "delete"},
    "/api/v1/webhooks/{webhook_id}/deliveries": {"get"},
    "/api/v1/tariffs": {"get", "post"},
    "/api/v1/tariffs/{tariff_id}": {"get", "put", "delete"},
    "/api/v1/tariffs/{tariff_id}/assignments": {"get", "post"},
    "/api/v1/tariff-assignments/{assignment_id}": {"delete"},
    "/api/v1/transactions/{transaction_id}/cost": {"get"},
    "/api/v1/cdrs": {"get"},
    "/api/v1/cdrs.csv": {"get"},
    "/api/v1/cdrs/{cdr_id}": {"get"},
    "/api/v1/stations/{station_id}/charging-profiles": {"get", "post", "delete"},
    "/api/v1/stations/{station_id}/charging-profiles/{profile_id}": {"delete"},
    "/api/v1/stations/{station_id}/charging-profiles/report": {"post"},
    "/api/v1/stations/{station_id}/evses/{evse_id}/composite-schedule": {"get"},
    "/api/v1/nodes": {"get"},
    "/api/v1/sites": {"get", "post"},
    "/api/v1/sites/{site_id}": {"get", "patch", "delete"},
    "/api/v1/sites/{site_id}/limit": {"put"},
    "/api/v1/sites/{site_id}/meter": {"post"},
    "/api/v1/stations/{station_id}/evses/{evse_id}/priority": {"put"},
    # certificates
    "/api/v1/ca": {"get"},
    "/api/v1/certificates": {"get"},
    "/api/v1/certificates/{certificate_id}": {"get"},
    "/api/v1/certificate-requests": {"get"},
    "/api/v1/stations/{station_id}/certificates": {"get"},
    "/api/v1/stations/{station_id}/certificates/refresh": {"post"},
    "/api/v1/stations/{station_id}/certificates/install": {"post"},
    "/api/v1/stations/{station_id}/certificates/delete": {"post"},
    "/api/v1/stations/{station_id}/certificates/renew": {"post"},
    # files, diagnostics and logs
    "/api/v1/files": {"get", "post"},
    "/api/v1/files/{file_id}": {"get", "delete"},
    "/api/v1/files/{file_id}/content": {"get"},
    "/api/v1/stations/{station_id}/diagnostics": {"post"},
    "/api/v1/stations/{station_id}/logs": {"post"},
    "/api/v1/log-requests": {"get"},
    "/api/v1/log-requests/{request_id}": {"get"},
    # firmware
    "/api/v1/stations/{station_id}/firmware-updates": {"post"},
    "/api/v1/firmware-updates": {"get"},
    "/api/v1/firmware-updates/{update_id}": {"get"},
    "/api/v1/firmware-campaigns": {"get", "post"},
    "/api/v1/firmware-campaigns/{campaign_id}": {"get"},
    "/api/v1/firmware-campaigns/{campaign_id}/{move}": {"post"},
    "/api/v1/stations/{station_id}/firmware-publications": {"post"},
    "/api/v1/firmware-publications": {"get"},
    "/api/v1/firmware-publications/{publication_id}": {"get"},
    "/api/v1/firmware-publications/{publication_id}/unpublish": {"post"},
    # monitoring
    "/api/v1/stations/{station_id}/monitors": {"get", "post"},
    "/api/v1/stations/{station_id}/monitors/clear": {"post"},
    "/api/v1/stations/{station_id}/monitors/{monitor_id}": {"delete"},
    "/api/v1/stations/{station_id}/monitoring-base": {"post"},
    "/api/v1/stations/{station_id}/monitoring-level": {"post"},
    "/api/v1/stations/{station_id}/monitoring-reports": {"get", "post"},
    "/api/v1/monitoring-events": {"get"},
    "/api/v1/monitor-sets": {"get"},
    "/api/v1/monitor-sets/{name}/apply": {"post"},
    # charger profiles, availability (issue 15)
    "/api/v1/charger-profiles": {"get"},
    "/api/v1/charger-profiles/{profile_id}": {"get"},
    "/api/v1/charger-profiles/stations": {"get"},
    "/api/v1/charger-profiles/stations/{station_id}": {"get"},
    "/api/v1/availability": {"get"},
    "/api/v1/availability.csv": {"get"},
    "/api/v1/maintenance-windows": {"get", "post"},
    "/api/v1/maintenance-windows/{window_id}": {"delete"},
    # OCPP 2.1 (issue 16): tariffs in the station
    "/api/v1/tariffs/{tariff_id}/ocpp21": {"get"},
    "/api/v1/stations/{station_id}/default-tariff": {"post"},
    "/api/v1/transactions/{transaction_id}/tariff": {"post"},
    "/api/v1/stations/{station_id}/tariffs": {"get"},
    "/api/v1/stations/{station_id}/tariffs/refresh": {"post"},
    "/api/v1/stations/{station_id}/tariffs/clear": {"post"},
    # payment, priority charging, battery swap, event streams
    "/api/v1/settlements": {"get"},
    "/api/v1/stations/{station_id}/web-payments": {"post"},
    "/api/v1/vat-numbers": {"get", "put"},
    "/api/v1/vat-numbers/{vat_number}": {"delete"},
    "/api/v1/transactions/{transaction_id}/priority-charging": {"get", "post"},
    "/api/v1/stations/{station_id}/battery-swaps": {"post"},
    "/api/v1/battery-swaps": {"get"},
    "/api/v1/stations/{station_id}/event-streams": {"get"},
    "/api/v1/stations/{station_id}/event-streams/refresh": {"post"},
    "/api/v1/stations/{station_id}/event-streams/{stream_id}": {"get"},
    "/api/v1/stations/{station_id}/event-streams/{stream_id}/data": {"get"},
    "/api/v1/stations/{station_id}/event-streams/{stream_id}/adjust": {"post"},
    # V2X
    "/api/v1/id-tokens/{token}/energy-transfer": {"get", "put", "delete"},
    "/api/v1/stations/{station_id}/transactions/{transaction_id}/allowed-energy-transfer": {"post"},
    "/api/v1/stations/{station_id}/charging-profiles/{profile_id}/dynamic-schedule": {
        "get",
        "post",
    },
    "/api/v1/stations/{station_id}/afrr-signal": {"post"},
    "/api/v1/stations/{station_id}/evses/{evse_id}/v2x": {"get"},
    # DER control
    "/api/v1/stations/{station_id}/der-controls": {"get", "post"},
    "/api/v1/stations/{station_id}/der-controls/clear": {"post"},
    "/api/v1/stations/{station_id}/der-controls/refresh": {"post"},
    "/api/v1/stations/{station_id}/der-reports": {"get"},
    "/api/v1/stations/{station_id}/der-alarms": {"get"},
    "/api/v1/stations/{station_id}/der-start-stops": {"get"},
}


def base_url(volta) -> str:
    return f"http://127.0.0.1:{volta.api_port}"


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The values of one metric's samples, keyed by their sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def test_no_token_is_401(volta):
    async with httpx.AsyncClient(base_url=base_url(volta), timeout=10) as client:
        for path in ("/api/v1/stations", "/api/v1/id-tokens", "/api/v1/transactions"):
            resp = await client.get(path)
            assert resp.status_code == 401, path
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            assert resp.json()["detail"]


async def test_wrong_token_is_401(volta):
    headers = {"Authorization": "Bearer not-the-token"}
    async with httpx.AsyncClient(base_url=base_url(volta), headers=headers, timeout=10) as client:
        resp = await client.get("/api/v1/stations")
        assert resp.status_code == 401
        resp = await client.post("/api/v1/stations", json={"id": "CP-SNEAK"})
        assert resp.status_code == 401
    async with httpx.AsyncClient(base_url=base_url(volta), timeout=10) as client:
        # The right secret in the wrong scheme is no bearer token either.
        resp = await client.get("/api/v1/stations", headers={"Authorization": f"Basic {API_TOKEN}"})
        assert resp.status_code == 401
    # Nothing was created by the refused POST.
    async with httpx.AsyncClient(
        base_url=base_url(volta), headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
    ) as client:
        assert (await client.get("/api/v1/stations/CP-SNEAK")).status_code == 404


async def test_right_token_is_200(api):
    for path in ("/api/v1/stations", "/api/v1/id-tokens", "/api/v1/transactions"):
        resp = await api.get(path)
        assert resp.status_code == 200, path
        assert resp.json() == []


async def test_healthz_needs_no_token(volta):
    async with httpx.AsyncClient(base_url=base_url(volta), timeout=10) as client:
        resp = await client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "database": "ok", "stations_connected": 0}


async def test_healthz_counts_connected_stations(volta):
    await register(volta, "CP-H")
    async with httpx.AsyncClient(base_url=base_url(volta), timeout=10) as client:
        async with station(volta, "CP-H") as cp:
            await cp.call(call.Heartbeat())
            resp = await client.get("/healthz")
            assert resp.json()["stations_connected"] == 1
        for _ in range(60):
            resp = await client.get("/healthz")
            if resp.json()["stations_connected"] == 0:
                break
            await asyncio.sleep(0.05)
        assert resp.json()["stations_connected"] == 0


async def test_metrics_need_no_token(volta):
    await register(volta, "CP-M")
    async with httpx.AsyncClient(base_url=base_url(volta), timeout=10) as client:
        before = (await client.get("/metrics")).text
        async with station(volta, "CP-M") as cp:
            await cp.call(call.Heartbeat())
            resp = await client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert "volta_stations_connected" in text
    connected = samples(text, "volta_stations_connected")
    assert connected[(("protocol", "ocpp1.6"),)] >= 1

    # The station's Heartbeat and our answer were counted, by action.
    frames_before = samples(before, "volta_ocpp_frames_total")
    frames_after = samples(text, "volta_ocpp_frames_total")
    for direction in ("in", "out"):
        key = (("action", "Heartbeat"), ("direction", direction))
        assert frames_after[key] == frames_before.get(key, 0) + 1, direction
    lines = [line for line in text.splitlines() if line.startswith("volta_ocpp_frames_total{")]
    assert any('action="Heartbeat"' in line and 'direction="in"' in line for line in lines)


async def test_openapi_lists_every_api_path(volta):
    async with httpx.AsyncClient(base_url=base_url(volta), timeout=10) as client:
        resp = await client.get("/openapi.json")
    assert resp.status_code == 200
    spec = resp.json()
    paths = spec["paths"]
    listed = {p: set(ops) for p, ops in paths.items() if p.startswith("/api/v1")}
    assert listed == API_V1
    # Every API operation says it needs the bearer token; health does not.
    for path in API_V1:
        for op in paths[path].values():
            assert op.get("security") == [{"HTTPBearer": []}], path
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" not in paths["/healthz"]["get"]


async def test_one_process_lists_itself_as_the_only_node(volta, api):
    """GET /api/v1/nodes (docs/scale-out.md): one process, no nats_url."""
    resp = await api.get("/api/v1/nodes")
    assert resp.status_code == 200
    [node] = resp.json()
    assert node["leader"] is True and node["state"] == "running"
    assert node["pid"] == os.getpid() and node["lease_until"] is None
