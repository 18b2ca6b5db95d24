"""Transactions for both versions: start, meter values, stop; energy from
the register; idempotent repeats; unknown stops answered."""

from __future__ import annotations

import sqlalchemy as sa
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.helpers import RawStation, add_token, connect, now_iso, register, station
from volta.store.models import TransactionEvent


async def boot16(cp) -> None:
    await cp.call(call16.BootNotification(charge_point_vendor="a", charge_point_model="b"))


async def boot201(cp) -> None:
    await cp.call(
        call201.BootNotification(
            charging_station={"model": "m", "vendor_name": "v"}, reason="PowerUp"
        )
    )


def energy_mv16(ts: str, value: str, unit: str = "Wh") -> list[dict]:
    return [
        {
            "timestamp": ts,
            "sampledValue": [
                {"value": value, "measurand": "Energy.Active.Import.Register", "unit": unit},
                {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
                {"value": "31.3", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
            ],
        }
    ]


async def test_full_transaction_v16(volta, api):
    await register(volta, "T16")
    await add_token(volta, "CARD-1")
    async with station(volta, "T16", "1.6") as cp:
        await boot16(cp)
        assert (await cp.call(call16.Authorize(id_tag="CARD-1"))).id_tag_info[
            "status"
        ] == "Accepted"
        start = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="CARD-1", meter_start=12_000, timestamp=now_iso(-3600)
            )
        )
        assert start.id_tag_info["status"] == "Accepted"
        tx = start.transaction_id
        active = (
            await api.get("/api/v1/transactions", params={"active": True, "station_id": "T16"})
        ).json()
        assert [t["id"] for t in active] == [tx]
        # kWh is normalised to Wh: 13.5 kWh register -> 1500 Wh so far.
        await cp.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=energy_mv16(now_iso(-1800), "13.5", "kWh"),
            )
        )
        mid = (await api.get(f"/api/v1/transactions/{tx}")).json()
        assert mid["energy_wh"] == 1500
        await cp.call(
            call16.MeterValues(
                connector_id=1, transaction_id=tx, meter_value=energy_mv16(now_iso(-60), "19000")
            )
        )
        stop = await cp.call(
            call16.StopTransaction(
                transaction_id=tx,
                meter_stop=20_500,
                timestamp=now_iso(),
                id_tag="CARD-1",
                reason="EVDisconnected",
                transaction_data=energy_mv16(now_iso(), "20500"),
            )
        )
        assert stop.id_tag_info["status"] == "Accepted"
    body = (await api.get(f"/api/v1/transactions/{tx}")).json()
    assert body["status"] == "Ended"
    assert body["meter_start_wh"] == 12_000
    assert body["meter_stop_wh"] == 20_500
    assert body["energy_wh"] == 8_500
    assert body["stop_reason"] == "EVDisconnected"
    assert body["id_token"] == "CARD-1"
    registers = [
        m for m in body["meter_values"] if m["measurand"] == "Energy.Active.Import.Register"
    ]
    assert [m["value"] for m in registers] == [13_500, 19_000, 20_500]
    assert registers[0]["raw_value"] == "13.5" and registers[0]["raw_unit"] == "kWh"
    measurands = {m["measurand"] for m in body["meter_values"]}
    assert measurands == {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
    }
    assert len(body["meter_values"]) == 12
    ended = (await api.get("/api/v1/transactions", params={"active": False})).json()
    assert [t["id"] for t in ended] == [tx]


async def test_repeated_start_transaction_gets_same_id_v16(volta, api):
    """A station whose StartTransaction.conf was lost sends it again: one transaction."""
    await register(volta, "R16")
    await add_token(volta, "CARD-2")
    async with station(volta, "R16", "1.6") as cp:
        await boot16(cp)
        ts = now_iso()
        first = await cp.call(
            call16.StartTransaction(connector_id=2, id_tag="CARD-2", meter_start=500, timestamp=ts)
        )
        again = await cp.call(
            call16.StartTransaction(connector_id=2, id_tag="CARD-2", meter_start=500, timestamp=ts)
        )
        other = await cp.call(
            call16.StartTransaction(connector_id=1, id_tag="CARD-2", meter_start=0, timestamp=ts)
        )
    assert first.transaction_id == again.transaction_id
    assert other.transaction_id != first.transaction_id
    assert len((await api.get("/api/v1/transactions", params={"station_id": "R16"})).json()) == 2


