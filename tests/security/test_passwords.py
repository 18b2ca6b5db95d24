"""Station password rotation on both databases: 1.6 ChangeConfiguration
AuthorizationKey (security whitepaper A01, TC_073_CSMS), the old password
accepted until the station signs in with the new one, refusals, the schedule,
and the new password in no table and no log line."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
import websockets
from websockets.exceptions import InvalidStatus

from tests.conformance.conftest import Answer, Station
from tests.conftest import API_TOKEN
from tests.helpers import basic_auth, connect, register, wait_until, ws_url
from tests.test_cli import cli_env
from volta import housekeeping
from volta.app import Volta
from volta.blocks.security import passwords
from volta.store.models import Command, Event, Frame
from volta.store.models import Station as StationRow

PASSWORD = "old-station-password-1"
V16 = "ocpp1.6"


@contextlib.asynccontextmanager
async def charger(
    volta: Volta, station_id: str, answers: dict[str, Answer], password: str = PASSWORD
) -> AsyncIterator[Station]:
    async with connect(volta, station_id, V16, password) as ws:
        st = Station(ws, answers)
        try:
            boot = {"chargePointVendor": "V", "chargePointModel": "M"}
            assert (await st.call("BootNotification", boot))["status"] == "Accepted"
            yield st
        finally:
            await st.close()


async def logged_frames(volta: Volta, needle: str) -> list[str]:
    """The frame log once a frame holding `needle` is in it (the log writes in
    batches, in the background: a flush may find the batch already taken)."""
    frames: list[str] = []

    async def found() -> bool:
        nonlocal frames
        await volta.frames.flush()
        async with volta.db.read() as conn:
            frames = list((await conn.execute(sa.select(Frame.raw))).scalars().all())
        return any(needle in f for f in frames)

    assert await wait_until(found, timeout=10, interval=0.1)
    return frames


async def status_of(volta: Volta, station_id: str, password: str) -> int:
    """101 when the password opens the door, else the HTTP status."""
    try:
        async with websockets.connect(
            ws_url(volta, station_id),
            subprotocols=[V16],  # type: ignore[list-item]
            additional_headers=basic_auth(station_id, password),
            open_timeout=5,
        ):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def rotate(api: Any, st: Station, station_id: str) -> tuple[str, dict[str, Any]]:
    """Start a rotation through the API; the station's new password (decoded
    from the hex AuthorizationKey) and the API's answer."""
    started = asyncio.create_task(api.post(f"/api/v1/stations/{station_id}/password-rotation"))
    request = await st.expect("ChangeConfiguration")
    r = await started
    assert r.status_code == 200, r.text
    assert request["key"] == "AuthorizationKey"
    value = request["value"]
    # TC_073_CSMS: at most 40 hex digits, 16 to 20 bytes.
    assert len(value) <= 40
    raw = bytes.fromhex(value)
    assert 16 <= len(raw) <= 20
    return raw.decode(), r.json()


async def test_old_password_accepted_until_the_new_one_signs_in(volta, api, caplog):
    """TC_073_CSMS: Accepted -> pending, both passwords open the door; the first
    sign-in with the new one drops the old one and emits security.password_rotated.
    Neither the frame log, the commands table nor the log holds the password."""
    caplog.set_level(logging.DEBUG)
    await register(volta, "CP1", password=PASSWORD)
    answers: dict[str, Answer] = {"ChangeConfiguration": {"status": "Accepted"}}
    async with charger(volta, "CP1", answers) as st:
        new, rotation = await rotate(api, st, "CP1")
        assert rotation["state"] == "pending" and rotation["started_by"] == "api"
    assert await status_of(volta, "CP1", PASSWORD) == 101  # old: still fine
    assert await status_of(volta, "CP1", "something-else-entirely") == 401
    assert await status_of(volta, "CP1", new) == 101  # the station took the new one
    state = (await api.get("/api/v1/stations/CP1/password-rotation")).json()
    assert state["state"] == "rotated" and state["rotated_at"] is not None
    assert await status_of(volta, "CP1", PASSWORD) == 401  # old: gone
    assert await status_of(volta, "CP1", new) == 101
    frames = await logged_frames(volta, "AuthorizationKey")
    async with volta.db.read() as conn:
        commands = (await conn.execute(sa.select(Command.payload))).scalars().all()
        rotated = (
            (
                await conn.execute(
                    sa.select(Event.data).where(Event.type == "security.password_rotated")
                )
            )
            .scalars()
            .all()
        )
        stored_hash = (
            await conn.execute(sa.select(StationRow.password_hash).where(StationRow.id == "CP1"))
        ).scalar_one()
    hex_value = new.encode().hex().upper()
    sent = [f for f in frames if "AuthorizationKey" in f]
    assert sent and all("********" in f for f in sent)
    for secret in (new, hex_value, hex_value.lower()):
        assert not any(secret in f for f in frames)
        assert not any(secret in str(c) for c in commands)
        assert secret not in caplog.text
        assert secret not in stored_hash
    assert commands == [{"key": "AuthorizationKey", "value": "********"}]
    assert [e["station_id"] for e in rotated] == ["CP1"]


