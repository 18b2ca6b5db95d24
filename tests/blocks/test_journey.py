"""Behaviour found by stations nobody here wrote (issue 12, "journey"), over
real WebSockets on SQLite and PostgreSQL:

1. a 2.0.1 remote start whose Started TransactionEvent carries no idToken
   (F02.FR.01 asks only for the remoteStartId; F01.FR.02 lets the station
   start on the RequestStartTransaction's idToken) takes the token of the
   remote start: the transaction and its CDR have it, and the same token is
   refused ConcurrentTx elsewhere (2.0.1 AuthorizationStatusEnumType);
2. the final message repeats earlier samples (2.0.1 SampledDataTxEndedMeasurands
   in the Ended TransactionEvent, E06 / J02; 1.6 StopTransaction
   transactionData, §6.49): repeats are stored once and are not out of order;
   a new sample that is older than one stored still is;
3. a session whose token was refused is not priced and its CDR is flagged
   `token_refused`;
4. one token holds one live reservation, and a reservation the station did
   not accept (H01 ReserveNowResponse Rejected/Occupied/...; 1.6 §5.13;
   TC_H_22) is a 409 that says what the station said, holding nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.helpers import add_token, register, wait_until
from tests.identification.stations import id_station
from tests.tariffs.tariffs import CITY

BASE = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)


def at(seconds: float) -> str:
    return (BASE + dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def energy(seconds: float, wh: float, context: str = "Sample.Periodic") -> dict[str, Any]:
    return {
        "timestamp": at(seconds),
        "sampledValue": [
            {
                "value": wh,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh"},
            }
        ],
    }


def event(
    kind: str,
    tx: str,
    seq: int,
    seconds: float,
    *,
    trigger: str,
    token: str | None = None,
    info: dict[str, Any] | None = None,
    meter: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": kind,
        "timestamp": at(seconds),
        "triggerReason": trigger,
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx, **(info or {})},
    }
    if seq == 0:
        payload["evse"] = {"id": 1, "connectorId": 1}
    if token:
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
    if meter:
        payload["meterValue"] = meter
    return payload


async def transaction_of(api: Any, station_id: str, station_tx: str) -> dict[str, Any]:
    txs = (await api.get("/api/v1/transactions", params={"station_id": station_id})).json()
    found = next(t for t in txs if t["station_transaction_id"] == station_tx)
    return dict((await api.get(f"/api/v1/transactions/{found['id']}")).json())


async def cdr_of(api: Any, transaction_id: int) -> dict[str, Any]:
    async def written() -> bool:
        resp = await api.get(f"/api/v1/cdrs/VOLTA-{transaction_id}")
        return bool(resp.status_code == 200)

    assert await wait_until(written)
    return dict((await api.get(f"/api/v1/cdrs/VOLTA-{transaction_id}")).json())


# -- 1. a remote start reported without idToken -------------------------------------


async def _remote_start_without_token(volta: Any, api: Any, *, with_id: bool) -> None:
    await add_token(volta, "APP-J", token_type="Central")
    for sid in ("J-A", "J-B"):
        await register(volta, sid)
    async with (
        id_station(volta, "J-A", "2.0.1") as a,
        id_station(volta, "J-B", "2.0.1") as b,
    ):
        start = await api.post(
            "/api/v1/remote-starts",
            json={"station_id": "J-A", "id_token": "APP-J", "evse_id": 1},
        )
        assert start.status_code in (200, 201), start.text
        remote = start.json()
        # F02.FR.01: the remoteStartId, and no idToken (the station started
        # on the token of the request, F01.FR.02). Some stations omit both.
        info = {"remoteStartId": remote["id"]} if with_id else {}
        answer = await a.call(
            "TransactionEvent",
            event(
                "Started",
                "RS-1",
                0,
                0,
                trigger="RemoteStart",
                info={**info, "chargingState": "Charging"},
                meter=[energy(0, 1000, "Transaction.Begin")],
            ),
        )
        assert "idTokenInfo" not in answer
        tx = await transaction_of(api, "J-A", "RS-1")
        assert (tx["id_token"], tx["remote_start_id"]) == ("APP-J", remote["id"])
        got = (await api.get(f"/api/v1/remote-starts/{remote['id']}")).json()
        assert (got["status"], got["transaction_id"]) == ("Started", tx["id"])

        # The same token at another station while this session runs: ConcurrentTx.
        other = await b.call(
            "TransactionEvent",
            event("Started", "OTHER-1", 0, 10, trigger="Authorized", token="APP-J"),
        )
        assert other["idTokenInfo"]["status"] == "ConcurrentTx"

        await a.call(
            "TransactionEvent",
            event(
                "Ended",
                "RS-1",
                1,
                600,
                trigger="StopAuthorized",
                info={"stoppedReason": "Local"},
                meter=[energy(600, 6000, "Transaction.End")],
            ),
        )
    record = await cdr_of(api, tx["id"])
    assert record["id_token"] == "APP-J"
    assert record["energy_wh"] == "5000.000"


async def test_remote_start_without_id_token_takes_the_remote_starts_token(volta, api):
    await _remote_start_without_token(volta, api, with_id=True)


async def test_remote_start_without_token_or_id_takes_the_waiting_remote_start(volta, api):
    await _remote_start_without_token(volta, api, with_id=False)


# -- 2. the final message repeats earlier samples ------------------------------------


def register_readings(tx: dict[str, Any]) -> list[tuple[str, float, list[str]]]:
    return sorted(
        (mv["timestamp"][11:19], mv["value"], mv["flags"])
        for mv in tx["meter_values"]
        if mv["measurand"] == "Energy.Active.Import.Register"
    )


def hhmmss(seconds: float) -> str:
    return (BASE + dt.timedelta(seconds=seconds)).strftime("%H:%M:%S")


async def test_ended_event_repeating_samples_v201(volta, api):
    await add_token(volta, "REP-CARD")
    await register(volta, "REP-201")
    async with id_station(volta, "REP-201", "2.0.1") as cp:
        await cp.call(
            "TransactionEvent",
            event(
                "Started",
                "T-1",
                0,
                0,
                trigger="Authorized",
                token="REP-CARD",
                meter=[energy(0, 1000, "Transaction.Begin")],
            ),
        )
        for seq, seconds, wh in ((1, 60, 2000), (2, 120, 3000)):
            await cp.call(
                "TransactionEvent",
                event("Updated", "T-1", seq, seconds, trigger="MeterValuePeriodic",
                      meter=[energy(seconds, wh)]),
            )  # fmt: skip
        # The Ended event carries the whole session again (TxEnded samples),
        # the start reading included, then the end reading.
        await cp.call(
            "TransactionEvent",
            event(
                "Ended",
                "T-1",
                3,
                180,
                trigger="StopAuthorized",
                info={"stoppedReason": "Local"},
                meter=[
                    energy(0, 1000, "Transaction.Begin"),
                    energy(60, 2000),
                    energy(120, 3000),
                    energy(180, 4000, "Transaction.End"),
                ],
            ),
        )
        # A second session whose Ended event brings one new reading that is
        # older than one already stored: that one is out of order.
        await cp.call(
            "TransactionEvent",
            event("Started", "T-2", 0, 300, trigger="Authorized", token="REP-CARD",
                  meter=[energy(300, 5000, "Transaction.Begin")]),
        )  # fmt: skip
        await cp.call(
            "TransactionEvent",
            event("Updated", "T-2", 1, 420, trigger="MeterValuePeriodic",
                  meter=[energy(420, 7000)]),
        )  # fmt: skip
        await cp.call(
            "TransactionEvent",
            event(
                "Ended",
                "T-2",
                2,
                480,
                trigger="StopAuthorized",
                info={"stoppedReason": "Local"},
                meter=[
                    energy(300, 5000, "Transaction.Begin"),
                    energy(360, 6000),  # new, and older than 420
                    energy(420, 7000),
                    energy(480, 8000, "Transaction.End"),
                ],
            ),
        )
    tx = await transaction_of(api, "REP-201", "T-1")
    assert register_readings(tx) == [
        (hhmmss(0), 1000, []),
        (hhmmss(60), 2000, []),
        (hhmmss(120), 3000, []),
        (hhmmss(180), 4000, []),
    ]
    assert "out_of_order" not in tx["flags"]
    assert (tx["meter_start_wh"], tx["meter_stop_wh"], tx["energy_wh"]) == (1000, 4000, 3000)
    record = await cdr_of(api, tx["id"])
    # The start reading is in the audit trail once as meter_start and once as
    # the stored sample, not a third time.
    assert [r["wh"] for r in record["audit"]["readings"]].count("1000.000") == 2

    second = await transaction_of(api, "REP-201", "T-2")
    assert register_readings(second) == [
        (hhmmss(300), 5000, []),
        (hhmmss(360), 6000, ["out_of_order"]),
        (hhmmss(420), 7000, []),
        (hhmmss(480), 8000, []),
    ]
    assert "out_of_order" in second["flags"]


async def test_stop_transaction_data_repeating_samples_v16(volta, api):
    await add_token(volta, "REP16")
    await register(volta, "REP-16")
    async with id_station(volta, "REP-16") as cp:

        def values(*readings: tuple[float, int, str]) -> list[dict[str, Any]]:
            return [
                {
                    "timestamp": at(seconds),
                    "sampledValue": [
                        {"value": str(wh), "context": context, "unit": "Wh",
                         "measurand": "Energy.Active.Import.Register"}
                    ],
                }
                for seconds, wh, context in readings
            ]  # fmt: skip

        started = await cp.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "REP16", "meterStart": 1000, "timestamp": at(0)},
        )
        tx_id = started["transactionId"]
        for seconds, wh in ((60, 2000), (120, 3000)):
            await cp.call(
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": tx_id,
                    "meterValue": values((seconds, wh, "Sample.Periodic")),
                },
            )
        await cp.call(
            "StopTransaction",
            {
                "transactionId": tx_id,
                "meterStop": 4000,
                "timestamp": at(180),
                "reason": "Local",
                "transactionData": values(
                    (0, 1000, "Transaction.Begin"),
                    (60, 2000, "Sample.Periodic"),
                    (120, 3000, "Sample.Periodic"),
                    (180, 4000, "Transaction.End"),
                ),
            },
        )
    tx = (await api.get(f"/api/v1/transactions/{tx_id}")).json()
    # The Transaction.Begin sample repeats meterStart: the start reading is
    # the transaction's meter_start, not a second, out-of-order row.
    assert tx["meter_start_wh"] == 1000
    assert register_readings(tx) == [
        (hhmmss(60), 2000, []),
        (hhmmss(120), 3000, []),
        (hhmmss(180), 4000, []),
    ]
    assert tx["flags"] == []


# -- 3. a session whose token was refused --------------------------------------------


async def test_refused_token_session_is_flagged_and_not_priced(volta, api):
    await register(volta, "REF-16")
    await register(volta, "REF-201")
    resp = await api.post("/api/v1/tariffs", json=CITY)
    assert resp.status_code == 201, resp.text
    for sid in ("REF-16", "REF-201"):
        assigned = await api.post(
            f"/api/v1/tariffs/{resp.json()['id']}/assignments", json={"station_id": sid}
        )
        assert assigned.status_code == 201, assigned.text
    await add_token(volta, "GOOD")
    await add_token(volta, "BAD", status="Blocked")
    async with id_station(volta, "REF-16") as cp16, id_station(volta, "REF-201", "2.0.1") as cp:
        # 1.6: the start is refused, the charger charges all the same (§5.4 /
        # StopTransactionOnInvalidId false) and reports its stop.
        refused = await cp16.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "BAD", "meterStart": 0, "timestamp": at(0)},
        )
        assert refused["idTagInfo"]["status"] == "Blocked"
        await cp16.call(
            "StopTransaction",
            {"transactionId": refused["transactionId"], "meterStop": 10_000,
             "timestamp": at(3600), "reason": "Local"},
        )  # fmt: skip
        good = await cp16.call(
            "StartTransaction",
            {"connectorId": 2, "idTag": "GOOD", "meterStart": 0, "timestamp": at(0)},
        )
        await cp16.call(
            "StopTransaction",
            {"transactionId": good["transactionId"], "meterStop": 10_000,
             "timestamp": at(3600), "reason": "Local"},
        )  # fmt: skip
        # 2.0.1: the Started event's token is refused (E05); the Ended event
        # still brings energy.
        answer = await cp.call(
            "TransactionEvent",
            event("Started", "BAD-1", 0, 0, trigger="Authorized", token="BAD",
                  meter=[energy(0, 0, "Transaction.Begin")]),
        )  # fmt: skip
        assert answer["idTokenInfo"]["status"] == "Blocked"
        ended = await cp.call(
            "TransactionEvent",
            event("Ended", "BAD-1", 1, 3600, trigger="Deauthorized",
                  info={"stoppedReason": "DeAuthorized"},
                  meter=[energy(3600, 10_000, "Transaction.End")]),
        )  # fmt: skip
        assert "totalCost" not in ended  # nothing to pay: no cost sent

    billed = await cdr_of(api, good["transactionId"])
    assert billed["flags"] == []
    assert billed["currency"] == "EUR" and float(billed["total_incl_tax"]) > 0

    tx201 = await transaction_of(api, "REF-201", "BAD-1")
    for tx_id, status in ((refused["transactionId"], "Blocked"), (tx201["id"], "Blocked")):
        record = await cdr_of(api, tx_id)
        assert record["flags"] == ["token_refused"]
        assert record["id_token"] == "BAD"
        assert record["audit"]["transaction"]["authorization_status"] == status
        # The energy is on record; no tariff priced it.
        assert record["energy_wh"] == "10000.000"
        assert (record["tariff_id"], record["total_incl_tax"]) == (None, "0.00")
        ocpi = (await api.get(f"/api/v1/cdrs/{record['id']}", params={"format": "ocpi"})).json()
        assert "token was refused" in ocpi["remark"]
        cost = (await api.get(f"/api/v1/transactions/{tx_id}/cost")).json()
        assert cost["tariff"] is None


# -- 4. reservations: one per token; the station's refusal ---------------------------


def later(seconds: float = 3600) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


async def test_one_live_reservation_per_token_and_station_refusal(volta, api):
    await add_token(volta, "RES-MUM")
    await add_token(volta, "RES-DAD")
    for sid in ("RV-16", "RV-201"):
        await register(volta, sid)
    async with id_station(volta, "RV-16") as cp16, id_station(volta, "RV-201", "2.0.1") as cp:

        async def reserve(**body: Any) -> Any:
            return await api.post("/api/v1/reservations", json={"expires_at": later(), **body})

        first = await reserve(station_id="RV-16", id_token="RES-MUM", evse_id=1)
        assert first.status_code == 201, first.text
        # A second live reservation for the same token, anywhere: 409, and
        # the station is not asked.
        for where in ({"station_id": "RV-16", "evse_id": 2}, {"station_id": "RV-201"}):
            again = await reserve(id_token="RES-MUM", **where)
            assert again.status_code == 409
            assert "already holds reservation" in again.json()["detail"]
        assert cp16.count("ReserveNow") == 1 and cp.count("ReserveNow") == 0

        # TC_H_22 / 1.6 §5.13: the station answers Rejected / Occupied.
        for station, answer in ((cp, "Rejected"), (cp16, "Occupied")):
            station.answers["ReserveNow"] = answer
            resp = await reserve(station_id=station.id, id_token="RES-DAD", evse_id=2)
            assert resp.status_code == 409, resp.text
            body = resp.json()
            assert body["station_status"] == answer
            assert answer in body["detail"]
            assert body["reservation"]["status"] == answer
            assert body["reservation"]["command"]["response"] == {"status": answer}
            # Nothing is held: it is not active, and it does not block DAD.
            stored = (await api.get(f"/api/v1/reservations/{body['reservation']['id']}")).json()
            assert stored["status"] == answer
        active = (await api.get("/api/v1/reservations", params={"active": "true"})).json()
        assert [r["id"] for r in active] == [first.json()["id"]]
        cp.answers["ReserveNow"] = cp16.answers["ReserveNow"] = "Accepted"
        ok = await reserve(station_id="RV-201", id_token="RES-DAD", evse_id=2)
        assert ok.status_code == 201, ok.text

        # Once the first has ended, the token may reserve again.
        assert (await api.delete(f"/api/v1/reservations/{first.json()['id']}")).status_code == 200
        assert (await reserve(station_id="RV-16", id_token="RES-MUM", evse_id=3)).status_code == 201
