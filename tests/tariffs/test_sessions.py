"""Full sessions over real WebSockets, priced by a tariff assigned through the
API: the CDR, its cost against hand-computed values, 2.0.1 totalCost in
TransactionEventResponse (I02 running, I03 final), and the CSV and OCPI
exports read back. SQLite and PostgreSQL.

The stations send the timestamps, so no cost depends on the wall clock.
2026-11-20 is a Friday, 2026-11-21 a Saturday; Europe/Berlin is UTC+1.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import httpx
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.helpers import add_token, now_iso, register, station, wait_until
from tests.tariffs.tariffs import CITY
from volta.blocks.tariffs import cdr as cdrs
from volta.blocks.tariffs import service
from volta.blocks.transactions import service as transactions


async def tariff_for(api, target: dict, body: dict = CITY) -> int:
    created = await api.post("/api/v1/tariffs", json=body)
    assert created.status_code == 201, created.text
    tariff_id = created.json()["id"]
    assigned = await api.post(f"/api/v1/tariffs/{tariff_id}/assignments", json=target)
    assert assigned.status_code == 201, assigned.text
    return tariff_id


async def cdrs_of(api, station_id: str) -> list[dict]:
    async def one() -> list[dict]:
        return (await api.get("/api/v1/cdrs", params={"station_id": station_id})).json()

    assert await wait_until(one)
    return await one()


def register_mv16(ts: str, wh: int) -> list[dict]:
    return [
        {
            "timestamp": ts,
            "sampledValue": [
                {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
            ],
        }
    ]


async def test_full_session_v16_peak_and_idle_fee_in_the_cdr(volta, api):
    """Friday 16:30-19:00 local: 5 kWh off-peak, 13 kWh in the 17:00 peak,
    charging ends 18:30 local and the car stays 30 minutes (15 billed)."""
    await register(volta, "TAR16")
    await add_token(volta, "CARD-T16")
    tariff_id = await tariff_for(api, {"station_id": "TAR16"})
    async with station(volta, "TAR16", "1.6") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="a", charge_point_model="b"))
        start = await cp.call(
            call16.StartTransaction(
                connector_id=1,
                id_tag="CARD-T16",
                meter_start=0,
                timestamp="2026-11-20T15:30:00Z",
            )
        )
        tx = start.transaction_id
        for ts, wh in (("16:00", 5000), ("17:00", 15000), ("17:30", 18000)):
            await cp.call(
                call16.MeterValues(
                    connector_id=1,
                    transaction_id=tx,
                    meter_value=register_mv16(f"2026-11-20T{ts}:00Z", wh),
                )
            )
        running = (await api.get(f"/api/v1/transactions/{tx}/cost")).json()
        assert running["final"] is False and running["cdr_id"] is None
        assert running["breakdown"]["energy_wh"] == "18000.000"
        await cp.call(
            call16.StopTransaction(
                transaction_id=tx,
                meter_stop=18000,
                timestamp="2026-11-20T18:00:00Z",
                reason="EVDisconnected",
            )
        )
    [record] = await cdrs_of(api, "TAR16")
    assert record["id"] == f"VOLTA-{tx}"
    assert record["transaction_id"] == tx
    assert record["tariff_id"] == tariff_id
    assert record["currency"] == "EUR"
    assert record["energy_wh"] == "18000.000"
    b = record["breakdown"]
    assert [(x["period"], x["energy_amount"], x["time_amount"]) for x in b["lines"]] == [
        ("base", "1.50", "0.60"),  # 5 kWh x 0.30, 30 min x 0.02
        ("peak", "5.85", "4.50"),  # 13 kWh x 0.45, 90 min x 0.05
    ]
    assert (b["idle_minutes"], b["billed_idle_minutes"], b["idle_amount"]) == (
        "30.0000",
        "15.0000",
        "1.50",
    )
    assert b["session_fee"] == "1.00"
    assert (record["total_excl_tax"], record["tax"], record["total_incl_tax"]) == (
        "14.95",
        "2.84",
        "17.79",
    )
    # The audit trail: the readings the cost came from, the tariff, each step.
    audit = record["audit"]
    assert [(r["source"].split(":")[0], r["wh"]) for r in audit["readings"]] == [
        ("meter_start", "0.000"),
        ("meter_value", "5000.000"),
        ("meter_value", "15000.000"),
        ("meter_value", "18000.000"),
        ("meter_stop", "18000.000"),
    ]
    assert audit["tariff"]["price_kwh"] == "0.30" and audit["steps"]["total"] == "17.79"
    assert audit["rounding"].startswith("each period line")
    final = (await api.get(f"/api/v1/transactions/{tx}/cost")).json()
    assert final["final"] is True and final["cdr_id"] == record["id"]
    assert final["breakdown"]["total"] == "17.79"


def mv201(ts: str, wh: int, context: str = "Sample.Periodic") -> list[dict]:
    return [
        {
            "timestamp": ts,
            "sampledValue": [
                {
                    "value": wh,
                    "context": context,
                    "measurand": "Energy.Active.Import.Register",
                    "unitOfMeasure": {"unit": "Wh"},
                }
            ],
        }
    ]


async def test_full_session_v201_total_cost_running_and_final(volta, api):
    """Saturday 11:00-12:30 local on EVSE 1: 20 kWh at the weekend price,
    charging until 12:00, then 30 minutes parked (15 billed).
    I02: running totalCost on Updated; I03: final totalCost on Ended."""
    await register(volta, "TAR201")
    await add_token(volta, "CARD-T201")
    await tariff_for(api, {"station_id": "TAR201", "evse_id": 1})
    token = {"idToken": "CARD-T201", "type": "ISO14443"}
    evse = {"id": 1, "connectorId": 1}

    def event(kind: str, seq: int, ts: str, wh: int, state: str, **extra):
        more = {"id_token": extra.pop("id_token")} if "id_token" in extra else {}
        return call201.TransactionEvent(
            event_type=kind,
            timestamp=f"2026-11-21T{ts}:00Z",
            trigger_reason=extra.pop("trigger", "MeterValuePeriodic"),
            seq_no=seq,
            transaction_info={"transactionId": "T201-1", "chargingState": state, **extra},
            evse=evse,
            meter_value=mv201(
                f"2026-11-21T{ts}:00Z",
                wh,
                {"Started": "Transaction.Begin", "Ended": "Transaction.End"}.get(
                    kind, "Sample.Periodic"
                ),
            ),
            **more,
        )

    async with station(volta, "TAR201", "2.0.1") as cp:
        await cp.call(
            call201.BootNotification(
                charging_station={"model": "m", "vendor_name": "v"}, reason="PowerUp"
            )
        )
        started = await cp.call(
            event("Started", 0, "10:00", 0, "Charging", trigger="Authorized", id_token=token)
        )
        assert started.id_token_info["status"] == "Accepted"
        assert started.total_cost is None  # I02 starts with the first Updated
        # 10 kWh x 0.25 + 30 min x 0.02 + fee 1.00 = 4.10; tax 0.779 -> 0.78
        half = await cp.call(event("Updated", 1, "10:30", 10000, "Charging"))
        assert D(str(half.total_cost)) == D("4.88")
        # 20 kWh: 5.00 + 60 min 1.20 + 1.00 = 7.20; tax 1.368 -> 1.37
        full = await cp.call(
            event("Updated", 2, "11:00", 20000, "SuspendedEV", trigger="ChargingStateChanged")
        )
        assert D(str(full.total_cost)) == D("8.57")
        # 30 min parked, 15 after the grace: + 1.50 -> 8.70; tax 1.653 -> 1.65
        ended = await cp.call(
            event(
                "Ended",
                3,
                "11:30",
                20000,
                "EVConnected",
                trigger="EVDeparted",
                stoppedReason="EVDisconnected",
            )
        )
        assert D(str(ended.total_cost)) == D("10.35")
    [record] = await cdrs_of(api, "TAR201")
    assert record["evse_id"] == 1
    assert [x["period"] for x in record["breakdown"]["lines"]] == ["weekend"]
    assert (record["total_excl_tax"], record["tax"], record["total_incl_tax"]) == (
        "8.70",
        "1.65",
        "10.35",
    )
    assert record["breakdown"]["charging_end"] == "2026-11-21T11:00:00Z"


async def test_cdr_exports_round_trip_and_match_the_cdrs(volta, api):
    """Two sessions; the CSV export and each OCPI CDR read back to the same
    rows, with the hand-computed totals."""
    await register(volta, "EXP1")
    await add_token(volta, "CARD-EXP")
    await tariff_for(api, {"station_id": "EXP1"})
    async with station(volta, "EXP1", "1.6") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="a", charge_point_model="b"))
        for day, meter in ((20, 0), (21, 20000)):
            start = await cp.call(
                call16.StartTransaction(
                    connector_id=1,
                    id_tag="CARD-EXP",
                    meter_start=meter,
                    timestamp=f"2026-11-{day}T10:00:00Z",
                )
            )
            await cp.call(
                call16.StopTransaction(
                    transaction_id=start.transaction_id,
                    meter_stop=meter + 20000,
                    timestamp=f"2026-11-{day}T11:00:00Z",
                )
            )
    assert await wait_until(lambda: _count(api, "EXP1", 2)), "two CDRs"
    listed = (await api.get("/api/v1/cdrs", params={"station_id": "EXP1"})).json()
    # Friday 11:00-12:00 local is off-peak: 20 x 0.30 + 60 x 0.02 + 1 = 8.20 -> 9.76
    # Saturday: 20 x 0.25 + 1.20 + 1 = 7.20 -> 8.57
    assert [r["total_incl_tax"] for r in listed] == ["9.76", "8.57"]
    ocpi = []
    for r in listed:
        resp = await api.get(f"/api/v1/cdrs/{r['id']}", params={"format": "ocpi"})
        assert resp.status_code == 200
        doc = cdrs.loads(resp.content)
        assert doc["total_cost"] == {
            "excl_vat": D(r["total_excl_tax"]),
            "incl_vat": D(r["total_incl_tax"]),
        }
        assert doc["total_energy"] == D(20) and doc["total_time"] == D(1)
        assert [d["type"] for p in doc["charging_periods"] for d in p["dimensions"]] == [
            "ENERGY",
            "TIME",
        ]
        assert doc["tariffs"][0]["elements"][-1]["price_components"][0] == {
            "type": "ENERGY",
            "price": D("0.30"),
            "vat": D(19),
            "step_size": 1,
        }
        ocpi.append(cdrs.from_ocpi(doc))
    exported = await api.get("/api/v1/cdrs.csv", params={"station_id": "EXP1"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = cdrs.from_csv(exported.text)
    assert rows == ocpi
    assert [r.total_incl_tax for r in rows] == [D("9.76"), D("8.57")]
    assert [r.id for r in rows] == [r["id"] for r in listed]
    # Filters: by the day the session ended.
    saturday = await api.get(
        "/api/v1/cdrs.csv",
        params={"station_id": "EXP1", "from": "2026-11-21T00:00:00Z", "to": "2026-11-22T00:00:00Z"},
    )
    assert [r.total_incl_tax for r in cdrs.from_csv(saturday.text)] == [D("8.57")]
    none = await api.get("/api/v1/cdrs", params={"station_id": "NOPE"})
    assert none.json() == []


async def _count(api, station_id: str, n: int) -> bool:
    return len((await api.get("/api/v1/cdrs", params={"station_id": station_id})).json()) == n


async def test_cdrs_are_written_once_and_missing_ones_by_housekeeping(volta, api):
    """A session ended without a follow-up (as after a restart) gets its CDR
    from `create_missing_cdrs`; a CDR is never rewritten, even when the tariff
    changes afterwards."""
    await register(volta, "HK1")
    tariff_id = await tariff_for(api, {"station_id": "HK1"})
    opened = await transactions.start_v16(
        volta.db,
        "HK1",
        connector_id=1,
        id_tag="ANY",
        meter_start_wh=0,
        started_at=_t("2026-11-20T10:00:00"),
        reservation_id=None,
        authorization_status="Accepted",
    )
    await transactions.stop_v16(
        volta.db,
        "HK1",
        transaction_id=opened.id,
        meter_stop_wh=20000,
        stopped_at=_t("2026-11-20T11:00:00"),
        reason=None,
        id_tag=None,
        samples=[],
    )
    assert (await api.get("/api/v1/cdrs", params={"station_id": "HK1"})).json() == []
    assert await service.create_missing_cdrs(volta.services) == 1
    assert await service.create_missing_cdrs(volta.services) == 0
    [before] = (await api.get("/api/v1/cdrs", params={"station_id": "HK1"})).json()
    assert before["total_incl_tax"] == "9.76"
    dearer = CITY | {"price_kwh": "0.60", "periods": []}
    assert (await api.put(f"/api/v1/tariffs/{tariff_id}", json=dearer)).status_code == 200
    again = await service.create_cdr(volta.db, opened.id)
    assert again is not None and again["total_incl_tax"] == "9.76"
    [after] = (await api.get("/api/v1/cdrs", params={"station_id": "HK1"})).json()
    assert after == before
    cost = (await api.get(f"/api/v1/transactions/{opened.id}/cost")).json()
    assert cost["final"] is True and cost["breakdown"]["total"] == "9.76"
    assert (await service.session_cost(volta.db, opened.id)).breakdown.total == D("16.90")


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


async def test_dashboard_shows_the_running_cost(volta, api):
    """The session page of the dashboard shows the cost under the tariff."""
    from tests.web.conftest import ADMIN, add_users, sign_in
    from tests.web.conftest import base_url as web_url

    flat = {**CITY, "periods": [], "timezone": "UTC", "is_default": True}
    assert (await api.post("/api/v1/tariffs", json=flat)).status_code == 201
    await register(volta, "DASH-COST")
    await add_token(volta, "DASH-CARD")
    async with station(volta, "DASH-COST") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="DASH-CARD", meter_start=0, timestamp=now_iso()
            )
        )
    await add_users(volta)
    async with httpx.AsyncClient(base_url=web_url(volta), timeout=15) as web:
        assert (await sign_in(web, *ADMIN)).status_code == 303
        page = await web.get(f"/sessions/{started.transaction_id}")
    assert page.status_code == 200
    # 1.00 session fee + 19 % tax, nothing charged yet.
    assert 'data-testid="session-cost">€1.19' in page.text  # localised (en)
