"""Request and response bodies (they make the OpenAPI description).

The bodies the dashboard and the CLI validate with too (a station's and an id
token's inputs, the station view) live next to their block's service
(`blocks/provisioning/models.py`, `blocks/authorization/models.py`): the API
and the dashboard share them without importing each other."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, Field, field_validator

from volta.blocks.authorization.models import Limits, TokenStatus, TokenType
from volta.blocks.provisioning.models import not_null
from volta.blocks.remote_control.service import CommandStatus
from volta.blocks.reservations.service import ConnectorType
from volta.events.service import EventType

# Integers a database column holds: ids and EVSE numbers are 32-bit columns,
# event ids and offsets 64-bit. A path or query value beyond them is 422, not
# an overflow deep in the driver (which was a 500).
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
Id = Annotated[int, Path(ge=0, le=INT32_MAX)]
Offset = Annotated[int, Query(ge=0, le=INT64_MAX)]
EventId = Annotated[int, Query(ge=0, le=INT64_MAX, description="events with a greater id")]
EvseNumber = Annotated[int, Field(ge=0, le=INT32_MAX)]


class ErrorOut(BaseModel):
    """Every error answer of the API."""

    detail: str = Field(description="what is wrong, for a person")


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="where: body/query/path, then the field")
    msg: str


class ValidationErrorOut(ErrorOut):
    """422: the input breaks a rule (a type, a bound, a control character)."""

    errors: list[ErrorItem] = []


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no or a wrong bearer token (the body is not read)"},
    413: {"model": ErrorOut, "description": "the body is larger than max_body_bytes"},
    422: {"model": ValidationErrorOut, "description": "invalid input"},
}


class IdTokenOut(BaseModel):
    token: str
    type: str
    status: TokenStatus
    expires_at: dt.datetime | None = None
    group_id: str | None = Field(None, description="1.6 parentIdTag / 2.0.1 groupIdToken")
    language1: str | None = None
    language2: str | None = None
    note: str | None = None
    limit_energy_wh: float | None = None
    limit_seconds: int | None = None
    limit_cost: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class MeterValueOut(BaseModel):
    timestamp: dt.datetime
    measurand: str
    value: float
    unit: str | None = None
    phase: str | None = None
    context: str | None = None
    location: str | None = None
    raw_value: str
    raw_unit: str | None = None
    flags: list[str] = Field(
        default_factory=list,
        description="register_backwards, register_jump, out_of_order (stored as sent)",
    )


class SettlementOut(BaseModel):
    """A station's NotifySettlement (OCPP 2.1 ad hoc payment)."""

    id: int
    station_id: str
    transaction_id: int | None = Field(description="Volta's id of the session it paid for")
    station_transaction_id: str | None = Field(description="the station's transactionId")
    psp_ref: str = Field(description="the payment service provider's reference (the idToken)")
    status: str = Field(description="Settled, Canceled, Rejected, Failed")
    status_info: str | None
    amount: str = Field(description="the amount settled or attempted, as the station sent it")
    settled_at: dt.datetime
    receipt_id: str | None
    receipt_url: str | None
    vat_number: str | None
    vat_company: dict[str, Any] | None
    created_at: dt.datetime


class TransactionOut(BaseModel):
    id: int
    station_id: str
    station_transaction_id: str | None = None
    protocol: str
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    authorization_status: str | None = None
    reservation_id: int | None = Field(None, description="the reservation it consumed")
    remote_start_id: int | None = Field(None, description="the remote start that asked for it")
    stop_id_token: str | None = Field(None, description="the token that stopped it, if another")
    soc_percent: float | None = Field(None, description="the car's last state of charge")
    limit_energy_wh: float | None = None
    limit_seconds: int | None = None
    limit_cost: str | None = None
    limit_reached: Literal["energy", "time", "cost", "soc"] | None = None
    limit_reached_at: dt.datetime | None = None
    limit_reached_by: Literal["volta", "station"] | None = Field(
        None,
        description="volta: its own watch; station: a 2.1 station reported reaching it (E16)",
    )
    limit_sent: dict[str, Any] | None = Field(
        None, description="2.1: the transactionLimit Volta last sent the station"
    )
    station_limit: dict[str, Any] | None = Field(
        None,
        description="2.1: the transactionLimit the station reports holding (E16); "
        "the station enforces these, Volta does not",
    )
    station_limit_at: dt.datetime | None = None
    stop_requested_at: dt.datetime | None = None
    status: Literal["Active", "Ended"]
    charging_state: str | None = None
    started_at: dt.datetime | None = None
    stopped_at: dt.datetime | None = None
    meter_start_wh: float | None = None
    meter_stop_wh: float | None = None
    energy_wh: float | None = Field(None, description="energy so far (active) or delivered (ended)")
    stop_reason: str | None = None
    ended_by: Literal["station", "abandoned", "refused", "operator"] | None = Field(
        None,
        description="station: its stop message; abandoned: a new transaction started on the "
        "same EVSE; refused: its start was not authorised; operator: closed by hand",
    )
    end_note: str | None = Field(None, description="why Volta or an operator closed it")
    created_at: dt.datetime | None = Field(
        None,
        description="when Volta received the start (Volta's clock; started_at is the station's)",
    )
    flags: list[str] = Field(
        default_factory=list,
        description="implausible values stored as sent: meter_stop_below_start, "
        "start_time_implausible, stop_time_implausible, stopped_before_started",
    )
    meter_values: list[MeterValueOut] | None = None
    settlements: list[SettlementOut] | None = Field(
        None, description="OCPP 2.1 ad hoc payment: what the station settled for it (one session)"
    )


class TransactionClose(BaseModel):
    reason: str = Field(
        min_length=1, max_length=200, description="why the session is closed, kept with it"
    )


