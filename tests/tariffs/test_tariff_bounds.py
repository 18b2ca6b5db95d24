"""Issue 12: every tariff amount is bounded, the currency is ISO 4217, and a
station is never sent a non-finite totalCost (OCPP 2.0.1 I02.FR / I03.FR:
TransactionEventResponse.totalCost is a decimal number; JSON has no
Infinity, and `null` breaks the schema). SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from ocpp.v201 import call as call201

from tests.helpers import add_token, register, station
from volta.blocks.tariffs.model import Tariff, TariffError

BASE = {"name": "T", "currency": "EUR"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price_kwh": "1e400"}, "price_kwh"),
        ({"price_kwh": "1000000.01"}, "price_kwh"),
        ({"price_minute": "0.1234567"}, "price_minute"),
        ({"session_fee": "-0.01"}, "session_fee"),
        ({"price_idle_minute": "Infinity"}, "price_idle_minute"),
        ({"idle_grace_minutes": "1e7"}, "idle_grace_minutes"),
        ({"tax_percent": "1e400"}, "tax_percent"),
        ({"periods": [{"start": "10:00", "price_kwh": "1e400"}]}, "periods.0.price_kwh"),
        ({"currency": "ABC"}, "currency"),
        ({"currency": "XTS"}, "currency"),
        ({"currency": "XXX"}, "currency"),
        ({"currency": "eur"}, "currency"),
    ],
)
async def test_out_of_range_amounts_and_unknown_currencies_are_422(volta, api, change, field):
    answer = await api.post("/api/v1/tariffs", json=BASE | change)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert [".".join(map(str, e["loc"])) for e in body["errors"]] == [f"body.{field}"]
    assert (await api.get("/api/v1/tariffs")).json() == []


async def test_amounts_at_the_bounds_are_accepted(volta, api):
    body = BASE | {"currency": "JPY", "price_kwh": "1000000", "price_minute": "0.000001"}
    answer = await api.post("/api/v1/tariffs", json=body)
    assert answer.status_code == 201, answer.text
    assert (await api.get(f"/api/v1/tariffs/{answer.json()['id']}")).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"price_kwh": "1e400"},
        {"price_kwh": "1000001"},
        {"session_fee": "0.0000001"},
        {"currency": "ABC"},
        {"periods": [{"price_minute": "1e400"}]},
    ],
)
def test_the_tariff_model_refuses_the_same(change):
    with pytest.raises(TariffError):
        Tariff.from_dict(BASE | change)


def test_a_no_tariff_snapshot_still_loads():
    """The CDR of a session no tariff covers is in XXX ("no currency"); its
    snapshot is read back for the OCPI export."""
    assert Tariff.from_dict({"name": "no tariff", "currency": "XXX"}).currency == "XXX"


async def test_a_huge_cost_is_never_sent_and_never_a_callerror(volta, api):
    """A legal tariff and an absurd meter (1e308 Wh) make a cost beyond any
    float: the TransactionEventResponse leaves totalCost out instead of
    sending Infinity/null, and every event is still acknowledged."""
    await register(volta, "HUGE")
    await add_token(volta, "CARD-H")
    created = await api.post("/api/v1/tariffs", json=BASE | {"price_kwh": "1000000"})
    assert created.status_code == 201, created.text
    assigned = await api.post(
        f"/api/v1/tariffs/{created.json()['id']}/assignments", json={"station_id": "HUGE"}
    )
    assert assigned.status_code == 201

    def event(kind: str, seq: int, minute: int, wh: float) -> call201.TransactionEvent:
        ts = f"2026-11-21T10:{minute:02d}:00Z"
        extra = {"id_token": {"idToken": "CARD-H", "type": "ISO14443"}} if seq == 0 else {}
        return call201.TransactionEvent(
            event_type=kind,
            timestamp=ts,
            trigger_reason="Authorized" if seq == 0 else "MeterValuePeriodic",
            seq_no=seq,
            transaction_info={"transactionId": "H-1", "chargingState": "Charging"},
            evse={"id": 1, "connectorId": 1},
            meter_value=[
                {
                    "timestamp": ts,
                    "sampledValue": [
                        {
                            "value": wh,
                            "measurand": "Energy.Active.Import.Register",
                            "unitOfMeasure": {"unit": "Wh"},
                        }
                    ],
                }
            ],
            **extra,
        )

    async with station(volta, "HUGE", "2.0.1") as cp:
        await cp.call(
            call201.BootNotification(
                charging_station={"model": "m", "vendor_name": "v"}, reason="PowerUp"
            )
        )
        assert (await cp.call(event("Started", 0, 0, 0))) is not None
        for seq, wh in ((1, 1e20), (2, 1e308)):
            answer = await cp.call(event("Updated", seq, seq, wh))
            assert answer is not None, "answered with a CALLERROR"
            assert answer.total_cost is None
        ended = await cp.call(event("Ended", 3, 5, 1.7e308))
        assert ended is not None and ended.total_cost is None
