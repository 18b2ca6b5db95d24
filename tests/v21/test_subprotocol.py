"""OCPP 2.1 on the same endpoint: the subprotocol chosen in the client's
order, and every 2.0.1 block served to 2.1 stations by the same services."""

from __future__ import annotations

import pytest
import websockets

from tests.helpers import add_token, now_iso, register, station, wait_until, ws_url
from volta.blocks.transactions import queries as tx_queries

pytestmark = pytest.mark.asyncio

BOOT = {
    "reason": "PowerUp",
    "chargingStation": {"model": "Volta-21", "vendorName": "Volta"},
}


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["ocpp2.1", "ocpp2.0.1", "ocpp1.6"], "ocpp2.1"),
        (["ocpp2.0.1", "ocpp2.1"], "ocpp2.0.1"),
        (["ocpp1.6", "ocpp2.1"], "ocpp1.6"),
        (["ocpp3.0", "ocpp2.1"], "ocpp2.1"),
    ],
)
async def test_the_client_order_chooses_the_version(volta, offered, chosen):
    """OCPP-J 2.1 §3.1.2: the client lists the versions it speaks by
    preference; Volta answers with the first it speaks too."""
    await register(volta, "SP-1")
    async with websockets.connect(
        ws_url(volta, "SP-1"), subprotocols=[websockets.Subprotocol(p) for p in offered]
    ) as ws:
        assert ws.subprotocol == chosen


async def test_a_2_1_station_boots_authorises_and_charges(volta):
    """The 2.0.1 handlers answer a 2.1 station: BootNotification, Authorize,
    a transaction from Started to Ended, stored as any other."""
    await register(volta, "V21-1")
    await add_token(volta, "TAG-21")
    async with station(volta, "V21-1", "2.1") as cp:
        boot = await cp.call("BootNotification", BOOT)
        assert boot["status"] == "Accepted"
        auth = await cp.call("Authorize", {"idToken": {"idToken": "TAG-21", "type": "ISO14443"}})
        assert auth["idTokenInfo"]["status"] == "Accepted"
        token = {"idToken": "TAG-21", "type": "ISO14443"}
        started = await cp.call(
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": now_iso(),
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "tx21-1", "chargingState": "Charging"},
                "evse": {"id": 1, "connectorId": 1},
                "idToken": token,
                "meterValue": [
                    {
                        "timestamp": now_iso(),
                        "sampledValue": [
                            {"value": 1000, "measurand": "Energy.Active.Import.Register"}
                        ],
                    }
                ],
            },
        )
        assert started["idTokenInfo"]["status"] == "Accepted"
        await cp.call(
            "TransactionEvent",
            {
                "eventType": "Ended",
                "timestamp": now_iso(),
                "triggerReason": "StopAuthorized",
                "seqNo": 1,
                "transactionInfo": {"transactionId": "tx21-1", "stoppedReason": "Local"},
                "meterValue": [
                    {
                        "timestamp": now_iso(),
                        "sampledValue": [
                            {"value": 4000, "measurand": "Energy.Active.Import.Register"}
                        ],
                    }
                ],
            },
        )

    async def ended() -> bool:
        rows = await tx_queries.list_transactions(volta.services.db, station_id="V21-1")
        return bool(rows) and rows[0]["stopped_at"] is not None

    assert await wait_until(ended)
    [row] = await tx_queries.list_transactions(volta.services.db, station_id="V21-1")
    assert row["energy_wh"] == 3000


async def test_a_payment_terminal_start_is_accepted(volta):
    """2.1 ad hoc payment (C18): the payment terminal authorised the card with
    the payment service provider, so the transaction starts with the PSP's
    reference as a DirectPayment token Volta has never seen: accepted, where
    an unknown RFID card is not."""
    await register(volta, "V21-PAY")
    async with station(volta, "V21-PAY", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        verdicts = {}
        for n, (kind, ref) in enumerate(
            [("DirectPayment", "PSP-REF-8812"), ("ISO14443", "UNKNOWN-CARD")]
        ):
            answer = await cp.call(
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": now_iso(),
                    "triggerReason": "Authorized",
                    "seqNo": 0,
                    "transactionInfo": {"transactionId": f"pay-{n}"},
                    "evse": {"id": n + 1, "connectorId": 1},
                    "idToken": {"idToken": ref, "type": kind},
                },
            )
            verdicts[kind] = answer["idTokenInfo"]["status"]
    assert verdicts == {"DirectPayment": "Accepted", "ISO14443": "Unknown"}
