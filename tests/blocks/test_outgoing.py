"""The outgoing adapters: each version-neutral command, spelled by the 1.6
and the 2.0.1 tables, is the message that version's schema accepts; and a
later version is a table derived from 2.0.1 with overrides."""

from __future__ import annotations

import datetime as dt

import pytest

from volta.app import outgoing_tables
from volta.blocks.authorization.service import Authorization
from volta.blocks.certificates.hashdata import HashData
from volta.blocks.certificates.service import (
    CertificateSigned,
    DeleteCertificate,
    GetInstalledCertificateIds,
    InstallCertificate,
    RequestCsr,
)
from volta.blocks.charger_profiles.service import ApplySetting
from volta.blocks.customer_information.service import Customer, CustomerInformation
from volta.blocks.device_model.service import (
    ChangeConfiguration,
    GetBaseReport,
    GetConfiguration,
    GetReport,
    GetVariables,
    SetVariables,
)
from volta.blocks.diagnostics.service import GetDiagnostics, GetLog
from volta.blocks.display_messages.service import (
    ClearDisplayMessage,
    GetDisplayMessages,
    MessageSpec,
    SetDisplayMessage,
)
from volta.blocks.firmware.publications import PublishFirmware, UnpublishFirmware
from volta.blocks.firmware.service import UpdateFirmware
from volta.blocks.local_list.service import GetLocalListVersion, ListEntry, SendLocalList
from volta.blocks.monitoring import service as monitoring
from volta.blocks.remote_control.service import (
    ChangeAvailability,
    ConfigurationReport,
    RemoteStart,
    RemoteStop,
    Reset,
    TriggerMessage,
    UnlockConnector,
)
from volta.blocks.reservations.service import CancelReservation, ReserveNow
from volta.blocks.security.passwords import SetStationPassword
from volta.blocks.smart_charging.service import (
    ClearChargingProfile,
    GetChargingProfiles,
    GetCompositeSchedule,
    SetChargingProfile,
)
from volta.ocpp.charging import Period, Profile, Schedule
from volta.ocpp.errors import OcppError
from volta.ocpp.schemas import registry
from volta.ocpp.times import format_timestamp
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell, Message, OutgoingTable

V16, V201 = Version.V16, Version.V201
TABLES = outgoing_tables()
EXPIRES = dt.datetime(2026, 12, 24, 18, 0, tzinfo=dt.UTC)
DEVICE_MODEL_COMMANDS = (
    GetVariables,
    SetVariables,
    GetBaseReport,
    GetReport,
    GetConfiguration,
    ChangeConfiguration,
)
ACCEPTED = Authorization("Accepted", group_id="FLEET-1", group_type="Central")

