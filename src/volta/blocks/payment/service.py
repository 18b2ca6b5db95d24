"""OCPP 2.1 ad hoc payment (block C), version-neutral.

A station with a payment terminal (or a web payment page behind a QR code)
settles the session itself and tells Volta with NotifySettlement: Volta
keeps each settlement attempt, attached to the session it paid for (the
station's transactionId; absent when the payment was canceled before a
transaction began), so the session's and its CDR's API output show what was
paid. NotifyWebPaymentStarted tells a station that a driver opened the web
payment page of one of its EVSEs (sent through the API by the payment page's
backend). VatNumberValidation is answered without asking an outside service:
a format check per country, or only the operator's list (`vat_validation`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.remote_control.service import CommandRecord, send
from volta.blocks.transactions.queries import find_v201
from volta.events import service as events
from volta.ocpp.times import parse_timestamp
from volta.ocpp.versions import Version
from volta.services import Services
from volta.store.db import Database
from volta.store.models import PaymentSettlement, VatNumber, utcnow

log = logging.getLogger(__name__)

STATUSES = ("Settled", "Canceled", "Rejected", "Failed")


class Refused(Exception):
    """The command cannot be sent to this station; the message says why (a 409)."""


def require_v21(services: Services, station_id: str, what: str) -> None:
    """Refuse a 2.1-only command to a station that is offline or speaks 1.6/2.0.1."""
    version = services.router.version_of(station_id)
    if version is None:
        raise Refused(f"station {station_id} is not connected")
    if version is not Version.V21:
        raise Refused(f"station {station_id} speaks OCPP {version.label}: {what} is OCPP 2.1")


# -- the commands (v21.py spells them) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotifyWebPaymentStarted:
    """A driver started a web payment (QR code) for `evse_id`; the station
    waits `timeout` seconds for its outcome (C2x, ad hoc payment by QR code)."""

    evse_id: int
    timeout: int


async def web_payment_started(
    services: Services, station_id: str, evse_id: int, timeout: int
) -> CommandRecord:
    require_v21(services, station_id, "NotifyWebPaymentStarted")
    return await send(services, station_id, NotifyWebPaymentStarted(evse_id, timeout))


# -- NotifySettlement -----------------------------------------------------------------


def _amount(value: Any) -> str:
    # The JSON number as sent: an int stays an int, a float its shortest repr.
    return str(value)


async def settlement(services: Services, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
    """Store a NotifySettlement (one row per attempt; a repeat of the same
    attempt is stored once) and attach it to the station's transaction."""
    db = services.db
    station_tx = p.get("transactionId")
    tx = await find_v201(db, station_id, station_tx) if station_tx else None
    settled_at = parse_timestamp(p["settlementTime"])
    values = {
        "station_id": station_id,
        "transaction_id": station_tx,
        "transaction_ref": tx.id if tx is not None else None,
        "psp_ref": p["pspRef"],
        "status": p["status"],
        "status_info": p.get("statusInfo"),
        "amount": _amount(p["settlementAmount"]),
        "settled_at": settled_at,
        "receipt_id": p.get("receiptId"),
        "receipt_url": p.get("receiptUrl"),
        "vat_number": p.get("vatNumber"),
        "vat_company": p.get("vatCompany"),
        "created_at": utcnow(),
    }
    async with db.write(station_id) as conn:
        seen = (
            await conn.execute(
                sa.select(PaymentSettlement.id).where(
                    PaymentSettlement.station_id == station_id,
                    PaymentSettlement.psp_ref == values["psp_ref"],
                    PaymentSettlement.status == values["status"],
                    PaymentSettlement.settled_at == settled_at,
                )
            )
        ).first()
        if seen is None:
            await conn.execute(sa.insert(PaymentSettlement).values(**values))
            await events.emit(
                conn,
                "payment.settlement",
                station_id=station_id,
                transaction_id=values["transaction_ref"],
                station_transaction_id=station_tx,
                psp_ref=values["psp_ref"],
                status=values["status"],
                amount=values["amount"],
            )
    if station_tx and tx is None:
        log.info(
            "%s: NotifySettlement for transaction %s, unknown to Volta", station_id, station_tx
        )
    # Volta makes no receipts of its own: the station's receiptUrl/receiptId stand.
    return {}


