"""What Volta checks in a charging profile before it is sent, per the
station's version: the rules the specification puts on the CSMS (or on the
station, where a station would reject the profile anyway), so that a bad
profile is a clear 422 and not a `Rejected` with no reason.

`problems()` is pure: the profile, the EVSE, the version and what Volta knows
of the station (its active transactions, its installed profiles) in, a list
of sentences out, each naming the rule it cites. `check()` gathers that
knowledge from the database and raises `ProfileInvalid` with them all.
`parse_profile()` reads a profile in either wire shape (2.0.1
ChargingProfileType, or 1.6 csChargingProfiles), checked against the
official schema first.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.smart_charging import v2x_profiles
from volta.ocpp.charging import (
    EXTERNAL,
    KINDS,
    PURPOSES,
    RECURRENCIES,
    STATION_MAX,
    TX,
    UNITS,
    Profile,
    from_v16,
    from_v201,
)
from volta.ocpp.errors import OcppError
from volta.ocpp.schemas import SchemaRegistry
from volta.ocpp.times import parse_timestamp
from volta.ocpp.versions import Version
from volta.store.db import Database
from volta.store.models import ChargingProfile, Transaction

# Ids from here up are the allocator's and the fallback profiles'
# (service.ALLOCATOR_IDS; kept here too so this module imports no service).
ALLOCATOR_IDS = 1_000_000
# The database's integer columns (profile_id, stack_level).
_INT32_MAX = 2**31 - 1


class ProfileInvalid(ValueError):
    """The profile breaks a rule; `problems` lists each, for a person."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Slot:
    """An installed profile, as far as the conflict rules need it."""

    profile_id: int
    evse_id: int
    purpose: str
    stack_level: int
    transaction_id: str | None
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None


def slot_of(row: Any) -> Slot:
    """The Slot of a `charging_profiles` row (its profile in 2.0.1 shape)."""
    body = row.profile or {}
    return Slot(
        row.profile_id,
        row.evse_id,
        row.purpose,
        row.stack_level,
        row.transaction_id,
        parse_timestamp(body.get("validFrom")),
        parse_timestamp(body.get("validTo")),
    )


def replaces(version: Version, evse_id: int, new: Profile, old: Slot) -> bool:
    """Whether a station that accepted `new` no longer holds `old`: the same
    id (1.6 §5.16, K01.FR.05); or the same stack level and purpose on the
    same connector (1.6 §5.16); in 2.0.1, where the two could not be valid
    together (K01.FR.06; TxProfile: the same transaction, K01.FR.39)."""
    if old.profile_id == new.id:
        return True
    if (old.purpose, old.stack_level) != (new.purpose, new.stack_level):
        return False
    if version.modern and new.purpose == TX:
        return old.transaction_id == new.transaction_id
    if old.evse_id != evse_id:
        return False
    return version is Version.V16 or _overlaps(new, old)


def parse_profile(
    schemas: SchemaRegistry,
    evse_id: int,
    body: Mapping[str, Any],
    version: Version | None = None,
) -> Profile:
    """A profile in the 2.0.1 shape (`id`) or the 1.6 shape
    (`chargingProfileId`), validated against that version's
    SetChargingProfile schema. ProfileInvalid names the schema's complaint.

    For a 2.1 station (`version`) the `id` shape is the 2.1
    ChargingProfileType (operation modes, discharge limits, setpoints, a
    Dynamic kind: v2x_profiles), validated against the 2.1 schema and kept
    as given in `extra["v21"]` when it uses anything 2.0.1 cannot say. A
    2.1-only profile for any other station is refused here, naming why."""
    data = dict(body)
    if "chargingProfileId" in data:
        version, action_payload = (
            Version.V16,
            {"connectorId": evse_id, "csChargingProfiles": data},
        )
    elif version is Version.V21:
        action_payload = {"evseId": evse_id, "chargingProfile": data}
    else:
        version, action_payload = Version.V201, {"evseId": evse_id, "chargingProfile": data}
    try:
        schemas.validate(version, "SetChargingProfile", action_payload)
    except OcppError as exc:
        shape = {
            Version.V16: "1.6 csChargingProfiles",
            Version.V201: "2.0.1 ChargingProfileType",
            Version.V21: "2.1 ChargingProfileType",
        }[version]
        if version is Version.V201 and v2x_profiles.uses_v21(data):
            raise ProfileInvalid(
                [
                    "this profile uses OCPP 2.1 fields (operationMode, dischargeLimit, "
                    "setpoint, a Dynamic kind, a period without a limit, ...): only an "
                    "OCPP 2.1 station takes them"
                ]
            ) from None
        raise ProfileInvalid([f"not a valid {shape}: {exc.description}"]) from None
    if version is Version.V16:
        return from_v16(data)
    profile = from_v201(data)
    if version is Version.V21 and v2x_profiles.uses_v21(data):
        profile.extra["v21"] = data
    return profile