# command -> (1.6 message, 2.0.1 message)
CASES: list[tuple[object, Message, Message]] = [
    (
        ApplySetting(
            "900", key="ClockAlignedDataInterval", component="AlignedDataCtrlr", variable="Interval"
        ),
        Message("ChangeConfiguration", {"key": "ClockAlignedDataInterval", "value": "900"}),
        Message(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "attributeValue": "900",
                        "component": {"name": "AlignedDataCtrlr"},
                        "variable": {"name": "Interval"},
                    }
                ]
            },
        ),
    ),
    (
        UpdateFirmware(9, "https://fw.example.com/fw-2.bin", EXPIRES, retries=3, retry_interval=60),
        Message(
            "UpdateFirmware",
            {
                "location": "https://fw.example.com/fw-2.bin",
                "retrieveDate": "2026-12-24T18:00:00.000Z",
                "retries": 3,
                "retryInterval": 60,
            },
        ),
        Message(
            "UpdateFirmware",
            {
                "requestId": 9,
                "firmware": {
                    "location": "https://fw.example.com/fw-2.bin",
                    "retrieveDateTime": "2026-12-24T18:00:00.000Z",
                },
                "retries": 3,
                "retryInterval": 60,
            },
        ),
    ),
    (
        RemoteStart("TAG-1", "Central", remote_start_id=17, evse_id=2),
        Message("RemoteStartTransaction", {"idTag": "TAG-1", "connectorId": 2}),
        Message(
            "RequestStartTransaction",
            {"idToken": {"idToken": "TAG-1", "type": "Central"}, "remoteStartId": 17, "evseId": 2},
        ),
    ),
    (
        RemoteStart("TAG-1", "Central", remote_start_id=18),
        Message("RemoteStartTransaction", {"idTag": "TAG-1"}),
        Message(
            "RequestStartTransaction",
            {"idToken": {"idToken": "TAG-1", "type": "Central"}, "remoteStartId": 18},
        ),
    ),
    (
        RemoteStop(41, "station-tx-9"),
        Message("RemoteStopTransaction", {"transactionId": 41}),
        Message("RequestStopTransaction", {"transactionId": "station-tx-9"}),
    ),
    (
        UnlockConnector(3),
        Message("UnlockConnector", {"connectorId": 3}),
        Message("UnlockConnector", {"evseId": 3, "connectorId": 1}),
    ),
    (
        ChangeAvailability(operative=False),
        Message("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}),
        Message("ChangeAvailability", {"operationalStatus": "Inoperative"}),
    ),
    (
        ChangeAvailability(operative=True, evse_id=2),
        Message("ChangeAvailability", {"connectorId": 2, "type": "Operative"}),
        Message("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 2}}),
    ),
    (
        TriggerMessage("StatusNotification", evse_id=1),
        Message("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}),
        Message("TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1}}),
    ),
    (
        ConfigurationReport(request_id=5),
        Message("GetConfiguration", {}),
        Message("GetBaseReport", {"requestId": 5, "reportBase": "FullInventory"}),
    ),
    (
        ReserveNow(
            7, EXPIRES, "TAG-1", "ISO14443", evse_id=1, group_id="FLEET-1", group_type="Central"
        ),
        Message(
            "ReserveNow",
            {
                "connectorId": 1,
                "expiryDate": "2026-12-24T18:00:00.000Z",
                "idTag": "TAG-1",
                "reservationId": 7,
                "parentIdTag": "FLEET-1",
            },
        ),
        Message(
            "ReserveNow",
            {
                "id": 7,
                "expiryDateTime": "2026-12-24T18:00:00.000Z",
                "idToken": {"idToken": "TAG-1", "type": "ISO14443"},
                "evseId": 1,
                "groupIdToken": {"idToken": "FLEET-1", "type": "Central"},
            },
        ),
    ),
    (
        CancelReservation(7),
        Message("CancelReservation", {"reservationId": 7}),
        Message("CancelReservation", {"reservationId": 7}),
    ),
    (
        SendLocalList(4, full=False, entries=(ListEntry("TAG-1", "ISO14443", None),)),
        Message(
            "SendLocalList",
            {
                "listVersion": 4,
                "updateType": "Differential",
                "localAuthorizationList": [{"idTag": "TAG-1"}],
            },
        ),
        Message(
            "SendLocalList",
            {
                "versionNumber": 4,
                "updateType": "Differential",
                "localAuthorizationList": [{"idToken": {"idToken": "TAG-1", "type": "ISO14443"}}],
            },
        ),
    ),
    (
        # A Full update without entries empties the list (TC_D_04).
        SendLocalList(2, full=True, entries=()),
        Message("SendLocalList", {"listVersion": 2, "updateType": "Full"}),
        Message("SendLocalList", {"versionNumber": 2, "updateType": "Full"}),
    ),
    (
        GetLocalListVersion(),
        Message("GetLocalListVersion", {}),
        Message("GetLocalListVersion", {}),
    ),
    (
        SetChargingProfile(
            0,
            Profile(
                9, 0, "ChargingStationMaxProfile", "Relative", (Schedule("A", (Period(0, 32),)),)
            ),
        ),
        Message(
            "SetChargingProfile",
            {
                "connectorId": 0,
                "csChargingProfiles": {
                    "chargingProfileId": 9,
                    "chargingProfilePurpose": "ChargePointMaxProfile",
                    "stackLevel": 0,
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": {
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}],
                    },
                },
            },
        ),
        Message(
            "SetChargingProfile",
            {
                "evseId": 0,
                "chargingProfile": {
                    "id": 9,
                    "chargingProfilePurpose": "ChargingStationMaxProfile",
                    "stackLevel": 0,
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": [
                        {
                            "id": 0,
                            "chargingRateUnit": "A",
                            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}],
                        }
                    ],
                },
            },
        ),
    ),
    (
        ClearChargingProfile(evse_id=1, purpose="TxProfile"),
        Message("ClearChargingProfile", {"connectorId": 1, "chargingProfilePurpose": "TxProfile"}),
        Message(
            "ClearChargingProfile",
            {"chargingProfileCriteria": {"evseId": 1, "chargingProfilePurpose": "TxProfile"}},
        ),
    ),
    (
        GetCompositeSchedule(1, 900, "W"),
        Message(
            "GetCompositeSchedule", {"connectorId": 1, "duration": 900, "chargingRateUnit": "W"}
        ),
        Message("GetCompositeSchedule", {"duration": 900, "evseId": 1, "chargingRateUnit": "W"}),
    ),
    (
        # 1.6 whitepaper: the password's bytes in hex; 2.0.1 A01.FR.02.
        SetStationPassword("Pw-16-chars:+|@."),
        Message(
            "ChangeConfiguration",
            {"key": "AuthorizationKey", "value": "50772D31362D63686172733A2B7C402E"},
        ),
        Message(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "attributeType": "Actual",
                        "attributeValue": "Pw-16-chars:+|@.",
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                    }
                ]
            },
        ),
    ),
    # Certificates: 2.0.1 A02/A03, M03-M05; the 1.6 security whitepaper
    # (CentralSystemRootCertificate is 1.6's CSMSRootCertificate; 1.6 has no
    # certificateType in CertificateSigned and asks for a CSR with
    # ExtendedTriggerMessage).
    (
        CertificateSigned("-----PEM-----", "ChargingStationCertificate"),
        Message("CertificateSigned", {"certificateChain": "-----PEM-----"}),
        Message(
            "CertificateSigned",
            {"certificateChain": "-----PEM-----", "certificateType": "ChargingStationCertificate"},
        ),
    ),
    (
        InstallCertificate("CSMSRootCertificate", "-----PEM-----"),
        Message(
            "InstallCertificate",
            {"certificateType": "CentralSystemRootCertificate", "certificate": "-----PEM-----"},
        ),
        Message(
            "InstallCertificate",
            {"certificateType": "CSMSRootCertificate", "certificate": "-----PEM-----"},
        ),
    ),
    (
        GetInstalledCertificateIds(("ManufacturerRootCertificate",)),
        Message("GetInstalledCertificateIds", {"certificateType": "ManufacturerRootCertificate"}),
        Message("GetInstalledCertificateIds", {"certificateType": ["ManufacturerRootCertificate"]}),
    ),
    (
        DeleteCertificate(HashData("SHA256", "ab" * 32, "cd" * 32, "0a1b")),
        Message(
            "DeleteCertificate",
            {
                "certificateHashData": {
                    "hashAlgorithm": "SHA256",
                    "issuerNameHash": "ab" * 32,
                    "issuerKeyHash": "cd" * 32,
                    "serialNumber": "0a1b",
                }
            },
        ),
        Message(
            "DeleteCertificate",
            {
                "certificateHashData": {
                    "hashAlgorithm": "SHA256",
                    "issuerNameHash": "ab" * 32,
                    "issuerKeyHash": "cd" * 32,
                    "serialNumber": "0a1b",
                }
            },
        ),
    ),
    (
        RequestCsr("ChargingStationCertificate"),
        Message("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}),
        Message("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"}),
    ),
    # Logs: 2.0.1 N01 and the 1.6 security extension's GetLog, in the same words.
    (
        GetLog("SecurityLog", 12, "https://csms.example/transfers/t/", retries=2, oldest=EXPIRES),
        Message(
            "GetLog",
            {
                "log": {
                    "remoteLocation": "https://csms.example/transfers/t/",
                    "oldestTimestamp": "2026-12-24T18:00:00.000Z",
                },
                "logType": "SecurityLog",
                "requestId": 12,
                "retries": 2,
            },
        ),
        Message(
            "GetLog",
            {
                "log": {
                    "remoteLocation": "https://csms.example/transfers/t/",
                    "oldestTimestamp": "2026-12-24T18:00:00.000Z",
                },
                "logType": "SecurityLog",
                "requestId": 12,
                "retries": 2,
            },
        ),
    ),
]


