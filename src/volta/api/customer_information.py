"""Customer information (2.0.1 N09/N10) and a driver's data erased in the
stations and in Volta together."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from volta.api.models import Id
from volta.blocks.customer_information import service
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep

router = APIRouter(tags=["customer-information"])


class CertificateHash(BaseModel):
    """CertificateHashDataType of the customer's certificate."""

    model_config = ConfigDict(extra="forbid")

    hash_algorithm: Literal["SHA256", "SHA384", "SHA512"]
    issuer_name_hash: str = Field(min_length=1, max_length=128)
    issuer_key_hash: str = Field(min_length=1, max_length=128)
    serial_number: str = Field(min_length=1, max_length=40)

    def wire(self) -> dict[str, Any]:
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }


class CustomerInformationIn(BaseModel):
    """Name the customer by exactly one of id_token, customer_certificate and
    customer_identifier (N09.FR.09)."""

    model_config = ConfigDict(extra="forbid")

    report: bool = Field(True, description="the station reports what it holds (N09)")
    clear: bool = Field(False, description="the station clears what it holds (N10)")
    id_token: str | None = Field(None, min_length=1, max_length=36)
    id_token_type: str = Field("ISO14443", min_length=1, max_length=20)
    customer_certificate: CertificateHash | None = None
    customer_identifier: str | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_customer(self) -> CustomerInformationIn:
        given = [self.id_token, self.customer_certificate, self.customer_identifier]
        if sum(x is not None for x in given) != 1:
            raise ValueError(
                "give exactly one of id_token, customer_certificate, customer_identifier"
            )
        if not (self.report or self.clear):
            raise ValueError("ask for report, clear or both")
        return self


class CustomerInformationOut(BaseModel):
    id: int = Field(description="the requestId the station's reports carry")
    station_id: str
    report: bool
    clear: bool
    id_token: str | None
    id_token_type: str | None
    customer_certificate: dict[str, Any] | None
    customer_identifier: str | None
    status: str = Field(description="Requested, the station's answer, or Failed (no answer)")
    data: str = Field(description="the NotifyCustomerInformation parts joined")
    parts: int
    complete: bool
    truncated: bool
    erasure_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    command: dict[str, Any] | None = None


class EraseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stations: Literal["used", "all"] = Field(
        "used",
        description="used: the 2.0.1 stations with a session of the token; "
        "all: every 2.0.1 station",
    )


class EraseOut(BaseModel):
    id: int
    pseudonym: str = Field(description="what now stands for the token in the records kept")
    created_at: dt.datetime
    stations: list[dict[str, Any]] = Field(
        description="per station: the CustomerInformation answer, or NotSent and why"
    )
    rows: dict[str, int] = Field(description="rows erased or rewritten, per table")


@router.post(
    "/stations/{station_id}/customer-information",
    response_model=CustomerInformationOut,
    status_code=201,
)
async def request_customer_information(
    station_id: str, body: CustomerInformationIn, services: ServicesDep
) -> CustomerInformationOut:
    """Send CustomerInformation; the station's answer is in `status` and its
    NotifyCustomerInformation parts fill `data` (GET the request by id).
    409 when the station is offline or not 2.0.1."""
    if await provisioning.find_station(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")
    customer = service.Customer(
        id_token=body.id_token,
        id_token_type=body.id_token_type,
        certificate=body.customer_certificate.wire() if body.customer_certificate else None,
        identifier=body.customer_identifier,
    )
    try:
        found = await service.request(
            services, station_id, customer, report=body.report, clear=body.clear
        )
    except service.CustomerRequestRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return CustomerInformationOut(**found)


@router.get("/customer-information-requests/{request_id}", response_model=CustomerInformationOut)
async def get_customer_information(request_id: Id, services: ServicesDep) -> CustomerInformationOut:
    found = await service.get_request(services.db, request_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"request {request_id} not found")
    return CustomerInformationOut(**found)


@router.post("/id-tokens/{token}/erase", response_model=EraseOut)
async def erase_id_token(
    token: Annotated[str, Path(min_length=1, max_length=64)],
    services: ServicesDep,
    body: EraseIn | None = None,
) -> EraseOut:
    """Erase a driver's data: CustomerInformation clear=true to the 2.0.1
    stations, the id token deleted (and removed from local lists), and the
    token replaced by a pseudonym wherever Volta keeps it for billing
    (docs/device-management.md). Also for a token no longer in id_tokens."""
    body = body or EraseIn(stations="used")
    found = await service.erase(services, token, scope=body.stations)
    return EraseOut(**found)
