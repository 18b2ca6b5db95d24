"""Webhook signing secrets are sealed at rest (AES-GCM) with a key that is
not in the database: the raw row holds no secret in clear, signatures still
verify at a real receiver, a restart with the same key works, secrets kept in
clear before are sealed at start, and a wrong or missing key stops Volta
with a clear message instead of signing with garbage."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import stat
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from ocpp.v16 import call as call16

from tests.conftest import TEST_SECRET_KEY, make_settings
from tests.events.receiver import running_receiver
from tests.helpers import register, station, wait_until
from volta.app import Volta
from volta.config import Settings
from volta.events import webhooks
from volta.secretbox import KEY_FILE, SecretKeyError
from volta.store import migrate
from volta.store.db import Database
from volta.store.models import Base, Event, Webhook, WebhookDelivery, utcnow
from volta.web import users

SETTINGS = {
    "webhook_retry_base": 0.2,
    "housekeeping_interval": 0.2,
    "webhook_allow_private_targets": True,
}


@pytest.fixture
def volta_settings():
    return dict(SETTINGS)


async def raw_secrets(volta: Volta) -> list[str]:
    async with volta.db.read() as conn:
        return list((await conn.execute(sa.select(Webhook.secret))).scalars())


async def boot_and_leave(volta: Volta, station_id: str) -> None:
    async with station(volta, station_id) as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))


async def test_secret_sealed_at_rest_and_signatures_verify(volta, api, database, tmp_path):
    await register(volta, "SEC-1")
    async with running_receiver() as receiver:
        resp = await api.post("/api/v1/webhooks", json={"url": receiver.url})
        assert resp.status_code == 201, resp.text
        secret = resp.json()["secret"]
        receiver.secret = secret

        (stored,) = await raw_secrets(volta)
        assert stored.startswith("enc:v1:")
        assert secret not in stored and secret.removeprefix("whsec_") not in stored
        if database.kind == "sqlite":
            # Not anywhere in the database file (nor its write-ahead log).
            for path in tmp_path.glob("volta.db*"):
                assert secret.removeprefix("whsec_").encode() not in path.read_bytes(), path
            key_file = tmp_path / KEY_FILE
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            assert key_file.read_text().strip() not in stored

        await boot_and_leave(volta, "SEC-1")
        assert await wait_until(lambda: len(receiver.accepted) >= 2)
    assert receiver.bad_signatures == 0
    assert [e["type"] for e in receiver.accepted] == ["station.online", "station.offline"]


async def add_clear_row(volta: Volta, url: str, secret: str) -> None:
    """A webhook as a Volta from before sealing stored it: secret in clear."""
    async with volta.db.write() as conn:
        await conn.execute(
            sa.insert(Webhook).values(
                url=url, secret=secret, event_types=["*"], active=True, created_at=utcnow()
            )
        )


async def test_clear_secrets_sealed_at_start_and_restart_keeps_signing(volta, database, tmp_path):
    clear = "whsec_from-before-the-upgrade-0123456789abcdef"
    async with running_receiver(secret=clear) as receiver:
        await add_clear_row(volta, receiver.url, clear)
        await volta.stop()
        for run, station_id in enumerate(["SEC-2", "SEC-3"]):
            # Started twice on the same database and key: sealed the first
            # time, opened (and not sealed again) the second.
            again = Volta(make_settings(database, **SETTINGS), db_schema=database.schema)
            await again.start()
            try:
                (stored,) = await raw_secrets(again)
                assert stored.startswith("enc:v1:") and clear not in stored
                if run == 0:
                    first = stored
                else:
                    assert stored == first
                await register(again, station_id)
                await boot_and_leave(again, station_id)
                assert await wait_until(lambda n=run: len(receiver.accepted) >= 2 * (n + 1), 10)
            finally:
                await again.stop()
        await volta.start()  # the fixture stops it
    assert receiver.bad_signatures == 0
    assert len(receiver.accepted) == 4


def other_key_settings(database, tmp_path: Path) -> dict[str, object]:
    """Settings whose key is not the one the secrets were sealed with."""
    if database.kind == "sqlite":
        return {"secret_key": "another-secret-key-of-32-characters-or-more"}
    return {"secret_key": TEST_SECRET_KEY + "-changed"}


async def test_wrong_or_missing_key_stops_the_start(volta, api, database, tmp_path):
    resp = await api.post("/api/v1/webhooks", json={"url": "https://93.184.216.34/hook"})
    assert resp.status_code == 201, resp.text
    (sealed,) = await raw_secrets(volta)
    await volta.stop()
    try:
        # A wrong key.
        wrong = Volta(
            make_settings(database, **SETTINGS, **other_key_settings(database, tmp_path)),
            db_schema=database.schema,
        )
        with pytest.raises(SecretKeyError, match="does not open a secret stored in the database"):
            await wrong.start()
        await wrong.stop()

        # A missing key file: an error, and no new key made in its place.
        missing = tmp_path / "keys" / KEY_FILE
        if database.kind == "sqlite":
            (tmp_path / KEY_FILE).rename(tmp_path / "kept.key")
            missing = tmp_path / KEY_FILE
            overrides: dict[str, object] = {}
        else:
            overrides = {"secret_key": "", "secret_key_file": str(missing)}
        lost = Volta(make_settings(database, **SETTINGS, **overrides), db_schema=database.schema)
        with pytest.raises(SecretKeyError, match="is missing"):
            await lost.start()
        await lost.stop()
        assert not missing.exists()

        # A key too short to be one.
        short = Volta(
            make_settings(database, **SETTINGS, secret_key="short"), db_schema=database.schema
        )
        with pytest.raises(SecretKeyError, match="too short"):
            await short.start()
        await short.stop()
        if database.kind == "sqlite":
            (tmp_path / "kept.key").rename(tmp_path / KEY_FILE)
    finally:
        await volta.start()  # the right key opens it again
    assert await raw_secrets(volta) == [sealed]


async def test_volta_serve_says_what_is_wrong_with_the_key(tmp_path):
    """`volta serve` with a key that does not open the secrets: a message on
    stderr and exit 2, no traceback, nothing served. (SQLite: the command
    runs on the file.)"""
    url = f"sqlite:///{tmp_path}/volta.db"
    first = Volta(
        Settings(host="127.0.0.1", ocpp_port=0, api_port=0, database_url=url, api_token="x" * 40)
    )
    await first.start()
    try:
        created = await webhooks.create(
            first.db, "https://93.184.216.34/hook", ["*"], None, settings=first.settings
        )
        assert created["secret"].startswith("whsec_")
    finally:
        await first.stop()
    assert (tmp_path / KEY_FILE).exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOLTA_")}
    env.update(
        VOLTA_DATABASE_URL=url,
        VOLTA_SECRET_KEY="a-key-that-is-not-the-one-in-use-0123456789",
        VOLTA_API_TOKEN="x" * 40,
        VOLTA_LOG_FORMAT="text",
    )
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "volta", "serve", "--host", "127.0.0.1"],
        *["--ocpp-port", "0", "--api-port", "0"],
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stderr = err.decode()
    assert proc.returncode == 2, stderr
    assert "does not open a secret stored in the database" in stderr
    assert "VOLTA_SECRET_KEY" in stderr
    assert "Traceback" not in stderr


async def test_no_secret_in_clear_anywhere_in_the_database(database, tmp_path):
    """Every secret Volta keeps, made the way an operator makes it: only
    sealed (webhook signing secrets, which Volta must use) or hashed (what it
    only checks: station and dashboard passwords, API tokens, dashboard
    sessions) in any row of any table, and in the SQLite file."""
    app = Volta(make_settings(database, api_token="", **SETTINGS), db_schema=database.schema)
    await app.start()  # generates the API token (printed once, kept hashed)
    try:
        api_token = app.generated_api_token
        assert api_token
        station_password = "station-password-0123456789"
        await register(app, "SEC-9", password=station_password)
        user_password = "dashboard-password-0123456789"
        await users.add_user(app.db, "alice", user_password, "admin")
        user = await users.authenticate(app.db, "alice", user_password)
        assert user is not None
        cookie = await users.start_session(app.db, user["id"], dt.timedelta(hours=1))
        created = await webhooks.create(
            app.db, "https://93.184.216.34/hook", ["*"], None, settings=app.settings
        )
        clear = {
            "api token": api_token,
            "station password": station_password,
            "dashboard password": user_password,
            "session cookie": cookie,
            "webhook secret": created["secret"].removeprefix("whsec_"),
        }
        everything = []
        async with app.db.read() as conn:
            for table in Base.metadata.sorted_tables:
                rows = (await conn.execute(sa.select(table))).all()
                everything.extend(repr(tuple(r)) for r in rows)
        dump = "\n".join(everything)
        for what, value in clear.items():
            assert value not in dump, what
        if database.kind == "sqlite":
            for path in tmp_path.glob("volta.db*"):
                data = path.read_bytes()
                for what, value in clear.items():
                    assert value.encode() not in data, (what, path)
    finally:
        await app.stop()


async def test_upgrade_from_0007_seals_secrets_and_scrubs_transport_errors(database):
    """A database of the Volta before this one (schema 0007): the secret in
    clear is sealed at the first start, and the delivery log's old transport
    texts (which told open ports from closed ones) are rewritten."""
    clear = "whsec_kept-in-clear-by-0007-0123456789abcdef"
    old = Database(database.url, schema=database.schema)
    try:
        await migrate.upgrade(old, "0007")
        async with old.write() as conn:
            await conn.execute(
                sa.insert(Webhook).values(
                    id=1,
                    url="https://93.184.216.34/hook",
                    secret=clear,
                    event_types=["*"],
                    active=True,
                    created_at=utcnow(),
                )
            )
            for event_id in (1, 2, 3, 4):
                await conn.execute(
                    sa.insert(Event).values(
                        id=event_id, type="station.online", data={}, created_at=utcnow()
                    )
                )
            errors = {
                1: "ConnectError: [Errno 111] Connection refused",
                2: "RemoteProtocolError: Server disconnected without sending a response.",
                3: "ReadTimeout: ",
                4: "HTTP 500",
            }
            for event_id, error in errors.items():
                await conn.execute(
                    sa.insert(WebhookDelivery).values(
                        webhook_id=1,
                        event_id=event_id,
                        status="failed",
                        attempts=1,
                        next_attempt_at=utcnow(),
                        last_error=error,
                        created_at=utcnow(),
                    )
                )
    finally:
        await old.close()

    app = Volta(make_settings(database, **SETTINGS), db_schema=database.schema)
    await app.start()
    try:
        (stored,) = await raw_secrets(app)
        assert stored.startswith("enc:v1:") and clear not in stored
        assert (await webhooks.secret_box(app.db, app.settings)).open(
            stored, webhooks.SECRET_PURPOSE
        ) == clear
        async with app.db.read() as conn:
            log = dict(
                (
                    await conn.execute(
                        sa.select(WebhookDelivery.event_id, WebhookDelivery.last_error)
                    )
                ).all()
            )
        # Every delivery kept (a SQLite table copy would have cascaded them away).
        assert log == {1: "connection failed", 2: "connection failed", 3: "timeout", 4: "HTTP 500"}
        if database.kind == "sqlite":
            async with app.db.read() as conn:
                check = (await conn.exec_driver_sql("PRAGMA integrity_check")).scalar()
            assert check == "ok"
    finally:
        await app.stop()
