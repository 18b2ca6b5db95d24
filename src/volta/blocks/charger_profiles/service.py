"""Charger profiles applied: the catalogue a deployment uses, the profile a
booting charger matches (recorded on the station, its deviations tolerated
from then on), and its configuration sent after an accepted boot.

The matching costs no I/O: the catalogue is read once per process (a
broken operator file stops the start, `check()`); the station's row names
its profile, so a reconnecting station's deviations are tolerated from its
first message, and the row is written only when a boot matches another one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from volta.blocks.charger_profiles.profiles import Catalogue, Profile, Setting, load
from volta.blocks.remote_control import service as remote_control
from volta.events import service as events
from volta.ocpp.schemas import Tolerated
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell
from volta.store.models import STATIONS

if TYPE_CHECKING:
    from volta.config import Settings
    from volta.services import CallContext, Services

log = logging.getLogger(__name__)

_catalogues: dict[str, Catalogue] = {}


def catalogue(settings: Settings) -> Catalogue:
    """The shipped profiles and the operator's file, read once per file."""
    path = settings.charger_profiles_file
    found = _catalogues.get(path)
    if found is None:
        found = _catalogues[path] = load(path)
    return found


def check(settings: Settings) -> None:
    """Read the profiles now: a broken file is an error at start, with where."""
    catalogue(settings)


def tolerated(settings: Settings, profile_id: str | None) -> Tolerated:
    """The deviations a station with this recorded profile may send."""
    if not profile_id:
        return Tolerated()
    try:
        profile = catalogue(settings).by_id.get(profile_id)
    except ValueError:
        log.exception("charger profiles cannot be read")
        return Tolerated()
    if profile is None:
        # The profile was removed from the file since: none any more.
        return Tolerated()
    return Tolerated(profile.deviations, profile.id)


@dataclass(frozen=True, slots=True)
class ApplySetting:
    """A charger profile's configuration value: 1.6 ChangeConfiguration of
    `key`, 2.0.1 SetVariables of `component`.`variable` (Actual)."""

    value: str
    key: str | None = None
    component: str | None = None
    variable: str | None = None
    instance: str | None = None
    evse_id: int | None = None

    @classmethod
    def of(cls, setting: Setting) -> ApplySetting:
        return cls(
            setting.value,
            setting.key,
            setting.component,
            setting.variable,
            setting.instance,
            setting.evse_id,
        )


def settings_for(profile: Profile, version: Version) -> list[Setting]:
    """The profile's settings this version can say (1.6 keys, 2.0.1 variables)."""
    if version is Version.V16:
        return [s for s in profile.configure if s.key is not None]
    return [s for s in profile.configure if s.component is not None]


async def on_boot(
    ctx: CallContext, *, vendor: str, model: str, firmware: str | None, accepted: bool
) -> Profile | None:
    """After a BootNotification was answered: match, record, tolerate, configure."""
    services = ctx.services
    try:
        profile = catalogue(services.settings).match(vendor, model, firmware)
    except ValueError:
        log.exception("charger profiles cannot be read")
        return None
    previous = ctx.station.tolerated.profile
    name = profile.id if profile is not None else None
    # Tolerated before anything is awaited: the station's next message may follow.
    ctx.station.tolerated.replace(profile.deviations if profile else (), name)
    if name != previous:
        async with services.db.write(ctx.station_id) as conn:
            await conn.execute(
                sa.update(STATIONS)
                .where(STATIONS.c.id == ctx.station_id)
                .values(charger_profile=name)
            )
            await events.emit(
                conn,
                "charger_profile.matched",
                station_id=ctx.station_id,
                profile=name,
                previous=previous,
                vendor=vendor,
                model=model,
                firmware_version=firmware,
            )
        log.info("station %s matches charger profile %s", ctx.station_id, name or "none")
    if profile is not None and accepted:
        await apply_configuration(services, ctx.station_id, profile, ctx.version)
    return profile


async def apply_configuration(
    services: Services, station_id: str, profile: Profile, version: Version
) -> list[dict[str, Any]]:
    """Send the profile's settings one by one (each a command record)."""
    records: list[dict[str, Any]] = []
    for setting in settings_for(profile, version):
        try:
            record = await remote_control.send(services, station_id, ApplySetting.of(setting))
        except CannotSpell:
            continue
        records.append(dict(record))
        if record["status"] != "accepted":
            log.warning(
                "station %s: charger profile %s setting %s: %s %s",
                station_id,
                profile.id,
                setting.name,
                record["status"],
                record["error_description"] or record["response"] or "",
            )
        if record["status"] in ("offline", "timeout"):
            break
    return records


async def matched(services: Services, station_id: str | None = None) -> list[dict[str, Any]]:
    """Which profile each station matched (one station, or all that matched one)."""
    stmt = sa.select(
        STATIONS.c.id,
        STATIONS.c.vendor,
        STATIONS.c.model,
        STATIONS.c.firmware_version,
        STATIONS.c.charger_profile,
    ).order_by(STATIONS.c.id)
    if station_id is not None:
        stmt = stmt.where(STATIONS.c.id == station_id)
    else:
        stmt = stmt.where(STATIONS.c.charger_profile.is_not(None)).limit(10_000)
    async with services.db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    return [
        {
            "station_id": r.id,
            "vendor": r.vendor,
            "model": r.model,
            "firmware_version": r.firmware_version,
            "profile": r.charger_profile,
        }
        for r in rows
    ]