class CommandOut(BaseModel):
    id: str
    station_id: str
    action: str
    payload: dict[str, Any]
    status: CommandStatus
    message_id: str | None = None
    response: dict[str, Any] | None = None
    error_code: str | None = None
    error_description: str | None = None
    created_at: dt.datetime
    completed_at: dt.datetime | None = None


class FrameOut(BaseModel):
    id: int
    direction: Literal["in", "out"]
    message_type: int | None = None
    message_id: str | None = None
    action: str | None = None
    error_code: str | None = None
    frame: Any = Field(description="the frame as received or sent (raw text when not JSON)")
    created_at: dt.datetime


class Page(BaseModel):
    limit: int
    offset: int


class FramePage(Page):
    items: list[FrameOut]


class ReservationCreate(BaseModel):
    station_id: str
    id_token: str = Field(min_length=1, max_length=36)
    id_token_type: TokenType = "ISO14443"
    expires_at: dt.datetime = Field(description="when the hold ends (UTC if no offset)")
    evse_id: int | None = Field(
        None,
        ge=0,
        le=INT32_MAX,
        description="1.6: the connector (0 or absent: any); 2.0.1: the EVSE",
    )
    connector_type: ConnectorType | None = Field(None, description="2.0.1 only")


class ReservationOut(BaseModel):
    id: int = Field(description="the reservationId the station was sent")
    station_id: str
    protocol: str | None = None
    evse_id: int | None = None
    connector_type: str | None = None
    id_token: str
    id_token_type: str
    group_id: str | None = None
    expires_at: dt.datetime
    status: Literal[
        "Requested",
        "Accepted",
        "Faulted",
        "Occupied",
        "Rejected",
        "Unavailable",
        "Failed",
        "Used",
        "Cancelled",
        "Expired",
        "Removed",
    ]
    transaction_id: int | None = None
    command_id: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    command: CommandOut | None = Field(None, description="ReserveNow / CancelReservation sent now")


class LocalListSet(BaseModel):
    tokens: list[Annotated[str, Field(min_length=1, max_length=36)]] | None = Field(
        None, description="the whole list; absent or null: every id token Volta knows"
    )


class LocalListChange(BaseModel):
    add: list[Annotated[str, Field(min_length=1, max_length=36)]] = []
    remove: list[Annotated[str, Field(min_length=1, max_length=36)]] = []


class LocalListEntryOut(BaseModel):
    token: str
    token_type: str
    pending: bool = Field(description="the station does not hold this state yet")
    removed: bool = Field(description="to be deleted from the station")
    version: int | None = Field(None, description="list version that carried it")
    updated_at: dt.datetime


class LocalListOut(BaseModel):
    station_id: str
    version: int = Field(description="the version the station holds, as far as Volta knows")
    managed: bool
    full_pending: bool = Field(description="a Full update is owed to the station")
    last_status: str | None = Field(None, description="the station's last SendLocalList answer")
    synced_at: dt.datetime | None = None
    updated_at: dt.datetime
    entries: list[LocalListEntryOut]
    sent: bool | None = Field(None, description="whether an update went out for this request")
    update_type: Literal["Full", "Differential"] | None = None
    command: CommandOut | None = None


class LocalListVersionOut(BaseModel):
    version: int | None = Field(None, description="as the station reported it")
    command: CommandOut


class RemoteStartCreate(BaseModel):
    station_id: str
    id_token: str = Field(min_length=1, max_length=36)
    id_token_type: TokenType = "Central"
    evse_id: int | None = Field(
        None, ge=1, le=INT32_MAX, description="1.6: the connector; absent: any"
    )
    limits: Limits | None = Field(None, description="stop the session at one of these")
    charging_profile: dict[str, Any] | None = Field(
        None,
        description="a TxProfile for the session (1.6 §5.11, 2.0.1 F01.FR.08), in either "
        "wire shape as for POST /stations/{id}/charging-profiles, without transactionId; "
        "needs evse_id",
    )


class RemoteStartOut(BaseModel):
    id: int = Field(description="the remoteStartId (2.0.1)")
    station_id: str
    evse_id: int | None = None
    id_token: str
    id_token_type: str
    status: Literal["Requested", "Accepted", "Rejected", "Failed", "Started", "Timeout"]
    transaction_id: int | None = Field(None, description="the session it started")
    command_id: str | None = None
    limit_energy_wh: float | None = None
    limit_seconds: int | None = None
    limit_cost: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    command: CommandOut | None = None


class EventOut(BaseModel):
    id: int = Field(description="increasing; the stream's Last-Event-ID")
    type: EventType
    created_at: str
    data: dict[str, Any]


class WebhookCreate(BaseModel):
    url: str = Field(
        max_length=500,
        description="https:// (http only for loopback); a public address unless "
        "webhook_allow_private_targets or webhook_allowed_networks allow more",
    )
    event_types: list[EventType | Literal["*"]] = Field(["*"], min_length=1)
    description: str | None = Field(None, max_length=200)


class WebhookUpdate(BaseModel):
    url: str | None = Field(None, max_length=500)
    event_types: list[EventType | Literal["*"]] | None = Field(None, min_length=1)
    description: str | None = Field(None, max_length=200)
    active: bool | None = None

    @field_validator("url", "event_types", "active")
    @classmethod
    def _required(cls, value: Any) -> Any:
        return not_null(value)


class WebhookOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    description: str | None = None
    active: bool
    created_at: dt.datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="signs every delivery; shown only now")


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: dt.datetime
    last_status_code: int | None = None
    last_error: str | None = Field(
        None,
        description="HTTP <code>, connection failed, timeout, target address not allowed "
        "or signing secret unavailable",
    )
    delivered_at: dt.datetime | None = None
    created_at: dt.datetime
