"""The OCPP compliance test cases for the CSMS side of the blocks Volta covers.

Ids and titles are those of the OCA test case documents: "OCPP 2.0.1 Part 6 -
Test Cases" (2023-06-30) and the "OCPP 1.6 Compliancy Testing Tool - Test Case
Document" (System Under Test: Central System), as published case by case on
ocpplab.com/docs/protocols/.../test-cases and summarised per block by the
public tzi-OCTT suite. The full documents are not public, so the lists below
hold every CSMS case of these blocks those sources name; a case they do not
name is missing here, not skipped (see docs/conformance.md).

A case with `not_yet` set has no test; its text says why. Every other case
must have a test in tests/conformance named after its id.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    title: str
    not_yet: str | None = None


NO_IDLE_TX_PROFILE = (
    "by design Volta sends no TxProfile without a running transaction (K01.FR.03/09: "
    "the API answers 422), so this case's prerequisite does not hold"
)

V201: dict[str, list[Case]] = {
    "A. Security": [
        Case("TC_A_01_CSMS", "Basic Authentication - Valid username/password combination"),
        Case("TC_A_02_CSMS", "Basic Authentication - Username does not equal Charging Station id"),
        Case("TC_A_03_CSMS", "Basic Authentication - Invalid password"),
        Case("TC_A_04_CSMS", "TLS - server-side certificate - Valid certificate"),
        Case("TC_A_06_CSMS", "TLS - server-side certificate - TLS version too low"),
        Case("TC_A_07_CSMS", "TLS - Client-side certificate - valid certificate"),
        Case("TC_A_08_CSMS", "TLS - Client-side certificate - Invalid certificate"),
        Case("TC_A_09_CSMS", "Update Charging Station Password - Accepted"),
        Case("TC_A_10_CSMS", "Update Charging Station Password - Rejected"),
        Case("TC_A_11_CSMS", "Update Charging Station Certificate - Charging Station Certificate"),
        Case("TC_A_12_CSMS", "Update Charging Station Certificate - V2G Certificate"),
        Case("TC_A_13_CSMS", "Update Charging Station Certificate - Combined Certificate"),
        Case("TC_A_14_CSMS", "Update Charging Station Certificate - Invalid certificate"),
        Case("TC_A_19_CSMS", "Upgrade Charging Station Security Profile - Accepted"),
    ],
    "B. Provisioning": [
        Case("TC_B_01_CSMS", "Cold Boot Charging Station - Accepted"),
        Case("TC_B_02_CSMS", "Cold Boot Charging Station - Pending"),
        Case("TC_B_06_CSMS", "Get Variables - single value"),
        Case("TC_B_07_CSMS", "Get Variables - multiple values"),
        Case("TC_B_08_CSMS", "Get Variables - limit to maximum number of values"),
        Case("TC_B_09_CSMS", "Set Variables - single value"),
        Case("TC_B_10_CSMS", "Set Variables - multiple values"),
        Case("TC_B_12_CSMS", "Get Base Report - ConfigurationInventory"),
        Case("TC_B_13_CSMS", "Get Base Report - FullInventory"),
        Case("TC_B_14_CSMS", "Get Base Report - SummaryInventory"),
        Case("TC_B_18_CSMS", "Get Custom Report - with componentCriteria and component/variables"),
        Case("TC_B_20_CSMS", "Reset Charging Station - Without ongoing transaction - OnIdle"),
        Case("TC_B_21_CSMS", "Reset Charging Station - With Ongoing Transaction - OnIdle"),
        Case("TC_B_22_CSMS", "Reset Charging Station - With Ongoing Transaction - Immediate"),
        Case("TC_B_25_CSMS", "Reset EVSE - Without ongoing transaction"),
        Case("TC_B_26_CSMS", "Reset EVSE - With Ongoing Transaction - OnIdle"),
        Case("TC_B_27_CSMS", "Reset EVSE - With Ongoing Transaction - Immediate"),
        Case("TC_B_30_CSMS", "Cold Boot Charging Station - Pending/Rejected - SecurityError"),
        Case("TC_B_31_CSMS", "Cold Boot Charging Station - Pending/Rejected - TriggerMessage"),
        Case("TC_B_42_CSMS", "Set new NetworkConnectionProfile - Accepted"),
        Case("TC_B_44_CSMS", "Set new NetworkConnectionProfile - Failed"),
        Case("TC_B_58_CSMS", "WebSocket Subprotocol validation"),
    ],
    "C. Authorization": [
        Case("TC_C_02_CSMS", "Local start transaction - Authorization Invalid/Unknown"),
        Case("TC_C_06_CSMS", "Local start transaction - Authorization Blocked"),
        Case("TC_C_07_CSMS", "Local start transaction - Authorization Expired"),
        Case("TC_C_08_CSMS", "Authorization through authorization cache - Accepted"),
        Case("TC_C_20_CSMS", "Authorization through authorization cache - Invalid"),
        Case("TC_C_37_CSMS", "Clear Authorization Data in Authorization Cache - Accepted"),
        Case("TC_C_38_CSMS", "Clear Authorization Data in Authorization Cache - Rejected"),
        Case("TC_C_39_CSMS", "Authorization by GroupId - Success"),
        Case("TC_C_40_CSMS", "Authorization by GroupId - Success with Local Authorization List"),
        Case(
            "TC_C_43_CSMS",
            "Authorization by GroupId - Invalid status with Local Authorization List",
        ),
        Case("TC_C_47_CSMS", "Stop Transaction with a Master Pass - With UI - All transactions"),
        Case(
            "TC_C_48_CSMS", "Stop Transaction with a Master Pass - With UI - Specific transactions"
        ),
        Case("TC_C_49_CSMS", "Stop Transaction with a Master Pass - Without UI"),
        Case(
            "TC_C_50_CSMS",
            "Authorization with contract certificates - Local validation - Accepted",
        ),
        Case(
            "TC_C_51_CSMS",
            "Authorization with contract certificates - Local validation - Rejected",
        ),
        Case(
            "TC_C_52_CSMS",
            "Authorization with contract certificates - Central validation - Accepted",
        ),
    ],
    "D. Local Authorization List Management": [
        Case("TC_D_01_CSMS", "Send Local Authorization List - Full"),
        Case("TC_D_02_CSMS", "Send Local Authorization List - Differential Update"),
        Case("TC_D_03_CSMS", "Send Local Authorization List - Differential Remove"),
        Case("TC_D_04_CSMS", "Send Local Authorization List - Full with empty list"),
        Case("TC_D_08_CSMS", "Get Local List Version - Success"),
        Case("TC_D_09_CSMS", "Get Local List Version - No list available"),
    ],
    "E. Transactions": [
        Case("TC_E_01_CSMS", "Start transaction options - PowerPathClosed"),
        Case("TC_E_02_CSMS", "Start transaction options - EnergyTransfer"),
        Case("TC_E_03_CSMS", "Local start transaction - Cable plugin first"),
        Case("TC_E_04_CSMS", "Local start transaction - Authorization first"),
        Case("TC_E_07_CSMS", "Stop transaction options - PowerPathClosed - Local stop"),
        Case("TC_E_08_CSMS", "Stop transaction options - EnergyTransfer stopped - StopAuthorized"),
        Case("TC_E_09_CSMS", "Start transaction options - EVConnected"),
        Case("TC_E_10_CSMS", "Start transaction options - Authorized - Local"),
        Case("TC_E_11_CSMS", "Start transaction options - DataSigned"),
        Case("TC_E_12_CSMS", "Start transaction options - ParkingBayOccupied"),
        Case("TC_E_14_CSMS", "Stop transaction options - EVDisconnected - Charging Station side"),
        Case("TC_E_15_CSMS", "Stop transaction options - StopAuthorized - Local"),
        Case("TC_E_16_CSMS", "Stop transaction options - Deauthorized - Invalid idToken"),
        Case("TC_E_17_CSMS", "Stop transaction options - Deauthorized - EV side disconnect"),
        Case("TC_E_19_CSMS", "Stop transaction options - ParkingBayUnoccupied"),
        Case("TC_E_20_CSMS", "Stop transaction options - EVDisconnected - EV side"),
        Case("TC_E_21_CSMS", "Stop transaction options - StopAuthorized - Remote"),
        Case("TC_E_22_CSMS", "Stop transaction options - EnergyTransfer stopped - SuspendedEV"),
        Case("TC_E_26_CSMS", "Disconnect cable on EV-side - Suspend transaction"),
        Case(
            "TC_E_29_CSMS",
            "Check Transaction status - Transaction with id ongoing - with message in queue",
        ),
        Case(
            "TC_E_30_CSMS",
            "Check Transaction status - Transaction with id ongoing - without message in queue",
        ),
        Case(
            "TC_E_31_CSMS",
            "Check Transaction status - Transaction with id ended - with message in queue",
        ),
        Case(
            "TC_E_33_CSMS",
            "Check Transaction status - Without transactionId - with message in queue",
        ),
        Case(
            "TC_E_34_CSMS",
            "Check Transaction status - Without transactionId - without message in queue",
        ),
        Case("TC_E_38_CSMS", "Local start transaction - EV not ready"),
        Case("TC_E_39_CSMS", "Stop transaction options - Deauthorized - timeout"),
        Case("TC_E_53_CSMS", "Reset Sequence Number"),
    ],
    "F. Remote Control": [
        Case("TC_F_01_CSMS", "Remote start transaction - Cable plugin first"),
        Case(
            "TC_F_02_CSMS",
            "Remote start transaction - Remote start first - AuthorizeRemoteStart is true",
        ),
        Case(
            "TC_F_03_CSMS",
            "Remote start transaction - Remote start first - AuthorizeRemoteStart is false",
        ),
        Case(
            "TC_F_04_CSMS", "Remote start transaction - Remote start first - Cable plugin timeout"
        ),
        Case("TC_F_06_CSMS", "Remote unlock Connector - Without ongoing transaction - Accepted"),
        Case("TC_F_11_CSMS", "Trigger message - MeterValues - Specific EVSE"),
        Case("TC_F_12_CSMS", "Trigger message - MeterValues - All EVSE"),
        Case("TC_F_13_CSMS", "Trigger message - TransactionEvent - Specific EVSE"),
        Case("TC_F_14_CSMS", "Trigger message - TransactionEvent - All EVSE"),
        Case("TC_F_15_CSMS", "Trigger message - LogStatusNotification - Idle"),
        Case("TC_F_18_CSMS", "Trigger message - FirmwareStatusNotification - Idle"),
        Case("TC_F_20_CSMS", "Trigger message - Heartbeat"),
        Case("TC_F_23_CSMS", "Trigger message - StatusNotification - Specific EVSE - Available"),
        Case("TC_F_24_CSMS", "Trigger message - StatusNotification - Specific EVSE - Occupied"),
        Case("TC_F_27_CSMS", "Trigger message - NotImplemented"),
    ],
    "G. Availability": [
        Case("TC_G_03_CSMS", "Change Availability EVSE - Operative to inoperative"),
        Case("TC_G_04_CSMS", "Change Availability EVSE - Inoperative to operative"),
        Case("TC_G_05_CSMS", "Change Availability Charging Station - Operative to inoperative"),
        Case("TC_G_06_CSMS", "Change Availability Charging Station - Inoperative to operative"),
        Case("TC_G_07_CSMS", "Change Availability Connector - Operative to inoperative"),
        Case("TC_G_08_CSMS", "Change Availability Connector - Inoperative to operative"),
        Case("TC_G_11_CSMS", "Change Availability EVSE - With ongoing transaction"),
        Case("TC_G_14_CSMS", "Change Availability Charging Station - With ongoing transaction"),
        Case("TC_G_17_CSMS", "Change Availability Connector - With ongoing transaction"),
        Case("TC_G_20_CSMS", "Connector status Notification - Lock Failure"),
    ],
    "J. Meter Values": [
        Case("TC_J_01_CSMS", "Clock-aligned Meter Values - No transaction ongoing"),
        Case("TC_J_02_CSMS", "Clock-aligned Meter Values - Transaction ongoing"),
        Case("TC_J_03_CSMS", "Clock-aligned Meter Values - EventType Ended"),
        Case("TC_J_04_CSMS", "Clock-aligned Meter Values - Signed"),
        Case("TC_J_07_CSMS", "Sampled Meter Values - EventType Started - EVSE known"),
        Case("TC_J_08_CSMS", "Sampled Meter Values - Context Transaction.Begin - EVSE not known"),
        Case("TC_J_09_CSMS", "Sampled Meter Values - EventType Updated"),
        Case("TC_J_10_CSMS", "Sampled Meter Values - EventType Ended"),
        Case("TC_J_11_CSMS", "Sampled Meter Values - Signed"),
    ],
    "H. Reservation": [
        Case("TC_H_01_CSMS", "Reserve a specific EVSE - Accepted"),
        Case("TC_H_07_CSMS", "Reserve a specific EVSE - Reservation Ended / not used"),
        Case("TC_H_08_CSMS", "Reserve an unspecified EVSE - Accepted"),
        Case(
            "TC_H_14_CSMS",
            "Reserve an unspecified EVSE - All EVSEs reserved",
        ),
        Case("TC_H_15_CSMS", "Reserve a connector with a specific type - Success"),
        Case("TC_H_17_CSMS", "Cancel reservation - Success"),
        Case("TC_H_19_CSMS", "Use a reserved EVSE with GroupId"),
        Case("TC_H_20_CSMS", "Reservation - Connector/EVSE becomes Faulted"),
        Case("TC_H_22_CSMS", "Reserve a specific EVSE - Rejected"),
    ],
    "K. Smart Charging": [
        Case("TC_K_01_CSMS", "Set Charging Profile - TxDefaultProfile - Specific EVSE"),
        Case(
            "TC_K_02_CSMS",
            "Set Charging Profile - TxProfile without ongoing transaction on the specified EVSE",
            NO_IDLE_TX_PROFILE,
        ),
        Case("TC_K_03_CSMS", "Set Charging Profile - ChargingStationMaxProfile"),
        Case("TC_K_04_CSMS", "Replace charging profile - With chargingProfileId"),
        Case("TC_K_05_CSMS", "Clear Charging Profile - With chargingProfileId"),
        Case(
            "TC_K_06_CSMS",
            "Clear Charging Profile - With stackLevel/purpose combination for one profile",
        ),
        Case("TC_K_08_CSMS", "Clear Charging Profile - Without previous charging profile"),
        Case("TC_K_10_CSMS", "Set Charging Profile - TxDefaultProfile - All EVSE"),
        Case("TC_K_15_CSMS", "Set Charging Profile - Not Supported"),
        Case("TC_K_19_CSMS", "Set Charging Profile - ChargingProfileKind is Recurring"),
        Case("TC_K_29_CSMS", "Get Charging Profile - EvseId 0"),
        Case("TC_K_30_CSMS", "Get Charging Profile - EvseId > 0"),
        Case("TC_K_31_CSMS", "Get Charging Profile - No EvseId"),
        Case("TC_K_32_CSMS", "Get Charging Profile - chargingProfileId"),
        Case("TC_K_33_CSMS", "Get Charging Profile - EvseId > 0 + stackLevel"),
        Case("TC_K_34_CSMS", "Get Charging Profile - EvseId > 0 + chargingLimitSource"),
        Case("TC_K_35_CSMS", "Get Charging Profile - EvseId > 0 + chargingProfilePurpose"),
        Case(
            "TC_K_36_CSMS",
            "Get Charging Profile - EvseId > 0 + chargingProfilePurpose + stackLevel",
        ),
        Case("TC_K_37_CSMS", "Remote start transaction with charging profile - Success"),
        Case("TC_K_43_CSMS", "Get Composite Schedule - Specific EVSE"),
        Case("TC_K_44_CSMS", "Get Composite Schedule - Charging Station"),
        Case("TC_K_48_CSMS", "Set / Update External Charging Limit (not on a transaction)"),
        Case(
            "TC_K_50_CSMS",
            "Reset / release external charging limit - Without ongoing transaction",
        ),
        Case("TC_K_51_CSMS", "Reset / release external charging limit - With ongoing transaction"),
        Case(
            "TC_K_52_CSMS",
            "Set / Update External Charging Limit - ChargingStationExternalConstraints in report",
        ),
        Case(
            "TC_K_53_CSMS",
            "Charging with load leveling based on High Level Communication - Success",
        ),
        Case(
            "TC_K_55_CSMS",
            "Charging with load leveling based on High Level Communication - "
            "EV charging profile exceeds limits",
        ),
        Case("TC_K_57_CSMS", "Renegotiating a Charging Schedule - Initiated by EV"),
        Case("TC_K_58_CSMS", "Renegotiating a Charging Schedule - Initiated by CSMS"),
        Case(
            "TC_K_59_CSMS",
            "Renegotiating a Charging Schedule - Initiated by CSMS - Send NotifyEVChargingNeeds",
        ),
        Case(
            "TC_K_60_CSMS",
            "Set Charging Profile - TxProfile with ongoing transaction on the specified EVSE",
        ),
        Case("TC_K_70_CSMS", "Set Charging Profile - Multiple Profiles"),
    ],
    "L. Firmware Management": [
        Case("TC_L_01_CSMS", "Secure Firmware Update - Installation successful"),
        Case("TC_L_02_CSMS", "Secure Firmware Update - InstallScheduled"),
        Case("TC_L_03_CSMS", "Secure Firmware Update - DownloadScheduled"),
        Case("TC_L_04_CSMS", "Secure Firmware Update - RevokedCertificate"),
        Case("TC_L_05_CSMS", "Secure Firmware Update - InvalidCertificate"),
        Case("TC_L_06_CSMS", "Secure Firmware Update - InvalidSignature"),
        Case("TC_L_07_CSMS", "Secure Firmware Update - DownloadFailed"),
        Case("TC_L_08_CSMS", "Secure Firmware Update - InstallVerificationFailed"),
        Case("TC_L_09_CSMS", "Secure Firmware Update - InstallationFailed"),
        Case("TC_L_10_CSMS", "Secure Firmware Update - AcceptedCanceled"),
        Case("TC_L_11_CSMS", "Secure Firmware Update - Unable to cancel"),
        Case(
            "TC_L_13_CSMS",
            "Secure Firmware Update - Unable to download/install firmware with ongoing "
            "transaction - AllowNewSessionsPendingFirmwareUpdate is false",
        ),
        Case("TC_L_17_CSMS", "Publish Firmware - Published"),
        Case("TC_L_19_CSMS", "Publish Firmware - Invalid Checksum"),
        Case("TC_L_20_CSMS", "Publish Firmware - PublishFailed"),
        Case("TC_L_21_CSMS", "Unpublish Firmware - Unpublished"),
        Case("TC_L_22_CSMS", "Unpublish Firmware - NoFirmware"),
        Case("TC_L_23_CSMS", "Unpublish Firmware - Download Ongoing"),
        Case("TC_L_24_CSMS", "Publish Firmware - Download failed"),
    ],
    "M. ISO 15118 Certificate Management": [
        Case("TC_M_01_CSMS", "Install CA certificate - CSMSRootCertificate"),
        Case("TC_M_02_CSMS", "Install CA certificate - ManufacturerRootCertificate"),
        Case("TC_M_05_CSMS", "Install CA certificate - Failed"),
        Case("TC_M_18_CSMS", "Retrieve certificates from Charging Station - All certificateTypes"),
        Case(
            "TC_M_19_CSMS",
            "Retrieve certificates from Charging Station - No matching certificate found",
        ),
        Case("TC_M_20_CSMS", "Delete a certificate from a Charging Station - Success"),
        Case("TC_M_21_CSMS", "Delete a certificate from a Charging Station - Failed"),
    ],
    "N. Diagnostics": [
        Case("TC_N_34_CSMS", "Retrieve Log Information - Rejected"),
        Case("TC_N_35_CSMS", "Retrieve Log Information - Security Log - Success"),
        Case("TC_N_36_CSMS", "Retrieve Log Information - Second Request"),
        Case("TC_N_01_CSMS", "Get Monitoring Report - with monitoringCriteria"),
        Case("TC_N_02_CSMS", "Get Monitoring Report - with component/variable"),
        Case(
            "TC_N_03_CSMS",
            "Get Monitoring Report - with component criteria and component/variable",
        ),
        Case("TC_N_05_CSMS", "Set Monitoring Base - success"),
        Case("TC_N_08_CSMS", "Set Variable Monitoring - One SetMonitoringData element"),
        Case(
            "TC_N_09_CSMS",
            "Set Variable Monitoring - Multiple elements on different component and variable",
        ),
        Case("TC_N_16_CSMS", "Set Monitoring Level - Success"),
        Case("TC_N_17_CSMS", "Set Monitoring Level - Out of range"),
        Case("TC_N_18_CSMS", "Clear Monitoring - Too many elements"),
        Case("TC_N_21_CSMS", "Alert Event - HardWiredMonitor"),
        Case("TC_N_24_CSMS", "Set Variable Monitoring - Periodic event"),
        Case("TC_N_44_CSMS", "Clear Monitoring - Rejected"),
        Case("TC_N_47_CSMS", "Get Monitoring report - Report all"),
        Case("TC_N_48_CSMS", "Alert Event - Variable monitoring on write only"),
        Case("TC_N_49_CSMS", "Alert Event - LowerThreshold/UpperThreshold cleared after reboot"),
        Case("TC_N_50_CSMS", "Alert Event - Periodic Triggered"),
        Case(
            "TC_N_60_CSMS",
            "Get Monitoring Report - with component criteria and list of components/variables",
        ),
        Case("TC_N_27_CSMS", "Get Customer Information - Accepted + data"),
        Case("TC_N_28_CSMS", "Get Customer Information - Accepted + no data"),
        Case("TC_N_29_CSMS", "Get Customer Information - Not Accepted"),
        Case("TC_N_30_CSMS", "Clear Customer Information - Clear and report + data"),
        Case("TC_N_31_CSMS", "Clear Customer Information - Clear and report + no data"),
        Case("TC_N_32_CSMS", "Clear Customer Information - Clear and no report"),
        Case("TC_N_46_CSMS", "Clear Customer Information - Update Local Authorization List"),
        Case("TC_N_62_CSMS", "Clear Customer Information - Clear and report - customerIdentifier"),
        Case("TC_N_63_CSMS", "Clear Customer Information - Clear and report - customerCertificate"),
    ],
    "O. DisplayMessage": [
        Case("TC_O_01_CSMS", "Set Display Message - Success"),
        Case("TC_O_02_CSMS", "Get all Display Messages - Success"),
        Case("TC_O_03_CSMS", "Get all Display Messages - No DisplayMessages configured"),
        Case("TC_O_04_CSMS", "Clear Display Message - Success"),
        Case("TC_O_05_CSMS", "Clear Display Message - Unknown Key"),
        Case("TC_O_06_CSMS", "Set Display Message - Specific transaction - Success"),
        Case("TC_O_07_CSMS", "Get a Specific Display Message - Id"),
        Case("TC_O_08_CSMS", "Get a Specific Display Message - Priority"),
        Case("TC_O_09_CSMS", "Get a Specific Display Message - State"),
        Case("TC_O_10_CSMS", "Set Display Message - Specific transaction - UnknownTransaction"),
        Case("TC_O_11_CSMS", "Get a Specific Display Message - Unknown parameters"),
        Case("TC_O_12_CSMS", "Set Display Message - Replace DisplayMessage"),
        Case("TC_O_13_CSMS", "Set Display Message - Display message at StartTime"),
        Case("TC_O_14_CSMS", "Set Display Message - Remove message after EndTime"),
        Case("TC_O_17_CSMS", "Set Display Message - NotSupportedPriority"),
        Case("TC_O_18_CSMS", "Set Display Message - NotSupportedState"),
        Case("TC_O_19_CSMS", "Set Display Message - NotSupportedMessageFormat"),
        Case("TC_O_25_CSMS", "Set Display Message - Send Specific state"),
        Case("TC_O_26_CSMS", "Set Display Message - Rejected"),
        Case("TC_O_27_CSMS", "Set Display Message - Specific transaction - StartTime"),
        Case("TC_O_28_CSMS", "Set Display Message - Specific transaction - EndTime"),
    ],
    "P. DataTransfer": [
        Case(
            "TC_P_02_CSMS",
            "Data Transfer to the CSMS - Rejected / Unknown VendorId / Unknown MessageId",
        ),
        Case("TC_P_03_CSMS", "Receive custom data"),
    ],
}

V16: dict[str, list[Case]] = {
    "Core": [
        Case("TC_001_CSMS", "Cold Boot Charge Point"),
        Case("TC_003_CSMS", "Regular Charging Session - Plugin First"),
        Case("TC_004_1_CSMS", "Regular Charging Session - Identification First"),
        Case(
            "TC_004_2_CSMS", "Regular Charging Session - Identification First - ConnectionTimeOut"
        ),
        Case("TC_005_1_CSMS", "EV Side Disconnected"),
        Case("TC_007_CSMS", "Regular Start Charging Session - Cached Id"),
        Case("TC_010_CSMS", "Remote Start Charging Session - Cable Plugged in First"),
        Case("TC_011_1_CSMS", "Remote Start Charging Session - Remote Start First"),
        Case("TC_011_2_CSMS", "Remote Start Charging Session - Time Out"),
        Case("TC_012_CSMS", "Remote Stop Charging Session"),
        Case("TC_017_1_CSMS", "Unlock connector - no charging session running (Not fixed cable)"),
        Case("TC_017_2_CSMS", "Unlock connector - no charging session running (Fixed cable)"),
        Case("TC_019_1_CSMS", "Retrieve all configuration keys"),
        Case("TC_021_CSMS", "Change/set Configuration"),
        Case("TC_023_1_CSMS", "Start Charging Session - Authorize invalid"),
        Case("TC_023_2_CSMS", "Start Charging Session - Authorize expired"),
        Case("TC_023_3_CSMS", "Start Charging Session - Authorize blocked"),
        Case("TC_024_CSMS", "Start Charging Session - Lock Failure"),
        Case("TC_026_CSMS", "Remote Start Charging Session - Rejected"),
        Case("TC_028_CSMS", "Remote Stop Transaction - Rejected"),
        Case("TC_030_CSMS", "Unlock Connector - Unlock Failure"),
        Case("TC_031_CSMS", "Unlock Connector - Unknown Connector"),
        Case("TC_032_1_CSMS", "Power failure boot charging point - stop transaction(s)"),
        Case("TC_037_1_CSMS", "Offline Start Transaction"),
        Case("TC_037_3_CSMS", "Offline Start Transaction - invalid idTag"),
        Case("TC_039_CSMS", "Offline Transaction"),
        Case("TC_040_1_CSMS", "Configuration keys - NotSupported"),
        Case("TC_064_CSMS", "Data Transfer to a Central System"),
    ],
    "Firmware Management": [
        Case("TC_044_2_CSMS", "Firmware Update - Download Failed"),
        Case("TC_044_3_CSMS", "Firmware Update - Installation Failed"),
        Case("TC_045_1_CSMS", "Get Diagnostics"),
        Case("TC_045_2_CSMS", "Get Diagnostics - Upload Failed"),
    ],
    "Remote Trigger": [
        Case("TC_054_CSMS", "Trigger Message"),
        Case("TC_055_CSMS", "Trigger Message - Rejected"),
    ],
    # The OCA's "Improved security for OCPP 1.6-J" whitepaper.
    "Security": [
        Case("TC_073_CSMS", "Update Charge Point Password for HTTP Basic Authentication"),
        Case("TC_074_CSMS", "Update Charge Point Certificate by request of Central System"),
        Case(
            "TC_075_1_CSMS",
            "Install a certificate on the Charge Point - ManufacturerRootCertificate",
        ),
        Case("TC_076_CSMS", "Delete a specific certificate from the Charge Point"),
        Case("TC_077_CSMS", "Invalid ChargePointCertificate Security Event"),
        Case("TC_078_CSMS", "Invalid CentralSystemCertificate Security Event"),
        Case("TC_083_CSMS", "Upgrade Charge Point Security Profile - Accepted"),
        Case("TC_086_CSMS", "TLS - server-side certificate - Valid certificate"),
        Case("TC_087_CSMS", "TLS - Client-side certificate - valid certificate"),
        Case("TC_080_CSMS", "Secure Firmware Update"),
        Case("TC_081_CSMS", "Secure Firmware Update - Invalid Signature"),
    ],
    "Smart Charging": [
        Case("TC_056_CSMS", "Central Smart Charging - TxDefaultProfile"),
        Case("TC_057_CSMS", "Central Smart Charging - TxProfile"),
        Case("TC_059_CSMS", "Remote Start Transaction with Charging Profile"),
        Case("TC_066_CSMS", "Get Composite Schedule"),
        Case("TC_067_CSMS", "Clear Charging Profile"),
    ],
}


# OCPP 2.1: the CSMS cases the public sources name for 2.1 ("OCPP 2.1 Part 6
# - Test Cases"). Ids repeat 2.0.1's where 2.1 kept a case; a 2.1 case's
# test lives in a file named tests/conformance/test_v21*.py, which is how
# the two are told apart (`key`).
V21: dict[str, list[Case]] = {
    # None yet: the public sources searched (ocpplab's case pages, the
    # tzi-OCTT suite) name no 2.1 CSMS case for the RPC additions, E16
    # limits, I07-I12 local cost, ad hoc payment, priority charging, battery
    # swap, periodic event streams, GetCertificateChainStatus, V2X (Q) or DER
    # control (R); tests/v21 covers them by use case and message.
}


def all_cases() -> list[tuple[str, str, Case]]:
    """(version label, block, case) for every case, in document order."""
    return (
        [("2.1", block, c) for block, cases in V21.items() for c in cases]
        + [("2.0.1", block, c) for block, cases in V201.items() for c in cases]
        + [("1.6", block, c) for block, cases in V16.items() for c in cases]
    )


def key(version: str, case_id: str) -> str:
    """How a case is told apart from the same id in another version: 2.1's
    carry the version, 1.6's and 2.0.1's ids are unique between them."""
    return f"2.1:{case_id}" if version == "2.1" else case_id


def key_of_test(path: str, case_id: str) -> str:
    """The case key of a test named after `case_id` in the file `path`."""
    return key("2.1" if path.rsplit("/", 1)[-1].startswith("test_v21") else "", case_id)
