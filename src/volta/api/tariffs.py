"""Tariffs, their assignments, session costs and charge detail records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from volta.api.models import INT32_MAX, Id, Offset, SettlementOut
from volta.blocks.payment import service as payment
from volta.blocks.provisioning import service as provisioning
from volta.blocks.tariffs import cdr, service, station
from volta.blocks.tariffs.model import CURRENCIES, MAX_AMOUNT, MAX_DECIMALS, Tariff, TariffError
from volta.blocks.tariffs.translate import Untranslatable, to_ocpp
from volta.http import ServicesDep
from volta.services import Services

router = APIRouter(tags=["tariffs"])

Amount = Annotated[
    Decimal,
    Field(
        ge=0,
        le=MAX_AMOUNT,
        decimal_places=MAX_DECIMALS,
        allow_inf_nan=False,
        examples=["0.35"],
        description=f"a decimal from 0 to {MAX_AMOUNT}, at most {MAX_DECIMALS} decimals",
    ),
]


class PeriodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=50)
    days: list[str] | None = Field(None, description="MONDAY ... SUNDAY; all days when left out")
    start: str = Field("00:00", description="local time HH:MM")
    end: str = Field("24:00", description="local time HH:MM; before start: runs past midnight")
    price_kwh: Amount | None = None
    price_minute: Amount | None = None


class TariffIn(BaseModel):
    """Prices exclude tax. Give amounts as strings ("0.35") to keep them exact."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. EUR")

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code such as EUR")
        return value

    price_kwh: Amount = Decimal(0)
    price_minute: Amount = Field(Decimal(0), description="per minute of charging")
    price_idle_minute: Amount = Field(
        Decimal(0), description="per minute plugged in after charging ended, after the grace"
    )
    idle_grace_minutes: Amount = Decimal(0)
    session_fee: Amount = Decimal(0)
    tax_percent: Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)] = Decimal(0)
    timezone: str = Field("UTC", description="IANA zone the periods are read in")
    periods: list[PeriodIn] = []
    display_text: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="shown by 2.0.1 stations at a session's start (display_tariff_at_start)",
    )
    is_default: bool = Field(False, description="applies where no assignment does")

    def document(self) -> dict[str, Any]:
        data: dict[str, Any] = _strings(self.model_dump(exclude={"is_default"}, exclude_none=True))
        return data


def _strings(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v) for v in value]
    return value


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station_id: str | None = Field(None, description="a station, or with evse_id one EVSE")
    evse_id: int | None = Field(None, ge=0, le=INT32_MAX)
    group_id: str | None = Field(None, description="the id tokens of a group")


class AssignmentOut(BaseModel):
    id: int
    tariff_id: int
    station_id: str | None
    evse_id: int | None
    group_id: str | None
    created_at: dt.datetime


class CostOut(BaseModel):
    transaction_id: int
    final: bool = Field(description="the session ended: this is its final cost")
    cdr_id: str | None = None
    tariff: dict[str, Any] | None
    breakdown: dict[str, Any] = Field(description="amounts as decimal strings")


class CdrOut(BaseModel):
    id: str
    transaction_id: int
    station_id: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    start: dt.datetime
    end: dt.datetime
    tariff_id: int | None
    currency: str
    energy_wh: str
    total_excl_tax: str
    tax: str
    total_incl_tax: str
    breakdown: dict[str, Any]
    tariff: dict[str, Any] | None
    audit: dict[str, Any]
    flags: list[str] = Field(
        default_factory=list,
        description="why this is not an ordinary billable session; token_refused: not priced; "
        "station_cost_differs: the 2.1 station's own cost (costDetails) differs from Volta's",
    )
    station_cost: dict[str, Any] | None = Field(
        None,
        description="a 2.1 station's own cost beside Volta's (differs, difference, reason)",
    )
    created_at: dt.datetime
    settlements: list[SettlementOut] | None = Field(
        None, description="OCPP 2.1 ad hoc payment: what the station settled for the session"
    )


def _bad(exc: Exception) -> HTTPException:
    return HTTPException(422, str(exc))


@router.get("/tariffs")
async def list_tariffs(services: ServicesDep) -> list[dict[str, Any]]:
    return await service.list_tariffs(services.db)


