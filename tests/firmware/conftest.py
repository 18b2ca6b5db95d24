"""Firmware tests: a fast tick, stored images, simulated fleets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.helpers import register, wait_until
from volta.app import Volta
from volta.blocks.files import service as files
from volta.blocks.provisioning import service as provisioning
from volta.simulator.fleet import build_fleet, run_fleet
from volta.simulator.scenario import Scenario
from volta.simulator.station import SimulatedStation

PASSWORD = "fw-station-secret"


@pytest.fixture
def volta_settings(tmp_path) -> dict[str, object]:
    # The campaign tick runs with housekeeping: fast, so waves follow quickly.
    # Images in the test's directory (PostgreSQL runs would use the cwd).
    return {"housekeeping_interval": 0.2, "files_dir": str(tmp_path / "files")}


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def store_image(volta: Volta, name: str, **extra: Any) -> dict[str, Any]:
    image = f"image {name} ".encode() * 2000
    return await files.store(volta.services, _chunks(image), kind="firmware", name=name, **extra)


def fleet_scenario(volta: Volta, **overrides: Any) -> Scenario:
    """Stations no driver comes to: only firmware happens."""
    values: dict[str, Any] = {
        "url": f"ws://127.0.0.1:{volta.ocpp_port}",
        "stations": 1,
        "connectors": 1,
        "password": PASSWORD,
        "id_tokens": [],
        "seed": 3,
        "reconnect_min": 0.05,
        "reconnect_max": 0.5,
        "heartbeat_interval": 300,
    }
    values.update(overrides)
    return Scenario(**values)


@contextlib.asynccontextmanager
async def running(volta: Volta, sc: Scenario) -> AsyncIterator[list[SimulatedStation]]:
    for station_id in sc.station_ids():
        if await provisioning.find_station(volta.db, station_id) is None:
            await register(volta, station_id, password=PASSWORD)
    stations = build_fleet(sc)
    stop = asyncio.Event()
    fleet = asyncio.create_task(run_fleet(stations, stop))
    try:
        assert await wait_until(lambda: all(s.accepted.is_set() for s in stations), 20)
        yield stations
    finally:
        stop.set()
        await asyncio.wait_for(fleet, 15)


async def update_of(api: httpx.AsyncClient, update_id: int) -> dict[str, Any]:
    resp = await api.get(f"/api/v1/firmware-updates/{update_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def station_version(api: httpx.AsyncClient, station_id: str) -> str | None:
    resp = await api.get(f"/api/v1/stations/{station_id}")
    assert resp.status_code == 200, resp.text
    return resp.json().get("firmware_version")
