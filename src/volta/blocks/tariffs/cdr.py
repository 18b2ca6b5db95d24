"""Charge detail records out of Volta: a JSON document shaped like an OCPI
2.2.1 CDR, and CSV with one row per CDR; both read back (`from_ocpi`,
`from_csv`) into the same flat `CdrRow`, so an export can be checked.

Money stays Decimal: `dumps` writes Decimals as JSON numbers digit for digit
and `loads` reads numbers back as Decimals. OCPI counts time in hours; Volta
gives hours to 6 decimals (3.6 ms).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from volta.blocks.tariffs.cost import round_half_up
from volta.blocks.tariffs.model import DAYS, Tariff

COUNTRY_CODE = "XX"  # OCPI party of the operator; set by whoever exchanges the CDRs
PARTY_ID = "VLT"
_HOURS = 6


@dataclass(frozen=True, slots=True)
class CdrRow:
    """A CDR flattened: what the CSV export has and the OCPI shape carries."""

    id: str
    transaction_id: int
    station_id: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    start: dt.datetime
    end: dt.datetime
    currency: str
    tariff_id: int | None
    energy_kwh: Decimal
    total_time_hours: Decimal
    parking_time_hours: Decimal
    energy_cost: Decimal
    time_cost: Decimal
    parking_cost: Decimal
    fixed_cost: Decimal
    total_excl_tax: Decimal
    total_incl_tax: Decimal


def _hours(minutes: Decimal) -> Decimal:
    return round_half_up(minutes / 60, _HOURS)


def summary(cdr: dict[str, Any]) -> CdrRow:
    """The flat row of a CDR as `service.get_cdr` returns it."""
    b = cdr["breakdown"]
    start, end = cdr["start"], cdr["end"]
    total_seconds = Decimal((end - start) // dt.timedelta(microseconds=1)) / 1_000_000
    return CdrRow(
        id=cdr["id"],
        transaction_id=cdr["transaction_id"],
        station_id=cdr["station_id"],
        evse_id=cdr["evse_id"],
        connector_id=cdr["connector_id"],
        id_token=cdr["id_token"],
        start=start,
        end=end,
        currency=cdr["currency"],
        tariff_id=cdr["tariff_id"],
        energy_kwh=Decimal(b["energy_wh"]) / 1000,
        total_time_hours=_hours(total_seconds / 60),
        parking_time_hours=_hours(Decimal(b["idle_minutes"])),
        energy_cost=Decimal(b["energy_amount"]),
        time_cost=Decimal(b["time_amount"]),
        parking_cost=Decimal(b["idle_amount"]),
        fixed_cost=Decimal(b["session_fee"]),
        total_excl_tax=Decimal(b["subtotal"]),
        total_incl_tax=Decimal(b["total"]),
    )


# -- OCPI 2.2.1 ----------------------------------------------------------------------


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


_TOKEN_TYPES = {"ISO14443": "RFID", "ISO15693": "RFID", "Central": "APP_USER", "eMAID": "APP_USER"}


def ocpi_tariff(tariff: dict[str, Any]) -> dict[str, Any]:
    """A Volta tariff as an OCPI 2.2.1 Tariff: one element per period (with
    its restrictions) before the base element; per-minute prices as per-hour
    TIME / PARKING_TIME prices, the session fee as FLAT. The idle grace
    period has no OCPI equivalent and is left out."""
    t = Tariff.from_dict(tariff)
    vat = t.tax_percent

    def component(kind: str, price: Decimal) -> dict[str, Any]:
        return {"type": kind, "price": price, "vat": vat, "step_size": 1}

    elements = []
    for period in t.periods:
        price_kwh, price_minute = (
            t.price_kwh if period.price_kwh is None else period.price_kwh,
            t.price_minute if period.price_minute is None else period.price_minute,
        )
        doc = period.to_dict()
        elements.append(
            {
                "price_components": [
                    component("ENERGY", price_kwh),
                    component("TIME", price_minute * 60),
                ],
                "restrictions": {
                    "start_time": doc["start"],
                    "end_time": "00:00" if doc["end"] == "24:00" else doc["end"],
                    "day_of_week": [d for d in DAYS if d in period.days],
                },
            }
        )
    base = [component("ENERGY", t.price_kwh), component("TIME", t.price_minute * 60)]
    if t.price_idle_minute:
        base.append(component("PARKING_TIME", t.price_idle_minute * 60))
    if t.session_fee:
        base.append(component("FLAT", t.session_fee))
    elements.append({"price_components": base})
    return {
        "country_code": COUNTRY_CODE,
        "party_id": PARTY_ID,
        "id": str(t.id),
        "currency": t.currency,
        "tariff_alt_text": [{"language": "en", "text": t.name}],
        "elements": elements,
    }


def to_ocpi(cdr: dict[str, Any]) -> dict[str, Any]:
    """A CDR (`service.get_cdr`) in the shape of an OCPI 2.2.1 CDR object.
    `cdr_location` is minimal: Volta knows no addresses or coordinates."""
    row = summary(cdr)
    b = cdr["breakdown"]
    audit_tx = cdr["audit"].get("transaction", {})
    tariff_id = None if row.tariff_id is None else str(row.tariff_id)
    periods = [
        {
            "start_date_time": line["start"],
            "dimensions": [
                {"type": "ENERGY", "volume": Decimal(line["energy_wh"]) / 1000},
                {"type": "TIME", "volume": _hours(Decimal(line["charging_minutes"]))},
            ],
            "tariff_id": tariff_id,
        }
        for line in b["lines"]
    ]
    if Decimal(b["idle_minutes"]):
        periods.append(
            {
                "start_date_time": b["charging_end"],
                "dimensions": [{"type": "PARKING_TIME", "volume": row.parking_time_hours}],
                "tariff_id": tariff_id,
            }
        )
    token = row.id_token or ""
    doc = {
        "country_code": COUNTRY_CODE,
        "party_id": PARTY_ID,
        "id": row.id,
        "start_date_time": _iso(row.start),
        "end_date_time": _iso(row.end),
        "session_id": str(row.transaction_id),
        "cdr_token": {
            "country_code": COUNTRY_CODE,
            "party_id": PARTY_ID,
            "uid": token,
            "type": _TOKEN_TYPES.get(audit_tx.get("id_token_type") or "", "OTHER"),
            "contract_id": token,
        },
        "auth_method": "COMMAND" if audit_tx.get("remote_start_id") else "AUTH_REQUEST",
        "cdr_location": {
            "id": row.station_id,
            "evse_uid": f"{row.station_id}*{row.evse_id}",
            "evse_id": "" if row.evse_id is None else str(row.evse_id),
            "connector_id": "" if row.connector_id is None else str(row.connector_id),
        },
        "currency": row.currency,
        "tariffs": [ocpi_tariff(cdr["tariff"])] if cdr["tariff"] else [],
        "charging_periods": periods,
        "total_cost": {"excl_vat": row.total_excl_tax, "incl_vat": row.total_incl_tax},
        "total_fixed_cost": {"excl_vat": row.fixed_cost},
        "total_energy": row.energy_kwh,
        "total_energy_cost": {"excl_vat": row.energy_cost},
        "total_time": row.total_time_hours,
        "total_time_cost": {"excl_vat": row.time_cost},
        "total_parking_time": row.parking_time_hours,
        "total_parking_cost": {"excl_vat": row.parking_cost},
        "last_updated": _iso(cdr["created_at"]),
    }
    remarks = []
    if "token_refused" in cdr.get("flags", ()):
        status = audit_tx.get("authorization_status")
        remarks.append(f"not billable: the token was refused ({status})")
    if "station_cost_differs" in cdr.get("flags", ()):
        reason = (cdr.get("station_cost") or {}).get("reason")
        remarks.append(f"the station's own cost differs from this one: {reason}")
    if remarks:
        doc["remark"] = "; ".join(remarks)
    return doc


def from_ocpi(doc: dict[str, Any]) -> CdrRow:
    """Read an OCPI CDR as `to_ocpi` writes it (numbers as Decimals, see `loads`)."""
    location = doc["cdr_location"]
    tariffs = doc.get("tariffs") or []
    return CdrRow(
        id=doc["id"],
        transaction_id=int(doc["session_id"]),
        station_id=location["id"],
        evse_id=int(location["evse_id"]) if location.get("evse_id") else None,
        connector_id=int(location["connector_id"]) if location.get("connector_id") else None,
        id_token=doc["cdr_token"]["uid"] or None,
        start=_time(doc["start_date_time"]),
        end=_time(doc["end_date_time"]),
        currency=doc["currency"],
        tariff_id=int(tariffs[0]["id"]) if tariffs else None,
        energy_kwh=Decimal(doc["total_energy"]),
        total_time_hours=Decimal(doc["total_time"]),
        parking_time_hours=Decimal(doc["total_parking_time"]),
        energy_cost=Decimal(doc["total_energy_cost"]["excl_vat"]),
        time_cost=Decimal(doc["total_time_cost"]["excl_vat"]),
        parking_cost=Decimal(doc["total_parking_cost"]["excl_vat"]),
        fixed_cost=Decimal(doc["total_fixed_cost"]["excl_vat"]),
        total_excl_tax=Decimal(doc["total_cost"]["excl_vat"]),
        total_incl_tax=Decimal(doc["total_cost"]["incl_vat"]),
    )


def dumps(value: Any) -> str:
    """JSON text with every Decimal written as a number, digit for digit."""
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text if "." not in text else text.rstrip("0").rstrip(".") or "0"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, dt.datetime):
        return json.dumps(_iso(value))
    if isinstance(value, float):
        raise TypeError("floats have no place in a CDR")
    return json.dumps(value)


def loads(text: str | bytes) -> Any:
    """JSON with numbers that have a fraction read as Decimal."""
    return json.loads(text, parse_float=Decimal)


# -- CSV -----------------------------------------------------------------------------

CSV_COLUMNS = [f.name for f in dataclasses.fields(CdrRow)]


def to_csv(rows: list[CdrRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                _iso(v) if isinstance(v, dt.datetime) else "" if v is None else str(v)
                for v in dataclasses.astuple(row)
            ]
        )
    return out.getvalue()


def _field(name: str, text: str) -> Any:
    kind = CdrRow.__dataclass_fields__[name].type
    if text == "" and "None" in str(kind):
        return None
    if "int" in str(kind):
        return int(text)
    if "datetime" in str(kind):
        return _time(text)
    if "Decimal" in str(kind):
        return Decimal(text)
    return text


def from_csv(text: str) -> list[CdrRow]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != CSV_COLUMNS:
        raise ValueError(f"CSV columns {reader.fieldnames} are not {CSV_COLUMNS}")
    return [CdrRow(**{name: _field(name, line[name]) for name in CSV_COLUMNS}) for line in reader]
