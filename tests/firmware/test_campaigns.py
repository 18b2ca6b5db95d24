"""Firmware campaigns end to end: real simulated stations over WebSockets,
real HTTP downloads of the stored image, the leader's tick rolling out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests.firmware.conftest import fleet_scenario, running, store_image
from tests.helpers import wait_until

FAILING = "FW-004"


async def campaign_of(api: httpx.AsyncClient, campaign_id: int) -> dict[str, Any]:
    resp = await api.get(f"/api/v1/firmware-campaigns/{campaign_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def most_at_once(updates: list[dict[str, Any]]) -> int:
    """The most updates under way at one time (asked .. final status)."""
    edges = sorted(
        [(_at(u["created_at"]), 1) for u in updates]
        + [(_at(u["finished_at"]), -1) for u in updates if u["finished_at"]]
    )
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


async def test_a_campaign_of_20_rolls_out_in_waves_and_halts_at_the_failure_rate(volta, api):
    """The issue's done-when: 20 simulated stations (1.6 and 2.0.1), one
    failing; canary 2, then waves of at most 4, halted above 10 % failed; the
    operator resumes it and it finishes."""
    image = await store_image(volta, "charger-fw-7.1.0.bin")
    sc = fleet_scenario(
        volta, stations=20, protocol="mixed", id_prefix="FW-", firmware_failing=(FAILING,)
    )
    async with running(volta, sc) as stations:
        assert len(stations) == 20
        resp = await api.post(
            "/api/v1/firmware-campaigns",
            json={
                "name": "7.1.0 rollout",
                "file_id": image["id"],
                "target": {"vendor": "Volta", "model": "Simulator"},
                "canary": 2,
                "max_in_progress": 4,
                "failure_threshold": 0.1,
            },
        )
        assert resp.status_code == 201, resp.text
        campaign = resp.json()
        assert (campaign["version"], campaign["progress"]["total"]) == ("7.1.0", 20)
        cid = campaign["id"]

        async def state_is(state: str) -> bool:
            return (await campaign_of(api, cid))["state"] == state

        assert await wait_until(lambda: state_is("halted"), 40)
        halted = await campaign_of(api, cid)
        progress = halted["progress"]
        assert progress["failed"] == 1 and progress["installed"] >= 2
        assert progress["pending"] > 0, "halted before the whole fleet was tried"
        by_station = {s["station_id"]: s for s in halted["stations"]}
        assert by_station[FAILING]["state"] == "failed"
        assert by_station[FAILING]["update_status"] == "InstallationFailed"
        assert "1 of" in halted["detail"]

        updates = (
            await api.get("/api/v1/firmware-updates", params={"campaign_id": cid, "limit": 100})
        ).json()
        canary = [u for u in updates if by_station[u["station_id"]]["canary"]]
        rest = [u for u in updates if not by_station[u["station_id"]]["canary"]]
        assert sorted(u["station_id"] for u in canary) == ["FW-001", "FW-002"]
        # The canary finished before any other station was asked.
        assert max(_at(u["finished_at"]) for u in canary) <= min(_at(u["created_at"]) for u in rest)
        # Never more than max_in_progress at once.
        assert most_at_once(updates) <= 4
        halted_events = (
            await api.get("/api/v1/events", params={"type": "firmware_campaign.halted"})
        ).json()
        assert [e["data"]["campaign_id"] for e in halted_events] == [cid]

        # Nothing new starts while halted.
        started = len(updates)
        assert not await wait_until(lambda: _more_updates(api, cid, started), 1.0)

        # The operator accepts that failure and resumes: the rest roll out.
        resp = await api.post(f"/api/v1/firmware-campaigns/{cid}/resume")
        assert resp.status_code == 200 and resp.json()["state"] == "running"
        assert await wait_until(lambda: state_is("finished"), 60)
        done = await campaign_of(api, cid)
        assert (done["progress"]["installed"], done["progress"]["failed"]) == (19, 1)
        # Each installed station booted with the new version.
        for s in stations:
            if s.id != FAILING:
                assert await wait_until(lambda s=s: _version(api, s.id, "7.1.0"), 10), s.id
        all_updates = (
            await api.get("/api/v1/firmware-updates", params={"campaign_id": cid, "limit": 100})
        ).json()
        assert most_at_once(all_updates) <= 4
        finished = (
            await api.get("/api/v1/events", params={"type": "firmware_campaign.finished"})
        ).json()
        assert [e["data"]["campaign_id"] for e in finished] == [cid]


async def _more_updates(api: httpx.AsyncClient, cid: int, count: int) -> bool:
    got = (await api.get("/api/v1/firmware-updates", params={"campaign_id": cid})).json()
    return len(got) > count


async def _version(api: httpx.AsyncClient, station_id: str, want: str) -> bool:
    return (await api.get(f"/api/v1/stations/{station_id}")).json()["firmware_version"] == want
