"""Certificates: the certificate authority, CSRs, certificates issued to
stations and installed in them (docs/security.md, "Certificates")."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from volta.api.models import CommandOut, Id, Offset
from volta.blocks.certificates import service
from volta.blocks.certificates.ca import BuiltinCA, pem
from volta.blocks.certificates.hashdata import HashData, hash_data
from volta.http import ServicesDep
from volta.outgoing import CannotSpell
from volta.secretbox import SecretKeyError

router = APIRouter(tags=["certificates"])

RootType = Literal[
    "CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate", "MORootCertificate"
]
InstalledType = Literal[
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
    "V2GCertificateChain",
]
HexText = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[0-9A-Fa-f]+$")]


class CaOut(BaseModel):
    name: str
    origin: str = Field(description="generated (by Volta) or imported (the operator's own CA)")
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    certificate: str = Field(description="PEM; never the key")
    hash_data: dict[str, str] | None = Field(
        description="its CertificateHashData (SHA256); null for an imported sub-CA, whose "
        "issuer Volta does not have"
    )


class IssuedOut(BaseModel):
    id: int
    station_id: str
    certificate_type: str
    serial_number: str
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint: str
    backend: str
    status: str = Field(
        description="the station's CertificateSigned answer: Sent, Accepted, Rejected or Failed"
    )
    command_id: str | None
    renewal_requested_at: dt.datetime | None
    created_at: dt.datetime
    certificate_chain: str


class CsrOut(BaseModel):
    id: int
    station_id: str
    certificate_type: str
    status: str = Field(description="Rejected, Accepted, Signed or Failed")
    reason: str | None
    certificate_id: int | None
    created_at: dt.datetime
    csr: str


class InstalledOut(BaseModel):
    id: int
    certificate_type: str
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str
    child_certificates: list[dict[str, Any]] | None
    reported_at: dt.datetime


class InstallIn(BaseModel):
    certificate_type: RootType
    certificate: str = Field(min_length=1, max_length=5500, description="PEM")


class HashDataIn(BaseModel):
    hash_algorithm: Literal["SHA256", "SHA384", "SHA512"]
    issuer_name_hash: HexText
    issuer_key_hash: HexText
    serial_number: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[0-9A-Fa-f]+$")]


class RenewIn(BaseModel):
    certificate_type: Literal["ChargingStationCertificate", "V2GCertificate", "Combined"] = (
        "ChargingStationCertificate"
    )


class OperationOut(BaseModel):
    """A command sent for a certificate operation: the station's answer
    (`status`, null when none came) and the stored command."""

    status: str | None
    command: CommandOut


class InstalledRefreshOut(BaseModel):
    installed: list[InstalledOut]
    commands: list[CommandOut]


def _operation(command: Any) -> OperationOut:
    return OperationOut(
        status=(command.get("response") or {}).get("status"), command=CommandOut(**command)
    )


async def _online(services: Any, station_id: str) -> None:
    if services.router.version_of(station_id) is not None:
        return
    if not await service.station_exists(services.db, station_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")
    raise HTTPException(status.HTTP_409_CONFLICT, f"station {station_id} is not connected")


@router.get("/ca", response_model=list[CaOut])
async def get_ca(services: ServicesDep) -> list[CaOut]:
    """Volta's built-in certificate authorities, made on first use: `csms`
    signs ChargingStationCertificates (trust it for security profile 3);
    `v2g_root` -> `cpo_sub1` -> `cpo_sub2` sign V2GCertificates."""
    ca = BuiltinCA(services.db, services.settings)
    out: list[CaOut] = []
    parent = None
    for name in ("csms", "v2g_root", "cpo_sub1", "cpo_sub2"):
        try:
            found = await ca.load(name)
        except SecretKeyError as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
        assert found is not None
        c = found.certificate
        issuer = c if c.issuer == c.subject else parent if name != "csms" else None
        parent = c
        out.append(
            CaOut(
                name=name,
                origin=found.origin,
                subject=c.subject.rfc4514_string(),
                not_before=c.not_valid_before_utc,
                not_after=c.not_valid_after_utc,
                certificate=pem(c),
                hash_data=hash_data(c, issuer).payload() if issuer is not None else None,
            )
        )
    return out


@router.get("/certificates", response_model=list[IssuedOut])
async def list_issued(
    services: ServicesDep,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
    certificate_type: Literal["ChargingStationCertificate", "V2GCertificate"] | None = None,
    status_: Annotated[
        Literal["Sent", "Accepted", "Rejected", "Failed"] | None, Query(alias="status")
    ] = None,
    expiring_within_days: Annotated[int | None, Query(ge=0, le=36500)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[IssuedOut]:
    """Certificates issued to stations, newest first."""
    rows = await service.list_issued(
        services.db,
        station_id=station_id,
        certificate_type=certificate_type,
        status=status_,
        expiring_within_days=expiring_within_days,
        limit=limit,
        offset=offset,
    )
    return [IssuedOut(**r) for r in rows]


@router.get("/certificates/{certificate_id}", response_model=IssuedOut)
async def get_issued(certificate_id: Id, services: ServicesDep) -> IssuedOut:
    found = await service.get_issued(services.db, certificate_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"certificate {certificate_id} not found")
    return IssuedOut(**found)


@router.get("/certificate-requests", response_model=list[CsrOut])
async def list_requests(
    services: ServicesDep,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[CsrOut]:
    """CSRs stations sent (SignCertificate), newest first, with why a
    refused one was refused."""
    rows = await service.list_requests(
        services.db, station_id=station_id, limit=limit, offset=offset
    )
    return [CsrOut(**r) for r in rows]


@router.get("/stations/{station_id}/certificates", response_model=list[InstalledOut])
async def list_installed(station_id: str, services: ServicesDep) -> list[InstalledOut]:
    """What the station reported in its last GetInstalledCertificateIds answers."""
    if not await service.station_exists(services.db, station_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")
    return [InstalledOut(**r) for r in await service.list_installed(services.db, station_id)]


@router.post("/stations/{station_id}/certificates/refresh", response_model=InstalledRefreshOut)
async def refresh_installed(
    station_id: str,
    services: ServicesDep,
    certificate_type: Annotated[list[InstalledType] | None, Query()] = None,
) -> InstalledRefreshOut:
    """Send GetInstalledCertificateIds (every type, or those given; 1.6: one
    message per type) and keep the answer."""
    await _online(services, station_id)
    try:
        commands = await service.refresh_installed(
            services, station_id, tuple(certificate_type or ())
        )
    except CannotSpell as exc:
        raise HTTPException(422, str(exc)) from None
    installed = await service.list_installed(services.db, station_id)
    return InstalledRefreshOut(
        installed=[InstalledOut(**r) for r in installed],
        commands=[CommandOut(**c) for c in commands],
    )


@router.post("/stations/{station_id}/certificates/install", response_model=OperationOut)
async def install(station_id: str, body: InstallIn, services: ServicesDep) -> OperationOut:
    """Send InstallCertificate with a root certificate (PEM). 422 for a
    certificate that is not PEM X.509 or a type the station's version does
    not have (1.6: CSMSRootCertificate and ManufacturerRootCertificate)."""
    await _online(services, station_id)
    try:
        command = await service.install(
            services, station_id, body.certificate_type, body.certificate
        )
    except (service.CertificateRefused, CannotSpell) as exc:
        raise HTTPException(422, str(exc)) from None
    return _operation(command)


@router.post("/stations/{station_id}/certificates/delete", response_model=OperationOut)
async def delete(station_id: str, body: HashDataIn, services: ServicesDep) -> OperationOut:
    """Send GetInstalledCertificateIds, then DeleteCertificate for the
    certificate with this hash data. 404 when the station does not report
    it; 409 when it is the last root certificate of its kind the station has."""
    await _online(services, station_id)
    target = HashData(
        body.hash_algorithm, body.issuer_name_hash, body.issuer_key_hash, body.serial_number
    )
    try:
        command = await service.delete(services, station_id, target)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc).strip("'\"")) from None
    except service.CertificateRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _operation(command)


@router.post("/stations/{station_id}/certificates/renew", response_model=OperationOut)
async def renew(
    station_id: str, services: ServicesDep, body: RenewIn | None = None
) -> OperationOut:
    """Ask the station for a new CSR now (2.0.1 TriggerMessage
    Sign*Certificate, 1.6 ExtendedTriggerMessage SignChargePointCertificate);
    what it sends is signed as any CSR. 422 for a type its version lacks."""
    await _online(services, station_id)
    kind = (body or RenewIn()).certificate_type
    try:
        command = await service.request_csr(services, station_id, kind)
    except (service.CertificateRefused, CannotSpell) as exc:
        raise HTTPException(422, str(exc)) from None
    return _operation(command)
