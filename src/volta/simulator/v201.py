"""A simulated OCPP 2.0.1 charging station: its answers to the CSMS's CALLs,
its few device-model variables, and how it spells what it sends."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import orjson

from volta import __version__
from volta.ocpp.charging import Profile, from_v201, to_v201
from volta.ocpp.times import format_timestamp
from volta.simulator import commands, display, drawing, firmware, logs, monitoring
from volta.simulator.dialect import AnswerTable, Payload
from volta.simulator.ev import Car
from volta.simulator.profiles import composite, wire_periods

DEVICE_DATA = "DeviceDataCtrlr"

if TYPE_CHECKING:
    from volta.simulator.station import Connector, SimulatedStation

table = AnswerTable()

# The device-model variables the simulator has, onto the configuration keys
# it keeps (named as in 1.6).
VARIABLES = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): "HeartbeatInterval",
    ("SampledDataCtrlr", "TxUpdatedInterval"): "MeterValueSampleInterval",
    ("AuthCtrlr", "AuthorizeRemoteStart"): "AuthorizeRemoteTxRequests",
}
# How many elements and bytes one GetReport / GetVariables / SetVariables may
# hold (DeviceDataCtrlr ItemsPerMessage / BytesPerMessage, reported and
# enforced: more is answered Rejected, TooManyElements).
ITEMS_PER_MESSAGE = 20
BYTES_PER_MESSAGE = 8000
LIMITED = ("GetReport", "GetVariables", "SetVariables")
# Fixed variables of the rest of its device model: (component, variable,
# instance) -> (value, dataType, unit); ReadOnly.
FIXED: dict[tuple[str, str, str | None], tuple[str, str, str | None]] = {
    **{
        (DEVICE_DATA, "ItemsPerMessage", action): (str(ITEMS_PER_MESSAGE), "integer", None)
        for action in LIMITED
    },
    **{
        (DEVICE_DATA, "BytesPerMessage", action): (str(BYTES_PER_MESSAGE), "integer", "B")
        for action in LIMITED
    },
    ("ChargingStation", "Model", None): ("Volta Simulator", "string", None),
    ("ChargingStation", "VendorName", None): ("Volta", "string", None),
    ("ChargingStation", "AvailabilityState", None): ("Available", "OptionList", None),
    ("OCPPCommCtrlr", "MessageTimeout", "Default"): ("30", "integer", "s"),
    ("OCPPCommCtrlr", "NetworkConfigurationPriority", None): ("1", "SequenceList", None),
    ("SecurityCtrlr", "SecurityProfile", None): ("1", "integer", None),
    ("ClockCtrlr", "TimeSource", None): ("Heartbeat", "SequenceList", None),
    ("TxCtrlr", "EVConnectionTimeOut", None): ("60", "integer", "s"),
    ("TxCtrlr", "TxStartPoint", None): ("PowerPathClosed", "MemberList", None),
    ("AuthCtrlr", "Enabled", None): ("true", "boolean", None),
    ("SmartChargingCtrlr", "Enabled", None): ("true", "boolean", None),
    ("SmartChargingCtrlr", "RateUnit", None): ("A,W", "MemberList", None),
    ("SmartChargingCtrlr", "ProfileStackLevel", None): ("9", "integer", None),
}


def _limit_problem(action: str, p: Payload, items: list[Any]) -> str | None:
    """Too many elements or bytes for one message of `action`."""
    if len(items) > ITEMS_PER_MESSAGE:
        return "TooManyElements"
    # The CALL frame around the payload: [2,"<id>","<action>",{...}].
    if len(orjson.dumps(p)) + 64 + len(action) > BYTES_PER_MESSAGE:
        return "TooLargeElement"
    return None


def _evse_id(p: Payload) -> int | None:
    evse = p.get("evse") or {}
    return evse.get("id")  # type: ignore[no-any-return]


# -- answers to the CSMS -------------------------------------------------------------


@table.on("RequestStartTransaction")
def request_start(st: SimulatedStation, p: Payload) -> Payload:
    return commands.remote_start(st, p.get("evseId"), p["idToken"]["idToken"], p["remoteStartId"])


@table.on("RequestStopTransaction")
def request_stop(st: SimulatedStation, p: Payload) -> Payload:
    return commands.remote_stop(st, p["transactionId"])


def _reset_reason(p: Payload) -> str | None:
    # B12: Immediate ends the sessions now; OnIdle waits for them.
    return "ImmediateReset" if p["type"] == "Immediate" else None


@table.on("Reset")
def reset(st: SimulatedStation, p: Payload) -> Payload:
    return commands.reset(st, _reset_reason(p))


@table.after("Reset")
async def reboot(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    await commands.reboot(st, _reset_reason(p))


@table.on("UnlockConnector")
def unlock(st: SimulatedStation, p: Payload) -> Payload:
    if st.connector(p["evseId"]) is None:
        return {"status": "UnknownConnector"}
    return {"status": "Unlocked"}


@table.on("ChangeAvailability")
def change_availability(st: SimulatedStation, p: Payload) -> Payload:
    return commands.change_availability(st, _evse_id(p) or 0, p["operationalStatus"] == "Operative")


@table.after("ChangeAvailability")
async def report_availability(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    if answer["status"] != "Rejected":
        await commands.report_availability(st, _evse_id(p) or 0)


def _fixed_key(item: Payload) -> tuple[str, str, str | None]:
    return (item["component"]["name"], item["variable"]["name"], item["variable"].get("instance"))


def _unknown(key: tuple[str, str], instance: str | None = None) -> str | None:
    """The attributeStatus for a variable we do not have, None if we do."""
    if key in VARIABLES or (*key, instance) in FIXED:
        return None
    components = {k[0] for k in VARIABLES} | {k[0] for k in FIXED}
    return "UnknownVariable" if key[0] in components else "UnknownComponent"


def _get_variable(st: SimulatedStation, item: Payload) -> Payload:
    key = (item["component"]["name"], item["variable"]["name"])
    result: Payload = {"component": item["component"], "variable": item["variable"]}
    unknown = _unknown(key, item["variable"].get("instance"))
    if unknown:
        result["attributeStatus"] = unknown
        return result
    result["attributeStatus"] = "Accepted"
    if key in VARIABLES:
        result["attributeValue"] = st.configuration[VARIABLES[key]][0]
    else:
        result["attributeValue"] = FIXED[_fixed_key(item)][0]
    return result


def _set_variable(st: SimulatedStation, item: Payload) -> Payload:
    key = (item["component"]["name"], item["variable"]["name"])
    result: Payload = {"component": item["component"], "variable": item["variable"]}
    if key == ("SecurityCtrlr", "BasicAuthPassword"):
        # A01: the new Basic password (16-40 characters), write-only.
        if 16 <= len(item["attributeValue"]) <= 40:
            st.new_password(item["attributeValue"])
            result["attributeStatus"] = "Accepted"
        else:
            result["attributeStatus"] = "Rejected"
        return result
    unknown = _unknown(key, item["variable"].get("instance"))
    if unknown:
        result["attributeStatus"] = unknown
        return result
    if key not in VARIABLES:
        result["attributeStatus"] = "Rejected"
        result["attributeStatusInfo"] = {"reasonCode": "ReadOnly"}
        return result
    name = VARIABLES[key]
    st.configuration[name] = (item["attributeValue"], False)
    if name == "HeartbeatInterval" and item["attributeValue"].isdigit():
        st.heartbeat_interval = float(item["attributeValue"])
    result["attributeStatus"] = "Accepted"
    return result


def _all_rejected(items: list[Payload], reason: str) -> list[Payload]:
    # TC_B_08_CS: a station may answer every element of a too large request Rejected.
    return [
        {
            "component": i["component"],
            "variable": i["variable"],
            "attributeStatus": "Rejected",
            "attributeStatusInfo": {"reasonCode": reason},
        }
        for i in items
    ]


@table.on("GetVariables")
def get_variables(st: SimulatedStation, p: Payload) -> Payload:
    items = p["getVariableData"]
    if problem := _limit_problem("GetVariables", p, items):
        return {"getVariableResult": _all_rejected(items, problem)}
    return {"getVariableResult": [_get_variable(st, i) for i in items]}


@table.on("SetVariables")
def set_variables(st: SimulatedStation, p: Payload) -> Payload:
    items = p["setVariableData"]
    if problem := _limit_problem("SetVariables", p, items):
        return {"setVariableResult": _all_rejected(items, problem)}
    return {"setVariableResult": [_set_variable(st, i) for i in items]}


@table.after("SetVariables")
async def reconnect_with_new_password(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    for item in answer["setVariableResult"]:
        key = (item["component"]["name"], item["variable"]["name"])
        if key == ("SecurityCtrlr", "BasicAuthPassword") and item["attributeStatus"] == "Accepted":
            st.reconnect_when_idle()


def _inventory(st: SimulatedStation) -> list[Payload]:
    """Every variable as ReportDataType."""
    data = [
        {
            "component": {"name": component},
            "variable": {"name": variable},
            "variableAttribute": [
                {"type": "Actual", "value": st.configuration[name][0], "mutability": "ReadWrite"}
            ],
            "variableCharacteristics": {
                "dataType": "integer" if name != "AuthorizeRemoteTxRequests" else "boolean",
                "supportsMonitoring": False,
            },
        }
        for (component, variable), name in VARIABLES.items()
    ]
    for (component, variable, instance), (value, data_type, unit) in FIXED.items():
        characteristics: Payload = {"dataType": data_type, "supportsMonitoring": False}
        if unit:
            characteristics["unit"] = unit
        data.append(
            {
                "component": {"name": component},
                "variable": {"name": variable, "instance": instance}
                if instance
                else {"name": variable},
                "variableAttribute": [
                    {"type": "Actual", "value": value, "mutability": "ReadOnly", "constant": True}
                ],
                "variableCharacteristics": characteristics,
            }
        )
    for c in st.connectors:
        data.append(
            {
                "component": {"name": "EVSE", "evse": {"id": c.id}},
                "variable": {"name": "AvailabilityState"},
                "variableAttribute": [
                    {"type": "Actual", "value": c.status, "mutability": "ReadOnly"}
                ],
                "variableCharacteristics": {
                    "dataType": "OptionList",
                    "supportsMonitoring": True,
                    "valuesList": "Available,Occupied,Reserved,Unavailable,Faulted",
                },
            }
        )
        data.append(
            {
                "component": {"name": "EVSE", "evse": {"id": c.id}},
                "variable": {"name": "Power"},
                "variableAttribute": [
                    {"type": "MaxSet", "value": "22000", "mutability": "ReadOnly"}
                ],
                "variableCharacteristics": {
                    "dataType": "decimal",
                    "unit": "W",
                    "maxLimit": 22000,
                    "supportsMonitoring": True,
                },
            }
        )
    return data


async def _send_report(st: SimulatedStation, request_id: int, data: list[Payload]) -> None:
    """B07/B08: the report in parts of at most ITEMS_PER_MESSAGE, tbc on all but the last."""
    parts = [data[i : i + ITEMS_PER_MESSAGE] for i in range(0, len(data), ITEMS_PER_MESSAGE)]
    for seq, part in enumerate(parts):
        payload: Payload = {
            "requestId": request_id,
            "generatedAt": st.now(),
            "seqNo": seq,
            "reportData": part,
        }
        if seq < len(parts) - 1:
            payload["tbc"] = True
        await st.call("NotifyReport", payload)


@table.on("GetBaseReport")
def get_base_report(st: SimulatedStation, p: Payload) -> Payload:
    return {"status": "Accepted"}


@table.after("GetBaseReport")
async def report(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    """B07: the report follows its answer, in NotifyReport."""
    await _send_report(st, p["requestId"], _inventory(st))


def _matching(st: SimulatedStation, p: Payload) -> list[Payload]:
    """B08: the inventory's entries the componentVariable list names (all
    when none); the criteria are taken as met by every component."""
    wanted = p.get("componentVariable") or []
    if not wanted:
        return _inventory(st)

    def named(entry: Payload, cv: Payload) -> bool:
        if entry["component"].get("name") != cv["component"]["name"]:
            return False
        evse = cv["component"].get("evse")
        if evse and (entry["component"].get("evse") or {}).get("id") != evse.get("id"):
            return False
        variable = cv.get("variable")
        return not variable or entry["variable"]["name"] == variable["name"]

    return [e for e in _inventory(st) if any(named(e, cv) for cv in wanted)]


@table.on("GetReport")
def get_report(st: SimulatedStation, p: Payload) -> Payload:
    if _limit_problem("GetReport", p, p.get("componentVariable") or []):
        return {"status": "Rejected", "statusInfo": {"reasonCode": "TooManyElements"}}
    return {"status": "Accepted" if _matching(st, p) else "EmptyResultSet"}


@table.after("GetReport")
async def custom_report(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    if answer["status"] == "Accepted":
        await _send_report(st, p["requestId"], _matching(st, p))


TRIGGERABLE = frozenset({"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"})


@table.on("TriggerMessage")
def trigger(st: SimulatedStation, p: Payload) -> Payload:
    return {"status": "Accepted" if p["requestedMessage"] in TRIGGERABLE else "NotImplemented"}


@table.after("TriggerMessage")
async def send_triggered(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    if answer["status"] == "Accepted":
        await commands.triggered(st, p["requestedMessage"], _evse_id(p))


@table.on("ClearCache")
def accept(st: SimulatedStation, p: Payload) -> Payload:
    return {"status": "Accepted"}


# -- smart charging (K01, K08-K10) ------------------------------------------------------


@table.on("SetChargingProfile")
def set_charging_profile(st: SimulatedStation, p: Payload) -> Payload:
    status = st.profiles.install(st, p["evseId"], from_v201(p["chargingProfile"]))
    if status == "Accepted":
        drawing.limits_changed(st, {p["evseId"]})
    return {"status": status}


@table.on("ClearChargingProfile")
def clear_charging_profile(st: SimulatedStation, p: Payload) -> Payload:
    criteria = p.get("chargingProfileCriteria") or {}
    status, evses = st.profiles.clear(
        p.get("chargingProfileId"),
        criteria.get("evseId"),
        criteria.get("chargingProfilePurpose"),
        criteria.get("stackLevel"),
    )
    drawing.limits_changed(st, evses)
    return {"status": status}


@table.on("GetCompositeSchedule")
def get_composite_schedule(st: SimulatedStation, p: Payload) -> Payload:
    schedule = composite(st, p["evseId"], p["duration"], p.get("chargingRateUnit"))
    if schedule is None or schedule.start is None:
        return {"status": "Rejected"}
    return {
        "status": "Accepted",
        "schedule": {
            "evseId": p["evseId"],
            "duration": schedule.duration_s,
            "scheduleStart": format_timestamp(schedule.start),
            "chargingRateUnit": schedule.unit,
            "chargingSchedulePeriod": wire_periods(schedule, v201=True),
        },
    }


def _requested_profiles(st: SimulatedStation, p: Payload) -> dict[int, list[Profile]]:
    criteria = p["chargingProfile"]
    sources = criteria.get("chargingLimitSource")
    if sources and "CSO" not in sources:
        return {}  # every profile here came from the CSMS (K09)
    return st.profiles.report(
        p.get("evseId"),
        criteria.get("chargingProfilePurpose"),
        criteria.get("stackLevel"),
        criteria.get("chargingProfileId"),
    )


@table.on("GetChargingProfiles")
def get_charging_profiles(st: SimulatedStation, p: Payload) -> Payload:
    return {"status": "Accepted" if _requested_profiles(st, p) else "NoProfiles"}


@table.after("GetChargingProfiles")
async def report_charging_profiles(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    """K09.FR.01: one ReportChargingProfiles per EVSE, `tbc` on all but the last."""
    found = sorted(_requested_profiles(st, p).items())
    for i, (evse_id, profiles) in enumerate(found):
        payload: Payload = {
            "requestId": p["requestId"],
            "chargingLimitSource": "CSO",
            "evseId": evse_id,
            "chargingProfile": [to_v201(profile) for profile in profiles],
        }
        if i < len(found) - 1:
            payload["tbc"] = True
        await st.call("ReportChargingProfiles", payload)


@table.on("DataTransfer")
def data_transfer(st: SimulatedStation, p: Payload) -> Payload:
    return commands.data_transfer(st, p)


@table.on("ReserveNow")
def reserve_now(st: SimulatedStation, p: Payload) -> Payload:
    return commands.reserve(st, p.get("evseId"), p["id"], p["idToken"]["idToken"])


@table.after("ReserveNow")
async def hold(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    if answer["status"] == "Accepted":
        await commands.hold(st, p["id"], p["expiryDateTime"])


@table.on("CancelReservation")
def cancel_reservation(st: SimulatedStation, p: Payload) -> Payload:
    return commands.cancel_reservation(st, p["reservationId"])


@table.after("CancelReservation")
async def release(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    await commands.release(st)


@table.on("SendLocalList")
def send_local_list(st: SimulatedStation, p: Payload) -> Payload:
    st.local_list_version = p["versionNumber"]
    return {"status": "Accepted"}


@table.on("GetLocalListVersion")
def get_local_list_version(st: SimulatedStation, p: Payload) -> Payload:
    return {"versionNumber": st.local_list_version}


@table.on("GetTransactionStatus")
def get_transaction_status(st: SimulatedStation, p: Payload) -> Payload:
    tx = p.get("transactionId")
    answer: Payload = {"messagesInQueue": False}
    if tx is not None:
        answer["ongoingIndicator"] = st.by_transaction(tx) is not None
    return answer


# -- what the station sends ------------------------------------------------------------

# 2.0.1 ConnectorStatusEnumType has no Preparing/Charging/Finishing.
_CONNECTOR_STATUS = {
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
}


def boot_request(st: SimulatedStation, reason: str) -> Payload:
    return {
        "chargingStation": {
            "vendorName": "Volta",
            "model": "Simulator",
            "serialNumber": st.id[:25],
            "firmwareVersion": st.firmware_version or __version__,
        },
        "reason": reason,
    }


def status_request(connector: Connector, status: str, timestamp: str) -> Payload:
    return {
        "timestamp": timestamp,
        "connectorStatus": _CONNECTOR_STATUS.get(status, status),
        "evseId": connector.id,
        "connectorId": 1,
    }


def meter_value(
    st: SimulatedStation, connector: Connector, car: Car, context: str
) -> list[Payload]:
    sampled = []
    for measurand, value, unit, phase, location in st.readings(connector, car):
        item: dict[str, Any] = {
            "measurand": measurand,
            "context": context,
            "value": value,
            "unitOfMeasure": {"unit": unit},
        }
        if phase:
            item["phase"] = phase
        if location:
            item["location"] = location
        sampled.append(item)
    return [{"timestamp": st.now(), "sampledValue": sampled}]


def triggered_meter_values(st: SimulatedStation, connector: Connector) -> Payload:
    return {
        "evseId": connector.id,
        "meterValue": [
            {
                "timestamp": st.now(),
                "sampledValue": [{"value": round(connector.register_wh, 1), "context": "Trigger"}],
            }
        ],
    }


async def authorize(st: SimulatedStation, token: str) -> bool:
    answer = await st.call("Authorize", {"idToken": {"idToken": token, "type": "ISO14443"}})
    return bool(answer["idTokenInfo"]["status"] == "Accepted")


async def _transaction_event(
    st: SimulatedStation,
    connector: Connector,
    event_type: str,
    trigger: str,
    info: Payload,
    meter_value: list[Payload] | None,
    **extra: Any,
) -> Payload:
    payload: Payload = {
        "eventType": event_type,
        "timestamp": st.now(),
        "triggerReason": trigger,
        "seqNo": connector.seq_no,
        "transactionInfo": info,
        "evse": {"id": connector.id, "connectorId": 1},
        **{k: v for k, v in extra.items() if v is not None},
    }
    if meter_value:
        payload["meterValue"] = meter_value
    connector.seq_no += 1
    return await st.call("TransactionEvent", payload)


async def start(
    st: SimulatedStation, connector: Connector, token: str, remote_start_id: int | None
) -> bool:
    begin = meter_value(st, connector, Car(1, 0, 0, 0), "Transaction.Begin")
    connector.transaction_id = str(uuid.uuid4())
    connector.seq_no = 0
    info: Payload = {"transactionId": connector.transaction_id, "chargingState": "Charging"}
    if remote_start_id is not None:
        info["remoteStartId"] = remote_start_id
    extra: Payload = {}
    if connector.reservation_id:
        extra["reservationId"] = connector.reservation_id
        connector.reservation_id = None
        connector.reserved_for = None
    answer = await _transaction_event(
        st,
        connector,
        "Started",
        "RemoteStart" if remote_start_id is not None else "Authorized",
        info,
        begin,
        idToken={"idToken": token, "type": "ISO14443"},
        **extra,
    )
    token_info = answer.get("idTokenInfo")
    if token_info and token_info["status"] != "Accepted":
        await stop(st, connector, None, "DeAuthorized")
        return False
    return True


async def meter(
    st: SimulatedStation,
    connector: Connector,
    car: Car,
    context: str,
    *,
    rate_changed: bool = False,
) -> None:
    mv = meter_value(st, connector, car, context)
    if connector.transaction_id is None:
        return
    await _transaction_event(
        st,
        connector,
        "Updated",
        "ChargingRateChanged" if rate_changed else "MeterValuePeriodic",
        {
            "transactionId": connector.transaction_id,
            "chargingState": "SuspendedEVSE" if car.suspended else "Charging",
        },
        mv,
    )


# The triggerReason of the Ended event, by stoppedReason.
_STOP_TRIGGERS = {
    "Remote": "RemoteStop",
    "ImmediateReset": "ResetCommand",
    "Reboot": "AbnormalCondition",
    "DeAuthorized": "Deauthorized",
}


async def stop(st: SimulatedStation, connector: Connector, car: Car | None, reason: str) -> None:
    tx = connector.transaction_id
    if tx is None:
        return
    await _transaction_event(
        st,
        connector,
        "Ended",
        _STOP_TRIGGERS.get(reason, "StopAuthorized"),
        {"transactionId": tx, "chargingState": "Idle", "stoppedReason": reason},
        meter_value(st, connector, car or Car(1, 0, 0, 0), "Transaction.End"),
    )
    connector.transaction_id = None
    st.profiles.transaction_ended(connector.id)


async def reservation_expired(st: SimulatedStation, reservation_id: int) -> None:
    """H01: the station tells the CSMS a reservation ran out."""
    await st.call(
        "ReservationStatusUpdate",
        {"reservationId": reservation_id, "reservationUpdateStatus": "Expired"},
    )


# Device management (docs/device-management.md).
table.include(firmware.v201, logs.v201, monitoring.v201, display.v201)
