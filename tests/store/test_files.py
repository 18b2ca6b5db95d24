"""The database's files: a database deleted under a running server is
detected and no write is acknowledged into the void; a missing database is
not silently replaced by an empty one; the admin password file is never
overwritten; concurrent first use waits for one migration; every file is
created readable by its owner only (0600)."""

from __future__ import annotations

import os
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_TOKEN, DatabaseTarget, make_settings
from tests.helpers import RawStation, connect, now_iso, register, wait_until
from tests.test_cli import VOLTA, cli_env, database_url, ok, volta  # noqa: F401
from volta.app import ADMIN_PASSWORD_FILE, Volta, announce_dashboard
from volta.store.db import DatabaseMissing
from volta.web import users


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


@pytest.fixture
def sqlite(tmp_path: Path) -> DatabaseTarget:
    return DatabaseTarget(f"sqlite:///{tmp_path}/volta.db", None)


async def test_database_deleted_while_serving_refuses_writes(sqlite, tmp_path, caplog):
    settings = make_settings(sqlite, housekeeping_interval=0.1)
    app = Volta(settings)
    await app.start()
    try:
        await register(app, "GONE-1")
        async with (
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{app.api_port}",
                headers={"Authorization": f"Bearer {API_TOKEN}"},
            ) as api,
            connect(app, "GONE-1") as ws,
        ):
            station = RawStation(ws)
            boot = {"chargePointVendor": "Acme", "chargePointModel": "X"}
            assert (await station.call("BootNotification", boot))[2]["status"] == "Accepted"
            assert (await api.get("/healthz")).status_code == 200

            (tmp_path / "volta.db").unlink()  # an operator's `rm volta.db`

            # Housekeeping notices by itself, and logs it.
            assert await wait_until(lambda: app.db.health.lost is not None)
            assert "deleted or replaced" in caplog.text
            health = await api.get("/healthz")
            assert health.status_code == 503
            assert health.json()["database"] == "missing"
            # Nothing is acknowledged into the deleted file: the station keeps
            # its message (InternalError), the API client is told 503.
            start = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": now_iso()}
            answer = await station.call("StartTransaction", start)
            assert answer[0] == 4 and answer[2] == "InternalError"
            assert (await api.post("/api/v1/stations", json={"id": "GONE-2"})).status_code == 503
            assert await station.no_message(0.3)  # still connected
    finally:
        await app.stop()
    # And no start on what is left: the lock file says a database was here.
    with pytest.raises(DatabaseMissing, match="missing"):
        await Volta(settings).start()
    assert not (tmp_path / "volta.db").exists()


def test_cli_refuses_a_missing_database_and_never_makes_an_empty_one(tmp_path):
    url = f"sqlite:///{tmp_path}/volta.db"
    first = volta(url, "stations", "add", "CP-1")
    assert first.returncode == 0, first.stderr
    assert "created a new empty database" in first.stderr  # first use: said, not silent
    assert "created" not in volta(url, "stations", "list").stderr
    (tmp_path / "volta.db").unlink()
    for command in (("stations", "list"), ("stations", "add", "CP-2"), ("migrate",)):
        result = volta(url, *command)
        assert result.returncode == 1, result
        assert "missing" in result.stderr and "volta.db.lock" in result.stderr
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "volta.db").exists()
    # Starting afresh is a decision: remove the lock file.
    (tmp_path / "volta.db.lock").unlink()
    assert volta(url, "stations", "list").returncode == 0


def test_an_empty_lock_file_is_a_first_start_not_a_lost_database(tmp_path):
    """A first start that died before creating the database (or one still
    creating it, under the lock) leaves an empty lock file: that is no sign
    of a lost database. Only a lock file written after creation is."""
    url = f"sqlite:///{tmp_path}/volta.db"
    (tmp_path / "volta.db.lock").touch()
    first = volta(url, "stations", "add", "CP-1")
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "volta.db.lock").stat().st_size > 0


async def test_serve_refuses_when_the_admin_password_file_outlived_the_database(
    sqlite, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ADMIN_PASSWORD_FILE).write_text("old-password\n")
    app = Volta(make_settings(sqlite))
    with pytest.raises(DatabaseMissing, match=ADMIN_PASSWORD_FILE):
        await app.start()
    assert not (tmp_path / "volta.db").exists()
    await app.db.close()


async def test_admin_password_file_is_never_overwritten(sqlite, tmp_path, monkeypatch, capsys):
    app = Volta(make_settings(sqlite))
    await app.start()
    try:
        monkeypatch.chdir(tmp_path)
        secret = tmp_path / ADMIN_PASSWORD_FILE
        secret.write_text("password-of-another-database\n")
        await announce_dashboard(app, create_admin=True)
        assert secret.read_text() == "password-of-another-database\n"
        assert "kept" in capsys.readouterr().out
        assert await users.count_users(app.db) == 0  # no admin whose password nobody has
        secret.unlink()
        await announce_dashboard(app, create_admin=True)
        assert private(secret) and await users.count_users(app.db) == 1
    finally:
        await app.stop()


async def test_database_files_are_private(sqlite, tmp_path):
    old = os.umask(0o022)  # a usual umask: files would be 0644
    try:
        app = Volta(make_settings(sqlite))
        await app.start()
        try:
            await register(app, "CP-1")
            files = [tmp_path / n for n in ("volta.db", "volta.db-wal", "volta.db-shm")]
            files.append(tmp_path / "volta.db.lock")
            for path in files:
                assert path.exists(), path
                assert private(path), (path, oct(path.stat().st_mode))
        finally:
            await app.stop()
        # The CLI's first use too.
        other = tmp_path / "cli"
        other.mkdir()
        ok(f"sqlite:///{other}/v.db", "stations", "add", "CP-2")
        for path in other.iterdir():
            assert private(path), (path, oct(path.stat().st_mode))
    finally:
        os.umask(old)


def test_concurrent_first_use_waits_for_one_migration(database_url):  # noqa: F811
    """Eight `volta stations add` at once on a fresh database: all succeed."""
    env = cli_env(database_url)

    def add(i: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*VOLTA, "stations", "add", f"CP-{i}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(add, range(8)))
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "locked" not in result.stderr
    listing = ok(database_url, "stations", "list")
    assert {f"CP-{i}" for i in range(8)} <= set(listing.split())


async def test_healthz_probes_when_idle(sqlite, monkeypatch):
    """With writes failing and none tried since, /healthz tries a tiny write
    itself: once the disk is back it reports 200 without any station's help."""
    from volta.api import app as api_app

    monkeypatch.setattr(api_app, "HEALTH_PROBE_AFTER", 0.0)
    app = Volta(make_settings(sqlite))
    await app.start()
    try:
        app.db.health.failed(OSError("disk full"))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.api_port}") as client:
            resp = await client.get("/healthz")
        assert resp.status_code == 200, resp.text
        assert not app.db.health.failing
    finally:
        await app.stop()
