"""One definition of each of the console's counters, shared by the station
list, the fleet page and the station page, so that the same moment shows the
same numbers everywhere (issue 17: "4 connectors charging", "6 active
sessions" and "6 charging now" side by side).

- **online**: stations with a live OCPP connection now (the router's view,
  every node), out of **stations**: every station registered in Volta
  (any registration status).
- **sessions active**: sessions started and not yet ended (status Active),
  whether or not energy flows.
- **charging now**: active sessions whose energy is flowing: their connector
  reports the status Charging (1.6), or the session's chargingState is
  Charging (2.0.1 / 2.1 TransactionEvent).
- **connectors faulted**: connectors (EVSE > 0; a 1.6 station's connector 0
  is the station itself) whose last status is Faulted.

Each is one aggregate query (no rows are loaded), fast with 20,000 stations
and a million sessions (index ix_transactions_status_station).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from volta.store.db import Database
from volta.store.models import Connector, Station, Transaction
from volta.web.nav import N_

ACTIVE = "Active"
CHARGING = "Charging"
FAULTED = "Faulted"


@dataclass(frozen=True)
class Counter:
    key: str
    value: int
    label: str  # N_() marked; translated where drawn
    description: str  # the tooltip: what it counts

    @property
    def alert(self) -> bool:
        return self.key == "faulted" and self.value > 0


LABELS = {
    "online": N_("stations online"),
    "stations": N_("stations registered"),
    "sessions": N_("sessions active"),
    "charging": N_("charging now"),
    "faulted": N_("connectors faulted"),
}
DESCRIPTIONS = {
    "online": N_("Stations with a live OCPP connection now."),
    "stations": N_("Every station registered in Volta, whatever its registration status."),
    "sessions": N_("Sessions started and not yet ended, whether or not energy is flowing."),
    "charging": N_(
        "Active sessions whose energy is flowing: the connector reports Charging,"
        " or the session's chargingState (OCPP 2.0.1 / 2.1) is Charging."
    ),
    "faulted": N_("Connectors whose last reported status is Faulted."),
}


def charging_condition() -> sa.ColumnElement[bool]:
    """An active session (Transaction row) whose energy is flowing."""
    return sa.or_(
        Transaction.charging_state == CHARGING,
        sa.exists().where(
            Connector.station_id == Transaction.station_id,
            Connector.evse_id == Transaction.evse_id,
            Connector.status == CHARGING,
        ),
    )


async def counters(
    db: Database, online: Mapping[str, object], station_id: str | None = None
) -> dict[str, Counter]:
    """The counters of the fleet, or of one station (`station_id`)."""
    active = sa.select(sa.func.count()).select_from(Transaction).where(Transaction.status == ACTIVE)
    charging = active.where(charging_condition())
    faulted = (
        sa.select(sa.func.count())
        .select_from(Connector)
        .where(Connector.evse_id > 0, Connector.status == FAULTED)
    )
    stations = sa.select(sa.func.count()).select_from(Station)
    if station_id is not None:
        active = active.where(Transaction.station_id == station_id)
        charging = charging.where(Transaction.station_id == station_id)
        faulted = faulted.where(Connector.station_id == station_id)
        stations = stations.where(Station.id == station_id)
    async with db.read() as conn:
        values = {
            "stations": (await conn.execute(stations)).scalar_one(),
            "sessions": (await conn.execute(active)).scalar_one(),
            "charging": (await conn.execute(charging)).scalar_one(),
            "faulted": (await conn.execute(faulted)).scalar_one(),
        }
    values["online"] = len(online) if station_id is None else int(station_id in online)
    return {
        key: Counter(key, int(values[key]), LABELS[key], DESCRIPTIONS[key])
        for key in ("online", "stations", "sessions", "charging", "faulted")
    }


async def charging_states(db: Database, station_ids: list[str]) -> dict[tuple[str, int], str]:
    """(station, EVSE) -> the chargingState of its active session, for the
    stations shown (a 2.0.1 connector Occupied while its session charges is
    shown as Charging)."""
    if not station_ids:
        return {}
    stmt = sa.select(Transaction.station_id, Transaction.evse_id, Transaction.charging_state).where(
        Transaction.station_id.in_(station_ids),
        Transaction.status == ACTIVE,
        Transaction.charging_state.is_not(None),
        Transaction.evse_id.is_not(None),
    )
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    return {(r.station_id, int(r.evse_id)): str(r.charging_state) for r in rows}


def shown_status(status: str, charging_state: str | None) -> str:
    """The word the console shows for a connector: Occupied with a session
    whose chargingState is Charging is Charging (the word the session shows)."""
    if status == "Occupied" and charging_state == CHARGING:
        return CHARGING
    return status
