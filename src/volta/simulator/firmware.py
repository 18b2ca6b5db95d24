"""Firmware updates in a simulated station: UpdateFirmware (1.6, 1.6 signed,
2.0.1) downloaded over HTTP(S), the status notifications, the new version at the
next boot.

The new version is the first dotted number in the downloaded file's name
("charger-fw-2.4.1.bin" -> "2.4.1"; none: the version stays). A station
listed in the scenario's `firmware_failing`, or any station given a file
whose name holds "broken", downloads it and then reports InstallationFailed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

import httpx

from volta.ocpp.times import parse_timestamp
from volta.simulator.dialect import AnswerTable, Payload

if TYPE_CHECKING:
    from volta.simulator.station import SimulatedStation

# Answers of a 1.6 and of a 2.0.1 station (v16.py / v201.py include them).
v16 = AnswerTable()
v201 = AnswerTable()

# A simulated station downloads at most this much (the rest is not read).
MAX_DOWNLOAD = 256 * 1024 * 1024
# A retrieve or install time further ahead than this is not waited for.
MAX_WAIT = 60.0
# The pause between two statuses, so that a person watching sees them.
STEP = 0.05
_VERSION = re.compile(r"\d+(?:\.\d+)+(?:[-+][0-9A-Za-z.]+)?")
_running: dict[str, asyncio.Event] = {}


def version_in(location: str) -> str | None:
    name = urllib.parse.unquote(urllib.parse.urlsplit(location).path.rsplit("/", 1)[-1])
    for ext in (".bin", ".img", ".tar.gz", ".tgz", ".zip", ".hex", ".fw"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    found = _VERSION.search(name)
    return found.group(0)[:50] if found else None


def _accept(st: SimulatedStation) -> str:
    # L01.FR.24: a new request cancels the one under way.
    cancel = _running.get(st.id)
    if cancel is not None and not cancel.is_set():
        cancel.set()
        return "AcceptedCanceled"
    return "Accepted"


@v16.on("UpdateFirmware")
def update_firmware_16(st: SimulatedStation, p: Payload) -> Payload:
    _accept(st)
    return {}


@v16.after("UpdateFirmware")
async def install_16(st: SimulatedStation, p: Payload, response: Payload) -> None:
    await _install(st, "FirmwareStatusNotification", None, p["location"], p["retrieveDate"], None)


@v16.on("SignedUpdateFirmware")
def signed_update_firmware(st: SimulatedStation, p: Payload) -> Payload:
    return {"status": _accept(st)}


@v16.after("SignedUpdateFirmware")
async def install_signed_16(st: SimulatedStation, p: Payload, response: Payload) -> None:
    fw = p["firmware"]
    await _install(
        st,
        "SignedFirmwareStatusNotification",
        p["requestId"],
        fw["location"],
        fw["retrieveDateTime"],
        fw.get("installDateTime"),
        signed=True,
    )


@v201.on("UpdateFirmware")
def update_firmware_201(st: SimulatedStation, p: Payload) -> Payload:
    return {"status": _accept(st)}


@v201.after("UpdateFirmware")
async def install_201(st: SimulatedStation, p: Payload, response: Payload) -> None:
    fw = p["firmware"]
    await _install(
        st,
        "FirmwareStatusNotification",
        p["requestId"],
        fw["location"],
        fw["retrieveDateTime"],
        fw.get("installDateTime"),
        signed="signature" in fw,
    )


async def _wait_until(when: str | None, canceled: asyncio.Event) -> None:
    at = parse_timestamp(when)
    if at is None:
        return
    seconds = min(MAX_WAIT, (at - dt.datetime.now(dt.UTC)).total_seconds())
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(canceled.wait(), seconds)


async def _download(location: str) -> int:
    size = 0
    async with httpx.AsyncClient(timeout=30) as client, client.stream("GET", location) as resp:
        resp.raise_for_status()
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > MAX_DOWNLOAD:
                break
    return size


async def _install(
    st: SimulatedStation,
    action: str,
    request_id: int | None,
    location: str,
    retrieve: str | None,
    install: str | None,
    *,
    signed: bool = False,
) -> None:
    canceled = _running[st.id] = asyncio.Event()
    plain16 = request_id is None  # 1.6 UpdateFirmware: the seven 1.6 statuses

    async def notify(status: str) -> None:
        body: dict[str, Any] = {"status": status}
        if request_id is not None:
            body["requestId"] = request_id
        await st.call(action, body)
        await asyncio.sleep(STEP)

    try:
        if not plain16 and (parse_timestamp(retrieve) or dt.datetime.now(dt.UTC)) > (
            dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        ):
            await notify("DownloadScheduled")
        await _wait_until(retrieve, canceled)
        if canceled.is_set():
            return
        await notify("Downloading")
        try:
            await _download(location)
        except (httpx.HTTPError, OSError):
            await notify("DownloadFailed")
            return
        if canceled.is_set():
            return
        await notify("Downloaded")
        if signed:
            await notify("SignatureVerified")
        if install and not plain16:
            await notify("InstallScheduled")
            await _wait_until(install, canceled)
        if canceled.is_set():
            return
        await notify("Installing")
        version = version_in(location)
        if st.id in st.scenario.firmware_failing or "broken" in location.rsplit("/", 1)[-1]:
            await notify("InstallationFailed")
            return
        await notify("Installed")
        if version:
            st.firmware_version = version
        # The new firmware runs after a reboot: BootNotification tells its version.
        st.reconnect("FirmwareUpdate")
    finally:
        if _running.get(st.id) is canceled:
            del _running[st.id]