def _overlaps(a: Profile, b: Slot) -> bool:
    lo = max(a.valid_from or dt.datetime.min.replace(tzinfo=dt.UTC), _aware(b.valid_from, False))
    hi = min(a.valid_to or dt.datetime.max.replace(tzinfo=dt.UTC), _aware(b.valid_to, True))
    return lo < hi


def _aware(t: dt.datetime | None, end: bool) -> dt.datetime:
    if t is None:
        return (dt.datetime.max if end else dt.datetime.min).replace(tzinfo=dt.UTC)
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def problems(
    version: Version,
    evse_id: int,
    profile: Profile,
    *,
    active: Mapping[int, Sequence[str]] | None = None,
    installed: Sequence[Slot] = (),
    source: str = "api",
) -> list[str]:
    """Every rule the profile breaks, as sentences (empty: it may be sent).

    `active`: the EVSEs' active transactions (1.6: Volta's transactionId as
    text; 2.0.1: the station's transactionId); None skips the checks that
    need them. `installed`: what Volta believes the station holds."""
    out: list[str] = []
    v16 = version is Version.V16
    p = profile
    if evse_id < 0:
        out.append("evse_id must be 0 (the whole station) or an EVSE number")
    if not 1 <= p.id <= _INT32_MAX:
        out.append("the profile id must be positive (and fit 32 bits)")
    elif source == "api" and p.id >= ALLOCATOR_IDS:
        out.append(f"profile ids from {ALLOCATOR_IDS} up are reserved for the site allocator")
    if not 0 <= p.stack_level <= _INT32_MAX:
        out.append("stackLevel must be 0 or more (and fit 32 bits)")
    if p.purpose not in PURPOSES:
        out.append(f"chargingProfilePurpose must be one of {', '.join(PURPOSES)}")
    if p.kind not in KINDS and not (p.kind == "Dynamic" and version is Version.V21):
        out.append(f"chargingProfileKind must be one of {', '.join(KINDS)}")

    # Purposes and where they may go.
    if p.purpose == EXTERNAL:
        # K01.FR.22; 1.6 has no such purpose.
        out.append(
            "OCPP 1.6 has no ChargingStationExternalConstraints"
            if v16
            else "a CSMS must not set ChargingStationExternalConstraints (K01.FR.22): "
            "that purpose is the station's, for limits set by an external system"
        )
    if p.purpose == STATION_MAX:
        if evse_id != 0:
            out.append(
                "ChargePointMaxProfile applies to connectorId 0 only (OCPP 1.6 §3.13.1)"
                if v16
                else "ChargingStationMaxProfile applies to evseId 0 only "
                "(2.0.1 SetChargingProfileRequest.evseId)"
            )
        if p.kind == "Relative" and not v16:
            out.append("a ChargingStationMaxProfile cannot be Relative (K01.FR.38)")
    if p.purpose == TX:
        out.extend(_tx_problems(v16, evse_id, p, active))
    elif p.transaction_id is not None:
        out.append("only a TxProfile carries a transactionId")

    # Kinds.
    if p.kind == "Recurring":
        if p.recurrency not in RECURRENCIES:
            out.append("a Recurring profile needs recurrencyKind Daily or Weekly")
        if any(s.start is None for s in p.schedules):
            out.append("a Recurring profile needs a startSchedule (K01.FR.40)")
    elif p.recurrency is not None:
        out.append("recurrencyKind is only for a Recurring profile")
    if p.kind == "Absolute" and not v16 and any(s.start is None for s in p.schedules):
        # 1.6 lets the station take the time it receives the profile.
        out.append("an Absolute profile needs a startSchedule (K01.FR.40)")
    if p.kind == "Relative" and any(s.start is not None for s in p.schedules):
        out.append("a Relative profile has no startSchedule (K01.FR.41)")
    if p.valid_from is not None and p.valid_to is not None and p.valid_to <= p.valid_from:
        out.append("validTo must be after validFrom")

    out.extend(_schedule_problems(v16, p))
    v21 = p.extra.get("v21")
    if v21 is not None:
        if version is not Version.V21:
            out.append(
                f"an OCPP 2.1 profile (operation modes, discharge, setpoints) cannot go "
                f"to an OCPP {version.label} station"
            )
        else:
            out.extend(v2x_profiles.problems(v21))
    if source == "api":
        # The allocator keeps one id per slot (its own scheme); an operator
        # is told here rather than by a station's bare Rejected.
        out.extend(_conflicts(v16, evse_id, p, installed))
    return out


