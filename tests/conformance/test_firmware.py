"""Firmware Management: OCPP 2.0.1 block L (L01 secure / L02 plain updates),
OCPP 1.6 Firmware Management (TC_044) and the 1.6 security extension's secure
firmware update (TC_080/081). The operator asks through Volta's firmware API
(POST /stations/{id}/firmware-updates); the station is played raw over a real
WebSocket, and each case checks what Volta kept of the update."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conformance.conftest import Station
from tests.conformance.test_v16 import status as status16
from tests.conformance.test_v201 import BOOT, end, energy_transfer_started, notify_availability
from tests.conformance.test_v201 import status as status201
from volta.blocks.files import service as files

CERT = "-----BEGIN CERTIFICATE-----\nMIIBfirmwaresigner\n-----END CERTIFICATE-----\n"
SIGNATURE = "ZmlybXdhcmUgc2lnbmF0dXJl"
ACCEPTED = {"status": "Accepted"}
IMAGE = b"signed firmware " * 100


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def signed_image(volta) -> dict[str, Any]:
    """A stored firmware image with its signing certificate and signature."""
    return await files.store(
        volta.services,
        _chunks(IMAGE),
        kind="firmware",
        name="acme-fw-5.0.1.bin",
        signing_certificate=CERT,
        signature=SIGNATURE,
    )


class Firmware:
    """The operator's firmware API."""

    def __init__(self, api: httpx.AsyncClient, station_id: str) -> None:
        self.api = api
        self.station_id = station_id

    def update(self, **body: Any) -> asyncio.Task[dict[str, Any]]:
        async def post() -> dict[str, Any]:
            r = await self.api.post(
                f"/api/v1/stations/{self.station_id}/firmware-updates", json=body
            )
            assert r.status_code == 201, r.text
            return dict(r.json())

        return asyncio.create_task(post())

    async def get(self, update_id: int) -> dict[str, Any]:
        r = await self.api.get(f"/api/v1/firmware-updates/{update_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
def fw201(api) -> Firmware:
    return Firmware(api, "CS201")


@pytest.fixture
def fw16(api) -> Firmware:
    return Firmware(api, "CP16")


async def notify(cs: Station, statuses: list[str], request_id: int | None, action: str) -> None:
    for s in statuses:
        body: dict[str, Any] = {"status": s}
        if request_id is not None:
            body["requestId"] = request_id
        assert await cs.call(action, body) == {}


def in_minutes(minutes: float) -> str:
    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    return at.isoformat()


async def secure_update(
    cs: Station, fw: Firmware, image: dict[str, Any], **body: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """L01.FR.01: UpdateFirmware with the signing certificate and signature;
    returns (the request the station got, the update as answered)."""
    task = fw.update(file_id=image["id"], **body)
    request = await cs.expect("UpdateFirmware")
    update = await task
    assert request["requestId"] == update["id"]
    firmware = request["firmware"]
    assert (firmware["signingCertificate"], firmware["signature"]) == (CERT, SIGNATURE)
    # A per-request link of Volta's file service (L01.FR.01 location).
    assert firmware["location"] == update["location"] and "/transfers/" in firmware["location"]
    return request, update


def statuses_of(update: dict[str, Any]) -> list[str]:
    return [h["status"] for h in update["history"]]


# -- OCPP 2.0.1 L. Firmware Management ----------------------------------------------

INSTALLED = ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"]


async def test_TC_L_01_CSMS(cs, fw201, answers, signed_image):
    """Secure update: Accepted, then Downloading .. Installed, each kept."""
    answers["UpdateFirmware"] = ACCEPTED
    _, update = await secure_update(cs, fw201, signed_image)
    assert update["state"] == "in_progress" and update["status"] == "Accepted"
    await notify(cs, INSTALLED, update["id"], "FirmwareStatusNotification")
    done = await fw201.get(update["id"])
    assert done["state"] == "installed" and statuses_of(done) == INSTALLED
    assert done["finished_at"] is not None


async def test_TC_L_02_CSMS(cs, fw201, answers, signed_image):
    """installDateTime in the future: InstallScheduled, then installed."""
    answers["UpdateFirmware"] = ACCEPTED
    request, update = await secure_update(cs, fw201, signed_image, install_at=in_minutes(5))
    assert "installDateTime" in request["firmware"]
    steps = ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled"]
    await notify(cs, steps, update["id"], "FirmwareStatusNotification")
    assert (await fw201.get(update["id"]))["state"] == "in_progress"
    await notify(cs, ["Installing", "Installed"], update["id"], "FirmwareStatusNotification")
    assert (await fw201.get(update["id"]))["state"] == "installed"


async def test_TC_L_03_CSMS(cs, fw201, answers, signed_image):
    """retrieveDateTime in the future (L01.FR.15): DownloadScheduled first."""
    answers["UpdateFirmware"] = ACCEPTED
    request, update = await secure_update(cs, fw201, signed_image, retrieve_at=in_minutes(10))
    retrieve = dt.datetime.fromisoformat(request["firmware"]["retrieveDateTime"])
    assert retrieve > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=9)
    await notify(cs, ["DownloadScheduled", *INSTALLED], update["id"], "FirmwareStatusNotification")
    done = await fw201.get(update["id"])
    assert done["state"] == "installed" and statuses_of(done)[0] == "DownloadScheduled"


@pytest.mark.parametrize(
    ("tc", "answer"),
    [("TC_L_04_CSMS", "RevokedCertificate"), ("TC_L_05_CSMS", "InvalidCertificate")],
)
async def test_refused_certificate(cs, fw201, answers, signed_image, tc, answer):
    """L01.FR.02/.FR.03: the station refuses the signing certificate; the
    update fails with that answer."""
    answers["UpdateFirmware"] = {"status": answer}
    _, update = await secure_update(cs, fw201, signed_image)
    assert (update["state"], update["status"]) == ("failed", answer)
    assert update["finished_at"] is not None


@pytest.mark.parametrize(
    ("tc", "steps"),
    [
        ("TC_L_06_CSMS", ["Downloading", "Downloaded", "InvalidSignature"]),
        ("TC_L_07_CSMS", ["Downloading", "DownloadFailed"]),
        (
            "TC_L_08_CSMS",
            ["Downloading", "Downloaded", "SignatureVerified", "InstallVerificationFailed"],
        ),
        (
            "TC_L_09_CSMS",
            ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallationFailed"],
        ),
    ],
)
async def test_failed_update(cs, fw201, answers, signed_image, tc, steps):
    """A failure status ends the update as failed, with that status."""
    answers["UpdateFirmware"] = ACCEPTED
    _, update = await secure_update(cs, fw201, signed_image)
    await notify(cs, steps, update["id"], "FirmwareStatusNotification")
    done = await fw201.get(update["id"])
    assert (done["state"], done["status"], done["detail"]) == ("failed", steps[-1], steps[-1])
    assert statuses_of(done) == steps


async def test_TC_L_10_CSMS(cs, fw201, answers, signed_image):
    """L01.FR.24: a second request answered AcceptedCanceled: the first is
    canceled, the second runs to Installed."""
    answers["UpdateFirmware"] = ACCEPTED
    _, first = await secure_update(cs, fw201, signed_image)
    await notify(cs, ["Downloading"], first["id"], "FirmwareStatusNotification")
    answers["UpdateFirmware"] = {"status": "AcceptedCanceled"}
    _, second = await secure_update(cs, fw201, signed_image)
    assert second["state"] == "in_progress" and second["status"] == "AcceptedCanceled"
    canceled = await fw201.get(first["id"])
    assert canceled["state"] == "canceled" and "canceled by the station" in canceled["detail"]
    await notify(cs, INSTALLED, second["id"], "FirmwareStatusNotification")
    assert (await fw201.get(second["id"]))["state"] == "installed"
    assert (await fw201.get(first["id"]))["state"] == "canceled"


async def test_TC_L_11_CSMS(cs, fw201, answers, signed_image):
    """The station cannot cancel the update under way: the second request is
    Rejected (failed), the first goes on to Installed."""
    answers["UpdateFirmware"] = ACCEPTED
    _, first = await secure_update(cs, fw201, signed_image)
    await notify(cs, ["Downloading"], first["id"], "FirmwareStatusNotification")
    answers["UpdateFirmware"] = {"status": "Rejected"}
    _, second = await secure_update(cs, fw201, signed_image)
    assert (second["state"], second["status"]) == ("failed", "Rejected")
    assert (await fw201.get(first["id"]))["state"] == "in_progress"
    await notify(cs, INSTALLED[1:], first["id"], "FirmwareStatusNotification")
    assert (await fw201.get(first["id"]))["state"] == "installed"


async def test_TC_L_13_CSMS(cs, fw201, answers, signed_image, op201):
    """An update asked during a transaction: DownloadScheduled, the free
    connectors Unavailable; the transaction ends, then the update installs."""
    seq = await energy_transfer_started(cs)
    answers["UpdateFirmware"] = ACCEPTED
    _, update = await secure_update(cs, fw201, signed_image)
    await notify(cs, ["DownloadScheduled"], update["id"], "FirmwareStatusNotification")
    await status201(cs, "Unavailable", evse=2)
    await notify_availability(cs, "Unavailable")
    r = await end(cs, seq, "StopAuthorized", "Local")
    assert r == {} or "idTokenInfo" in r
    await status201(cs, "Unavailable")
    await notify(cs, INSTALLED, update["id"], "FirmwareStatusNotification")
    done = await fw201.get(update["id"])
    assert done["state"] == "installed" and statuses_of(done) == ["DownloadScheduled", *INSTALLED]
    assert (await op201.transactions())[0]["status"] == "Ended"


async def test_a_2_0_1_station_booting_with_the_new_version_is_installed(
    cs, fw201, answers, signed_image
):
    """The Installed notification was lost: the boot's firmwareVersion says it."""
    answers["UpdateFirmware"] = ACCEPTED
    _, update = await secure_update(cs, fw201, signed_image)
    assert update["version"] == "5.0.1"
    await notify(
        cs, ["Downloading", "Downloaded", "Installing"], update["id"], "FirmwareStatusNotification"
    )
    boot = {
        "reason": "FirmwareUpdate",
        "chargingStation": {**BOOT["chargingStation"], "firmwareVersion": "5.0.1"},
    }
    assert (await cs.call("BootNotification", boot))["status"] == "Accepted"

    async def installed() -> bool:
        return (await fw201.get(update["id"]))["state"] == "installed"

    from tests.helpers import wait_until

    assert await wait_until(installed, 5)
    assert "booted with firmware 5.0.1" in (await fw201.get(update["id"]))["detail"]


# -- L03/L04: a Local Controller publishes firmware --------------------------------


async def publish(cs: Station, api, image: dict[str, Any]) -> dict[str, Any]:
    """PublishFirmware of a stored file: its MD5 and a per-request link."""
    task = asyncio.create_task(
        api.post("/api/v1/stations/CS201/firmware-publications", json={"file_id": image["id"]})
    )
    request = await cs.expect("PublishFirmware")
    resp = await task
    assert resp.status_code == 201, resp.text
    publication = resp.json()
    assert request["requestId"] == publication["id"]
    assert request["checksum"] == hashlib.md5(IMAGE, usedforsecurity=False).hexdigest()
    assert request["location"] == publication["location"] and "/transfers/" in request["location"]
    return dict(publication)


async def publication(api, publication_id: int) -> dict[str, Any]:
    r = await api.get(f"/api/v1/firmware-publications/{publication_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def publish_notify(cs: Station, statuses: list[str], request_id: int, **kw: Any) -> None:
    for s in statuses:
        body = {"status": s, "requestId": request_id, **kw}
        assert await cs.call("PublishFirmwareStatusNotification", body) == {}


LC_URI = ["http://192.168.1.2/fw/acme-fw-5.0.1.bin", "ftp://192.168.1.2/acme-fw-5.0.1.bin"]


async def test_TC_L_17_CSMS(cs, api, answers, signed_image):
    """Published: the Local Controller's URIs are kept."""
    answers["PublishFirmware"] = ACCEPTED
    pub = await publish(cs, api, signed_image)
    assert pub["state"] == "in_progress"
    await publish_notify(cs, ["Downloading", "Downloaded", "ChecksumVerified"], pub["id"])
    await publish_notify(cs, ["Published"], pub["id"], location=LC_URI)
    done = await publication(api, pub["id"])
    assert (done["state"], done["published_at"]) == ("published", LC_URI)
    assert [h["status"] for h in done["history"]] == [
        "Downloading",
        "Downloaded",
        "ChecksumVerified",
        "Published",
    ]


@pytest.mark.parametrize(
    ("tc", "steps"),
    [
        ("TC_L_19_CSMS", ["Downloading", "Downloaded", "InvalidChecksum"]),
        ("TC_L_20_CSMS", ["Downloading", "Downloaded", "ChecksumVerified", "PublishFailed"]),
        ("TC_L_24_CSMS", ["Downloading", "DownloadFailed"]),
    ],
)
async def test_publish_failed(cs, api, answers, signed_image, tc, steps):
    answers["PublishFirmware"] = ACCEPTED
    pub = await publish(cs, api, signed_image)
    await publish_notify(cs, steps, pub["id"])
    done = await publication(api, pub["id"])
    assert (done["state"], done["status"], done["detail"]) == ("failed", steps[-1], steps[-1])


@pytest.mark.parametrize(
    ("tc", "answer", "state"),
    [
        ("TC_L_21_CSMS", "Unpublished", "unpublished"),
        ("TC_L_22_CSMS", "NoFirmware", "published"),
        ("TC_L_23_CSMS", "DownloadOngoing", "published"),
    ],
)
async def test_unpublish(cs, api, answers, signed_image, tc, answer, state):
    """UnpublishFirmware with the published file's checksum (L04.FR.01);
    the answer is kept."""
    answers["PublishFirmware"] = ACCEPTED
    pub = await publish(cs, api, signed_image)
    await publish_notify(cs, ["Downloading", "Downloaded", "ChecksumVerified"], pub["id"])
    await publish_notify(cs, ["Published"], pub["id"], location=LC_URI)
    answers["UnpublishFirmware"] = {"status": answer}
    task = asyncio.create_task(api.post(f"/api/v1/firmware-publications/{pub['id']}/unpublish"))
    assert (await cs.expect("UnpublishFirmware")) == {"checksum": pub["checksum"]}
    resp = await task
    assert resp.status_code == 200, resp.text
    assert (resp.json()["state"], resp.json()["status"]) == (state, answer)


# -- OCPP 1.6 Firmware Management ------------------------------------------------


async def plain_update(cp: Station, fw: Firmware) -> dict[str, Any]:
    """UpdateFirmware to an external location (the operator's server)."""
    location = "https://fw.example.com/cp-fw-2.0.bin"
    task = fw.update(location=location, retries=2, retry_interval=30)
    request = await cp.expect("UpdateFirmware")
    assert request["location"] == location and "retrieveDate" in request
    assert (request["retries"], request["retryInterval"]) == (2, 30)
    update = await task
    assert (update["action"], update["state"], update["version"]) == (
        "UpdateFirmware",
        "in_progress",
        "2.0",
    )
    return update


async def test_TC_044_2_CSMS(cp, fw16):
    """Downloading, then DownloadFailed: the update failed."""
    update = await plain_update(cp, fw16)
    await notify(cp, ["Downloading", "DownloadFailed"], None, "FirmwareStatusNotification")
    done = await fw16.get(update["id"])
    assert (done["state"], done["status"]) == ("failed", "DownloadFailed")


async def test_TC_044_3_CSMS(cp, fw16):
    """Download, install, reboot (an older version), then InstallationFailed."""
    update = await plain_update(cp, fw16)
    await notify(cp, ["Downloading", "Downloaded"], None, "FirmwareStatusNotification")
    await status16(cp, "Unavailable")
    await notify(cp, ["Installing"], None, "FirmwareStatusNotification")
    boot = {"chargePointVendor": "V", "chargePointModel": "M1", "firmwareVersion": "1.9"}
    assert (await cp.call("BootNotification", boot))["status"] == "Accepted"
    await status16(cp, "Available")
    await notify(cp, ["InstallationFailed"], None, "FirmwareStatusNotification")
    done = await fw16.get(update["id"])
    assert (done["state"], done["status"]) == ("failed", "InstallationFailed")
    assert statuses_of(done) == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]


async def test_a_1_6_station_that_reboots_instead_of_installed_is_installed(cp, fw16, api):
    """1.6 stations often never send Installed: they reboot with the new
    version, which Volta records and counts as installed."""
    update = await plain_update(cp, fw16)
    await notify(
        cp, ["Downloading", "Downloaded", "Installing"], None, "FirmwareStatusNotification"
    )
    boot = {"chargePointVendor": "V", "chargePointModel": "M1", "firmwareVersion": "2.0"}
    assert (await cp.call("BootNotification", boot))["status"] == "Accepted"
    from tests.helpers import wait_until

    async def installed() -> bool:
        return (await fw16.get(update["id"]))["state"] == "installed"

    assert await wait_until(installed, 5)
    assert (await api.get("/api/v1/stations/CP16")).json()["firmware_version"] == "2.0"


# -- OCPP 1.6 security extension ----------------------------------------------------


async def signed16(cp: Station, fw: Firmware, image: dict[str, Any]) -> dict[str, Any]:
    """A signed image goes as SignedUpdateFirmware (the security extension)."""
    task = fw.update(file_id=image["id"])
    request = await cp.expect("SignedUpdateFirmware")
    update = await task
    assert request["requestId"] == update["id"] and update["action"] == "SignedUpdateFirmware"
    assert (request["firmware"]["signingCertificate"], request["firmware"]["signature"]) == (
        CERT,
        SIGNATURE,
    )
    return update


async def test_TC_080_CSMS(cp, fw16, answers, signed_image):
    answers["SignedUpdateFirmware"] = ACCEPTED
    update = await signed16(cp, fw16, signed_image)
    await notify(cp, INSTALLED, update["id"], "SignedFirmwareStatusNotification")
    done = await fw16.get(update["id"])
    assert done["state"] == "installed" and statuses_of(done) == INSTALLED


async def test_TC_081_CSMS(cp, fw16, answers, signed_image):
    answers["SignedUpdateFirmware"] = ACCEPTED
    update = await signed16(cp, fw16, signed_image)
    steps = ["Downloading", "Downloaded", "InvalidSignature"]
    await notify(cp, steps, update["id"], "SignedFirmwareStatusNotification")
    done = await fw16.get(update["id"])
    assert (done["state"], done["status"]) == ("failed", "InvalidSignature")
