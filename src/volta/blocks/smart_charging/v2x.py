"""OCPP 2.1 bidirectional power transfer (V2X, block Q): what Volta allows,
tells and answers. See docs/ocpp21.md ("Bidirectional power (V2X)") and
docs/smart-charging.md ("V2X").

- Who may discharge. A token's contract allows energy transfer modes
  (`v2x_token_permissions`, set through the API); no row: charging only.
  Volta puts them in a 2.1 AuthorizeResponse (`allowedEnergyTransfer`,
  v21.py) and, when an EV offers a bidirectional mode in
  NotifyEVChargingNeeds, tells the station which of the offered modes the
  contract allows with NotifyAllowedEnergyTransfer (`allowed_for`).
- `NotifyAllowedEnergyTransfer(transaction_id, modes)`,
  `UpdateDynamicSchedule(profile_id, update)`, `AFRRSignal(signal,
  timestamp)`: the version-neutral commands, spelled for 2.1 in v21.py;
  `send_v21` refuses them (V2xRefused) for a 1.6 / 2.0.1 station.
- Dynamic profiles: the values sent with UpdateDynamicSchedule are kept
  (`v2x_dynamic_values`); a station's PullDynamicScheduleUpdate is answered
  with the values in force (`pull`).
- For the allocator: `discharges(db, keys, ...)` gives each EVSE's discharge
  (its V2X TxProfile's negative setpoint, a dynamic update's, or the export
  its meter reports) and the EV's maximum.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from volta.blocks.remote_control.service import CommandRecord, send
from volta.blocks.smart_charging import v2x_profiles
from volta.blocks.smart_charging.service import model_of, station_version
from volta.events.service import emit
from volta.ocpp.charging import TX
from volta.ocpp.errors import OcppError
from volta.ocpp.times import format_timestamp
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell
from volta.services import Services
from volta.store.db import Database
from volta.store.models import (
    ChargingProfile,
    Transaction,
    V2xDynamicValue,
    V2xSession,
    V2xTokenPermission,
    utcnow,
)

log = logging.getLogger(__name__)

EvseKey = tuple[str, int]


class V2xRefused(Exception):
    """Nothing was sent: the message says why (not a 2.1 station, unknown)."""


class V2xInvalid(ValueError):
    """The request breaks a rule; `problems` lists each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


# -- the commands, version-neutral (2.1 only) -----------------------------------


@dataclass(frozen=True, slots=True)
class NotifyAllowedEnergyTransfer:
    """2.1 Q01: the energy transfer modes the CSMS allows for a transaction."""

    transaction_id: str
    modes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UpdateDynamicSchedule:
    """2.1: new values for the period of a Dynamic charging profile."""

    profile_id: int
    update: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AFRRSignal:
    """2.1 Q (aFRR): the value, from `timestamp`, that a CentralFrequency
    period's v2xSignalWattCurve turns into power."""

    signal: int
    timestamp: dt.datetime


async def send_v21(services: Services, station_id: str, command: object) -> CommandRecord:
    """Send a 2.1-only command; V2xRefused when the station is not 2.1."""
    version = await station_version(services, station_id)
    if version is None:
        raise V2xRefused(f"station {station_id} is unknown or has never connected")
    if version is not Version.V21:
        raise V2xRefused(
            f"{type(command).__name__} is OCPP 2.1; station {station_id} speaks "
            f"OCPP {version.label}"
        )
    try:
        return await send(services, station_id, command, offline_version=version)
    except CannotSpell as exc:  # pragma: no cover - every command has a V21 builder
        raise V2xRefused(str(exc)) from None


def answer_of(command: CommandRecord) -> str | None:
    status = (command.get("response") or {}).get("status")
    return str(status) if status is not None else None


# -- who may discharge ------------------------------------------------------------


def default_modes(services: Services) -> list[str]:
    """The modes every token may use (setting `v2x_default_modes`)."""
    raw = services.settings.v2x_default_modes
    return [m.strip() for m in raw.split(",") if m.strip() in v2x_profiles.ENERGY_TRANSFER_MODES]


async def own_modes(db: Database, token: str) -> list[str] | None:
    """The modes the token's own permission allows (None: it has none)."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(V2xTokenPermission.modes).where(V2xTokenPermission.token == token)
            )
        ).first()
    return list(row.modes) if row is not None else None


async def token_modes(services: Services, token: str) -> list[str]:
    """The modes a token's contract allows: its own permission, else the
    fleet's default (empty: charging only)."""
    own = await own_modes(services.db, token)
    return own if own is not None else default_modes(services)