def start_problems(version: Version, evse_id: int | None, profile: Profile) -> list[str]:
    """A profile sent with RemoteStartTransaction / RequestStartTransaction:
    a TxProfile (1.6 §5.11, F01.FR.09) without a transactionId, since the
    transaction does not exist yet (F01.FR.11), for the EVSE asked for
    (Volta keeps it per EVSE, K01.FR.16); otherwise the usual rules."""
    out: list[str] = []
    if profile.purpose != TX:
        out.append(
            "a profile sent with a remote start is a TxProfile "
            + ("(OCPP 1.6 §5.11)" if version is Version.V16 else "(F01.FR.09)")
        )
    if profile.transaction_id is not None:
        out.append("a remote start's profile has no transactionId (F01.FR.11)")
    if not evse_id:
        out.append("a remote start with a charging profile needs an evse_id")
    rest = problems(version, evse_id or 1, profile, active=None)
    # The transaction rules of a TxProfile do not apply before it exists.
    out.extend(p for p in rest if "transactionId" not in p and "K01.FR.09" not in p)
    return out


def _tx_problems(
    v16: bool, evse_id: int, p: Profile, active: Mapping[int, Sequence[str]] | None
) -> list[str]:
    out: list[str] = []
    if evse_id == 0:
        out.append(
            "a TxProfile goes to the connector of its transaction, not connectorId 0 "
            "(OCPP 1.6 §5.16)"
            if v16
            else "a TxProfile needs an evseId above 0 (K01.FR.16)"
        )
        return out
    if p.transaction_id is None:
        running = list((active or {}).get(evse_id, ()))
        hint = f" (the active one on EVSE {evse_id} is {running[0]})" if running else ""
        out.append(
            "a TxProfile needs the transactionId of the transaction it limits "
            + ("(OCPP 1.6 §5.16)" if v16 else "(K01.FR.03)")
            + hint
        )
        return out
    if active is not None and p.transaction_id not in active.get(evse_id, ()):
        out.append(
            f"transaction {p.transaction_id} is not active on "
            + (f"connector {evse_id} (OCPP 1.6 §5.16)" if v16 else f"EVSE {evse_id} (K01.FR.09)")
        )
    return out


