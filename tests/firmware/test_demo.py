"""`make run` (volta serve --demo 3) can show a firmware update at once: the
demo stores a firmware image, and a demo station installs it through the
API and boots with its version."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import wait_until
from volta.app import DEMO_FIRMWARE, run_demo


async def test_the_demo_offers_an_image_a_demo_station_installs(volta, api) -> None:
    stop = asyncio.Event()
    demo = asyncio.create_task(run_demo(volta, 3, stop))
    try:

        async def image() -> dict[str, Any] | None:
            listed = (await api.get("/api/v1/files", params={"kind": "firmware"})).json()
            return next((f for f in listed if f["name"] == DEMO_FIRMWARE), None)

        assert await wait_until(image, 15)
        found = await image()
        assert found is not None

        async def online() -> bool:
            return bool((await api.get("/api/v1/stations/DEMO-002")).json()["online"])

        assert await wait_until(online, 15)
        sent = await api.post(
            "/api/v1/stations/DEMO-002/firmware-updates", json={"file_id": found["id"]}
        )
        assert sent.status_code == 201, sent.text
        update_id = sent.json()["id"]

        async def installed() -> bool:
            update = (await api.get(f"/api/v1/firmware-updates/{update_id}")).json()
            return bool(update["state"] == "installed")

        assert await wait_until(installed, 30)

        async def rebooted() -> bool:
            # The station reboots after installing and tells its new version.
            station = (await api.get("/api/v1/stations/DEMO-002")).json()
            return bool(station["firmware_version"] == "2.0.0")

        assert await wait_until(rebooted, 30)
    finally:
        stop.set()
        await asyncio.wait_for(demo, 20)
