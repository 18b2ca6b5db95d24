"""OCPP 2.1 ad hoc payment: the stations' settlements, a web payment started
(NotifyWebPaymentStarted) and the operator's list of VAT numbers that
VatNumberValidation accepts (docs/ocpp21.md, "payment")."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from volta.api.models import INT32_MAX, CommandOut, Offset, SettlementOut
from volta.blocks.payment import service
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep
from volta.services import Services

router = APIRouter(tags=["payments"])

Limit = Annotated[int, Query(ge=1, le=1000)]


class WebPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evse_id: int = Field(ge=0, le=INT32_MAX, description="the EVSE whose QR code was scanned")
    timeout: int = Field(
        ge=1, le=INT32_MAX, description="seconds the station waits for the payment's outcome"
    )


class CompanyIn(BaseModel):
    """AddressType: the company a VAT number belongs to."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=50)
    address1: str = Field(min_length=1, max_length=100)
    address2: str | None = Field(None, max_length=100)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str | None = Field(None, max_length=20)
    country: str = Field(min_length=1, max_length=50)

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "address1": self.address1,
            "city": self.city,
            "country": self.country,
        }
        if self.address2:
            out["address2"] = self.address2
        if self.postal_code:
            out["postalCode"] = self.postal_code
        return out


class VatNumberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vat_number: str = Field(min_length=3, max_length=20)
    company: CompanyIn


class VatNumberOut(BaseModel):
    vat_number: str = Field(description="normalised: upper case, no spaces, dots or dashes")
    company: dict[str, Any] = Field(description="as sent to stations (AddressType)")
    well_formed: bool = Field(description="its format fits its country")
    created_at: dt.datetime


async def _station(services: Services, station_id: str) -> None:
    if await provisioning.find_station(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")


@router.get("/settlements", response_model=list[SettlementOut])
async def list_settlements(
    services: ServicesDep,
    station_id: str | None = None,
    transaction_id: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    psp_ref: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[SettlementOut]:
    """The stations' NotifySettlement messages, oldest first; by station,
    session (Volta's transaction id) or PSP reference."""
    rows = await service.list_settlements(
        services.db,
        station_id=station_id,
        transaction_ref=transaction_id,
        psp_ref=psp_ref,
        limit=limit,
        offset=offset,
    )
    return [SettlementOut(**service.public(r)) for r in rows]


@router.post("/stations/{station_id}/web-payments", response_model=CommandOut, status_code=202)
async def web_payment_started(
    station_id: str, body: WebPaymentIn, services: ServicesDep
) -> CommandOut:
    """Send NotifyWebPaymentStarted: a driver opened the web payment page of
    this EVSE (its QR code); the station waits `timeout` seconds for the
    payment. 409 when the station is offline or not OCPP 2.1."""
    await _station(services, station_id)
    try:
        record = await service.web_payment_started(services, station_id, body.evse_id, body.timeout)
    except service.Refused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return CommandOut(**record)


def _vat_out(row: dict[str, Any]) -> VatNumberOut:
    return VatNumberOut(**row, well_formed=service.well_formed(row["vat_number"]))


@router.get("/vat-numbers", response_model=list[VatNumberOut])
async def list_vat_numbers(
    services: ServicesDep, limit: Limit = 100, offset: Offset = 0
) -> list[VatNumberOut]:
    rows = await service.list_vat_numbers(services.db, limit=limit, offset=offset)
    return [_vat_out(r) for r in rows]


@router.put("/vat-numbers", response_model=VatNumberOut)
async def put_vat_number(body: VatNumberIn, services: ServicesDep) -> VatNumberOut:
    """Add (or replace) a VAT number with its company: VatNumberValidation
    accepts it and answers with this address."""
    row = await service.put_vat_number(services.db, body.vat_number, body.company.wire())
    return _vat_out(row)


@router.delete("/vat-numbers/{vat_number}", status_code=204)
async def delete_vat_number(vat_number: str, services: ServicesDep) -> Response:
    if not await service.delete_vat_number(services.db, vat_number):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"VAT number {vat_number} not found")
    return Response(status_code=204)