async def test_rejected_keeps_the_old_password(volta, api):
    """A refusal (Rejected), or a CALLERROR, forgets the new password: the old
    one stays and the rotation says why it failed."""
    await register(volta, "CP2", password=PASSWORD)
    answers: dict[str, Answer] = {"ChangeConfiguration": {"status": "Rejected"}}
    async with charger(volta, "CP2", answers) as st:
        new, rotation = await rotate(api, st, "CP2")
        assert rotation["state"] == "failed" and rotation["detail"] == "Rejected"
        command = (await api.get(f"/api/v1/commands/{rotation['command_id']}")).json()
        assert command["status"] == "rejected"
    assert await status_of(volta, "CP2", new) == 401
    assert await status_of(volta, "CP2", PASSWORD) == 101
    async with volta.db.read() as conn:
        assert not (
            await conn.execute(sa.select(Event.id).where(Event.type == "security.password_rotated"))
        ).first()


async def test_timeout_keeps_the_old_password(volta, api):
    """No answer within call_timeout: the rotation fails, the old password stays."""
    await register(volta, "CP3", password=PASSWORD)

    async with connect(volta, "CP3", V16, PASSWORD) as ws:
        started = asyncio.create_task(api.post("/api/v1/stations/CP3/password-rotation"))
        # Read the CALL and do not answer it.
        frame = await asyncio.wait_for(ws.recv(), 10)
        assert "AuthorizationKey" in str(frame)
        r = await started
        assert r.status_code == 200
        assert r.json()["state"] == "failed" and r.json()["detail"] == "timeout"
    assert await status_of(volta, "CP3", PASSWORD) == 101


async def test_refusals(volta, api):
    """404 for an unknown station; 409 for a station without a password
    (security profile 3 or none) and for one that is offline; bodies in the
    documented JSON shape."""
    r = await api.post("/api/v1/stations/NOPE/password-rotation")
    assert r.status_code == 404 and "detail" in r.json()
    await register(volta, "NOPW")
    async with charger(volta, "NOPW", {}, password=""):
        r = await api.post("/api/v1/stations/NOPW/password-rotation")
        assert r.status_code == 409 and "no password" in r.json()["detail"]
    await register(volta, "OFF", password=PASSWORD)
    r = await api.post("/api/v1/stations/OFF/password-rotation")
    assert r.status_code == 409 and "not connected" in r.json()["detail"]
    r = await api.get("/api/v1/stations/OFF/password-rotation")
    assert r.status_code == 404


@pytest.fixture
def volta_settings() -> dict[str, object]:
    return {"password_rotation_days": 30.0}


