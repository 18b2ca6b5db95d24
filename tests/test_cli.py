"""The `volta` command on a real database (a temporary SQLite file, and a
PostgreSQL database of its own).

`volta(...)` runs the command in the test process (`volta.cli.main` with the
environment, stdin, stdout and stderr of a fresh process): what it prints, its
exit status and its effects on the database are the same as a subprocess's,
without an interpreter start and an import of volta per command (about 2 s on
a loaded CI machine, which added up to minutes). The real entry point
(`python -m volta`, a process of its own) stays covered by `volta_subprocess`:
test_entry_point_runs_every_command_family, the `volta serve` tests below, and
the tests that are about the process itself (environment, working directory,
concurrent processes)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
import websockets
from websockets.exceptions import InvalidStatus

from tests.conftest import PG_URL, REQUIRE_PG, _pg_available
from tests.helpers import basic_auth
from volta.cli import main as cli_main

VOLTA = [sys.executable, "-m", "volta"]


def cli_env(database_url: str) -> dict[str, str]:
    """The environment without any VOLTA_* setting of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOLTA_")}
    env["VOLTA_DATABASE_URL"] = database_url
    env["VOLTA_LOG_FORMAT"] = "text"
    return env


def volta_subprocess(
    database_url: str, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m volta ...` as a process of its own: the real entry point."""
    return subprocess.run(
        [*VOLTA, *args],
        env=cli_env(database_url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


_IN_PROCESS = threading.Lock()


@contextlib.contextmanager
def _process_like(env: dict[str, str], stdin: str) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """The test process made to look like a fresh `volta` process for one
    command: only `env`'s VOLTA_* settings (volta.config reads os.environ),
    stdin a pipe holding `stdin` (not a terminal), stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    saved = {k: v for k, v in os.environ.items() if k.startswith("VOLTA_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("VOLTA_")})
    real_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield out, err
    finally:
        sys.stdin = real_stdin
        for key in [k for k in os.environ if k.startswith("VOLTA_")]:
            del os.environ[key]
        os.environ.update(saved)


def run_in_process(
    args: Sequence[str], env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """`volta *args` in this process, as `python -m volta` runs it
    (`raise SystemExit(main())`): its exit status, stdout and stderr. An
    exception main() lets through (a traceback in a subprocess) fails the test
    where it happens. Safe from a worker thread (asyncio.to_thread) while the
    test's event loop serves: main() runs its own event loop. Called from a
    coroutine, it runs in a thread of its own and blocks the caller's loop
    until done, as subprocess.run did."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_here(args, env, stdin)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_run_here, args, env, stdin).result()


def _run_here(
    args: Sequence[str], env: dict[str, str], stdin: str
) -> subprocess.CompletedProcess[str]:
    with _IN_PROCESS, _process_like(env, stdin) as (out, err):
        try:
            code: object = cli_main(list(args))
        except SystemExit as exc:  # argparse: usage errors (2), --help, --version
            code = exc.code
        if code is None:
            code = 0
        elif not isinstance(code, int):  # SystemExit("message"): printed, status 1
            print(code, file=sys.stderr)
            code = 1
    return subprocess.CompletedProcess(["volta", *args], code, out.getvalue(), err.getvalue())


def volta(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`volta *args` on `database_url` (in this process, see the docstring)."""
    return run_in_process(args, cli_env(database_url))


def ok(database_url: str, *args: str) -> str:
    result = volta(database_url, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def rows(listing: str) -> dict[str, list[str]]:
    """A `list` table as {first column: columns}, without the header."""
    lines = listing.strip().splitlines()
    assert lines[0].split()[0] in ("ID", "TOKEN")
    return {line.split()[0]: line.split() for line in lines[1:]}


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/volta.db"
        return
    if not asyncio.run(_pg_available()):
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required but unreachable at {PG_URL}")
        pytest.skip("PostgreSQL not reachable")
    # The CLI has no schema option: it gets a database of its own instead.
    name = "volta_cli_" + uuid.uuid4().hex[:12]
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_in_background(name)


def _drop_in_background(name: str) -> None:
    """DROP DATABASE waits for a checkpoint (seconds, up to 20 on a loaded
    machine, measured): done in a thread while the next tests run; the
    interpreter waits for it at exit (not a daemon)."""

    def drop() -> None:
        try:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception as exc:  # pragma: no cover - said, a leftover database
            print(f"could not drop test database {name}: {exc!r}", file=sys.__stderr__)

    threading.Thread(target=drop, name=f"drop {name}").start()


def test_migrate(database_url):
    first = ok(database_url, "migrate")
    assert first.startswith("database at revision ")
    revision = first.split()[-1]
    assert revision not in ("", "None")
    # Again: nothing to do, same revision.
    assert ok(database_url, "migrate") == first


def test_entry_point_runs_every_command_family(database_url, tmp_path):
    """`python -m volta` in processes of their own, one command of each
    family the other tests run in-process: the entry point, and each
    command's imports in a fresh interpreter (in the test process they are
    already imported). `users` has its own in tests/web/test_users_cli.py."""
    assert ok(database_url, "migrate").startswith("database at revision ")
    commands: list[tuple[list[str], str]] = [
        (["migrate"], "database at revision "),
        (["stations", "add", "CP-E"], "added station CP-E"),
        (["tokens", "add", "TOKEN-E"], "added id token TOKEN-E"),
        (["sites", "add", "grid", "--max-current", "32"], "added site 1 (grid)"),
        (["local-list", "NOPE"], "station NOPE has no local list"),
        (["reservations"], "STATION"),
        (["firmware", "campaigns"], "NAME"),
        (["api-token", "--name", "entry"], ""),
    ]
    for args, words in commands:  # one after the other: eight at once time out on a loaded CI
        result = volta_subprocess(database_url, *args)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        output = result.stdout if result.returncode == 0 else result.stderr
        assert words in output, (args, result.returncode, output)
        assert result.returncode == (1 if args[0] == "local-list" else 0), args


def test_stations_add_list_remove(database_url):
    out = ok(database_url, "stations", "add", "CP1")
    assert "added station CP1" in out
    assert "unauthenticated" in out  # the operator is told there is no password
    out = ok(
        database_url, "stations", "add", "CP2", "--password", "secret-123", "--status", "Pending"
    )
    assert "added station CP2 (password set)" in out
    out = ok(database_url, "stations", "add", "CP3", "--generate-password")
    password = out.split("password: ", 1)[1].strip()
    assert len(password) >= 16

    listed = rows(ok(database_url, "stations", "list"))
    assert sorted(listed) == ["CP1", "CP2", "CP3"]
    assert listed["CP1"][1] == "Accepted"
    assert listed["CP2"][1] == "Pending"
    assert listed["CP1"][2] == "-"  # never connected: no protocol yet

    dup = volta(database_url, "stations", "add", "CP1", "--status", "Rejected")
    assert dup.returncode != 0
    assert "station CP1 already exists" in dup.stderr
    assert "Traceback" not in dup.stderr
    assert rows(ok(database_url, "stations", "list"))["CP1"][1] == "Accepted"

    assert "removed station CP1" in ok(database_url, "stations", "remove", "CP1")
    assert sorted(rows(ok(database_url, "stations", "list"))) == ["CP2", "CP3"]
    gone = volta(database_url, "stations", "remove", "CP1")
    assert gone.returncode == 1
    assert "station CP1 not found" in gone.stderr


def test_stations_add_refuses_what_the_api_refuses(tmp_path):
    url = f"sqlite:///{tmp_path}/volta.db"
    for args, message in [
        (["a/b"], "invalid station: id"),
        (["x" * 49], "invalid station: id"),
        (["CP1", "--password", "short"], "invalid station: --password"),
    ]:
        result = volta(url, "stations", "add", *args)
        assert result.returncode == 1, args
        assert message in result.stderr, args
        assert "Traceback" not in result.stderr
    assert rows(ok(url, "stations", "list")) == {}


def test_stations_add_unknown_status_is_a_usage_error(tmp_path):
    result = volta(f"sqlite:///{tmp_path}/volta.db", "stations", "add", "CP1", "--status", "Maybe")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_tokens_add_list_remove(database_url):
    out = ok(
        database_url,
        "tokens",
        "add",
        "04A1B2C3",
        "--status",
        "Blocked",
        "--expires",
        "2030-06-01T12:00:00+02:00",
        "--group",
        "FLEET",
        "--type",
        "KeyCode",
    )
    assert "added id token 04A1B2C3 (Blocked)" in out
    assert "(Accepted)" in ok(database_url, "tokens", "add", "PLAIN")
    ok(database_url, "tokens", "add", "DAYONLY", "--expires", "2031-01-31")

    listed = rows(ok(database_url, "tokens", "list"))
    assert sorted(listed) == ["04A1B2C3", "DAYONLY", "PLAIN"]
    # Stored in UTC whatever the zone given; a date alone is midnight UTC.
    assert listed["04A1B2C3"] == [
        "04A1B2C3",
        "KeyCode",
        "Blocked",
        "2030-06-01T10:00:00+00:00",
        "FLEET",
    ]
    assert listed["PLAIN"] == ["PLAIN", "ISO14443", "Accepted", "-", "-"]
    assert listed["DAYONLY"][3] == "2031-01-31T00:00:00+00:00"

    dup = volta(database_url, "tokens", "add", "PLAIN", "--status", "Blocked")
    assert dup.returncode == 1
    assert "id token PLAIN already exists" in dup.stderr
    assert rows(ok(database_url, "tokens", "list"))["PLAIN"][2] == "Accepted"

    assert "removed id token PLAIN" in ok(database_url, "tokens", "remove", "PLAIN")
    assert sorted(rows(ok(database_url, "tokens", "list"))) == ["04A1B2C3", "DAYONLY"]
    gone = volta(database_url, "tokens", "remove", "PLAIN")
    assert gone.returncode == 1
    assert "id token PLAIN not found" in gone.stderr


def test_tokens_add_bad_input(tmp_path):
    url = f"sqlite:///{tmp_path}/volta.db"
    for args, message in [
        (["--expires", "next tuesday"], "--expires 'next tuesday' is not an ISO 8601"),
        (["--expires", "2030-13-45"], "--expires '2030-13-45' is not an ISO 8601"),
        (["--type", "Barcode"], "invalid id token: --type"),
        (["--group", "g" * 37], "invalid id token: --group"),
    ]:
        result = volta(url, "tokens", "add", "T1", *args)
        assert result.returncode == 1, args
        assert message in result.stderr, args
        assert "Traceback" not in result.stderr
    assert rows(ok(url, "tokens", "list")) == {}


@pytest.mark.parametrize("command", [["migrate"], ["tokens", "list"], ["serve"]])
def test_unsupported_database_url_exits_2(tmp_path, command):
    # A process of its own: `serve` would otherwise run in the test's working
    # directory, and these three are the entry point's check of a bad setting.
    result = volta_subprocess("mysql://root@127.0.0.1/volta", *command, cwd=tmp_path)
    assert result.returncode == 2
    assert "unsupported database URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_unusable_database_is_a_message_not_a_traceback(tmp_path):
    result = volta(f"sqlite:///{tmp_path}/no/such/dir/volta.db", "migrate")
    assert result.returncode == 1
    assert "database error" in result.stderr
    assert "Traceback" not in result.stderr


def test_database_url_flag_wins_over_environment(tmp_path):
    url = f"sqlite:///{tmp_path}/flag.db"
    result = subprocess.run(
        [*VOLTA, "stations", "add", "CP1", "--database-url", url],
        env=cli_env("mysql://ignored"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "CP1" in rows(ok(url, "stations", "list"))


# -- against a running `volta serve` ---------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(database_url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    """`volta serve` on free loopback ports, up once /healthz answers."""
    ocpp_port, api_port = free_port(), free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [
            *VOLTA,
            "serve",
            "--host",
            "127.0.0.1",
            "--ocpp-port",
            str(ocpp_port),
            "--api-port",
            str(api_port),
        ],
        env=cli_env(database_url),
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "volta serve did not come up within 30 s"
            time.sleep(0.1)
        yield proc, ocpp_port, api_port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        log.close()


def status_with(api_port: int, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = httpx.get(f"http://127.0.0.1:{api_port}/api/v1/stations", headers=headers, timeout=10)
    return resp.status_code


async def _connect(ocpp_port: int, station_id: str, password: str) -> str | None:
    """The negotiated subprotocol, or raise InvalidStatus when refused."""
    async with websockets.connect(
        f"ws://127.0.0.1:{ocpp_port}/{station_id}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=basic_auth(station_id, password),
        open_timeout=5,
    ) as ws:
        return ws.subprotocol


def test_api_token_and_station_against_running_server(database_url, tmp_path):
    made = volta_subprocess(database_url, "api-token", "--name", "ops")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert len(token) >= 20 and "\n" not in token
    out = ok(database_url, "stations", "add", "CP-LIVE", "--generate-password")
    password = out.split("password: ", 1)[1].strip()

    with serving(database_url, tmp_path) as (proc, ocpp_port, api_port):
        assert status_with(api_port, token) == 200
        assert status_with(api_port, None) == 401
        assert status_with(api_port, token + "x") == 401
        body = httpx.get(
            f"http://127.0.0.1:{api_port}/api/v1/stations/CP-LIVE",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert body["has_password"] is True

        # The password the CLI printed is the one the gateway checks.
        assert asyncio.run(_connect(ocpp_port, "CP-LIVE", password)) == "ocpp1.6"
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(_connect(ocpp_port, "CP-LIVE", password + "x"))
        assert refused.value.response.status_code == 401

        # A token made while the server runs works at once; --revoke-others
        # ends the earlier one.
        second = ok(database_url, "api-token", "--revoke-others").strip()
        assert second != token
        assert status_with(api_port, second) == 200
        assert status_with(api_port, token) == 401

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0  # a clean stop on SIGTERM
