"""Register readings that go backwards, jump implausibly or arrive out of
order are stored as sent and flagged, not silently summed (issue 5, meter
values; 2.0.1 J02 / 1.6 §4.7 transaction-related meter values)."""

from __future__ import annotations

import datetime as dt

from ocpp.v16 import call as call16

from tests.helpers import add_token, register, station

# One base for the whole test: taken per call it could cross a second.
BASE = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)


def at(seconds: float) -> str:
    return (BASE + dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


async def test_backwards_jump_and_out_of_order_are_flagged(volta, api):
    await register(volta, "MF-1")
    await add_token(volta, "MF-CARD")
    async with station(volta, "MF-1") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="MF-CARD", meter_start=1000, timestamp=at(0)
            )
        )
        tx_id = started.transaction_id

        async def reading(seconds: float, wh: int) -> None:
            await cp.call(
                call16.MeterValues(
                    connector_id=1,
                    transaction_id=tx_id,
                    meter_value=[
                        {
                            "timestamp": at(seconds),
                            "sampled_value": [
                                {"value": str(wh), "measurand": "Energy.Active.Import.Register"}
                            ],
                        }
                    ],
                )
            )

        await reading(60, 3000)
        await reading(120, 2500)  # backwards
        tx = (await api.get(f"/api/v1/transactions/{tx_id}")).json()
        assert tx["energy_wh"] == 2000  # the step back takes no energy away
        await reading(180, 900_000)  # 897.5 kWh in a minute: no charger does that
        await reading(30, 2000)  # arrives last, was measured second
    tx = (await api.get(f"/api/v1/transactions/{tx_id}")).json()
    flags = {mv["timestamp"][11:19]: mv["flags"] for mv in tx["meter_values"]}

    def hhmmss(seconds: int) -> str:
        return (BASE + dt.timedelta(seconds=seconds)).strftime("%H:%M:%S")

    assert flags == {
        hhmmss(30): ["out_of_order"],
        hhmmss(60): [],
        hhmmss(120): ["register_backwards"],
        hhmmss(180): ["register_jump"],
    }
    assert tx["flags"] == ["register_backwards", "register_jump", "out_of_order"]
    # The list view has no meter values and so no reading flags.
    listed = (await api.get("/api/v1/transactions", params={"station_id": "MF-1"})).json()
    assert listed[0]["flags"] == []