async def set_token_modes(db: Database, token: str, modes: Sequence[str] | None) -> None:
    """Allow `modes` for the token (None or empty: charging only again)."""
    async with db.write() as conn:
        await conn.execute(sa.delete(V2xTokenPermission).where(V2xTokenPermission.token == token))
        if modes:
            await conn.execute(
                sa.insert(V2xTokenPermission).values(
                    token=token, modes=list(dict.fromkeys(modes)), updated_at=utcnow()
                )
            )


def allowed_for(offered: Iterable[str], permitted: Sequence[str] | None) -> list[str]:
    """Of the modes the EV offers, those Volta allows: every charging-only
    mode, and a bidirectional one only when the contract allows it."""
    allowed = set(permitted or ())
    return [m for m in offered if m not in v2x_profiles.BIDIRECTIONAL or m in allowed]


async def notify_allowed(
    services: Services,
    station_id: str,
    transaction_id: str,
    modes: Sequence[str],
    *,
    evse_id: int | None = None,
) -> CommandRecord:
    """Send NotifyAllowedEnergyTransfer and keep the answer on the EVSE's
    V2X session row."""
    command = await send_v21(
        services, station_id, NotifyAllowedEnergyTransfer(transaction_id, tuple(modes))
    )
    answer = answer_of(command) or "Failed"
    async with services.db.write(station_id) as conn:
        if evse_id is None:
            evse_id = (
                await conn.execute(
                    sa.select(Transaction.evse_id).where(
                        Transaction.station_id == station_id,
                        Transaction.station_transaction_id == transaction_id,
                    )
                )
            ).scalar_one_or_none()
        if evse_id is not None:
            await _upsert_session(
                conn,
                station_id,
                int(evse_id),
                transaction_id=transaction_id,
                allowed=list(modes),
                allowed_status=answer,
            )
        await emit(
            conn,
            "v2x.energy_transfer_allowed",
            station_id=station_id,
            ocpp_transaction_id=transaction_id,
            modes=list(modes),
            station_status=answer,
        )
    return command


async def _upsert_session(conn: Any, station_id: str, evse_id: int, **values: Any) -> None:
    where = sa.and_(V2xSession.station_id == station_id, V2xSession.evse_id == evse_id)
    found = (await conn.execute(sa.select(V2xSession.station_id).where(where))).first()
    values["updated_at"] = utcnow()
    if found is None:
        await conn.execute(
            sa.insert(V2xSession).values(station_id=station_id, evse_id=evse_id, **values)
        )
    else:
        await conn.execute(sa.update(V2xSession).where(where).values(**values))


def _max_discharge(params: dict[str, Any]) -> tuple[float | None, float | None]:
    """The EV's most discharge current (A) and power (W, all phases)."""
    current = params.get("maxDischargeCurrent")
    power = params.get("maxDischargePower")
    watts = None if power is None else abs(float(power))
    for phase in ("maxDischargePower_L2", "maxDischargePower_L3"):
        if watts is not None and params.get(phase) is not None:
            watts += abs(float(params[phase]))
    amps = None if current is None else abs(float(current))
    return amps, watts


async def record_needs(
    services: Services, station_id: str, request: dict[str, Any]
) -> tuple[str | None, list[str]]:
    """A 2.1 NotifyEVChargingNeeds: keep what the EV offers (its modes, its
    most discharge) on the EVSE's V2X session; the transaction on the EVSE
    and the modes to allow it, when it offers a bidirectional one."""
    evse_id = int(request["evseId"])
    needs = request.get("chargingNeeds") or {}
    requested = needs.get("requestedEnergyTransfer")
    offered = list(needs.get("availableEnergyTransfer") or ([requested] if requested else []))
    params = needs.get("v2xChargingParameters") or {}
    amps, watts = _max_discharge(params)
    async with services.db.write(station_id) as conn:
        tx = (
            await conn.execute(
                sa.select(Transaction.station_transaction_id, Transaction.id_token)
                .where(
                    Transaction.station_id == station_id,
                    Transaction.evse_id == evse_id,
                    Transaction.status == "Active",
                )
                .order_by(Transaction.id.desc())
                .limit(1)
            )
        ).first()
        await _upsert_session(
            conn,
            station_id,
            evse_id,
            transaction_id=tx.station_transaction_id if tx is not None else None,
            available=offered,
            requested=requested,
            allowed=None,
            allowed_status=None,
            ev_max_discharge_a=amps,
            ev_max_discharge_w=watts,
        )
    if tx is None or not any(m in v2x_profiles.BIDIRECTIONAL for m in offered):
        return None, []
    permitted = await token_modes(services, tx.id_token) if tx.id_token else None
    return tx.station_transaction_id, allowed_for(offered, permitted)


