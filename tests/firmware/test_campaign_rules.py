"""Campaign rules with real simulated stations: the time window, pause and
cancel, retries, stations offline at their turn, a restart mid-campaign, and
what the API refuses."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest

from tests.conftest import api_client, make_settings
from tests.firmware.conftest import fleet_scenario, running, store_image
from tests.helpers import register, wait_until
from volta.app import Volta

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


async def campaign_of(api: httpx.AsyncClient, cid: int) -> dict[str, Any]:
    resp = await api.get(f"/api/v1/firmware-campaigns/{cid}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def create(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    resp = await api.post("/api/v1/firmware-campaigns", json={"name": "c", **body})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def updates(api: httpx.AsyncClient, cid: int) -> list[dict[str, Any]]:
    resp = await api.get("/api/v1/firmware-updates", params={"campaign_id": cid})
    return list(resp.json())


def closed_window() -> dict[str, str]:
    """A one-minute window two hours from now (UTC)."""
    start = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    end = start + dt.timedelta(minutes=1)
    return {"window_start": f"{start:%H:%M}", "window_end": f"{end:%H:%M}", "timezone": "UTC"}


async def test_outside_its_window_or_paused_a_campaign_starts_nothing(volta, api):
    image = await store_image(volta, "fw-2.0.0.bin")
    sc = fleet_scenario(volta, stations=2, protocol="2.0.1", id_prefix="WIN-")
    async with running(volta, sc):
        c = await create(api, file_id=image["id"], target={"model": "Simulator"}, **closed_window())
        assert not await wait_until(lambda: updates(api, c["id"]), 1.0)
        assert (await campaign_of(api, c["id"]))["progress"]["pending"] == 2
        # A new campaign, always open, paused at once: nothing either; resumed: done.
        c2 = await create(api, file_id=image["id"], target={"model": "Simulator"}, canary=0)
        paused = (await api.post(f"/api/v1/firmware-campaigns/{c2['id']}/pause")).json()
        assert paused["state"] == "paused"
        # (The creation's tick may have started a wave before the pause: its
        # updates may still be being recorded; count once they settle.)
        before = await _settled_count(api, c2["id"])
        assert not await wait_until(lambda: _count_above(api, c2["id"], before), 0.8)
        assert (await api.post(f"/api/v1/firmware-campaigns/{c2['id']}/resume")).status_code == 200

        async def finished() -> bool:
            return (await campaign_of(api, c2["id"]))["state"] == "finished"

        assert await wait_until(finished, 20)
        assert (await campaign_of(api, c2["id"]))["progress"]["installed"] == 2
        # The first campaign's window is still closed; cancel it.
        canceled = await api.post(f"/api/v1/firmware-campaigns/{c['id']}/cancel")
        assert canceled.json()["state"] == "canceled"
        again = await api.post(f"/api/v1/firmware-campaigns/{c['id']}/resume")
        assert again.status_code == 409 and "canceled" in again.json()["detail"]


async def _settled_count(api: httpx.AsyncClient, cid: int) -> int:
    """The campaign's updates once two counts 0.5 s apart agree (at most 10 s)."""
    count = len(await updates(api, cid))
    for _ in range(20):
        await asyncio.sleep(0.5)
        now = len(await updates(api, cid))
        if now == count:
            break
        count = now
    return count


async def _count_above(api: httpx.AsyncClient, cid: int, count: int) -> bool:
    return len(await updates(api, cid)) > count


@sqlite_only
async def test_a_failing_station_is_tried_attempts_times(volta, api):
    image = await store_image(volta, "fw-2.1.0.bin")
    sc = fleet_scenario(
        volta, stations=1, protocol="1.6", id_prefix="RTY-", firmware_failing=("RTY-001",)
    )
    async with running(volta, sc):
        c = await create(
            api,
            file_id=image["id"],
            target={"station_ids": ["RTY-001"]},
            attempts=3,
            failure_threshold=1.0,
        )

        async def finished() -> bool:
            return (await campaign_of(api, c["id"]))["state"] == "finished"

        assert await wait_until(finished, 30)
        done = await campaign_of(api, c["id"])
        assert done["progress"]["failed"] == 1
        (station,) = done["stations"]
        assert (station["tries"], station["state"]) == (3, "failed")
        tried = await updates(api, c["id"])
        assert [u["status"] for u in tried] == ["InstallationFailed"] * 3


@sqlite_only
async def test_an_offline_station_is_skipped_then_updated_when_back_even_after_a_restart(
    database, tmp_path
):
    """State lives in the database: a campaign made before a restart goes on
    in the new process, and the station offline at its turn gets it once back."""
    settings = make_settings(database, housekeeping_interval=0.2, files_dir=str(tmp_path / "files"))
    first = Volta(settings)
    await first.start()
    try:
        image = await store_image(first, "fw-6.0.0.bin")
        await register(first, "OFF-001", password="fw-station-secret")
        async with api_client(first) as api:
            c = await create(api, file_id=image["id"], target={"station_ids": ["OFF-001"]})

            async def skipped() -> bool:
                return (await campaign_of(api, c["id"]))["progress"]["skipped_offline"] == 1

            assert await wait_until(skipped, 10)
            assert (await campaign_of(api, c["id"]))["state"] == "running"
    finally:
        await first.stop()
    second = Volta(settings)
    await second.start()
    try:
        sc = fleet_scenario(second, stations=1, protocol="2.0.1", id_prefix="OFF-")
        async with running(second, sc), api_client(second) as api:

            async def finished() -> bool:
                return (await campaign_of(api, c["id"]))["state"] == "finished"

            assert await wait_until(finished, 20)
            done = await campaign_of(api, c["id"])
            assert done["progress"]["installed"] == 1
            assert done["stations"][0]["state"] == "installed"
    finally:
        await second.stop()


@sqlite_only
async def test_bad_campaigns_are_refused_and_store_nothing(volta, api):
    await register(volta, "BAD-1")
    image = await store_image(volta, "fw-1.0.0.bin")
    good = {"name": "x", "file_id": image["id"], "target": {"station_ids": ["BAD-1"]}}
    for change, code, words in [
        ({"file_id": None}, 422, "file_id or location"),
        ({"location": "http://a/fw.bin"}, 422, "file_id or location"),
        ({"file_id": "nope"}, 422, "not found"),
        ({"target": {"vendor": "Nobody"}}, 422, "no station matches"),
        ({"window_start": "25:00", "window_end": "02:00"}, 422, "HH:MM"),
        ({"window_start": "01:00"}, 422, "both"),
        ({"timezone": "Mars/Olympus"}, 422, "time zone"),
        ({"failure_threshold": 2}, 422, ""),
        ({"max_in_progress": 0}, 422, ""),
        ({"target": {"station_ids": ["x" * 49]}}, 422, ""),
        ({"name": ""}, 422, ""),
    ]:
        resp = await api.post("/api/v1/firmware-campaigns", json={**good, **change})
        assert resp.status_code == code, (change, resp.text)
        assert words in str(resp.json()["detail"])
    assert (await api.get("/api/v1/firmware-campaigns")).json() == []
    assert (await api.get("/api/v1/firmware-campaigns/1")).status_code == 404
    assert (await api.post("/api/v1/firmware-campaigns/1/pause")).status_code == 404
    assert (await api.post("/api/v1/firmware-campaigns/1/explode")).status_code == 422
