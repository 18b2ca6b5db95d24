"""How an OCPP 2.0.1 station is asked to start, stop, reset, unlock, change
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
from volta.ocpp.charging import to_v201
from volta.outgoing import CannotSpell, Message, OutgoingTable

outgoing = OutgoingTable()
outgoing.offers(Reset, ("Immediate", "OnIdle"))
# MessageTriggerEnumType, less the certificate requests Volta cannot serve yet.
outgoing.offers(
    TriggerMessage,
    (
        "StatusNotification",
        "Heartbeat",
        "BootNotification",
        "MeterValues",
        "TransactionEvent",
        "FirmwareStatusNotification",
        "LogStatusNotification",
    ),
)


@outgoing.builds(RemoteStart)
def request_start(command: RemoteStart) -> Message:
    # F01.FR.01 / F02.FR.01: remoteStartId lets the station's TransactionEvent
    # name the request it answers; it is the remote-start record's id.
    payload: dict[str, Any] = {
        "idToken": {"idToken": command.id_token, "type": command.id_token_type},
        "remoteStartId": command.remote_start_id,
    }
    if command.evse_id:
        payload["evseId"] = command.evse_id
    if command.charging_profile is not None:
        payload["chargingProfile"] = to_v201(command.charging_profile)
    return Message("RequestStartTransaction", payload)


@outgoing.builds(RemoteStop)
def request_stop(command: RemoteStop) -> Message:
    # F03: by the transactionId the station gave in TransactionEvent Started.
    if not command.station_transaction_id:
        raise CannotSpell(f"transaction {command.transaction_id} has no station transaction id")
    return Message("RequestStopTransaction", {"transactionId": command.station_transaction_id})


@outgoing.builds(Reset)
def reset(command: Reset) -> Message:
    return Message("Reset", {"type": command.kind})


@outgoing.builds(UnlockConnector)
def unlock_connector(command: UnlockConnector) -> Message:
    return Message(
        "UnlockConnector", {"evseId": command.evse_id, "connectorId": command.connector_id}
    )


@outgoing.builds(ChangeAvailability)
def change_availability(command: ChangeAvailability) -> Message:
    # No evse: the whole station (G03.FR.01).
    payload: dict[str, Any] = {
        "operationalStatus": "Operative" if command.operative else "Inoperative"
    }
    if command.evse_id:
        payload["evse"] = {"id": command.evse_id}
    return Message("ChangeAvailability", payload)


@outgoing.builds(TriggerMessage)
def trigger_message(command: TriggerMessage) -> Message:
    payload: dict[str, Any] = {"requestedMessage": command.message}
    if command.evse_id:
        payload["evse"] = {"id": command.evse_id}
    return Message("TriggerMessage", payload)


@outgoing.builds(ConfigurationReport)
def configuration_report(command: ConfigurationReport) -> Message:
    # B07: the station answers with NotifyReport messages carrying requestId.
    return Message(
        "GetBaseReport", {"requestId": command.request_id, "reportBase": "FullInventory"}
    )