def _schedule_problems(v16: bool, p: Profile) -> list[str]:
    out: list[str] = []
    if not p.schedules:
        return ["a profile needs a chargingSchedule"]
    if v16 and len(p.schedules) != 1:
        out.append("an OCPP 1.6 profile has exactly one chargingSchedule")
    if len(p.schedules) > 1:
        # Up to 3 only as ISO 15118 SAScheduleTuples of a TxProfile (2.0.1
        # ChargingProfileType.chargingSchedule), each with its own id.
        if p.purpose != TX:
            out.append("more than one chargingSchedule is only for a TxProfile (ISO 15118)")
        if len(p.schedules) > 3:
            out.append("at most 3 chargingSchedules")
        if len({s.id for s in p.schedules}) != len(p.schedules):
            out.append("the chargingSchedules need distinct ids")
        if len({s.unit for s in p.schedules}) > 1:
            out.append("the chargingSchedules of one profile need the same chargingRateUnit")
    for n, s in enumerate(p.schedules):
        at = f"chargingSchedule[{n}]" if len(p.schedules) > 1 else "chargingSchedule"
        if s.unit not in UNITS:
            out.append(f"{at}: chargingRateUnit must be A or W")
        if not s.periods:
            out.append(f"{at}: needs at least one chargingSchedulePeriod")
            continue
        if s.periods[0].start_s != 0:
            out.append(f"{at}: the first period's startPeriod must be 0 (K01.FR.31)")
        starts = [period.start_s for period in s.periods]
        if any(b <= a for a, b in itertools.pairwise(starts)):
            out.append(f"{at}: startPeriod values must increase (K01.FR.35)")
        if s.duration_s is not None and s.duration_s < 0:
            out.append(f"{at}: duration must be 0 or more")
        if s.min_rate is not None and s.min_rate < 0:
            out.append(f"{at}: minChargingRate must be 0 or more")
        for i, period in enumerate(s.periods):
            where = f"{at}.chargingSchedulePeriod[{i}]"
            if period.limit < 0:
                out.append(f"{where}: limit must be 0 or more")
            if period.phases is not None and period.phases not in (1, 2, 3):
                out.append(f"{where}: numberPhases must be 1, 2 or 3")
            if period.phase_to_use is not None:
                if v16:
                    out.append(f"{where}: OCPP 1.6 has no phaseToUse")
                elif period.phases != 1:
                    out.append(f"{where}: phaseToUse only with numberPhases 1 (K01.FR.19)")
                elif period.phase_to_use not in (1, 2, 3):
                    out.append(f"{where}: phaseToUse must be 1, 2 or 3")
    return out


def _conflicts(v16: bool, evse_id: int, p: Profile, installed: Sequence[Slot]) -> list[str]:
    """2.0.1 K01.FR.06 / K01.FR.39: no second profile (another id) in the same
    slot with overlapping validity. 1.6 §5.16 has the station replace it
    instead, so nothing to refuse there."""
    if v16:
        return []
    out: list[str] = []
    for slot in installed:
        if slot.profile_id == p.id or slot.stack_level != p.stack_level:
            continue
        if slot.purpose != p.purpose:
            continue
        if p.purpose == TX:
            if slot.transaction_id == p.transaction_id:
                out.append(
                    f"profile {slot.profile_id} already holds stackLevel {p.stack_level} "
                    f"for transaction {p.transaction_id} (K01.FR.39): reuse its id to "
                    "replace it (K01.FR.05)"
                )
        elif slot.evse_id == evse_id and _overlaps(p, slot):
            out.append(
                f"profile {slot.profile_id} already holds {p.purpose} stackLevel "
                f"{p.stack_level} on EVSE {evse_id} for an overlapping validity "
                "(K01.FR.06): reuse its id to replace it (K01.FR.05), or clear it first"
            )
    return out


async def check(
    db: Database,
    station_id: str,
    version: Version,
    evse_id: int,
    profile: Profile,
    *,
    source: str = "api",
) -> None:
    """Raise ProfileInvalid unless the profile may be sent to the station."""
    active: dict[int, list[str]] = {}
    async with db.read() as conn:
        if profile.purpose == TX and evse_id > 0:
            rows = await conn.execute(
                sa.select(
                    Transaction.id, Transaction.station_transaction_id, Transaction.evse_id
                ).where(
                    Transaction.station_id == station_id,
                    Transaction.status == "Active",
                    Transaction.evse_id == evse_id,
                )
            )
            for r in rows:
                tx = str(r.id) if version is Version.V16 else r.station_transaction_id
                if tx is not None:
                    active.setdefault(evse_id, []).append(tx)
        installed_rows = await conn.execute(
            sa.select(ChargingProfile).where(
                ChargingProfile.station_id == station_id,
                ChargingProfile.status == "Accepted",
                ChargingProfile.purpose == profile.purpose,
                ChargingProfile.stack_level == profile.stack_level,
            )
        )
        installed = [slot_of(r) for r in installed_rows]
    found = problems(version, evse_id, profile, active=active, installed=installed, source=source)
    if found:
        raise ProfileInvalid(found)
