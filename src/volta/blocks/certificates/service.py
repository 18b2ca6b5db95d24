"""Certificates in stations (2.0.1 A02/A03 and block M, the 1.6 security
whitepaper), version-neutral.

- A station's CSR (SignCertificate) is checked (csr.py) and stored; a good
  one is answered Accepted and, once that answer is sent (a follow-up), signed
  by the CA of the settings (ca.py) and sent back in CertificateSigned. The
  certificate is stored with the station's answer; a CSR refused or a
  certificate the station rejects goes to the security event log.
- InstallCertificate, GetInstalledCertificateIds (the answer kept per
  station), DeleteCertificate (never the last root certificate of a kind),
  and the trigger that makes a station send a new CSR (2.0.1 TriggerMessage,
  1.6 ExtendedTriggerMessage) are asked for by the API and the CLI.
- Housekeeping asks for a new CSR `certificate_renew_days` before an issued
  certificate expires (`renew_due`, on the leader).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from volta.blocks.certificates.ca import SigningFailed, authority_for, chain_pem
from volta.blocks.certificates.csr import CHARGING_STATION, V2G, CsrRefused, check_csr
from volta.blocks.certificates.hashdata import HashData
from volta.blocks.plug_and_charge.wrapping import unwrap_answer
from volta.blocks.remote_control.service import CommandRecord, send
from volta.blocks.security import log as security_log
from volta.events import service as events
from volta.ocpp.versions import Version
from volta.secretbox import SecretKeyError
from volta.services import Services
from volta.store.db import Database
from volta.store.models import (
    CertificateRequest,
    InstalledCertificate,
    IssuedCertificate,
    Station,
    utcnow,
)

log = logging.getLogger(__name__)

# Root certificates a station holds, by kind (2.0.1 InstallCertificateUseEnumType).
ROOT_TYPES = (
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
)
# What GetInstalledCertificateIds may ask for (2.0.1 GetCertificateIdUseEnumType).
INSTALLED_TYPES = (*ROOT_TYPES, "V2GCertificateChain")
# What a station may be asked to send a CSR for; "Combined" is 2.0.1
# SignCombinedCertificate (one CSR of each kind).
RENEWABLE = (CHARGING_STATION, V2G, "Combined")
# After a renewal request that led nowhere, ask again after this long.
RENEW_RETRY = dt.timedelta(hours=24)


class StationNotConnected(Exception):
    pass


class CertificateRefused(ValueError):
    """The operation cannot be asked for (409); the message says why."""


# -- the commands, version-neutral (spelled by v16.py / v201.py) ----------------


@dataclass(frozen=True, slots=True)
class CertificateSigned:
    certificate_chain: str
    certificate_type: str


@dataclass(frozen=True, slots=True)
class InstallCertificate:
    certificate_type: str
    certificate: str


@dataclass(frozen=True, slots=True)
class GetInstalledCertificateIds:
    # Empty: every type (2.0.1); 1.6 asks for exactly one.
    certificate_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeleteCertificate:
    hash_data: HashData


@dataclass(frozen=True, slots=True)
class RequestCsr:
    """Ask the station to send SignCertificate now (A02, 1.6 ExtendedTriggerMessage)."""

    certificate_type: str


# -- SignCertificate -----------------------------------------------------------


async def receive_csr(
    services: Services, station_id: str, csr_pem: str, certificate_type: str
) -> bool:
    """Check and store a station's CSR; whether it is to be signed."""
    now = utcnow()
    try:
        check_csr(csr_pem, certificate_type, station_id, services.settings.ca_organization)
    except CsrRefused as exc:
        async with services.db.write(station_id) as conn:
            await conn.execute(
                sa.insert(CertificateRequest).values(
                    station_id=station_id,
                    certificate_type=certificate_type,
                    csr_pem=csr_pem,
                    status="Rejected",
                    reason=str(exc)[:255],
                    created_at=now,
                )
            )
        log.warning("%s: CSR for a %s refused: %s", station_id, certificate_type, exc)
        await security_log.record(services, station_id, "CsrRejected", tech_info=str(exc))
        return False
    async with services.db.write(station_id) as conn:
        await conn.execute(
            sa.insert(CertificateRequest).values(
                station_id=station_id,
                certificate_type=certificate_type,
                csr_pem=csr_pem,
                status="Accepted",
                created_at=now,
            )
        )
    return True