async def test_start_with_unknown_tag_is_recorded_as_invalid_v16(volta, api):
    await register(volta, "U16")
    async with station(volta, "U16", "1.6") as cp:
        await boot16(cp)
        r = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="STRANGER", meter_start=0, timestamp=now_iso()
            )
        )
        assert r.id_tag_info["status"] == "Invalid"
    body = (await api.get(f"/api/v1/transactions/{r.transaction_id}")).json()
    assert body["authorization_status"] == "Invalid"


async def test_stop_unknown_and_repeated_stop_v16(volta, api):
    """OCPP 1.6 §4.10: StopTransaction for an unknown id is still answered; a
    repeated stop changes nothing."""
    await register(volta, "S16")
    await add_token(volta, "CARD-3")
    async with connect(volta, "S16", "ocpp1.6") as ws:
        raw = RawStation(ws)
        r = await raw.call(
            "StopTransaction", {"transactionId": 424242, "meterStop": 10, "timestamp": now_iso()}
        )
        assert r[0] == 3 and r[2] == {}
        r = await raw.call(
            "StopTransaction",
            {"transactionId": 424242, "meterStop": 10, "timestamp": now_iso(), "idTag": "CARD-3"},
        )
        assert r[2] == {"idTagInfo": {"status": "Accepted"}}
        start = await raw.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "CARD-3", "meterStart": 100, "timestamp": now_iso()},
        )
        tx = start[2]["transactionId"]
        stop = {"transactionId": tx, "meterStop": 1100, "timestamp": now_iso()}
        assert (await raw.call("StopTransaction", stop))[0] == 3
        stop2 = {"transactionId": tx, "meterStop": 9999, "timestamp": now_iso()}
        assert (await raw.call("StopTransaction", stop2))[0] == 3
    body = (await api.get(f"/api/v1/transactions/{tx}")).json()
    assert body["energy_wh"] == 1000
    assert body["meter_stop_wh"] == 1100


def tx_event(
    event_type: str, seq: int, tx_id: str, *, trigger: str, ts: str, **extra
) -> call201.TransactionEvent:
    return call201.TransactionEvent(
        event_type=event_type,
        timestamp=ts,
        trigger_reason=trigger,
        seq_no=seq,
        transaction_info={"transaction_id": tx_id, **extra.pop("info", {})},
        **extra,
    )


def energy_mv201(
    ts: str, wh: float, context: str = "Sample.Periodic", multiplier: int = 0
) -> list[dict]:
    return [
        {
            "timestamp": ts,
            "sampled_value": [
                {
                    "value": wh,
                    "context": context,
                    "measurand": "Energy.Active.Import.Register",
                    "unit_of_measure": {"unit": "Wh", "multiplier": multiplier},
                },
                {
                    "value": 11000,
                    "context": context,
                    "measurand": "Power.Active.Import",
                    "unit_of_measure": {"unit": "W"},
                },
            ],
        }
    ]


