"""A 2.1 station's own cost of a session (costDetails, I11) beside Volta's
calculation: the CDR is flagged `station_cost_differs` when they part by
more than rounding. Pure but for the one read of the stored cost."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from volta.blocks.tariffs.cost import Breakdown
from volta.blocks.tariffs.model import minor_unit
from volta.store.db import Conn
from volta.store.models import StationCost

STATION_COST_DIFFERS = "station_cost_differs"


def _plain(value: Decimal | None) -> str | None:
    """1.080000 (the column's 6 decimals) as 1.08, 0E-6 as 0."""
    if value is None:
        return None
    return format(Decimal(value).normalize(), "f") if value else "0"


def compare(b: Breakdown, row: Any, tolerance_units: int) -> dict[str, Any]:
    """The station's cost beside Volta's: `differs` when the currencies
    differ, the station could not calculate, or the totals (incl. tax when
    the station gave it, else excl. tax) are more than `tolerance_units`
    minor units apart."""
    unit = Decimal(1).scaleb(-minor_unit(b.currency))
    allowed = unit * tolerance_units
    details = row.cost_details or {}
    out: dict[str, Any] = {
        "event_type": row.event_type,
        "tariff_id": row.tariff_id,
        "currency": row.currency,
        "type_of_cost": row.type_of_cost,
        "station_total_excl_tax": _plain(row.total_excl_tax),
        "station_total_incl_tax": _plain(row.total_incl_tax),
        "volta_total_excl_tax": str(b.subtotal),
        "volta_total_incl_tax": str(b.total),
        "allowed_difference": str(allowed),
        "difference": None,
        "differs": False,
        "reason": None,
    }
    if details.get("failureToCalculate"):
        reason = details.get("failureReason") or "no reason given"
        return out | {"differs": True, "reason": f"the station could not calculate: {reason}"}
    if row.currency != b.currency:
        return out | {
            "differs": True,
            "reason": f"the station counts in {row.currency}, Volta in {b.currency}",
        }
    if row.total_incl_tax is not None:
        difference, which = Decimal(row.total_incl_tax) - b.total, "incl. tax"
    elif row.total_excl_tax is not None:
        difference, which = Decimal(row.total_excl_tax) - b.subtotal, "excl. tax"
    else:
        return out | {"differs": True, "reason": "the station gave no total"}
    out["difference"] = _plain(difference)
    if abs(difference) > allowed:
        out["differs"] = True
        out["reason"] = f"totals {which} differ by {difference} {b.currency}"
    return out


async def station_cost_row(conn: Conn, transaction_id: int) -> Any:
    return (
        await conn.execute(
            sa.select(StationCost).where(StationCost.transaction_id == transaction_id)
        )
    ).first()
