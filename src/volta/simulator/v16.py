"""A simulated OCPP 1.6 charge point: its answers to the Central System's
CALLs and how it spells what it sends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from volta import __version__
from volta.ocpp.charging import from_v16, purpose_from_v16
from volta.ocpp.times import format_timestamp
from volta.simulator import commands, display, drawing, firmware, logs, monitoring
from volta.simulator.dialect import AnswerTable, Payload
from volta.simulator.ev import Car
from volta.simulator.profiles import composite, wire_periods

if TYPE_CHECKING:
    from volta.simulator.station import Connector, SimulatedStation

table = AnswerTable()


# -- answers to the Central System -------------------------------------------------


@table.on("RemoteStartTransaction")
def remote_start(st: SimulatedStation, p: Payload) -> Payload:
    return commands.remote_start(st, p.get("connectorId"), p["idTag"], None)


@table.on("RemoteStopTransaction")
def remote_stop(st: SimulatedStation, p: Payload) -> Payload:
    return commands.remote_stop(st, str(p["transactionId"]))


def _reset_reason(p: Payload) -> str:
    return "HardReset" if p["type"] == "Hard" else "SoftReset"


@table.on("Reset")
def reset(st: SimulatedStation, p: Payload) -> Payload:
    return commands.reset(st, _reset_reason(p))


@table.after("Reset")
async def reboot(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    await commands.reboot(st, _reset_reason(p))


@table.on("UnlockConnector")
def unlock(st: SimulatedStation, p: Payload) -> Payload:
    if st.connector(p["connectorId"]) is None:
        return {"status": "NotSupported"}
    return {"status": "Unlocked"}


@table.on("ChangeAvailability")
def change_availability(st: SimulatedStation, p: Payload) -> Payload:
    return commands.change_availability(st, p["connectorId"], p["type"] == "Operative")


@table.after("ChangeAvailability")
async def report_availability(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    if answer["status"] != "Rejected":
        await commands.report_availability(st, p["connectorId"])


@table.on("GetConfiguration")
def get_configuration(st: SimulatedStation, p: Payload) -> Payload:
    keys = p.get("key") or list(st.configuration)
    known = [
        {"key": k, "readonly": st.configuration[k][1], "value": st.configuration[k][0]}
        for k in keys
        if k in st.configuration
    ]
    unknown = [k for k in keys if k not in st.configuration]
    answer: Payload = {"configurationKey": known}
    if unknown:
        answer["unknownKey"] = unknown
    return answer


@table.on("ChangeConfiguration")
def change_configuration(st: SimulatedStation, p: Payload) -> Payload:
    key, value = p["key"], p["value"]
    if key == "AuthorizationKey":
        # 1.6 security whitepaper: the new Basic password, hex-encoded (16-20
        # bytes); write-only, so never in the configuration.
        try:
            password = bytes.fromhex(value).decode()
        except ValueError:
            return {"status": "Rejected"}
        if not 16 <= len(password) <= 20:
            return {"status": "Rejected"}
        st.new_password(password)
        return {"status": "Accepted"}
    if key not in st.configuration:
        return {"status": "NotSupported"}
    if st.configuration[key][1]:
        return {"status": "Rejected"}
    st.configuration[key] = (value, False)
    if key == "HeartbeatInterval" and value.isdigit():
        st.heartbeat_interval = float(value)
    return {"status": "Accepted"}


@table.after("ChangeConfiguration")
async def reconnect_with_new_password(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    if p["key"] == "AuthorizationKey" and answer["status"] == "Accepted":
        st.reconnect_when_idle()


TRIGGERABLE = frozenset({"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"})


@table.on("TriggerMessage", "ExtendedTriggerMessage")
def trigger(st: SimulatedStation, p: Payload) -> Payload:
    return {"status": "Accepted" if p["requestedMessage"] in TRIGGERABLE else "NotImplemented"}


@table.after("TriggerMessage", "ExtendedTriggerMessage")
async def send_triggered(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    if answer["status"] == "Accepted":
        await commands.triggered(st, p["requestedMessage"], p.get("connectorId"))


@table.on("ClearCache")
def accept(st: SimulatedStation, p: Payload) -> Payload:
    return {"status": "Accepted"}


# -- smart charging (1.6 §5.5, §5.7, §5.16) ------------------------------------------


@table.on("SetChargingProfile")
def set_charging_profile(st: SimulatedStation, p: Payload) -> Payload:
    status = st.profiles.install(st, p["connectorId"], from_v16(p["csChargingProfiles"]))
    if status == "Accepted":
        drawing.limits_changed(st, {p["connectorId"]})
    return {"status": status}


@table.on("ClearChargingProfile")
def clear_charging_profile(st: SimulatedStation, p: Payload) -> Payload:
    purpose = p.get("chargingProfilePurpose")
    status, evses = st.profiles.clear(
        p.get("id"),
        p.get("connectorId"),
        None if purpose is None else purpose_from_v16(purpose),
        p.get("stackLevel"),
    )
    drawing.limits_changed(st, evses)
    return {"status": status}


@table.on("GetCompositeSchedule")
def get_composite_schedule(st: SimulatedStation, p: Payload) -> Payload:
    schedule = composite(st, p["connectorId"], p["duration"], p.get("chargingRateUnit"))
    if schedule is None or schedule.start is None:
        return {"status": "Rejected"}
    start = format_timestamp(schedule.start)
    return {
        "status": "Accepted",
        "connectorId": p["connectorId"],
        "scheduleStart": start,
        "chargingSchedule": {
            "duration": schedule.duration_s,
            "startSchedule": start,
            "chargingRateUnit": schedule.unit,
            "chargingSchedulePeriod": wire_periods(schedule, v201=False),
        },
    }


@table.on("DataTransfer")
def data_transfer(st: SimulatedStation, p: Payload) -> Payload:
    return commands.data_transfer(st, p)


@table.on("ReserveNow")
def reserve_now(st: SimulatedStation, p: Payload) -> Payload:
    return commands.reserve(st, p["connectorId"], p["reservationId"], p["idTag"])


@table.after("ReserveNow")
async def hold(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    if answer["status"] == "Accepted":
        await commands.hold(st, p["reservationId"], p["expiryDate"])


@table.on("CancelReservation")
def cancel_reservation(st: SimulatedStation, p: Payload) -> Payload:
    return commands.cancel_reservation(st, p["reservationId"])


@table.after("CancelReservation")
async def release(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    await commands.release(st)


@table.on("SendLocalList")
def send_local_list(st: SimulatedStation, p: Payload) -> Payload:
    st.local_list_version = p["listVersion"]
    return {"status": "Accepted"}


@table.on("GetLocalListVersion")
def get_local_list_version(st: SimulatedStation, p: Payload) -> Payload:
    return {"listVersion": st.local_list_version}


# -- what the charge point sends -----------------------------------------------------


def boot_request(st: SimulatedStation, reason: str) -> Payload:
    # 1.6 BootNotification carries no reason.
    return {
        "chargePointVendor": "Volta",
        "chargePointModel": "Simulator",
        "chargePointSerialNumber": st.id[:25],
        "firmwareVersion": st.firmware_version or __version__,
    }


def status_request(connector: Connector, status: str, timestamp: str) -> Payload:
    return {
        "connectorId": connector.id,
        "errorCode": "NoError",
        "status": status,
        "timestamp": timestamp,
    }


def meter_value(
    st: SimulatedStation, connector: Connector, car: Car, context: str
) -> list[Payload]:
    sampled = []
    for measurand, value, unit, phase, location in st.readings(connector, car):
        # 1.6 SampledValue.value is a string.
        item: dict[str, Any] = {
            "measurand": measurand,
            "context": context,
            "value": str(value),
            "unit": unit,
        }
        if phase:
            item["phase"] = phase
        if location:
            item["location"] = location
        sampled.append(item)
    return [{"timestamp": st.now(), "sampledValue": sampled}]


def triggered_meter_values(st: SimulatedStation, connector: Connector) -> Payload:
    return {
        "connectorId": connector.id,
        "meterValue": [
            {
                "timestamp": st.now(),
                "sampledValue": [
                    {
                        "value": str(round(connector.register_wh, 1)),
                        "context": "Trigger",
                        "unit": "Wh",
                    }
                ],
            }
        ],
    }


async def authorize(st: SimulatedStation, token: str) -> bool:
    answer = await st.call("Authorize", {"idTag": token})
    return bool(answer["idTagInfo"]["status"] == "Accepted")


async def start(
    st: SimulatedStation, connector: Connector, token: str, remote_start_id: int | None
) -> bool:
    payload: Payload = {
        "connectorId": connector.id,
        "idTag": token,
        "meterStart": int(connector.register_wh),
        "timestamp": st.now(),
    }
    if connector.reservation_id:
        payload["reservationId"] = connector.reservation_id
    answer = await st.call("StartTransaction", payload)
    connector.reservation_id = None
    connector.reserved_for = None
    connector.transaction_id = str(answer["transactionId"])
    if answer["idTagInfo"]["status"] != "Accepted":
        # StopTransactionOnInvalidId: end it at once.
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
    await st.call(
        "MeterValues",
        {
            "connectorId": connector.id,
            "transactionId": int(connector.transaction_id),
            "meterValue": mv,
        },
    )


async def stop(st: SimulatedStation, connector: Connector, car: Car | None, reason: str) -> None:
    tx = connector.transaction_id
    if tx is None:
        return
    await st.call(
        "StopTransaction",
        {
            "transactionId": int(tx),
            "meterStop": int(connector.register_wh),
            "timestamp": st.now(),
            "reason": reason,
            "idTag": connector.id_token or "",
        },
    )
    connector.transaction_id = None
    st.profiles.transaction_ended(connector.id)


async def reservation_expired(st: SimulatedStation, reservation_id: int) -> None:
    """1.6 has no ReservationStatusUpdate: the connector's status says it."""


# Device management (docs/device-management.md).
table.include(firmware.v16, logs.v16, monitoring.v16, display.v16)