@pytest.mark.parametrize(("command", "v16", "v201"), CASES, ids=lambda c: type(c).__name__)
def test_each_version_spells_the_command_its_own_way(command, v16, v201):
    schemas = registry()
    for version, expected in ((V16, v16), (V201, v201)):
        message = TABLES[version].build(command)
        assert message == expected, version
        schemas.validate(version, message.action, message.payload)  # raises if not


@pytest.mark.parametrize("version", [V16, V201])
def test_list_entries_carry_the_verdict(version):
    entry = ListEntry("TAG-1", "ISO14443", ACCEPTED)
    message = TABLES[version].build(SendLocalList(3, full=True, entries=(entry,)))
    [item] = message.payload["localAuthorizationList"]
    info = item["idTagInfo"] if version is V16 else item["idTokenInfo"]
    assert info["status"] == "Accepted"
    registry().validate(version, message.action, message.payload)


def test_both_versions_build_every_command_and_offer_their_own_choices():
    assert set(TABLES[V16].builders) == set(TABLES[V201].builders)
    # Commands one version cannot spell (each refuses with CannotSpell):
    # GetChargingProfiles (K09), PublishFirmware and UnpublishFirmware
    # (L03/L04) are 2.0.1 only; GetDiagnostics is 1.6 only (2.0.1 asks for a
    # DiagnosticsLog with GetLog).
    # The device model's commands are each one version's (tests/device_model).
    one_version = {GetChargingProfiles, PublishFirmware, UnpublishFirmware, GetDiagnostics}
    one_version |= set(DEVICE_MODEL_COMMANDS) | set(MONITORING_V201) | set(V201_ONLY_DISPLAY)
    assert {type(c) for c, _, _ in CASES} | {Reset} | one_version == set(TABLES[V201].builders)
    for command in (PublishFirmware(1, "https://lc/fw.bin", "0" * 32), UnpublishFirmware("0" * 32)):
        with pytest.raises(CannotSpell):
            TABLES[V16].build(command)
    with pytest.raises(CannotSpell):
        TABLES[V16].build(GetChargingProfiles(1))
    with pytest.raises(CannotSpell):
        TABLES[V201].build(GetDiagnostics("ftp://x/"))
    diagnostics = TABLES[V16].build(GetDiagnostics("ftp://x/", 3, 60, EXPIRES, EXPIRES))
    assert diagnostics == Message(
        "GetDiagnostics",
        {
            "location": "ftp://x/",
            "retries": 3,
            "retryInterval": 60,
            "startTime": "2026-12-24T18:00:00.000Z",
            "stopTime": "2026-12-24T18:00:00.000Z",
        },
    )
    registry().validate(V16, diagnostics.action, diagnostics.payload)
    assert TABLES[V16].choices[Reset] == ("Soft", "Hard")
    assert TABLES[V201].choices[Reset] == ("Immediate", "OnIdle")
    assert "TransactionEvent" in TABLES[V201].choices[TriggerMessage]
    assert "TransactionEvent" not in TABLES[V16].choices[TriggerMessage]


