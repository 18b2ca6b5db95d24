"""Diagnostics and logs in a simulated station: GetDiagnostics and GetLog, the
file uploaded over HTTP(S) (PUT) or FTP, the status notifications (Uploading,
then Uploaded, or UploadFailed / UploadFailure once the retries are spent)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ftplib
import io
import logging
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import httpx

from volta.simulator.dialect import AnswerTable, Payload

if TYPE_CHECKING:
    from volta.simulator.station import SimulatedStation

log = logging.getLogger(__name__)

# Answers of a 1.6 and of a 2.0.1 station (v16.py / v201.py include them).
v16 = AnswerTable()
v201 = AnswerTable()

UPLOAD_TIMEOUT = 30.0
# A simulated station waits at most this long between retries.
MAX_RETRY_WAIT = 5.0


def _file_name(st: SimulatedStation, what: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{st.id}-{what}-{stamp}.log"


def _content(st: SimulatedStation, what: str) -> bytes:
    now = dt.datetime.now(dt.UTC).isoformat()
    lines = [f"{now} {st.id} {what}: simulated station, OCPP {st.version.label}"]
    lines += [f"{now} {st.id} connector {c.id}: {c.status}" for c in st.connectors]
    return ("\n".join(lines) + "\n").encode()


async def upload(location: str, name: str, data: bytes) -> None:
    """PUT `data` to `location` + `name`, or STOR it over FTP; raises on failure."""
    if location.startswith("ftp://"):
        await asyncio.to_thread(_ftp_upload, location, name, data)
        return
    async with httpx.AsyncClient(timeout=UPLOAD_TIMEOUT) as client:
        url = location if location.endswith("/") else location + "/"
        sent = await client.put(url + name, content=data)
        sent.raise_for_status()


def _ftp_upload(location: str, name: str, data: bytes) -> None:
    parts = urlsplit(location)
    with ftplib.FTP(timeout=UPLOAD_TIMEOUT) as ftp:
        ftp.connect(parts.hostname or "", parts.port or 21)
        ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))


async def _upload_with_retries(location: str, name: str, data: bytes, p: Payload) -> bool:
    retries = int(p.get("retries") or 0)
    wait = min(float(p.get("retryInterval") or 1), MAX_RETRY_WAIT)
    for attempt in range(retries + 1):
        try:
            await upload(location, name, data)
            return True
        except (OSError, httpx.HTTPError, ftplib.Error) as exc:
            log.info("upload to the CSMS failed (attempt %d): %s", attempt + 1, exc)
            if attempt < retries:
                await asyncio.sleep(wait)
    return False


@v16.on("GetDiagnostics")
def get_diagnostics(st: SimulatedStation, p: Payload) -> Payload:
    return {"fileName": _file_name(st, "diagnostics")}


@v16.after("GetDiagnostics")
async def upload_diagnostics(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    await st.call("DiagnosticsStatusNotification", {"status": "Uploading"})
    data = _content(st, "diagnostics")
    ok = await _upload_with_retries(p["location"], answer["fileName"], data, p)
    await st.call("DiagnosticsStatusNotification", {"status": "Uploaded" if ok else "UploadFailed"})


@v16.on("GetLog")
@v201.on("GetLog")
def get_log(st: SimulatedStation, p: Payload) -> Payload:
    return {"status": "Accepted", "filename": _file_name(st, p["logType"])}


@v16.after("GetLog")
@v201.after("GetLog")
async def upload_log(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    request_id = p["requestId"]
    await st.call("LogStatusNotification", {"status": "Uploading", "requestId": request_id})
    data = _content(st, p["logType"])
    ok = await _upload_with_retries(p["log"]["remoteLocation"], answer["filename"], data, p)
    await st.call(
        "LogStatusNotification",
        {"status": "Uploaded" if ok else "UploadFailure", "requestId": request_id},
    )
