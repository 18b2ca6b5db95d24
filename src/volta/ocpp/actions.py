"""Which side may start which action, per version (used for NotSupported answers
and to decide what the API may send to a station)."""

from __future__ import annotations

from volta.ocpp.versions import Version

STATION_INITIATED: dict[Version, frozenset[str]] = {
    Version.V16: frozenset(
        {
            # Core
            "Authorize",
            "BootNotification",
            "DataTransfer",
            "Heartbeat",
            "MeterValues",
            "StartTransaction",
            "StatusNotification",
            "StopTransaction",
            # Firmware Management
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            # Security extension
            "LogStatusNotification",
            "SecurityEventNotification",
            "SignCertificate",
            "SignedFirmwareStatusNotification",
        }
    ),
    Version.V201: frozenset(
        {
            "Authorize",
            "BootNotification",
            "ClearedChargingLimit",
            "DataTransfer",
            "FirmwareStatusNotification",
            "Get15118EVCertificate",
            "GetCertificateStatus",
            "Heartbeat",
            "LogStatusNotification",
            "MeterValues",
            "NotifyChargingLimit",
            "NotifyCustomerInformation",
            "NotifyDisplayMessages",
            "NotifyEVChargingNeeds",
            "NotifyEVChargingSchedule",
            "NotifyEvent",
            "NotifyMonitoringReport",
            "NotifyReport",
            "PublishFirmwareStatusNotification",
            "ReportChargingProfiles",
            "ReservationStatusUpdate",
            "SecurityEventNotification",
            "SignCertificate",
            "StatusNotification",
            "TransactionEvent",
        }
    ),
}

# OCPP 2.1: every 2.0.1 action plus its own (2.1 removes none).
_V21_STATION_ONLY = frozenset(
    {
        "BatterySwap",
        "ClosePeriodicEventStream",
        "GetCertificateChainStatus",
        "NotifyDERAlarm",
        "NotifyDERStartStop",
        "NotifyPriorityCharging",
        "NotifySettlement",
        "OpenPeriodicEventStream",
        "PullDynamicScheduleUpdate",
        "ReportDERControl",
        "VatNumberValidation",
    }
)
_V21_CSMS_ONLY = frozenset(
    {
        "AFRRSignal",
        "AdjustPeriodicEventStream",
        "ChangeTransactionTariff",
        "ClearDERControl",
        "ClearTariffs",
        "GetDERControl",
        "GetPeriodicEventStream",
        "GetTariffs",
        "NotifyAllowedEnergyTransfer",
        "NotifyWebPaymentStarted",
        "RequestBatterySwap",
        "SetDERControl",
        "SetDefaultTariff",
        "UpdateDynamicSchedule",
        "UsePriorityCharging",
    }
)
STATION_INITIATED[Version.V21] = STATION_INITIATED[Version.V201] | _V21_STATION_ONLY

# SEND messages (OCPP-J 2.1 §4.2.5: message type 6, never answered), by sender.
STATION_SENDS: dict[Version, frozenset[str]] = {
    Version.V16: frozenset(),
    Version.V201: frozenset(),
    Version.V21: frozenset({"NotifyPeriodicEventStream"}),
}

CSMS_INITIATED: dict[Version, frozenset[str]] = {
    Version.V16: frozenset(
        {
            # Core
            "ChangeAvailability",
            "ChangeConfiguration",
            "ClearCache",
            "DataTransfer",
            "GetConfiguration",
            "RemoteStartTransaction",
            "RemoteStopTransaction",
            "Reset",
            "UnlockConnector",
            # Firmware Management
            "GetDiagnostics",
            "UpdateFirmware",
            # Local Auth List Management
            "GetLocalListVersion",
            "SendLocalList",
            # Reservation
            "CancelReservation",
            "ReserveNow",
            # Smart Charging
            "ClearChargingProfile",
            "GetCompositeSchedule",
            "SetChargingProfile",
            # Remote Trigger
            "TriggerMessage",
            # Security extension
            "CertificateSigned",
            "DeleteCertificate",
            "ExtendedTriggerMessage",
            "GetInstalledCertificateIds",
            "GetLog",
            "InstallCertificate",
            "SignedUpdateFirmware",
        }
    ),
    Version.V201: frozenset(
        {
            "CancelReservation",
            "CertificateSigned",
            "ChangeAvailability",
            "ClearCache",
            "ClearChargingProfile",
            "ClearDisplayMessage",
            "ClearVariableMonitoring",
            "CostUpdated",
            "CustomerInformation",
            "DataTransfer",
            "DeleteCertificate",
            "GetBaseReport",
            "GetChargingProfiles",
            "GetCompositeSchedule",
            "GetDisplayMessages",
            "GetInstalledCertificateIds",
            "GetLocalListVersion",
            "GetLog",
            "GetMonitoringReport",
            "GetReport",
            "GetTransactionStatus",
            "GetVariables",
            "InstallCertificate",
            "PublishFirmware",
            "RequestStartTransaction",
            "RequestStopTransaction",
            "ReserveNow",
            "Reset",
            "SendLocalList",
            "SetChargingProfile",
            "SetDisplayMessage",
            "SetMonitoringBase",
            "SetMonitoringLevel",
            "SetNetworkProfile",
            "SetVariableMonitoring",
            "SetVariables",
            "TriggerMessage",
            "UnlockConnector",
            "UnpublishFirmware",
            "UpdateFirmware",
        }
    ),
}
CSMS_INITIATED[Version.V21] = CSMS_INITIATED[Version.V201] | _V21_CSMS_ONLY