async def issue(
    services: Services, station_id: str, version: Version, csr_pem: str, certificate_type: str
) -> dict[str, Any] | None:
    """After SignCertificate was answered Accepted: sign the CSR, store the
    certificate, send CertificateSigned and keep the station's answer."""
    db = services.db
    async with db.read() as conn:
        request_id = (
            await conn.execute(
                sa.select(CertificateRequest.id)
                .where(
                    CertificateRequest.station_id == station_id,
                    CertificateRequest.status == "Accepted",
                    CertificateRequest.csr_pem == csr_pem,
                )
                .order_by(CertificateRequest.id.desc())
                .limit(1)
            )
        ).scalar()
    if request_id is None:
        return None
    csr = x509.load_pem_x509_csr(csr_pem.strip().encode())
    try:
        authority = authority_for(db, services.settings, certificate_type)
        chain = await authority.sign(csr, certificate_type, station_id)
    except (SigningFailed, SecretKeyError) as exc:
        # SecretKeyError: the CA keys do not open with this node's secret key.
        log.error("%s: the CA did not sign the %s CSR: %s", station_id, certificate_type, exc)
        await _set_request(services, station_id, request_id, "Failed", str(exc))
        return None
    leaf = chain[0]
    text = chain_pem(chain)
    now = utcnow()
    async with db.write(station_id) as conn:
        certificate_id = int(
            (
                await conn.execute(
                    sa.insert(IssuedCertificate)
                    .values(
                        station_id=station_id,
                        certificate_type=certificate_type,
                        serial_number=format(leaf.serial_number, "x"),
                        subject=leaf.subject.rfc4514_string()[:255],
                        issuer=leaf.issuer.rfc4514_string()[:255],
                        not_before=leaf.not_valid_before_utc,
                        not_after=leaf.not_valid_after_utc,
                        fingerprint=fingerprint(leaf),
                        chain_pem=text,
                        backend=authority.backend,
                        status="Sent",
                        created_at=now,
                    )
                    .returning(IssuedCertificate.id)
                )
            ).scalar_one()
        )
        await conn.execute(
            sa.update(CertificateRequest)
            .where(CertificateRequest.id == request_id)
            .values(status="Signed", certificate_id=certificate_id)
        )
        await events.emit(
            conn,
            "certificate.signed",
            station_id=station_id,
            certificate_id=certificate_id,
            certificate_type=certificate_type,
            serial_number=format(leaf.serial_number, "x"),
            not_after=leaf.not_valid_after_utc,
        )
    command = await send(
        services,
        station_id,
        CertificateSigned(text, certificate_type),
        offline_version=version,
    )
    answer = _status(command)
    status = answer if answer in ("Accepted", "Rejected") else "Failed"
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.update(IssuedCertificate)
            .where(IssuedCertificate.id == certificate_id)
            .values(status=status, command_id=command["id"])
        )
    if status == "Rejected":
        # The station reports InvalidChargingStationCertificate itself
        # (A02.FR.xx); Volta's own record says which certificate it was.
        await security_log.record(
            services,
            station_id,
            "CertificateSignedRejected",
            tech_info=f"{certificate_type} serial {leaf.serial_number:x}",
        )
    return await get_issued(db, certificate_id)


async def _set_request(
    services: Services, station_id: str, request_id: int, status: str, reason: str
) -> None:
    async with services.db.write(station_id) as conn:
        await conn.execute(
            sa.update(CertificateRequest)
            .where(CertificateRequest.id == request_id)
            .values(status=status, reason=reason[:255])
        )


def fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


# -- certificates installed in a station ---------------------------------------


def _version(services: Services, station_id: str) -> Version:
    version = services.router.version_of(station_id)
    if version is None:
        raise StationNotConnected(f"station {station_id} is not connected")
    return version


def _response(command: CommandRecord) -> dict[str, Any]:
    """The station's answer; for a message sent to a 1.6 station in the Plug
    & Charge DataTransfer wrapping (V2G certificates, ISO 15118 roots), the
    2.0.1 answer inside it."""
    response = command.get("response") or {}
    if command["action"] == "DataTransfer":
        response = unwrap_answer(response) or {}
    return response


def _status(command: CommandRecord) -> str | None:
    status = _response(command).get("status")
    return str(status) if status is not None else None


async def install(
    services: Services, station_id: str, certificate_type: str, certificate: str
) -> CommandRecord:
    """InstallCertificate (M05, 1.6 whitepaper): a root certificate."""
    if certificate_type not in ROOT_TYPES:
        raise CertificateRefused(f"certificate_type must be one of {', '.join(ROOT_TYPES)}")
    try:
        parsed = x509.load_pem_x509_certificate(certificate.strip().encode())
    except ValueError:
        raise CertificateRefused("certificate is not a PEM-encoded X.509 certificate") from None
    _version(services, station_id)
    return await send(
        services,
        station_id,
        InstallCertificate(
            certificate_type, parsed.public_bytes(serialization.Encoding.PEM).decode()
        ),
    )