async def session(db: Database, station_id: str, evse_id: int) -> Any:
    async with db.read() as conn:
        return (
            await conn.execute(
                sa.select(V2xSession).where(
                    V2xSession.station_id == station_id, V2xSession.evse_id == evse_id
                )
            )
        ).first()


# -- dynamic profiles --------------------------------------------------------------


async def _installed_body(db: Database, station_id: str, profile_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(ChargingProfile.profile)
                .where(
                    ChargingProfile.station_id == station_id,
                    ChargingProfile.profile_id == profile_id,
                    ChargingProfile.status == "Accepted",
                )
                .order_by(ChargingProfile.id.desc())
                .limit(1)
            )
        ).first()
    return dict(row.profile) if row is not None else None


async def update_dynamic(
    services: Services, station_id: str, profile_id: int, update: dict[str, Any]
) -> CommandRecord:
    """Send UpdateDynamicSchedule for an installed Dynamic profile; on
    Accepted keep the values (PullDynamicScheduleUpdate answers them).
    V2xInvalid when the profile is not an installed Dynamic one or the values
    break its operationMode; V2xRefused for a station not on 2.1."""
    try:
        services.schemas.validate(
            Version.V21,
            "UpdateDynamicSchedule",
            {"chargingProfileId": profile_id, "scheduleUpdate": update},
        )
    except OcppError as exc:
        raise V2xInvalid([f"not a valid ChargingScheduleUpdateType: {exc.description}"]) from None
    body = await _installed_body(services.db, station_id, profile_id)
    if body is None:
        raise V2xInvalid([f"profile {profile_id} is not installed at station {station_id}"])
    found = v2x_profiles.update_problems(body, update)
    if found:
        raise V2xInvalid(found)
    command = await send_v21(services, station_id, UpdateDynamicSchedule(profile_id, update))
    if answer_of(command) == "Accepted":
        async with services.db.write(station_id) as conn:
            where = sa.and_(
                V2xDynamicValue.station_id == station_id, V2xDynamicValue.profile_id == profile_id
            )
            await conn.execute(sa.delete(V2xDynamicValue).where(where))
            await conn.execute(
                sa.insert(V2xDynamicValue).values(
                    station_id=station_id,
                    profile_id=profile_id,
                    values=dict(update),
                    updated_at=utcnow(),
                )
            )
    return command


async def dynamic_values(db: Database, station_id: str, profile_id: int) -> Any:
    async with db.read() as conn:
        return (
            await conn.execute(
                sa.select(V2xDynamicValue).where(
                    V2xDynamicValue.station_id == station_id,
                    V2xDynamicValue.profile_id == profile_id,
                )
            )
        ).first()


async def pull(
    db: Database, station_id: str, profile_id: int, *, touch: bool = True
) -> dict[str, Any]:
    """The PullDynamicScheduleUpdateResponse: Accepted with the values in
    force (the profile's period updated by the last UpdateDynamicSchedule)
    for an installed Dynamic profile; Rejected, saying why, otherwise.
    `touch`: the station asked (its pull time is kept)."""
    body = await _installed_body(db, station_id, profile_id)
    if body is None or body.get("chargingProfileKind") != "Dynamic":
        return {
            "status": "Rejected",
            "statusInfo": {
                "reasonCode": "UnknownProfile" if body is None else "NotDynamic",
                "additionalInfo": f"Volta holds no Dynamic charging profile {profile_id} "
                f"for station {station_id}",
            },
        }
    row = await dynamic_values(db, station_id, profile_id)
    values = v2x_profiles.current_values(body, row.values if row is not None else None)
    if not touch:
        return {"status": "Accepted", "scheduleUpdate": values}
    async with db.write(station_id) as conn:
        if row is None:
            await conn.execute(
                sa.insert(V2xDynamicValue).values(
                    station_id=station_id,
                    profile_id=profile_id,
                    values={},
                    updated_at=utcnow(),
                    pulled_at=utcnow(),
                )
            )
        else:
            await conn.execute(
                sa.update(V2xDynamicValue)
                .where(
                    V2xDynamicValue.station_id == station_id,
                    V2xDynamicValue.profile_id == profile_id,
                )
                .values(pulled_at=utcnow())
            )
    return {"status": "Accepted", "scheduleUpdate": values}


