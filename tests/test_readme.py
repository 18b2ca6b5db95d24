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
import json
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
        assert await wait_until(lambda: "CP-001" not in volta.router.online(), 15)
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


async def test_readme_simulate_example_charges_on_every_connector_and_ends_its_sessions(
    tmp_path: Path,
) -> None:
    """The README's `volta simulate` block, run by bash as written against a
    real Volta on SQLite (the `volta` CLI behind `.venv/bin/volta`), with only
    the port changed and a short --duration plus a scenario file that brings
    drivers at once (the README's run takes two minutes). All four connectors
    charge at the same time, and when the run ends no session is left
    Active: every one ended with reason Local (1.6 StopTransaction, 2.0.1
    TransactionEvent Ended)."""
    from tests.conftest import API_TOKEN, make_settings

    database = DatabaseTarget(f"sqlite:///{tmp_path}/volta.db", None)
    app = Volta(make_settings(database))
    await app.start()
    try:
        block = block_containing("sh", "volta simulate")
        assert "--duration 120" in block and "ws://127.0.0.1:9000" in block
        (tmp_path / "fast.toml").write_text(
            "[simulate]\nidle_seconds = [0.1, 0.3]\nsession_seconds = [600, 600]\n"
        )
        script = block.replace("ws://127.0.0.1:9000", f"ws://127.0.0.1:{app.ocpp_port}").replace(
            "--duration 120", "--duration 12 --scenario fast.toml"
        )
        shim = tmp_path / ".venv" / "bin" / "volta"
        shim.parent.mkdir(parents=True)
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m volta "$@"\n')
        shim.chmod(0o755)
        env = {**os.environ, "VOLTA_DATABASE_URL": database.url}
        proc = await asyncio.create_subprocess_exec(
            "bash",
            "-euc",
            script,
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{app.api_port}",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=15,
        ) as api:

            async def active() -> list[dict[str, object]]:
                resp = await api.get("/api/v1/transactions", params={"active": "true"})
                assert resp.status_code == 200, resp.text
                return list(resp.json())

            try:
                most = 0
                for _ in range(600):  # bounded: 60 s (the CLI starts seven times)
                    most = max(most, len(await active()))
                    if most == 4 or proc.returncode is not None:
                        break
                    await asyncio.sleep(0.1)
                assert most == 4, "not every connector charged at once"
                out, err = await asyncio.wait_for(proc.communicate(), 60)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            assert proc.returncode == 0, err.decode()
            assert "Traceback" not in err.decode()
            assert await active() == []
            resp = await api.get("/api/v1/transactions", params={"limit": 100})
            txs = resp.json()
            assert len(txs) >= 4
            for listed in txs:
                tx = (await api.get(f"/api/v1/transactions/{listed['id']}")).json()
                assert tx["status"] == "Ended" and tx["stop_reason"] == "Local", tx
            assert "0 charging, 4 sessions done" in out.decode()
    finally:
        await app.stop()


def curl_calls() -> list[tuple[str, str, object]]:
    """(method, path, JSON body or None) of every curl line in README.md."""
    calls = []
    for block in code_blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if not words or words[0] != "curl":
                continue
            method, body, path = "GET", None, ""
            for i, word in enumerate(words):
                if word == "-X":
                    method = words[i + 1]
                elif word == "-d":
                    body = json.loads(words[i + 1])
                elif word.startswith("localhost:8000/"):
                    path = word.removeprefix("localhost:8000")
            assert path, line
            calls.append((method, path, body))
    return calls


async def test_readme_curl_examples_name_real_routes_with_valid_bodies(
    api: httpx.AsyncClient,
) -> None:
    """Every curl example calls a route the API has, with that method, and a
    JSON body its schema accepts (its required fields, no unknown ones)."""
    spec = (await api.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    calls = curl_calls()
    assert len(calls) >= 10
    checked = 0
    for method, url, body in calls:
        path = url.split("?", 1)[0]
        matches = [
            (template, ops)
            for template, ops in spec["paths"].items()
            if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), path)
        ]
        assert matches, f"README: {method} {path} is no route"
        # The most literal template wins (/stations/{id}/local-list over {action}).
        template, ops = max(matches, key=lambda m: len(re.sub(r"\{[^/]+\}", "", m[0])))
        assert method.lower() in ops, f"README: {method} {template} is not allowed"
        request = ops[method.lower()].get("requestBody")
        if body is None or request is None:
            continue
        schema = request["content"]["application/json"]["schema"]
        ref = schema.get("$ref") or next(
            (s["$ref"] for s in schema.get("anyOf", []) if "$ref" in s), None
        )
        if ref is None:
            continue
        model = schemas[ref.rsplit("/", 1)[1]]
        assert isinstance(body, dict)
        checked += 1
        missing = set(model.get("required", [])) - set(body)
        assert not missing, f"README: {method} {template} lacks {missing}"
        if model.get("additionalProperties") is False:
            unknown = set(body) - set(model.get("properties", {}))
            assert not unknown, f"README: {method} {template}: unknown {unknown}"
    assert checked >= 5, checked
