"""README.md's examples, run as written against a real Volta.

Issue 12: the charger example (PyPI `ocpp` library) ended with "Task
exception was never retrieved" and disconnected before the README's next
step, a remote start from the API. Here the code block is taken from
README.md as it stands, only the port changed, and run in its own Python
process; the shell commands that register the station and the cards run
through the real `volta` CLI on the server's own database (SQLite; on
PostgreSQL the test registers them through the service, as the CLI would).
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import DatabaseTarget
from tests.helpers import add_token, register, wait_until
from volta.app import Volta

README = Path(__file__).resolve().parent.parent / "README.md"


def code_blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def block_containing(language: str, needle: str) -> str:
    blocks = [b for b in code_blocks(language) if needle in b]
    assert len(blocks) == 1, f"README.md has {len(blocks)} {language} blocks with {needle!r}"
    return blocks[0]


def volta_commands(block: str) -> list[list[str]]:
    """The `.venv/bin/volta ...` lines of a shell block, as argument lists
    (comments dropped, continuation lines joined)."""
    joined = block.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == ".venv/bin/volta":
            commands.append(words[1:])
    return commands


async def run_cli(args: list[str], database: DatabaseTarget) -> tuple[int, str]:
    env = {**os.environ, "VOLTA_DATABASE_URL": database.url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "volta",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_readme_charger_example_stays_connected_for_a_remote_start_and_exits_cleanly(
    volta: Volta, api: httpx.AsyncClient, database: DatabaseTarget
) -> None:
    registration = block_containing("sh", "volta stations add CP-001")
    commands = volta_commands(registration)
    assert commands[0][:3] == ["stations", "add", "CP-001"]
    if database.kind == "sqlite":
        for args in commands:
            code, out = await run_cli(args, database)
            assert code == 0, (args, out)
    else:  # the CLI has no schema option: the same registrations, through the service
        await register(volta, "CP-001", password="s3cret-station-pass")
        await add_token(volta, "04A1B2C3D4")

    example = block_containing("python", "ChargePoint")
    assert "ws://127.0.0.1:9000/CP-001" in example
    example = example.replace("ws://127.0.0.1:9000", f"ws://127.0.0.1:{volta.ocpp_port}")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        example,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        printed: list[str] = []
        async with asyncio.timeout(20):
            while not printed or "connected; Ctrl-C to stop" not in printed[-1]:
                line = await proc.stdout.readline()
                assert line, f"the example ended early: {printed} {await proc.stderr.read()!r}"
                printed.append(line.decode())
        # BootNotification accepted, the card accepted (1.6 idTagInfo).
        assert "status='Accepted'" in printed[0], printed
        assert "'status': 'Accepted'" in printed[1], printed

        # The README's next step: a remote start from the API reaches the charger.
        response = await api.post(
            "/api/v1/stations/CP-001/commands/RemoteStartTransaction",
            json={"connectorId": 1, "idTag": "04A1B2C3D4"},
        )
        assert response.status_code < 300, response.text
        command = response.json()
        assert command["status"] == "accepted", command
        assert command["response"] == {"status": "Accepted"}
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert line.decode().strip() == "remote start for 04A1B2C3D4"

        # Ctrl-C: the example leaves without a traceback.
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 15)
        err = (await proc.stderr.read()).decode()
        assert code == 0, err
        assert "Task exception was never retrieved" not in err
        assert "Traceback" not in err, err
        assert await wait_until(lambda: "CP-001" not in volta.router.online(), 5)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize("transport", ["websockets"])
async def test_readme_charger_example_exits_cleanly_when_volta_goes_away(
    database: DatabaseTarget, transport: str
) -> None:
    """When the CSMS closes the connection the example ends, also without an
    unretrieved task exception."""
    from tests.conftest import make_settings

    app = Volta(make_settings(database, transport=transport), db_schema=database.schema)
    await app.start()
    stopped = False
    try:
        await register(app, "CP-001", password="s3cret-station-pass")
        await add_token(app, "04A1B2C3D4")
        example = block_containing("python", "ChargePoint").replace(
            "ws://127.0.0.1:9000", f"ws://127.0.0.1:{app.ocpp_port}"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            example,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        try:
            async with asyncio.timeout(20):
                while True:
                    line = await proc.stdout.readline()
                    assert line, f"the example ended early: {await proc.stderr.read()!r}"
                    if b"connected; Ctrl-C" in line:
                        break
            await app.stop()
            stopped = True
            code = await asyncio.wait_for(proc.wait(), 15)
            err = (await proc.stderr.read()).decode()
            assert code == 0, err
            assert "Task exception was never retrieved" not in err
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    finally:
        if not stopped:
            await app.stop()