async def list_settlements(
    db: Database,
    *,
    station_id: str | None = None,
    transaction_ref: int | None = None,
    psp_ref: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    stmt = sa.select(PaymentSettlement).order_by(PaymentSettlement.id).limit(limit).offset(offset)
    if station_id is not None:
        stmt = stmt.where(PaymentSettlement.station_id == station_id)
    if transaction_ref is not None:
        stmt = stmt.where(PaymentSettlement.transaction_ref == transaction_ref)
    if psp_ref is not None:
        stmt = stmt.where(PaymentSettlement.psp_ref == psp_ref)
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [dict(r) for r in rows]


async def settlements_of(db: Database, transaction_ref: int) -> list[dict[str, Any]]:
    """The settlements of a session, as its API and CDR output show them."""
    rows = await list_settlements(db, transaction_ref=transaction_ref, limit=1000)
    return [public(r) for r in rows]


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A settlement row as the API shows it."""
    return {
        "id": row["id"],
        "station_id": row["station_id"],
        "transaction_id": row["transaction_ref"],
        "station_transaction_id": row["transaction_id"],
        "psp_ref": row["psp_ref"],
        "status": row["status"],
        "status_info": row["status_info"],
        "amount": row["amount"],
        "settled_at": row["settled_at"],
        "receipt_id": row["receipt_id"],
        "receipt_url": row["receipt_url"],
        "vat_number": row["vat_number"],
        "vat_company": row["vat_company"],
        "created_at": row["created_at"],
    }


# -- VatNumberValidation ----------------------------------------------------------------

# The number after its two-letter country prefix, once spaces, dots and dashes
# are gone (the formats of the EU's VIES, with GB/XI, CH and NO).
_FORMATS: dict[str, str] = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-HJ-NP-Z0-9]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d{7}[A-W][A-I]?|\d[A-Z+*]\d{5}[A-W]",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{10}01",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
    "GB": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
    "XI": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
    "CH": r"E\d{9}(?:MWST|TVA|IVA)?",
    "NO": r"\d{9}(?:MVA)?",
}
_COMPILED = {country: re.compile(f"(?:{rx})") for country, rx in _FORMATS.items()}
_SEPARATORS = re.compile(r"[\s.\-]")


def normalize(vat_number: str) -> str:
    """Upper case without spaces, dots and dashes; Greece's GR prefix as EL."""
    text = _SEPARATORS.sub("", vat_number).upper()
    return "EL" + text[2:] if text.startswith("GR") else text


def well_formed(vat_number: str) -> bool:
    text = normalize(vat_number)
    pattern = _COMPILED.get(text[:2])
    return pattern is not None and pattern.fullmatch(text[2:]) is not None


async def validate_vat(services: Services, p: dict[str, Any]) -> dict[str, Any]:
    """VatNumberValidationResponse: Accepted when the number is well formed
    (vat_validation "format") or on the operator's list ("list"); the
    company's address when the list has it."""
    number = p["vatNumber"]
    key = normalize(number)
    async with services.db.read() as conn:
        company = (
            await conn.execute(sa.select(VatNumber.company).where(VatNumber.vat_number == key))
        ).scalar_one_or_none()
    out: dict[str, Any] = {"vatNumber": number}
    if "evseId" in p:
        out["evseId"] = p["evseId"]
    if company is not None:
        out["status"] = "Accepted"
        out["company"] = company
    elif services.settings.vat_validation == "format" and well_formed(number):
        out["status"] = "Accepted"
    else:
        out["status"] = "Rejected"
        reason = "InvalidFormat" if not well_formed(number) else "UnknownVatNumber"
        out["statusInfo"] = {"reasonCode": reason}
    return out


async def put_vat_number(db: Database, vat_number: str, company: dict[str, Any]) -> dict[str, Any]:
    key = normalize(vat_number)
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            db.insert(VatNumber)
            .values(vat_number=key, company=company, created_at=now)
            .on_conflict_do_update(index_elements=["vat_number"], set_={"company": company})
        )
        row = (
            (await conn.execute(sa.select(VatNumber).where(VatNumber.vat_number == key)))
            .mappings()
            .one()
        )
    return dict(row)


async def list_vat_numbers(
    db: Database, *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(VatNumber).order_by(VatNumber.vat_number).limit(limit).offset(offset)
            )
        ).mappings()
        return [dict(r) for r in rows]


async def delete_vat_number(db: Database, vat_number: str) -> bool:
    async with db.write() as conn:
        result = await conn.execute(
            sa.delete(VatNumber).where(VatNumber.vat_number == normalize(vat_number))
        )
    return bool(result.rowcount)
