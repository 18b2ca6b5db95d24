"""`volta users` as an operator runs it, and how `volta serve --demo` lets a
newcomer sign in: an `admin` whose random password is in a 0600 file."""

from __future__ import annotations

import io
import stat
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.test_cli import VOLTA, cli_env
from tests.web.conftest import base_url, sign_in
from volta.app import ADMIN_PASSWORD_FILE, announce_dashboard
from volta.cli import main
from volta.web import users


def cli(
    url: str, *args: str, stdin: str = "", capsys: Any, monkeypatch: Any
) -> tuple[int, str, str]:
    """`volta ...` in this process (the same `main` the script runs)."""
    monkeypatch.setenv("VOLTA_DATABASE_URL", url)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_users_add_list_passwd_remove(tmp_path, capsys, monkeypatch):
    url = f"sqlite:///{tmp_path}/volta.db"
    # Once as a real process, the way an operator runs it.
    added = subprocess.run(
        [*VOLTA, "users", "add", "ops", "--role", "admin", "--password-stdin"],
        env=cli_env(url),
        input="pw-of-ops-1\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    assert "added dashboard user ops (admin)" in added.stdout
    assert "pw-of-ops-1" not in added.stdout + added.stderr

    def volta(*args: str, stdin: str = "") -> tuple[int, str, str]:
        return cli(url, *args, stdin=stdin, capsys=capsys, monkeypatch=monkeypatch)

    code, _, err = volta("users", "add", "ops", "--password-stdin", stdin="another-pass\n")
    assert code == 1 and "already exists" in err
    code, _, err = volta("users", "add", "eve", "--password-stdin", stdin="short\n")
    assert code == 1 and "at least 8" in err
    code, _, err = volta("users", "add", "eve")  # no terminal to prompt on
    assert code == 1 and "--password-stdin" in err
    code, out, _ = volta("users", "list")
    assert out.splitlines()[0].split()[:2] == ["USER", "ROLE"]
    assert out.splitlines()[1].split()[:2] == ["ops", "admin"]
    code, out, _ = volta("users", "passwd", "ops", "--password-stdin", stdin="pw-of-ops-2\n")
    assert code == 0 and "sessions ended" in out
    code, _, _ = volta("users", "passwd", "nobody", "--password-stdin", stdin="whatever-1\n")
    assert code == 1
    assert volta("users", "remove", "ops")[0] == 0
    assert len(volta("users", "list")[1].splitlines()) == 1
    assert volta("users", "remove", "ops")[0] == 1


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
    # A sign-in hashes the password (PBKDF2): more than httpx's 5 s default
    # on a loaded CI machine.
    async with httpx.AsyncClient(base_url=base_url(volta), timeout=30) as client:
        assert (await sign_in(client, "admin", password)).status_code == 303
        assert (await client.get("/tokens")).status_code == 200

    # Once a user exists, a restart creates nobody and rewrites nothing.
    secret_file.unlink()
    await announce_dashboard(volta, create_admin=True)
    assert not secret_file.exists()
    assert [u["username"] for u in await users.list_users(volta.db)] == ["admin"]
