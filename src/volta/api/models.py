"""Request and response bodies (they make the OpenAPI description)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

RegistrationStatus = Literal["Accepted", "Pending", "Rejected"]
ValidationMode = Literal["strict", "relaxed", "off"]
TokenStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]
TokenType = Literal[
    "Central",
    "eMAID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
]


def _not_null(value: Any) -> Any:
    """In a PATCH, a column that always has a value may be left out, not nulled
    (null would reach the database's NOT NULL constraint as a 500)."""
    if value is None:
        raise ValueError("may be left out but not null")
    return value


class ConnectorOut(BaseModel):
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None = None
    info: str | None = None
    vendor_error_code: str | None = None
    status_at: dt.datetime | None = None
    updated_at: dt.datetime


class StationOut(BaseModel):
    id: str
    online: bool
    protocol: str | None = Field(None, description="negotiated subprotocol of the last connection")
    registration_status: RegistrationStatus
    validation: ValidationMode
    has_password: bool
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    last_boot_at: dt.datetime | None = None
    last_heartbeat_at: dt.datetime | None = None
    last_connected_at: dt.datetime | None = None
    last_disconnected_at: dt.datetime | None = None
    created_at: dt.datetime
    connectors: list[ConnectorOut] = []


class StationCreate(BaseModel):
    id: str = Field(min_length=1, max_length=48, description="the id in the station's URL")
    password: str | None = Field(
        None,
        min_length=8,
        max_length=64,
        description="HTTP Basic password (security profile 1); stored hashed",
    )
    registration_status: RegistrationStatus = "Accepted"
    validation: ValidationMode = "strict"

    @field_validator("id")
    @classmethod
    def _usable_in_url(cls, value: str) -> str:
        # It is the last segment of ws://HOST:9000/<id> and the Basic-auth
        # username, so it cannot hold a slash, a colon or white space.
        if any(c in value for c in "/:") or any(c.isspace() for c in value):
            raise ValueError("a station id cannot contain '/', ':' or white space")
        return value


class StationUpdate(BaseModel):
    password: str | None = Field(None, min_length=8, max_length=64)
    clear_password: bool = False
    registration_status: RegistrationStatus | None = None
    validation: ValidationMode | None = None

    @field_validator("registration_status", "validation")
    @classmethod
    def _required(cls, value: Any) -> Any:
        return _not_null(value)


class IdTokenOut(BaseModel):
    token: str
    type: str
    status: TokenStatus
    expires_at: dt.datetime | None = None
    group_id: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class IdTokenCreate(BaseModel):
    token: str = Field(min_length=1, max_length=36)
    type: TokenType = "ISO14443"
    status: TokenStatus = "Accepted"
    expires_at: dt.datetime | None = None
    group_id: str | None = Field(None, max_length=36)


class IdTokenUpdate(BaseModel):
    type: TokenType | None = None
    status: TokenStatus | None = None
    expires_at: dt.datetime | None = None
    group_id: str | None = Field(None, max_length=36)

    @field_validator("type", "status")
    @classmethod
    def _required(cls, value: Any) -> Any:
        return _not_null(value)


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


class TransactionOut(BaseModel):
    id: int
    station_id: str
    station_transaction_id: str | None = None
    protocol: str
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    authorization_status: str | None = None
    status: Literal["Active", "Ended"]
    charging_state: str | None = None
    started_at: dt.datetime | None = None
    stopped_at: dt.datetime | None = None
    meter_start_wh: float | None = None
    meter_stop_wh: float | None = None
    energy_wh: float | None = Field(None, description="energy so far (active) or delivered (ended)")
    stop_reason: str | None = None
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


class CommandOut(BaseModel):
    id: str
    station_id: str
    action: str
    payload: dict[str, Any]
    status: Literal["pending", "accepted", "rejected", "error", "timeout", "offline", "invalid"]
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