@router.post("/tariffs", status_code=201)
async def create_tariff(body: TariffIn, services: ServicesDep) -> dict[str, Any]:
    """A tariff; 422 names the field that is wrong."""
    try:
        return await service.create_tariff(services.db, body.document(), is_default=body.is_default)
    except TariffError as exc:
        raise _bad(exc) from None


@router.get("/tariffs/{tariff_id}")
async def get_tariff(tariff_id: Id, services: ServicesDep) -> dict[str, Any]:
    found = await service.get_tariff(services.db, tariff_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"tariff {tariff_id} not found")
    return found


@router.put("/tariffs/{tariff_id}")
async def replace_tariff(tariff_id: Id, body: TariffIn, services: ServicesDep) -> dict[str, Any]:
    """Replace a tariff. CDRs already written keep the prices they were computed with."""
    try:
        return await service.replace_tariff(
            services.db, tariff_id, body.document(), is_default=body.is_default
        )
    except TariffError as exc:
        raise _bad(exc) from None
    except service.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.delete("/tariffs/{tariff_id}", status_code=204)
async def delete_tariff(tariff_id: Id, services: ServicesDep) -> Response:
    if not await service.delete_tariff(services.db, tariff_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"tariff {tariff_id} not found")
    return Response(status_code=204)


@router.get("/tariffs/{tariff_id}/assignments", response_model=list[AssignmentOut])
async def list_assignments(tariff_id: Id, services: ServicesDep) -> list[AssignmentOut]:
    rows = await service.list_assignments(services.db, tariff_id)
    return [AssignmentOut(**r) for r in rows]


@router.post("/tariffs/{tariff_id}/assignments", response_model=AssignmentOut, status_code=201)
async def assign_tariff(tariff_id: Id, body: AssignmentIn, services: ServicesDep) -> AssignmentOut:
    """Apply the tariff to an EVSE (station_id + evse_id), a station or a token
    group, replacing what that target had. A session pays the tariff of its
    EVSE, else its station, else its token's group, else the default."""
    try:
        row = await service.assign(
            services.db,
            tariff_id,
            station_id=body.station_id,
            evse_id=body.evse_id,
            group_id=body.group_id,
        )
    except service.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ValueError as exc:
        raise _bad(exc) from None
    return AssignmentOut(**row)


@router.delete("/tariff-assignments/{assignment_id}", status_code=204)
async def unassign_tariff(assignment_id: Id, services: ServicesDep) -> Response:
    if not await service.unassign(services.db, assignment_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"assignment {assignment_id} not found")
    return Response(status_code=204)


@router.get("/transactions/{transaction_id}/cost", response_model=CostOut)
async def transaction_cost(transaction_id: Id, services: ServicesDep) -> CostOut:
    """The running cost of an active session (up to now) or the final cost of
    an ended one (from its CDR once written)."""
    found = await service.get_cdr(services.db, service.cdr_id(transaction_id))
    if found is not None:
        return CostOut(
            transaction_id=transaction_id,
            final=True,
            cdr_id=found["id"],
            tariff=found["tariff"],
            breakdown=found["breakdown"],
        )
    cost = await service.session_cost(services.db, transaction_id)
    if cost is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"transaction {transaction_id} not found")
    return CostOut(
        transaction_id=transaction_id,
        final=cost.final,
        tariff=cost.tariff.to_dict() if cost.tariff else None,
        breakdown=cost.breakdown.to_dict(),
    )


Since = Annotated[dt.datetime | None, Query(alias="from", description="ended at or after")]
Until = Annotated[dt.datetime | None, Query(alias="to", description="ended before")]
Limit = Annotated[int, Query(ge=1, le=10000)]


@dataclass(frozen=True, slots=True)
class CdrQuery:
    station_id: str | None
    since: dt.datetime | None
    until: dt.datetime | None
    offset: int

    async def run(self, services: Services, limit: int) -> list[dict[str, Any]]:
        return await service.list_cdrs(
            services.db,
            station_id=self.station_id,
            since=self.since,
            until=self.until,
            limit=limit,
            offset=self.offset,
        )


