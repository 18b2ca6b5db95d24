"""`volta users` as an operator runs it, and how `volta serve --demo` lets a
newcomer sign in: an `admin` whose random password is in a 0600 file."""

from __future__ import annotations

import stat
import subprocess

import httpx
import pytest

from tests.test_cli import VOLTA, cli_env
from tests.web.conftest import base_url, sign_in
from volta.app import ADMIN_PASSWORD_FILE, announce_dashboard
from volta.web import users


def listed(url: str) -> dict[str, list[str]]:
    out = run(url, "users", "list").stdout.splitlines()
    assert out[0].split()[:2] == ["USER", "ROLE"]
    return {line.split()[0]: line.split() for line in out[1:]}


def run(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VOLTA, *args],
        env=cli_env(url),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_users_add_list_passwd_remove(tmp_path):
    url = f"sqlite:///{tmp_path}/volta.db"
    added = run(
        url, "users", "add", "ops", "--role", "admin", "--password-stdin", stdin="pw-of-ops-1\n"
    )
    assert added.returncode == 0, added.stderr
    assert "pw-of-ops-1" not in added.stdout + added.stderr
    again = run(url, "users", "add", "ops", "--password-stdin", stdin="another-pass\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    short = run(url, "users", "add", "eve", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 8" in short.stderr
    no_tty = run(url, "users", "add", "eve")
    assert no_tty.returncode == 1 and "--password-stdin" in no_tty.stderr
    assert listed(url)["ops"][:2] == ["ops", "admin"]
    changed = run(url, "users", "passwd", "ops", "--password-stdin", stdin="pw-of-ops-2\n")
    assert changed.returncode == 0, changed.stderr
    assert (
        run(url, "users", "passwd", "nobody", "--password-stdin", stdin="whatever-1\n").returncode
        == 1
    )
    removed = run(url, "users", "remove", "ops")
    assert removed.returncode == 0 and "ops" not in listed(url)
    assert run(url, "users", "remove", "ops").returncode == 1


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_demo_creates_an_admin_with_a_private_password_file(
    volta, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    await announce_dashboard(volta, create_admin=False)
    assert "volta users add" in capsys.readouterr().out
    assert await users.count_users(volta.db) == 0

    await announce_dashboard(volta, create_admin=True)
    printed = capsys.readouterr().out
    secret_file = tmp_path / ADMIN_PASSWORD_FILE
    password = secret_file.read_text().strip()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert str(secret_file) in printed and password not in printed
    async with httpx.AsyncClient(base_url=base_url(volta)) as client:
        assert (await sign_in(client, "admin", password)).status_code == 303
        assert (await client.get("/tokens")).status_code == 200

    # Once a user exists, a restart creates nobody and rewrites nothing.
    secret_file.unlink()
    await announce_dashboard(volta, create_admin=True)
    assert not secret_file.exists()
    assert [u["username"] for u in await users.list_users(volta.db)] == ["admin"]