# -- aFRR -------------------------------------------------------------------------


async def afrr_signal(
    services: Services, station_id: str, signal: int, timestamp: dt.datetime | None = None
) -> CommandRecord:
    """Send AFRRSignal (the signal's value from `timestamp`, now if not said)."""
    return await send_v21(services, station_id, AFRRSignal(signal, timestamp or utcnow()))


def afrr_payload(command: AFRRSignal) -> dict[str, Any]:
    return {"timestamp": format_timestamp(command.timestamp), "signal": command.signal}


# -- for the allocator --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Discharge:
    """What an EVSE feeds back, per phase in A, and the most its EV may."""

    current_a: float
    ev_max_a: float | None = None


async def discharges(
    db: Database,
    keys: dict[EvseKey, tuple[str, dt.datetime | None, int]],
    voltage_v: float,
    measured: dict[EvseKey, float] | None = None,
    now: dt.datetime | None = None,
) -> dict[EvseKey, Discharge]:
    """Each charging EVSE's discharge: the negative setpoint of its
    installed 2.1 TxProfile (or TxDefaultProfile) in force (updated by the
    last UpdateDynamicSchedule for a Dynamic one), clamped to its
    dischargeLimit; where its meter reports an export too, the lesser of the
    two (what is measured is what the site sees). `keys`: per EVSE, its
    transaction (the station's id), start and phases in use. Only EVSEs
    that discharge are in the answer."""
    now = now or utcnow()
    measured = measured or {}
    stations = sorted({k[0] for k in keys})
    if not stations:
        return {}
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(ChargingProfile)
                .where(
                    ChargingProfile.station_id.in_(stations),
                    ChargingProfile.status == "Accepted",
                    ChargingProfile.purpose.in_((TX, "TxDefaultProfile")),
                )
                .order_by(ChargingProfile.stack_level.desc(), ChargingProfile.id.desc())
            )
        ).all()
        sessions = (
            await conn.execute(sa.select(V2xSession).where(V2xSession.station_id.in_(stations)))
        ).all()
        dyn = (
            await conn.execute(
                sa.select(V2xDynamicValue).where(V2xDynamicValue.station_id.in_(stations))
            )
        ).all()
    dynamic = {(d.station_id, d.profile_id): dict(d.values) for d in dyn}
    ev_max = {(s.station_id, s.evse_id): s for s in sessions}
    out: dict[EvseKey, Discharge] = {}
    for key, (tx_id, started_at, phases) in keys.items():
        asked: float | None = None
        for purpose in (TX, "TxDefaultProfile"):
            # The highest stack level of the purpose that applies to the EVSE
            # (a TxProfile only for its transaction; EVSE 0: every EVSE).
            for row in rows:
                if row.station_id != key[0] or row.purpose != purpose:
                    continue
                if row.evse_id not in (0, key[1]):
                    continue
                if purpose == TX and row.transaction_id != tx_id:
                    continue
                body = dict(row.profile)
                if not v2x_profiles.uses_v21(body):
                    asked = 0.0
                    break
                found = v2x_profiles.period_in_force(body, now, started_at)
                if found is None:
                    continue
                unit, period = found
                if body.get("chargingProfileKind") == "Dynamic":
                    period.update(dynamic.get((row.station_id, row.profile_id), {}))
                asked, _ = v2x_profiles.discharge_a(unit, period, phases, voltage_v)
                break
            if asked is not None:
                break
        export = measured.get(key)
        current = asked or 0.0
        if export is not None:
            # Measured: what the site sees (an EV told to feed back that
            # does not is no capacity).
            current = min(current, export) if current > 0 else export
        if current <= 0:
            continue
        s = ev_max.get(key)
        most: float | None = None
        if s is not None and s.transaction_id in (None, tx_id):
            if s.ev_max_discharge_a is not None:
                most = s.ev_max_discharge_a
            if s.ev_max_discharge_w is not None:
                watts_a = s.ev_max_discharge_w / (voltage_v * max(phases, 1))
                most = watts_a if most is None else min(most, watts_a)
        out[key] = Discharge(current, most)
    return out


def model(body: dict[str, Any]) -> Any:
    """A stored profile as the shared model (re-exported for the API)."""
    return model_of(body)