def cdr_query(
    station_id: str | None = None,
    since: Since = None,
    until: Until = None,
    offset: Offset = 0,
) -> CdrQuery:
    for name, value in (("from", since), ("to", until)):
        if value is not None and value.tzinfo is None:
            raise _bad(ValueError(f"{name}: give a time zone (e.g. 2026-11-20T00:00:00Z)"))
    return CdrQuery(station_id, since, until, offset)


CdrQueryDep = Annotated[CdrQuery, Depends(cdr_query)]


@router.get("/cdrs", response_model=list[CdrOut])
async def list_cdrs(services: ServicesDep, query: CdrQueryDep, limit: Limit = 100) -> list[CdrOut]:
    """Charge detail records of sessions that ended in [from, to), oldest first."""
    return [CdrOut(**r) for r in await query.run(services, limit)]


@router.get("/cdrs.csv", response_class=Response)
async def export_cdrs_csv(
    services: ServicesDep, query: CdrQueryDep, limit: Limit = 10000
) -> Response:
    """The same CDRs as CSV, one row per CDR (columns in docs/tariffs.md)."""
    rows = await query.run(services, limit)
    return Response(
        cdr.to_csv([cdr.summary(r) for r in rows]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cdrs.csv"'},
    )


@router.get("/cdrs/{cdr_id}", response_model=None)
async def get_cdr(
    cdr_id: str, services: ServicesDep, format: Literal["volta", "ocpi"] = "volta"
) -> CdrOut | Response:
    """One CDR; `format=ocpi` for an OCPI 2.2.1 CDR object (amounts as numbers)."""
    found = await service.get_cdr(services.db, cdr_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"CDR {cdr_id} not found")
    if format == "ocpi":
        return Response(cdr.dumps(cdr.to_ocpi(found)), media_type="application/json")
    settlements = await payment.settlements_of(services.db, found["transaction_id"])
    return CdrOut(**found, settlements=[SettlementOut(**s) for s in settlements])


# -- OCPP 2.1: tariffs in the station (block I, local cost calculation) ----------------

EvseId = Annotated[int, Field(ge=0, le=INT32_MAX)]
OcppTariffId = Annotated[str, Field(min_length=1, max_length=60)]


class DefaultTariffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tariff_id: Id
    evse_id: EvseId = Field(default=0, description="0: every EVSE of the station")


class TransactionTariffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tariff_id: Id | None = Field(
        default=None, description="Volta's tariff; none: the tariff Volta resolves for the session"
    )


class TariffSentOut(BaseModel):
    station_id: str
    evse_id: int | None = None
    transaction_id: int | None = None
    tariff_id: int | None
    ocpp_tariff_id: str = Field(description="the tariffId the station was sent")
    status: str = Field(
        description="the station's answer (Accepted, Rejected, TooManyElements, "
        "ConditionNotSupported, DuplicateTariffId, TxNotFound, NoCurrencyChange) or Failed"
    )
    status_info: dict[str, Any] | None
    tariff: dict[str, Any] = Field(description="the 2.1 TariffType sent")
    command: dict[str, Any]


class StationTariffOut(BaseModel):
    tariff_id: str
    tariff_kind: str = Field(description="DefaultTariff or DriverTariff")
    valid_from: dt.datetime | None
    evse_ids: list[int] | None
    id_tokens: list[str] | None
    volta_tariff_id: int | None = Field(description="Volta's tariff, when the id is Volta's")
    reported_at: dt.datetime


class GetTariffsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evse_id: EvseId = Field(default=0, description="0: every tariff of the station")


class StationTariffsOut(BaseModel):
    station_id: str
    evse_id: int
    status: str = Field(description="GetTariffs answer: Accepted, Rejected, NoTariff; or Failed")
    status_info: dict[str, Any] | None
    tariffs: list[StationTariffOut]
    command: dict[str, Any]


class ClearTariffsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tariff_ids: list[OcppTariffId] = Field(default_factory=list, description="none: all")
    evse_id: EvseId | None = Field(default=None, description="none: every EVSE")


class ClearResultOut(BaseModel):
    tariff_id: str | None
    status: str | None = Field(description="Accepted, Rejected, NoTariff")
    status_info: dict[str, Any] | None


class ClearTariffsOut(BaseModel):
    station_id: str
    evse_id: int | None
    status: str = Field(description="Answered, or Failed (no answer)")
    results: list[ClearResultOut]
    tariffs: list[StationTariffOut]
    command: dict[str, Any]


async def _station_known(services: Services, station_id: str) -> None:
    if await provisioning.find_station(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")


@router.get("/tariffs/{tariff_id}/ocpp21")
async def tariff_as_ocpp21(tariff_id: Id, services: ServicesDep) -> dict[str, Any]:
    """The tariff as the OCPP 2.1 TariffType Volta sends; 422 says what 2.1
    cannot express."""
    found = await service.get_tariff(services.db, tariff_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"tariff {tariff_id} not found")
    value = Tariff.from_dict(
        {k: v for k, v in found.items() if k not in ("is_default", "created_at", "updated_at")}
    )
    try:
        return to_ocpp(value)
    except Untranslatable as exc:
        raise _bad(exc) from None


@router.post("/stations/{station_id}/default-tariff", response_model=TariffSentOut)
async def set_default_tariff(
    station_id: str, body: DefaultTariffIn, services: ServicesDep
) -> TariffSentOut:
    """SetDefaultTariff (2.1 I07): the tariff as the station's (or one
    EVSE's) default; the station's answer in `status`. 409 when the station
    is offline or not 2.1, 422 when 2.1 cannot express the tariff."""
    await _station_known(services, station_id)
    try:
        found = await station.set_default_tariff(services, station_id, body.evse_id, body.tariff_id)
    except station.StationTariffRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except service.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except Untranslatable as exc:
        raise _bad(exc) from None
    return TariffSentOut(**found)


@router.post("/transactions/{transaction_id}/tariff", response_model=TariffSentOut)
async def change_transaction_tariff(
    transaction_id: Id, services: ServicesDep, body: TransactionTariffIn | None = None
) -> TariffSentOut:
    """ChangeTransactionTariff (2.1 I10): a running session priced with
    another tariff from now on. 409 when it is not active or its station is
    offline or not 2.1, 422 when 2.1 cannot express the tariff."""
    body = body or TransactionTariffIn()
    try:
        found = await station.change_transaction_tariff(services, transaction_id, body.tariff_id)
    except station.StationTariffRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except service.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except Untranslatable as exc:
        raise _bad(exc) from None
    return TariffSentOut(**found)


@router.get("/stations/{station_id}/tariffs", response_model=list[StationTariffOut])
async def list_station_tariffs(station_id: str, services: ServicesDep) -> list[StationTariffOut]:
    """The tariffs the 2.1 station last reported it holds (GetTariffs)."""
    await _station_known(services, station_id)
    rows = await station.list_station_tariffs(services.db, station_id)
    return [StationTariffOut(**r) for r in rows]


@router.post("/stations/{station_id}/tariffs/refresh", response_model=StationTariffsOut)
async def refresh_station_tariffs(
    station_id: str, services: ServicesDep, body: GetTariffsIn | None = None
) -> StationTariffsOut:
    """GetTariffs (2.1 I12): ask the station which tariffs it holds and keep
    the answer. 409 when the station is offline or not 2.1."""
    await _station_known(services, station_id)
    body = body or GetTariffsIn()
    try:
        found = await station.get_tariffs(services, station_id, body.evse_id)
    except station.StationTariffRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return StationTariffsOut(**found)


@router.post("/stations/{station_id}/tariffs/clear", response_model=ClearTariffsOut)
async def clear_station_tariffs(
    station_id: str, services: ServicesDep, body: ClearTariffsIn | None = None
) -> ClearTariffsOut:
    """ClearTariffs (2.1 I12): clear tariffs (all, or the given tariffIds; on
    one EVSE or all). 409 when the station is offline or not 2.1."""
    await _station_known(services, station_id)
    body = body or ClearTariffsIn()
    try:
        found = await station.clear_tariffs(
            services, station_id, tuple(body.tariff_ids), body.evse_id
        )
    except station.StationTariffRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return ClearTariffsOut(**found)
