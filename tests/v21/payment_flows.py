"""Shared steps of the 2.1 payment-part tests: boot, a transaction."""

from __future__ import annotations

from typing import Any

from tests.helpers import now_iso

BOOT = {"reason": "PowerUp", "chargingStation": {"model": "Volta-21", "vendorName": "Volta"}}


def tx_event(
    event: str, tx: str, seq: int, wh: int, token: str | None = None, **info: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": event,
        "timestamp": now_iso(),
        "triggerReason": {"Started": "Authorized", "Ended": "StopAuthorized"}.get(
            event, "MeterValuePeriodic"
        ),
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx, **info},
        "meterValue": [
            {
                "timestamp": now_iso(),
                "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register"}],
            }
        ],
    }
    if event == "Started":
        payload["evse"] = {"id": 1, "connectorId": 1}
    if token is not None:
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
    return payload


async def start(cp: Any, tx: str, token: str) -> None:
    answer = await cp.call(
        "TransactionEvent", tx_event("Started", tx, 0, 1000, token, chargingState="Charging")
    )
    assert answer["idTokenInfo"]["status"] == "Accepted"


async def end(cp: Any, tx: str) -> None:
    await cp.call("TransactionEvent", tx_event("Ended", tx, 1, 5000, stoppedReason="Local"))
