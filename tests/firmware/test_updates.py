"""Firmware updates of one station, end to end: the API asks, the real
simulator downloads the stored image over HTTP, reports each status and boots
with the new version (1.6 UpdateFirmware, 1.6 SignedUpdateFirmware, 2.0.1
UpdateFirmware L01/L02)."""

from __future__ import annotations

import pytest

from tests.firmware.conftest import fleet_scenario, running, station_version, store_image, update_of
from tests.helpers import wait_until

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
SIGNATURE = "c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("protocol", "signed", "action", "statuses"),
    [
        (
            "1.6",
            False,
            "UpdateFirmware",
            ["Downloading", "Downloaded", "Installing", "Installed"],
        ),
        (
            "1.6",
            True,
            "SignedUpdateFirmware",
            ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"],
        ),
        (
            "2.0.1",
            True,
            "UpdateFirmware",
            ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"],
        ),
        (
            "2.0.1",
            False,
            "UpdateFirmware",
            ["Downloading", "Downloaded", "Installing", "Installed"],
        ),
    ],
    ids=["1.6", "1.6-signed", "2.0.1-L01", "2.0.1-L02"],
)
async def test_a_station_downloads_installs_and_boots_with_the_new_version(
    volta, api, protocol, signed, action, statuses
):
    extra = {"signing_certificate": CERT, "signature": SIGNATURE} if signed else {}
    image = await store_image(volta, "charger-fw-4.2.0.bin", **extra)
    async with running(volta, fleet_scenario(volta, protocol=protocol)) as (st,):
        resp = await api.post(
            f"/api/v1/stations/{st.id}/firmware-updates", json={"file_id": image["id"]}
        )
        assert resp.status_code == 201, resp.text
        update = resp.json()
        assert (update["action"], update["signed"], update["version"]) == (action, signed, "4.2.0")
        # The location is a per-request link of the file service, not the file id.
        assert "/transfers/" in update["location"]

        async def installed() -> bool:
            return (await update_of(api, update["id"]))["state"] == "installed"

        assert await wait_until(installed, 20)
        done = await update_of(api, update["id"])
        assert [h["status"] for h in done["history"]] == statuses
        # The reboot's BootNotification reports the version, and Volta keeps it.
        assert await wait_until(lambda: station_version(api, st.id), 10)
        assert await wait_until(lambda: _is(station_version(api, st.id), "4.2.0"), 10)
        listed = (await api.get("/api/v1/firmware-updates", params={"station_id": st.id})).json()
        assert [u["id"] for u in listed] == [update["id"]]


async def _is(value, expected) -> bool:
    return (await value) == expected


async def test_a_download_that_fails_is_a_failed_update(volta, api):
    async with running(volta, fleet_scenario(volta, protocol="2.0.1")) as (st,):
        resp = await api.post(
            f"/api/v1/stations/{st.id}/firmware-updates",
            # Nothing listens there: the station's download fails.
            json={"location": "http://127.0.0.1:9/fw-5.0.0.bin"},
        )
        assert resp.status_code == 201, resp.text
        update = resp.json()

        async def failed() -> bool:
            return (await update_of(api, update["id"]))["state"] == "failed"

        assert await wait_until(failed, 20)
        done = await update_of(api, update["id"])
        assert done["status"] == "DownloadFailed" and done["detail"] == "DownloadFailed"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_bad_requests_are_refused_and_store_nothing(volta, api):
    from tests.helpers import register

    await register(volta, "CP-X")
    for body, code in [
        ({}, 422),
        ({"file_id": "x", "location": "http://a/b.bin"}, 422),
        ({"location": "not a url"}, 422),
        ({"location": "http://a/" + "b" * 600}, 422),
        ({"location": "http://a/b.bin", "signature": "abc"}, 422),
        ({"file_id": "no-such-file"}, 404),
    ]:
        resp = await api.post("/api/v1/stations/CP-X/firmware-updates", json=body)
        assert resp.status_code == code, (body, resp.text)
        assert "detail" in resp.json()
    resp = await api.post(
        "/api/v1/stations/NOPE/firmware-updates", json={"location": "http://a/b.bin"}
    )
    assert resp.status_code == 404
    assert (await api.get("/api/v1/firmware-updates")).json() == []
    assert (await api.get("/api/v1/firmware-updates/99")).status_code == 404
    # An offline station: the update is kept, failed, with why.
    resp = await api.post(
        "/api/v1/stations/CP-X/firmware-updates", json={"location": "http://a/fw-1.2.bin"}
    )
    assert resp.status_code == 201
    assert resp.json()["state"] == "failed" and "not connected" in resp.json()["detail"]
    # Publishing on a Local Controller (L03): the same care.
    for body, code in [
        ({"location": "http://a/fw.bin"}, 422),
        ({"location": "http://a/fw.bin", "checksum": "xyz"}, 422),
        ({"file_id": "no-such-file"}, 404),
        ({}, 422),
    ]:
        resp = await api.post("/api/v1/stations/CP-X/firmware-publications", json=body)
        assert resp.status_code == code, (body, resp.text)
    assert (await api.get("/api/v1/firmware-publications")).json() == []
    assert (await api.post("/api/v1/firmware-publications/5/unpublish")).status_code == 404