async def refresh_installed(
    services: Services, station_id: str, certificate_types: tuple[str, ...] = ()
) -> list[CommandRecord]:
    """GetInstalledCertificateIds (M03): ask and keep the answer, replacing
    what was known of the types asked for. 1.6 asks one type at a time."""
    for t in certificate_types:
        if t not in INSTALLED_TYPES:
            raise CertificateRefused(
                f"certificate type {t!r} is not one of {', '.join(INSTALLED_TYPES)}"
            )
    version = _version(services, station_id)
    asks: list[tuple[str, ...]]
    if version == Version.V16:
        one_by_one = certificate_types or ("CSMSRootCertificate", "ManufacturerRootCertificate")
        asks = [(t,) for t in one_by_one]
    else:
        asks = [certificate_types]
    commands = []
    for ask in asks:
        command = await send(services, station_id, GetInstalledCertificateIds(ask))
        commands.append(command)
        status = _status(command)
        if status not in ("Accepted", "NotFound"):
            continue
        response = _response(command)
        rows = []
        if version == Version.V16:
            for h in response.get("certificateHashData") or []:
                rows.append(_installed_row(station_id, ask[0], h, None))
        else:
            for entry in response.get("certificateHashDataChain") or []:
                rows.append(
                    _installed_row(
                        station_id,
                        entry["certificateType"],
                        entry["certificateHashData"],
                        entry.get("childCertificateHashData"),
                    )
                )
        covered = ask or INSTALLED_TYPES
        async with services.db.write(station_id) as conn:
            await conn.execute(
                sa.delete(InstalledCertificate).where(
                    InstalledCertificate.station_id == station_id,
                    InstalledCertificate.certificate_type.in_(covered),
                )
            )
            if rows:
                await conn.execute(sa.insert(InstalledCertificate), rows)
    return commands


def _installed_row(
    station_id: str, certificate_type: str, h: dict[str, Any], children: list[Any] | None
) -> dict[str, Any]:
    return {
        "station_id": station_id,
        "certificate_type": certificate_type,
        "hash_algorithm": h["hashAlgorithm"],
        "issuer_name_hash": h["issuerNameHash"],
        "issuer_key_hash": h["issuerKeyHash"],
        "serial_number": h["serialNumber"],
        "child_certificates": children,
        "reported_at": utcnow(),
    }


async def list_installed(db: Database, station_id: str) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(InstalledCertificate)
                .where(InstalledCertificate.station_id == station_id)
                .order_by(InstalledCertificate.certificate_type, InstalledCertificate.id)
            )
        ).mappings()
        return [dict(r) for r in rows]


async def delete(services: Services, station_id: str, target: HashData) -> CommandRecord:
    """DeleteCertificate (M04, 1.6 whitepaper), after GetInstalledCertificateIds
    (what the station has now, in its hash algorithm). Never the last root
    certificate of a kind: a station without a CSMSRootCertificate could not
    trust Volta's server certificate again (409)."""
    await refresh_installed(services, station_id)
    known = await list_installed(services.db, station_id)
    match = next((r for r in known if _hash(r).same(target)), None)
    if match is None:
        raise LookupError(
            f"station {station_id} did not report a certificate with serial number "
            f"{target.serial_number} in GetInstalledCertificateIds"
        )
    kind = match["certificate_type"]
    if kind in ROOT_TYPES and sum(1 for r in known if r["certificate_type"] == kind) <= 1:
        raise CertificateRefused(
            f"that is the last {kind} station {station_id} has: install another one first"
        )
    command = await send(services, station_id, DeleteCertificate(_hash(match)))
    if _status(command) == "Accepted":
        async with services.db.write(station_id) as conn:
            await conn.execute(
                sa.delete(InstalledCertificate).where(InstalledCertificate.id == match["id"])
            )
    return command


def _hash(r: dict[str, Any]) -> HashData:
    return HashData(
        r["hash_algorithm"], r["issuer_name_hash"], r["issuer_key_hash"], r["serial_number"]
    )


async def request_csr(services: Services, station_id: str, certificate_type: str) -> CommandRecord:
    """Make the station send a new CSR (2.0.1 TriggerMessage Sign*Certificate,
    1.6 ExtendedTriggerMessage SignChargePointCertificate)."""
    if certificate_type not in RENEWABLE:
        raise CertificateRefused(f"certificate_type must be one of {', '.join(RENEWABLE)}")
    _version(services, station_id)
    return await send(services, station_id, RequestCsr(certificate_type))


# -- expiry --------------------------------------------------------------------


