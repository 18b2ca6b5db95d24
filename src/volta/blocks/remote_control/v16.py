"""How an OCPP 1.6 station is asked to start, stop, reset, unlock, change
availability, send a message and report its configuration."""

from __future__ import annotations

from typing import Any

from volta.blocks.remote_control.service import (
    ChangeAvailability,
    ConfigurationReport,
    RemoteStart,
    RemoteStop,
    Reset,
    TriggerMessage,
    UnlockConnector,
)
from volta.ocpp.charging import NotExpressible, to_v16
from volta.outgoing import CannotSpell, Message, OutgoingTable

outgoing = OutgoingTable()
outgoing.offers(Reset, ("Soft", "Hard"))
# 1.6 §5.17 MessageTrigger.
outgoing.offers(
    TriggerMessage,
    (
        "StatusNotification",
        "Heartbeat",
        "BootNotification",
        "MeterValues",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
    ),
)


@outgoing.builds(RemoteStart)
def remote_start(command: RemoteStart) -> Message:
    # 1.6 has no remoteStartId: the transaction is linked to the request by
    # station, connector and token (transactions.service._link_start).
    payload: dict[str, Any] = {"idTag": command.id_token}
    if command.evse_id:
        payload["connectorId"] = command.evse_id
    if command.charging_profile is not None:
        try:
            payload["chargingProfile"] = to_v16(command.charging_profile)
        except NotExpressible as exc:
            raise CannotSpell(str(exc)) from None
    return Message("RemoteStartTransaction", payload)


@outgoing.builds(RemoteStop)
def remote_stop(command: RemoteStop) -> Message:
    # The transactionId Volta gave in StartTransaction.conf is its row id.
    return Message("RemoteStopTransaction", {"transactionId": command.transaction_id})


@outgoing.builds(Reset)
def reset(command: Reset) -> Message:
    return Message("Reset", {"type": command.kind})


@outgoing.builds(UnlockConnector)
def unlock_connector(command: UnlockConnector) -> Message:
    # 1.6 numbers connectors only; the EVSE is the connector.
    return Message("UnlockConnector", {"connectorId": command.evse_id})


@outgoing.builds(ChangeAvailability)
def change_availability(command: ChangeAvailability) -> Message:
    # connectorId 0 is the whole station (1.6 §5.2).
    return Message(
        "ChangeAvailability",
        {
            "connectorId": command.evse_id or 0,
            "type": "Operative" if command.operative else "Inoperative",
        },
    )


@outgoing.builds(TriggerMessage)
def trigger_message(command: TriggerMessage) -> Message:
    payload: dict[str, Any] = {"requestedMessage": command.message}
    if command.evse_id:
        payload["connectorId"] = command.evse_id
    return Message("TriggerMessage", payload)


@outgoing.builds(ConfigurationReport)
def configuration_report(command: ConfigurationReport) -> Message:
    # No key: every key the station knows (1.6 §5.8); 1.6 has no request id.
    return Message("GetConfiguration", {})
