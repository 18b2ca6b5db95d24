"""A MeterValues sent again is stored once (OCPP-J 1.6 §4.1.1: a CALL whose
answer never came is sent again; the CSMS may have stored it, e.g. when the
node that answered died before the answer left it, docs/scale-out.md).

Values that come in order never cost a read; a message whose samples are all
at or before the newest stored one is checked against what is stored, and
only what is new is kept, so an older reading the station sends late (its
offline queue) is still stored."""

from __future__ import annotations

from tests.helpers import add_token, now_iso, register, station
from volta.blocks.transactions import live


def values(tx: int, at: str, wh: int) -> dict:
    return {
        "connectorId": 1,
        "transactionId": tx,
        "meterValue": [{"timestamp": at, "sampledValue": [{"value": str(wh)}]}],
    }


async def test_a_meter_values_sent_again_is_stored_once(volta, api) -> None:
    await register(volta, "MV-REPEAT")
    await add_token(volta, "CARD-MV")
    async with station(volta, "MV-REPEAT") as cp:
        start = {"connectorId": 1, "idTag": "CARD-MV", "meterStart": 0, "timestamp": now_iso(-600)}
        tx = (await cp.call("StartTransaction", start))["transactionId"]
        first, second, late = now_iso(-300), now_iso(-200), now_iso(-400)
        assert await cp.call("MeterValues", values(tx, first, 1000)) == {}
        assert await cp.call("MeterValues", values(tx, second, 2000)) == {}
        # The same message again (its answer was lost), then again after the
        # session was read afresh (as on another node, or after a restart).
        assert await cp.call("MeterValues", values(tx, second, 2000)) == {}
        live.live_of(volta.db).forget(tx)
        assert await cp.call("MeterValues", values(tx, first, 1000)) == {}
        # An older reading never sent before is new: it is kept.
        assert await cp.call("MeterValues", values(tx, late, 500)) == {}
    body = (await api.get(f"/api/v1/transactions/{tx}")).json()
    assert sorted(m["value"] for m in body["meter_values"]) == [500, 1000, 2000]
    assert body["energy_wh"] == 2000