async def renew_due(services: Services) -> int:
    """Certificates (the newest Accepted one per station and type) expiring
    within `certificate_renew_days`: raise `certificate.expiring` and ask the
    station for a new CSR; again a day later if nothing came of it. Runs on
    the leader; the trigger reaches the node that holds the station."""
    days = services.settings.certificate_renew_days
    if days <= 0:
        return 0
    now = utcnow()
    newest = (
        sa.select(sa.func.max(IssuedCertificate.id))
        .where(IssuedCertificate.status == "Accepted")
        .group_by(IssuedCertificate.station_id, IssuedCertificate.certificate_type)
    )
    due_stmt = sa.select(
        IssuedCertificate.id,
        IssuedCertificate.station_id,
        IssuedCertificate.certificate_type,
        IssuedCertificate.serial_number,
        IssuedCertificate.not_after,
    ).where(
        IssuedCertificate.id.in_(newest),
        IssuedCertificate.not_after <= now + dt.timedelta(days=days),
        sa.or_(
            IssuedCertificate.renewal_requested_at.is_(None),
            IssuedCertificate.renewal_requested_at <= now - RENEW_RETRY,
        ),
    )
    async with services.db.read() as conn:
        due = [_Due(**r) for r in (await conn.execute(due_stmt)).mappings()]
    asked = 0
    for cert in due:
        if services.router.version_of(cert.station_id) is None:
            continue  # asked when it is back
        async with services.db.write(cert.station_id) as conn:
            claimed = await conn.execute(
                sa.update(IssuedCertificate)
                .where(
                    IssuedCertificate.id == cert.id,
                    sa.or_(
                        IssuedCertificate.renewal_requested_at.is_(None),
                        IssuedCertificate.renewal_requested_at <= now - RENEW_RETRY,
                    ),
                )
                .values(renewal_requested_at=now)
            )
            if not claimed.rowcount:
                continue
            await events.emit(
                conn,
                "certificate.expiring",
                station_id=cert.station_id,
                certificate_id=cert.id,
                certificate_type=cert.certificate_type,
                not_after=cert.not_after,
            )
        try:
            command = await request_csr(services, cert.station_id, cert.certificate_type)
        except (StationNotConnected, CertificateRefused) as exc:
            log.info("%s: certificate renewal not asked: %s", cert.station_id, exc)
            continue
        except Exception:
            log.exception("%s: certificate renewal request failed", cert.station_id)
            continue
        log.info(
            "%s: %s %s expires %s: asked for a new CSR (%s)",
            cert.station_id,
            cert.certificate_type,
            cert.serial_number,
            cert.not_after.isoformat(),
            _status(command) or command["status"],
        )
        asked += 1
    return asked


@dataclass(frozen=True, slots=True)
class _Due:
    id: int
    station_id: str
    certificate_type: str
    serial_number: str
    not_after: dt.datetime


# -- reads ---------------------------------------------------------------------


def _issued_view(r: Any) -> dict[str, Any]:
    view = dict(r)
    view["certificate_chain"] = view.pop("chain_pem")
    return view


async def get_issued(db: Database, certificate_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(IssuedCertificate).where(IssuedCertificate.id == certificate_id)
                )
            )
            .mappings()
            .first()
        )
        return _issued_view(row) if row is not None else None


async def list_issued(
    db: Database,
    *,
    station_id: str | None = None,
    certificate_type: str | None = None,
    status: str | None = None,
    expiring_within_days: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    stmt = sa.select(IssuedCertificate).order_by(IssuedCertificate.id.desc())
    if station_id is not None:
        stmt = stmt.where(IssuedCertificate.station_id == station_id)
    if certificate_type is not None:
        stmt = stmt.where(IssuedCertificate.certificate_type == certificate_type)
    if status is not None:
        stmt = stmt.where(IssuedCertificate.status == status)
    if expiring_within_days is not None:
        stmt = stmt.where(
            IssuedCertificate.not_after <= utcnow() + dt.timedelta(days=expiring_within_days)
        )
    async with db.read() as conn:
        rows = (await conn.execute(stmt.limit(limit).offset(offset))).mappings()
        return [_issued_view(r) for r in rows]


async def list_requests(
    db: Database, *, station_id: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    stmt = sa.select(CertificateRequest).order_by(CertificateRequest.id.desc())
    if station_id is not None:
        stmt = stmt.where(CertificateRequest.station_id == station_id)
    async with db.read() as conn:
        rows = (await conn.execute(stmt.limit(limit).offset(offset))).mappings()
        return [
            {
                "id": r["id"],
                "station_id": r["station_id"],
                "certificate_type": r["certificate_type"],
                "status": r["status"],
                "reason": r["reason"],
                "certificate_id": r["certificate_id"],
                "created_at": r["created_at"],
                "csr": r["csr_pem"],
            }
            for r in rows
        ]


async def station_exists(db: Database, station_id: str) -> bool:
    async with db.read() as conn:
        found = await conn.execute(sa.select(Station.id).where(Station.id == station_id))
        return found.first() is not None