def test_reset_carries_the_word_of_the_station_version():
    """The dashboard offers `choices[Reset]` of the station's version; the
    other version's word is refused by the schema check the session makes."""
    schemas = registry()
    for version in (V16, V201):
        for kind in TABLES[version].choices[Reset]:
            message = TABLES[version].build(Reset(kind))
            assert message == Message("Reset", {"type": kind})
            schemas.validate(version, message.action, message.payload)
    with pytest.raises(OcppError):
        schemas.validate(V201, "Reset", TABLES[V201].build(Reset("Hard")).payload)


def test_what_a_version_cannot_say_is_refused():
    with pytest.raises(CannotSpell, match="connector type"):
        TABLES[V16].build(ReserveNow(1, EXPIRES, "T", "ISO14443", connector_type="cType2"))
    with pytest.raises(CannotSpell, match="no station transaction id"):
        TABLES[V201].build(RemoteStop(41, None))
    with pytest.raises(CannotSpell, match="no message for object"):
        TABLES[V201].build(object())


def test_a_later_version_is_2_0_1_plus_overrides():
    """How 2.1 is added: a table of its own with what differs, derived from
    the 2.0.1 table; the services keep building through `outgoing[version]`."""
    overrides = OutgoingTable()
    overrides.offers(Reset, ("Immediate", "OnIdle", "ImmediateAndResume"))

    @overrides.builds(RemoteStart)
    def request_start_21(command: RemoteStart) -> Message:
        return Message(
            "RequestStartTransaction",
            {
                "idToken": {"idToken": command.id_token, "type": "Central"},
                "remoteStartId": command.remote_start_id,
                "customData": {"vendorId": "2.1"},
            },
        )

    v21 = TABLES[V201].derive(overrides)
    start = RemoteStart("TAG-1", "ISO14443", remote_start_id=3)
    assert v21.build(start).payload["customData"] == {"vendorId": "2.1"}
    assert v21.choices[Reset] == ("Immediate", "OnIdle", "ImmediateAndResume")
    # Everything else falls back to 2.0.1, and 2.0.1 itself is unchanged.
    for command, _, v201 in CASES:
        if not isinstance(command, RemoteStart):
            assert v21.build(command) == v201
    assert "customData" not in TABLES[V201].build(start).payload
    assert TABLES[V201].choices[Reset] == ("Immediate", "OnIdle")


def test_two_blocks_building_one_command_is_a_bug():
    a, b = OutgoingTable(), OutgoingTable()
    a.builds(Reset)(lambda c: Message("Reset", {}))
    b.builds(Reset)(lambda c: Message("Reset", {}))
    with pytest.raises(RuntimeError, match="two builders for Reset"):
        OutgoingTable.combine(a, b)


