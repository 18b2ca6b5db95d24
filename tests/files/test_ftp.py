"""The FTP endpoint over real FTP (the standard library's client): a per-request
login uploads one file, which lands in the file service as an HTTP upload
does; an expired or used login, listing, downloading, directories and path
escapes are refused; an oversize upload leaves no file."""

from __future__ import annotations

import asyncio
import ftplib
import io
from urllib.parse import urlsplit

import pytest

from tests.files.conftest import MAX_UPLOAD
from volta.app import Volta
from volta.blocks.files import service as files


def _session(url: str) -> ftplib.FTP:
    parts = urlsplit(url)
    ftp = ftplib.FTP(timeout=10)
    ftp.connect(parts.hostname or "", parts.port or 21)
    ftp.login(parts.username or "", parts.password or "")
    return ftp


def store(url: str, name: str, data: bytes) -> None:
    with _session(url) as ftp:
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))


async def test_a_station_uploads_one_file_with_its_own_login(volta: Volta) -> None:
    url = await files.upload_url(volta.services, station_id="CP1", kind="diagnostics", scheme="ftp")
    parts = urlsplit(url)
    assert parts.scheme == "ftp" and parts.port == volta.services.ftp_port
    assert parts.username and parts.password

    data = b"diagnostics line\n" * 300
    await asyncio.to_thread(store, url, "CP1-diag.log", data)
    received = await files.received_file(volta.db, url)
    assert received is not None
    assert (received["name"], received["size"], received["kind"]) == (
        "CP1-diag.log",
        len(data),
        "diagnostics",
    )
    assert received["station_id"] == "CP1"
    path = files.storage(volta.services).path(received["sha256"])
    assert path is not None and path.read_bytes() == data

    # One file per login: the login is refused once its file arrived.
    with pytest.raises(ftplib.error_perm, match="530"):
        await asyncio.to_thread(store, url, "again.log", b"x")


async def test_expired_and_unknown_logins_are_refused(volta: Volta) -> None:
    expired = await files.upload_url(
        volta.services, station_id="CP1", kind="log", scheme="ftp", seconds=-1
    )
    with pytest.raises(ftplib.error_perm, match="530"):
        await asyncio.to_thread(_session, expired)
    live = urlsplit(
        await files.upload_url(volta.services, station_id="CP1", kind="log", scheme="ftp")
    )
    wrong = live._replace(netloc=f"{live.username}:wrong@{live.hostname}:{live.port}").geturl()
    with pytest.raises(ftplib.error_perm, match="530"):
        await asyncio.to_thread(_session, wrong)
    anonymous = live._replace(netloc=f"anonymous:x@{live.hostname}:{live.port}").geturl()
    with pytest.raises(ftplib.error_perm, match="530"):
        await asyncio.to_thread(_session, anonymous)


async def test_nothing_but_one_upload_is_allowed(volta: Volta) -> None:
    services = volta.services

    async def one(data: bytes):
        yield data

    await files.store(services, one(b"someone else's log"), kind="log", name="other.log")
    url = await files.upload_url(services, station_id="CP1", kind="log", scheme="ftp")

    def probe() -> list[str]:
        refused = []
        with _session(url) as ftp:
            for attempt in (
                lambda: ftp.nlst(),
                lambda: ftp.retrlines("LIST"),
                lambda: ftp.retrbinary("RETR other.log", lambda b: None),
                lambda: ftp.mkd("sub"),
                lambda: ftp.delete("other.log"),
                lambda: ftp.cwd("/etc"),
                lambda: ftp.storbinary("STOR ../escape.log", io.BytesIO(b"x")),
                lambda: ftp.storbinary("STOR sub/escape.log", io.BytesIO(b"x")),
            ):
                try:
                    attempt()
                except ftplib.error_perm as exc:
                    refused.append(str(exc)[:3])
            # Still good for its one file after all that.
            ftp.storbinary("STOR CP1.log", io.BytesIO(b"ok\n"))
        return refused

    refused = await asyncio.to_thread(probe)
    assert len(refused) == 8, refused
    received = await files.received_file(volta.db, url)
    assert received is not None and received["name"] == "CP1.log"


async def test_an_oversize_ftp_upload_leaves_no_file(volta: Volta) -> None:
    url = await files.upload_url(volta.services, station_id="CP1", kind="log", scheme="ftp")
    with pytest.raises(ftplib.error_perm, match="552"):
        await asyncio.to_thread(store, url, "big.log", b"z" * (MAX_UPLOAD + 10))
    assert await files.received_file(volta.db, url) is None
    assert await files.list_files(volta.db) == []
