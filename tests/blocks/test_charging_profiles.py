"""The charging-profile service, its builders and its rules: what the
allocator and the CLI use (the HTTP API's tests are in
tests/api/test_charging_profiles_api.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys

import pytest
import sqlalchemy as sa

from tests.conftest import API_TOKEN, make_settings
from tests.helpers import answer, register, station, wait_until
from volta.app import Volta, outgoing_tables
from volta.blocks.remote_control.service import RemoteStart
from volta.blocks.smart_charging import service, v16, v201, validation
from volta.blocks.smart_charging.service import (
    ClearChargingProfile,
    GetChargingProfiles,
    GetCompositeSchedule,
    SetChargingProfile,
)
from volta.ocpp.charging import (
    EXTERNAL,
    STATION_MAX,
    TX,
    TX_DEFAULT,
    Period,
    Profile,
    Schedule,
    to_v201,
)
from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell
from volta.store.models import ChargingProfile

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def profile(
    pid: int = 1,
    purpose: str = TX_DEFAULT,
    *,
    stack: int = 0,
    limit: float = 16.0,
    kind: str = "Absolute",
    start: dt.datetime | None = T0,
    tx: str | None = None,
    valid: tuple[dt.datetime | None, dt.datetime | None] = (None, None),
) -> Profile:
    return Profile(
        id=pid,
        stack_level=stack,
        purpose=purpose,
        kind=kind,
        schedules=(Schedule("A", (Period(0, limit),), id=1, start=start),),
        transaction_id=tx,
        valid_from=valid[0],
        valid_to=valid[1],
    )


# -- builders -------------------------------------------------------------------


def test_builders_speak_each_version_and_pass_the_official_schemas():
    """Every command the block sends is schema-valid in the version it is
    spelled for (1.6 §5.5/5.7/5.16, 2.0.1 K01/K08/K09/K10)."""
    schemas = registry()
    max_profile = profile(3, STATION_MAX)
    for version, table, commands in (
        (
            Version.V16,
            v16.outgoing,
            [
                SetChargingProfile(0, max_profile),
                ClearChargingProfile(),
                ClearChargingProfile(profile_id=3),
                ClearChargingProfile(evse_id=1, purpose=STATION_MAX, stack_level=2),
                GetCompositeSchedule(1, 600, "W"),
            ],
        ),
        (
            Version.V201,
            v201.outgoing,
            [
                SetChargingProfile(0, max_profile),
                ClearChargingProfile(),
                ClearChargingProfile(profile_id=3),
                ClearChargingProfile(evse_id=1, purpose=TX, stack_level=2),
                GetCompositeSchedule(1, 600),
                GetChargingProfiles(9, evse_id=1, profile_ids=(1, 2)),
                GetChargingProfiles(10, limit_sources=("CSO",)),
            ],
        ),
    ):
        for command in commands:
            message = table.build(command)
            schemas.validate(version, message.action, message.payload)

    msg = v16.outgoing.build(SetChargingProfile(0, max_profile))
    assert msg.payload["connectorId"] == 0
    assert msg.payload["csChargingProfiles"]["chargingProfilePurpose"] == "ChargePointMaxProfile"
    msg = v16.outgoing.build(ClearChargingProfile(purpose=STATION_MAX))
    assert msg.payload == {"chargingProfilePurpose": "ChargePointMaxProfile"}
    msg = v201.outgoing.build(ClearChargingProfile(profile_id=3))
    assert msg.payload == {"chargingProfileId": 3}


def test_remote_start_carries_the_profile_in_each_versions_words():
    """1.6 §5.11 chargingProfile, 2.0.1 F01.FR.08; schema-valid in both."""
    tx = profile(8, TX, kind="Relative", start=None)
    command = RemoteStart("APP", "Central", remote_start_id=3, evse_id=1, charging_profile=tx)
    tables = outgoing_tables()
    m16 = tables[Version.V16].build(command)
    assert m16.payload["chargingProfile"]["chargingProfileId"] == 8
    m201 = tables[Version.V201].build(command)
    assert m201.payload["chargingProfile"]["id"] == 8
    schemas = registry()
    schemas.validate(Version.V16, m16.action, m16.payload)
    schemas.validate(Version.V201, m201.action, m201.payload)


def test_v16_cannot_spell_what_it_lacks():
    with pytest.raises(CannotSpell, match="no ChargingStationExternalConstraints"):
        v16.outgoing.build(SetChargingProfile(0, profile(1, EXTERNAL)))
    with pytest.raises(CannotSpell, match="no ChargingStationExternalConstraints"):
        v16.outgoing.build(ClearChargingProfile(purpose=EXTERNAL))
    with pytest.raises(CannotSpell, match="GetChargingProfiles"):
        v16.outgoing.build(GetChargingProfiles(1))


# -- the rules, pure ------------------------------------------------------------


def test_a_plain_default_profile_breaks_no_rule():
    for version in Version.V16, Version.V201:
        assert validation.problems(version, 1, profile()) == []


def test_every_problem_is_told_at_once():
    bad = Profile(
        id=0,
        stack_level=-1,
        purpose=TX,
        kind="Relative",
        schedules=(Schedule("A", (Period(10, -1), Period(5, 2)), start=T0),),
    )
    found = validation.problems(Version.V201, 0, bad, active={})
    text = " | ".join(found)
    for rule in ("positive", "stackLevel", "K01.FR.16", "K01.FR.41", "K01.FR.31", "K01.FR.35"):
        assert rule in text, text
    assert "limit must be 0 or more" in text


def test_tx_profile_rules_use_the_active_transactions():
    tx = profile(5, TX, tx="T-1")
    assert validation.problems(Version.V201, 1, tx, active={1: ["T-1"]}) == []
    assert any(
        "K01.FR.09" in p for p in validation.problems(Version.V201, 2, tx, active={1: ["T-1"]})
    )
    # Unknown transactions (None) are not checked: the pure rules alone.
    assert validation.problems(Version.V201, 1, tx, active=None) == []


def test_conflicts_only_for_the_api_and_only_where_validity_overlaps():
    """K01.FR.06: another id in the same slot with overlapping validity."""
    held = validation.Slot(1, 1, TX_DEFAULT, 0, None, None, T0 + dt.timedelta(days=1))
    new = profile(2)
    assert any(
        "K01.FR.06" in p for p in validation.problems(Version.V201, 1, new, installed=[held])
    )
    later = profile(2, valid=(T0 + dt.timedelta(days=2), None))
    assert validation.problems(Version.V201, 1, later, installed=[held]) == []
    assert validation.problems(Version.V201, 1, new, installed=[held], source="allocator") == []
    assert validation.problems(Version.V16, 1, new, installed=[held]) == []


def test_what_an_accepted_profile_replaces():
    slot = validation.Slot(1, 1, TX_DEFAULT, 0, None, None, None)
    # The same id anywhere (K01.FR.05, 1.6 §5.16).
    assert validation.replaces(Version.V201, 2, profile(1, stack=3), slot)
    # The same slot: 1.6 always; 2.0.1 where validity overlaps (K01.FR.06).
    assert validation.replaces(Version.V16, 1, profile(2), slot)
    assert validation.replaces(Version.V201, 1, profile(2), slot)
    assert not validation.replaces(Version.V16, 2, profile(2), slot)
    assert not validation.replaces(Version.V16, 1, profile(2, stack=1), slot)
    # 2.0.1 TxProfiles: the same transaction and stack level (K01.FR.39).
    tx_slot = validation.Slot(1, 1, TX, 0, "T-1", None, None)
    assert validation.replaces(Version.V201, 1, profile(2, TX, tx="T-1"), tx_slot)
    assert not validation.replaces(Version.V201, 1, profile(2, TX, tx="T-2"), tx_slot)


def test_parse_profile_tells_the_shapes_apart():
    schemas = registry()
    p16 = validation.parse_profile(
        schemas,
        0,
        {
            "chargingProfileId": 4,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
            },
        },
    )
    assert (p16.id, p16.purpose, p16.schedules[0].unit) == (4, STATION_MAX, "W")
    with pytest.raises(validation.ProfileInvalid, match=r"not a valid 2\.0\.1"):
        validation.parse_profile(schemas, 0, {"id": 1})


# -- the service over a real station ---------------------------------------------


async def test_allocator_installs_in_its_own_id_range(volta):
    """What the site allocator relies on: ids from 1_000_000 are its own,
    `installed_profiles` is per EVSE, a newer profile in the slot replaces."""
    await register(volta, "SVC")
    db = volta.db
    assert await service.next_profile_id(db, "SVC") == 1
    assert await service.next_profile_id(db, "SVC", allocator=True) == service.ALLOCATOR_IDS
    async with station(volta, "SVC", "2.0.1") as cp:
        cp.handlers["SetChargingProfile"] = answer({"status": "Accepted"})
        assert await wait_until(lambda: volta.router.version_of("SVC") is not None)
        pid = await service.next_profile_id(db, "SVC", allocator=True)
        first = await service.install_profile(
            volta.services, "SVC", 0, profile(pid, stack=5), source="fallback"
        )
        assert (first.status, first.source, first.profile_id) == ("Accepted", "fallback", pid)
        assert first.command is not None and first.command["status"] == "accepted"
        assert await service.next_profile_id(db, "SVC", allocator=True) == pid + 1
        assert await service.next_profile_id(db, "SVC") == 1
        # The same id again, with a new limit: replaces (K01.FR.05).
        again = await service.install_profile(
            volta.services, "SVC", 0, profile(pid, stack=5, limit=10), source="allocator"
        )
        cp.handlers["SetChargingProfile"] = answer({"status": "Rejected"})
        refused = await service.install_profile(
            volta.services, "SVC", 1, profile(pid + 1), source="allocator"
        )
        assert refused.status == "Rejected"
    held = await service.installed_profiles(db, "SVC")
    assert [(p.id, p.model.schedules[0].periods[0].limit) for p in held] == [(again.id, 10.0)]
    assert await service.installed_profiles(db, "SVC", evse_id=1) == []


async def test_a_restart_fails_profiles_left_requested(volta, database):
    """A stop between sending and the answer leaves a Requested row: the
    next start marks it Failed, so nothing counts it as installed."""
    await register(volta, "RST")
    async with volta.db.write() as conn:
        await conn.execute(
            sa.insert(ChargingProfile).values(
                station_id="RST",
                evse_id=1,
                profile_id=4,
                stack_level=0,
                purpose=TX_DEFAULT,
                profile=to_v201(profile(4)),
                source="allocator",
                status="Requested",
            )
        )
    await volta.stop()
    again = Volta(make_settings(database), db_schema=database.schema)
    await again.start()
    try:
        rows = await service.list_profiles(again.db, "RST", history=True)
        assert [(r.profile_id, r.status) for r in rows] == [(4, "Failed")]
    finally:
        await again.stop()
        await volta.start()  # the fixture stops this one


# -- the CLI ----------------------------------------------------------------------


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "volta",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_lists_and_clears(volta, database):
    """`volta profiles list` reads the database; `volta profiles clear` asks
    the running server through its API (it holds the connections)."""
    if database.kind != "sqlite":
        pytest.skip("the CLI reads the default schema; the fixture's PostgreSQL uses its own")
    await register(volta, "CLI1")
    async with station(volta, "CLI1", "1.6") as cp:
        cp.handlers["SetChargingProfile"] = answer({"status": "Accepted"})
        cp.handlers["ClearChargingProfile"] = answer({"status": "Accepted"})
        assert await wait_until(lambda: volta.router.version_of("CLI1") is not None)
        await service.install_profile(volta.services, "CLI1", 1, profile(7, limit=13))
        url = volta.settings.database_url
        code, out, err = await _cli("profiles", "list", "CLI1", "--database-url", url)
        assert code == 0, err
        line = out.splitlines()[1].split()
        assert line[:6] == ["1", "7", "TxDefaultProfile", "0", "api", "Accepted"]
        assert "0s 13A" in out
        code, out, err = await _cli(
            "profiles",
            "clear",
            "CLI1",
            "--id",
            "7",
            "--database-url",
            url,
            "--api-url",
            f"http://127.0.0.1:{volta.api_port}",
            "--token",
            API_TOKEN,
        )
        assert code == 0, err
        assert out.strip() == "station CLI1 answered Accepted; cleared: 7"
        assert [a for a, _ in cp.received if a == "ClearChargingProfile"] == [
            "ClearChargingProfile"
        ]
        code, out, err = await _cli(
            "profiles",
            "clear",
            "CLI1",
            "--database-url",
            url,
            "--api-url",
            f"http://127.0.0.1:{volta.api_port}",
            "--token",
            "wrong",
        )
        assert code == 1
        assert "401" in err
    code, out, _ = await _cli("profiles", "list", "CLI1", "--database-url", url)
    assert out.splitlines()[1:] == []