# 2.0.1-only (block N): 1.6 refuses to spell them; what 2.0.1 sends.
MONITORING_V201: dict[type, tuple[object, Message]] = {
    monitoring.SetVariableMonitoring: (
        monitoring.SetVariableMonitoring(
            (
                monitoring.MonitorSpec(
                    monitoring.Target("EVSE", "Power", evse_id=1), "UpperThreshold", 11.5, 3, True
                ),
            )
        ),
        Message(
            "SetVariableMonitoring",
            {
                "setMonitoringData": [
                    {
                        "value": 11.5,
                        "type": "UpperThreshold",
                        "severity": 3,
                        "component": {"name": "EVSE", "evse": {"id": 1}},
                        "variable": {"name": "Power"},
                        "transaction": True,
                    }
                ]
            },
        ),
    ),
    monitoring.ClearVariableMonitoring: (
        monitoring.ClearVariableMonitoring((3, 4)),
        Message("ClearVariableMonitoring", {"id": [3, 4]}),
    ),
    monitoring.SetMonitoringBase: (
        monitoring.SetMonitoringBase("FactoryDefault"),
        Message("SetMonitoringBase", {"monitoringBase": "FactoryDefault"}),
    ),
    monitoring.SetMonitoringLevel: (
        monitoring.SetMonitoringLevel(4),
        Message("SetMonitoringLevel", {"severity": 4}),
    ),
    monitoring.GetMonitoringReport: (
        monitoring.GetMonitoringReport(
            9,
            ("DeltaMonitoring",),
            (monitoring.Target("Connector", "AvailabilityState", evse_id=1, connector_id=2),),
        ),
        Message(
            "GetMonitoringReport",
            {
                "requestId": 9,
                "monitoringCriteria": ["DeltaMonitoring"],
                "componentVariable": [
                    {
                        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 2}},
                        "variable": {"name": "AvailabilityState"},
                    }
                ],
            },
        ),
    ),
}


@pytest.mark.parametrize("kind", list(MONITORING_V201), ids=lambda k: k.__name__)
def test_monitoring_is_spelled_by_2_0_1_only(kind):
    command, expected = MONITORING_V201[kind]
    message = TABLES[V201].build(command)
    assert message == expected
    registry().validate(V201, message.action, message.payload)
    with pytest.raises(CannotSpell, match=r"1\.6 has no"):
        TABLES[V16].build(command)


# 2.0.1-only commands (blocks O, N09/N10): 1.6 refuses to spell them.
V201_ONLY_DISPLAY: dict[type, tuple[object, Message]] = {
    SetDisplayMessage: (
        SetDisplayMessage(
            7,
            MessageSpec(
                content="Welcome",
                priority="InFront",
                language="en",
                state="Idle",
                start_at=EXPIRES,
                transaction_id="tx-1",
                display={"name": "Display"},
            ),
        ),
        Message(
            "SetDisplayMessage",
            {
                "message": {
                    "id": 7,
                    "priority": "InFront",
                    "message": {"format": "UTF8", "content": "Welcome", "language": "en"},
                    "state": "Idle",
                    "startDateTime": format_timestamp(EXPIRES),
                    "transactionId": "tx-1",
                    "display": {"name": "Display"},
                }
            },
        ),
    ),
    GetDisplayMessages: (
        GetDisplayMessages(3, (1, 2), "InFront", "Charging"),
        Message(
            "GetDisplayMessages",
            {"requestId": 3, "id": [1, 2], "priority": "InFront", "state": "Charging"},
        ),
    ),
    ClearDisplayMessage: (ClearDisplayMessage(7), Message("ClearDisplayMessage", {"id": 7})),
    CustomerInformation: (
        CustomerInformation(4, True, False, Customer(id_token="TAG-1")),
        Message(
            "CustomerInformation",
            {
                "requestId": 4,
                "report": True,
                "clear": False,
                "idToken": {"idToken": "TAG-1", "type": "ISO14443"},
            },
        ),
    ),
}


@pytest.mark.parametrize("kind", list(V201_ONLY_DISPLAY), ids=lambda k: k.__name__)
def test_display_and_customer_commands_are_2_0_1_only(kind):
    command, expected = V201_ONLY_DISPLAY[kind]
    message = TABLES[V201].build(command)
    assert message == expected
    registry().validate(V201, message.action, message.payload)
    with pytest.raises(CannotSpell, match=r"1\.6 has no"):
        TABLES[V16].build(command)
