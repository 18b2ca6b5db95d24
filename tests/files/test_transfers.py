"""The file service's per-request links: a station downloads a stored file
and uploads one over real HTTP, and an expired or unknown link is refused."""

from __future__ import annotations

import httpx

from volta.app import Volta
from volta.blocks.files import service as files


async def _chunks(data: bytes):
    yield data


async def test_a_station_downloads_through_its_link_and_uploads_through_another(
    volta: Volta,
) -> None:
    services = volta.services
    image = b"firmware image " * 1000
    row = await files.store(services, _chunks(image), kind="firmware", name="fw-2.1.bin")
    url = await files.download_url(services, row["id"], station_id="CP1")
    assert url.startswith(f"http://127.0.0.1:{volta.api_port}/transfers/")
    async with httpx.AsyncClient() as client:
        got = await client.get(url)
        assert got.status_code == 200 and got.content == image
        # Range requests (a station resuming a download).
        part = await client.get(url, headers={"Range": "bytes=15-29"})
        assert part.status_code == 206 and part.content == image[15:30]
        # An unknown token.
        assert (await client.get(url.replace("/transfers/", "/transfers/x"))).status_code == 404

        upload = await files.upload_url(services, station_id="CP1", kind="log")
        assert await files.received_file(services.db, upload) is None
        sent = await client.put(upload + "CP1-log.tar", content=b"log lines\n" * 50)
        assert sent.status_code == 201
        received = await files.received_file(services.db, upload)
        assert received is not None and received["size"] == 500
        assert received["station_id"] == "CP1" and received["kind"] == "log"
        # One file per upload link.
        assert (await client.put(upload + "again", content=b"x")).status_code == 404


async def test_an_expired_link_is_refused(volta: Volta) -> None:
    services = volta.services
    row = await files.store(services, _chunks(b"abc"), kind="firmware", name="a.bin")
    url = await files.download_url(services, row["id"], station_id="CP1", seconds=-1)
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 404