async def test_full_transaction_v201(volta, api):
    await register(volta, "T201")
    await add_token(volta, "APP-1", token_type="Central", group_id="FLEET")
    async with station(volta, "T201", "2.0.1") as cp:
        await boot201(cp)
        token = {"id_token": "APP-1", "type": "Central"}
        started = await cp.call(
            tx_event(
                "Started",
                0,
                "TX-A",
                trigger="Authorized",
                ts=now_iso(-600),
                id_token=token,
                evse={"id": 1, "connector_id": 1},
                info={"charging_state": "EVConnected"},
                meter_value=energy_mv201(now_iso(-600), 50_000, "Transaction.Begin"),
            )
        )
        assert started.id_token_info["status"] == "Accepted"
        assert started.id_token_info["group_id_token"]["id_token"] == "FLEET"
        updated = await cp.call(
            tx_event(
                "Updated",
                1,
                "TX-A",
                trigger="MeterValuePeriodic",
                ts=now_iso(-300),
                info={"charging_state": "Charging"},
                meter_value=energy_mv201(now_iso(-300), 52.5, multiplier=3),
            )
        )
        assert updated.id_token_info is None
        active = (
            await api.get("/api/v1/transactions", params={"station_id": "T201", "active": True})
        ).json()
        assert len(active) == 1 and active[0]["energy_wh"] == 2500
        assert active[0]["charging_state"] == "Charging"
        await cp.call(
            tx_event(
                "Ended",
                2,
                "TX-A",
                trigger="EVCommunicationLost",
                ts=now_iso(),
                info={"charging_state": "Idle", "stopped_reason": "EVDisconnected"},
                meter_value=energy_mv201(now_iso(), 57_250, "Transaction.End"),
            )
        )
    tx = (await api.get("/api/v1/transactions", params={"station_id": "T201"})).json()[0]
    body = (await api.get(f"/api/v1/transactions/{tx['id']}")).json()
    assert body["station_transaction_id"] == "TX-A"
    assert body["status"] == "Ended"
    assert (body["evse_id"], body["connector_id"]) == (1, 1)
    assert body["meter_start_wh"] == 50_000
    assert body["meter_stop_wh"] == 57_250
    assert body["energy_wh"] == 7_250
    assert body["stop_reason"] == "EVDisconnected"
    assert body["id_token"] == "APP-1"
    assert len(body["meter_values"]) == 6


async def test_repeated_transaction_event_is_not_counted_twice_v201(volta, api):
    """A repeated (transactionId, seqNo) is acknowledged and not applied again."""
    await register(volta, "D201")
    async with station(volta, "D201", "2.0.1") as cp:
        await boot201(cp)
        ts = now_iso()
        ev = tx_event(
            "Started",
            0,
            "TX-D",
            trigger="CablePluggedIn",
            ts=ts,
            evse={"id": 2, "connector_id": 1},
            meter_value=energy_mv201(ts, 1000, "Transaction.Begin"),
        )
        await cp.call(ev)
        await cp.call(ev)
        upd = tx_event(
            "Updated",
            1,
            "TX-D",
            trigger="MeterValuePeriodic",
            ts=now_iso(),
            meter_value=energy_mv201(now_iso(), 1800),
        )
        await cp.call(upd)
        await cp.call(upd)
    txs = (await api.get("/api/v1/transactions", params={"station_id": "D201"})).json()
    assert len(txs) == 1
    body = (await api.get(f"/api/v1/transactions/{txs[0]['id']}")).json()
    assert len(body["meter_values"]) == 4  # two events, two values each, once
    assert body["energy_wh"] == 800
    async with volta.db.read() as conn:
        seqs = (
            (
                await conn.execute(
                    sa.select(TransactionEvent.seq_no).where(
                        TransactionEvent.transaction_id == txs[0]["id"]
                    )
                )
            )
            .scalars()
            .all()
        )
    assert sorted(seqs) == [0, 1]


async def test_ended_without_started_opens_and_closes_v201(volta, api):
    """E01: the Started event may be lost; an Ended event alone still makes a
    closed transaction with its energy."""
    await register(volta, "E201")
    async with station(volta, "E201", "2.0.1") as cp:
        await boot201(cp)
        await cp.call(
            tx_event(
                "Ended",
                5,
                "TX-E",
                trigger="StopAuthorized",
                ts=now_iso(),
                evse={"id": 1, "connector_id": 1},
                info={"stopped_reason": "Local"},
                id_token={"id_token": "X", "type": "ISO14443"},
                meter_value=[
                    {
                        "timestamp": now_iso(-100),
                        "sampled_value": [{"value": 100, "context": "Transaction.Begin"}],
                    },
                    {
                        "timestamp": now_iso(),
                        "sampled_value": [{"value": 400, "context": "Transaction.End"}],
                    },
                ],
            )
        )
    body = (await api.get("/api/v1/transactions", params={"station_id": "E201"})).json()[0]
    assert body["status"] == "Ended"
    assert body["energy_wh"] == 300


async def test_meter_values_outside_transaction_v201(volta):
    await register(volta, "M201")
    async with station(volta, "M201", "2.0.1") as cp:
        await boot201(cp)
        r = await cp.call(call201.MeterValues(evse_id=0, meter_value=energy_mv201(now_iso(), 123)))
        assert r is not None