async def test_scheduled_rotation_picks_the_stations_due(volta, api):
    """password_rotation_days: connected stations whose password is older than
    the period are rotated; a recent one, one without a password and an
    offline one are not."""
    for station_id in ("DUE", "FRESH", "NOPASS", "GONE"):
        await register(volta, station_id, password=None if station_id == "NOPASS" else PASSWORD)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
    async with volta.db.write() as conn:
        await conn.execute(
            sa.update(StationRow)
            .where(StationRow.id.in_(["DUE", "NOPASS", "GONE"]))
            .values(created_at=old)
        )
    accepted: dict[str, Answer] = {"ChangeConfiguration": {"status": "Accepted"}}
    async with (
        charger(volta, "DUE", accepted) as due,
        charger(volta, "FRESH", accepted) as fresh,
        charger(volta, "NOPASS", accepted, password="") as nopass,
    ):
        assert await passwords.rotate_due(volta.services) == 1
        request = await due.expect("ChangeConfiguration")
        assert request["key"] == "AuthorizationKey"
        for st in (fresh, nopass):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(st.received.get(), 0.3)

        async def settled() -> str:
            r = await api.get("/api/v1/stations/DUE/password-rotation")
            return str(r.json().get("state"))

        for _ in range(100):
            if await settled() == "pending":
                break
            await asyncio.sleep(0.05)
        assert await settled() == "pending"
        # Asked for just now: housekeeping's next run does not ask again.
        assert (await housekeeping.run_once(volta.services))["password_rotations"] == 0


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_cli_rotate_password(volta, tmp_path):
    """`volta stations rotate-password ID` asks the running server's API (only
    it holds the connection); a refusal is a message and exit status 1."""
    await register(volta, "CPCLI", password=PASSWORD)
    api_url = f"http://127.0.0.1:{volta.api_port}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "volta", "stations", "rotate-password", *args],
            env={
                **cli_env(f"sqlite:///{tmp_path}/other.db"),
                "PYTHONPATH": os.pathsep.join(sys.path),
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    answers: dict[str, Answer] = {"ChangeConfiguration": {"status": "Accepted"}}
    async with charger(volta, "CPCLI", answers) as st:
        done = asyncio.create_task(
            asyncio.to_thread(run, "CPCLI", "--api-url", api_url, "--token", API_TOKEN)
        )
        await st.expect("ChangeConfiguration")
        result = await done
    assert result.returncode == 0, result.stderr
    assert "pending" in result.stdout
    refused = await asyncio.to_thread(run, "NOSUCH", "--api-url", api_url, "--token", API_TOKEN)
    assert refused.returncode == 1 and "404" in refused.stderr


async def test_raw_command_with_a_password_is_redacted(volta, api):
    """A password sent through the raw commands route (an operator's own
    ChangeConfiguration AuthorizationKey) reaches the station, but neither the
    stored command, the API's answer nor the frame log holds it."""
    await register(volta, "CPRAW", password=PASSWORD)
    secret = "0123456789ABCDEF0123456789ABCDEF"
    answers: dict[str, Answer] = {"ChangeConfiguration": {"status": "Accepted"}}
    async with charger(volta, "CPRAW", answers) as st:
        sent = asyncio.create_task(
            api.post(
                "/api/v1/stations/CPRAW/commands/ChangeConfiguration",
                json={"key": "AuthorizationKey", "value": secret},
            )
        )
        assert (await st.expect("ChangeConfiguration"))["value"] == secret
        r = await sent
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert secret not in r.text
    stored = (await api.get(f"/api/v1/commands/{r.json()['id']}")).json()
    assert stored["payload"] == {"key": "AuthorizationKey", "value": "********"}
    frames = await logged_frames(volta, "AuthorizationKey")
    assert not any(secret in f for f in frames)


async def test_one_rotation_at_a_time(volta, api):
    """While the station has not answered, a second rotation is refused (409):
    two new passwords in flight could leave the station with one Volta forgot."""
    await register(volta, "CPONE", password=PASSWORD)
    async with connect(volta, "CPONE", V16, PASSWORD) as ws:
        first = asyncio.create_task(api.post("/api/v1/stations/CPONE/password-rotation"))
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        second = await api.post("/api/v1/stations/CPONE/password-rotation")
        assert second.status_code == 409 and "under way" in second.json()["detail"]
        await ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
        assert (await first).json()["state"] == "pending"
    new = bytes.fromhex(frame[3]["value"]).decode()
    assert await status_of(volta, "CPONE", new) == 101


async def test_an_operators_password_wins_over_a_pending_rotation(volta, api):
    """An operator who sets the password (PATCH) while a rotation waits for the
    station voids it: the rotated password no longer opens the door."""
    await register(volta, "CPOP", password=PASSWORD)
    answers: dict[str, Answer] = {"ChangeConfiguration": {"status": "Accepted"}}
    async with charger(volta, "CPOP", answers) as st:
        new, rotation = await rotate(api, st, "CPOP")
        assert rotation["state"] == "pending"
    r = await api.patch("/api/v1/stations/CPOP", json={"password": "operator-chosen-pass-1"})
    assert r.status_code == 200, r.text
    assert await status_of(volta, "CPOP", new) == 401
    assert await status_of(volta, "CPOP", PASSWORD) == 401
    assert await status_of(volta, "CPOP", "operator-chosen-pass-1") == 101
