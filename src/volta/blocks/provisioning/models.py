"""What operators give and get about a station, typed: the inputs the HTTP
API, the dashboard and the CLI validate alike, and the station view they all
show. Pydantic models, so the API's OpenAPI description is made from them."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from volta.ocpp.identity import identity_problem

RegistrationStatus = Literal["Accepted", "Pending", "Rejected"]
ValidationMode = Literal["strict", "relaxed", "off"]
# OCPP security profiles (2.0.1 Part 2 A00, 1.6 security whitepaper §2).
SecurityProfile = Literal[1, 2, 3]


def not_null(value: Any) -> Any:
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
    security_profile: int | None = Field(
        None,
        description="OCPP security profile the station connects with (1 Basic, 2 TLS + Basic,"
        " 3 TLS with client certificate); a connection below it is refused; null: not known yet",
    )
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
    site_id: int | None = Field(None, description="the site or circuit it hangs from")
    connectors: list[ConnectorOut] = []


class StationCreate(BaseModel):
    id: str = Field(
        min_length=1,
        max_length=48,
        description="the id in the station's URL: 1-48 characters of A-Z a-z 0-9 * - _ = + | @ ."
        " (not only dots)",
    )
    password: str | None = Field(
        None,
        min_length=8,
        max_length=64,
        description="HTTP Basic password (security profile 1); stored hashed",
    )
    registration_status: RegistrationStatus = "Accepted"
    validation: ValidationMode = "strict"
    security_profile: SecurityProfile | None = Field(
        default=None,
        description="the lowest security profile it may connect with (null: its first)",
    )

    @field_validator("id")
    @classmethod
    def _usable_in_url(cls, value: str) -> str:
        # The last segment of ws://HOST:9000/<id> and the Basic-auth username:
        # the one rule the gateway and the CLI keep too (volta.ocpp.identity).
        problem = identity_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class StationUpdate(BaseModel):
    password: str | None = Field(None, min_length=8, max_length=64)
    clear_password: bool = False
    registration_status: RegistrationStatus | None = None
    validation: ValidationMode | None = None
    site_id: int | None = Field(
        None, ge=1, le=2**31 - 1, description="the site it hangs from (null: none)"
    )
    security_profile: SecurityProfile | None = Field(
        None,
        description="the lowest security profile it may connect with; lower than the stored"
        " one only with allow_lower",
    )
    allow_lower: bool = Field(False, description="allow lowering security_profile")

    @field_validator("registration_status", "validation", "security_profile")
    @classmethod
    def _required(cls, value: Any) -> Any:
        return not_null(value)
