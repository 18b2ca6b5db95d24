"""`volta firmware`: campaigns listed and shown from the database, created
and steered through the running server's API."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import API_TOKEN
from tests.firmware.conftest import store_image
from tests.helpers import register
from tests.test_cli import volta as run_volta

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


async def cli(volta, *args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(run_volta, volta.settings.database_url, "firmware", *args)
    return result.returncode, result.stdout, result.stderr


async def test_create_list_show_pause_and_cancel_a_campaign(volta):
    await register(volta, "CLI-1")
    await register(volta, "CLI-2")
    image = await store_image(volta, "fw-3.3.0.bin")
    api = ("--api-url", f"http://127.0.0.1:{volta.api_port}", "--token", API_TOKEN)
    code, out, err = await cli(
        volta,
        "campaign-create",
        *api,
        "--name",
        "night rollout",
        "--file-id",
        image["id"],
        "--station",
        "CLI-1",
        "--station",
        "CLI-2",
        "--window",
        "01:00-05:00",
        "--timezone",
        "Europe/Berlin",
    )
    assert code == 0, err
    assert "campaign 1 running: 2 stations, version 3.3.0" in out
    code, out, err = await cli(volta, "campaigns")
    assert code == 0, err
    assert "night rollout" in out and "0/2 installed" in out
    code, out, err = await cli(volta, "campaign-show", "1")
    assert code == 0, err
    assert "CLI-1" in out and "canary" in out and "CLI-2" in out
    code, out, err = await cli(volta, "pause", "1", *api)
    assert (code, out.split(":")[0]) == (0, "campaign 1 paused")
    code, out, err = await cli(volta, "pause", "1", *api)
    assert code == 1 and "409: cannot pause a paused campaign" in err
    code, out, err = await cli(volta, "cancel", "1", *api)
    assert code == 0 and "canceled" in out
    code, out, err = await cli(volta, "campaign-show", "9")
    assert code == 1 and "campaign 9 not found" in err
    code, out, err = await cli(
        volta,
        "campaign-create",
        *api,
        "--name",
        "x",
        "--location",
        "http://a/fw-1.bin",
        "--vendor",
        "Nobody",
    )
    assert code == 1 and "no station matches the target" in err
