"""The file service through the API: firmware images uploaded (streamed,
bounded, content-addressed, signed firmware's certificate and signature kept),
listed, downloaded with Range, deleted, pruned by retention; over real HTTP,
on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.files.conftest import MAX_UPLOAD
from volta.app import Volta
from volta.blocks.files import service as files
from volta.store.models import FileLink, StoredFile

IMAGE = b"\x7fELF firmware 2.1 " * 1000
CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"
SIGNATURE = base64.b64encode(b"\x30\x45" + b"\x01" * 69).decode()


def stored_blobs(volta: Volta) -> list[Path]:
    root = Path(volta.settings.files_dir)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def upload(api: httpx.AsyncClient, data: bytes, name: str = "fw-2.1.bin", **fields: str):
    return await api.post(
        "/api/v1/files", files={"file": (name, data, "application/octet-stream")}, data=fields
    )


async def test_a_firmware_image_is_uploaded_listed_downloaded_with_range_and_deleted(
    volta: Volta, api: httpx.AsyncClient
) -> None:
    made = await upload(api, IMAGE)
    assert made.status_code == 201, made.text
    row = made.json()
    assert row["sha256"] == hashlib.sha256(IMAGE).hexdigest()
    assert (row["kind"], row["name"], row["size"]) == ("firmware", "fw-2.1.bin", len(IMAGE))

    listed = (await api.get("/api/v1/files", params={"kind": "firmware"})).json()
    assert [f["id"] for f in listed] == [row["id"]]
    assert (await api.get("/api/v1/files", params={"kind": "log"})).json() == []
    assert (await api.get(f"/api/v1/files/{row['id']}")).json()["sha256"] == row["sha256"]

    content = await api.get(f"/api/v1/files/{row['id']}/content")
    assert content.status_code == 200 and content.content == IMAGE
    part = await api.get(f"/api/v1/files/{row['id']}/content", headers={"Range": "bytes=4-11"})
    assert part.status_code == 206 and part.content == IMAGE[4:12]

    # The same bytes under another name: stored once, two rows.
    again = (await upload(api, IMAGE, name="fw-2.1-copy.bin")).json()
    assert again["sha256"] == row["sha256"] and again["id"] != row["id"]
    assert len(stored_blobs(volta)) == 1
    assert (await api.delete(f"/api/v1/files/{row['id']}")).status_code == 204
    # The other row still names the content: it stays.
    assert (await api.get(f"/api/v1/files/{again['id']}/content")).content == IMAGE
    assert (await api.delete(f"/api/v1/files/{again['id']}")).status_code == 204
    assert stored_blobs(volta) == []
    assert (await api.get(f"/api/v1/files/{again['id']}")).status_code == 404
    assert (await api.delete(f"/api/v1/files/{again['id']}")).status_code == 404


async def test_signed_firmware_keeps_its_certificate_and_signature(
    api: httpx.AsyncClient,
) -> None:
    made = await upload(api, IMAGE, signing_certificate=CERT, signature=SIGNATURE)
    assert made.status_code == 201, made.text
    row = (await api.get(f"/api/v1/files/{made.json()['id']}")).json()
    assert row["signing_certificate"] == CERT.strip() and row["signature"] == SIGNATURE

    half = await upload(api, IMAGE, signature=SIGNATURE)
    assert half.status_code == 422 and "both" in half.json()["detail"]
    bad = await upload(api, IMAGE, signing_certificate=CERT, signature="not base64!")
    assert bad.status_code == 422 and "base64" in bad.json()["detail"]
    not_pem = await upload(api, IMAGE, signing_certificate="hello", signature=SIGNATURE)
    assert not_pem.status_code == 422
    missing = await api.post("/api/v1/files", data={"signature": SIGNATURE})
    assert missing.status_code == 422 and "file" in missing.json()["detail"]
    assert len((await api.get("/api/v1/files")).json()) == 1


async def test_an_oversize_upload_is_refused_and_leaves_no_file(
    volta: Volta, api: httpx.AsyncClient
) -> None:
    big = b"x" * (MAX_UPLOAD + 1)
    refused = await upload(api, big * 2)
    assert refused.status_code == 413, refused.text

    # Under the body limit with its multipart framing, over the file limit.
    refused = await upload(api, big)
    assert refused.status_code == 413, refused.text

    # A station's upload through its link, announced and streamed (chunked).
    url = await files.upload_url(volta.services, station_id="CP1", kind="log")
    async with httpx.AsyncClient() as client:
        assert (await client.put(url + "big.log", content=big)).status_code == 413

        async def chunked():
            for _ in range(4):
                yield b"y" * (MAX_UPLOAD // 3)

        assert (await client.put(url + "big.log", content=chunked())).status_code == 413
        assert await files.received_file(volta.db, url) is None
        # The link is still good for a file of the right size.
        assert (await client.put(url + "small.log", content=b"ok\n")).status_code == 201
    assert [f["name"] for f in (await api.get("/api/v1/files")).json()] == ["small.log"]
    assert len(stored_blobs(volta)) == 1


async def test_retention_prunes_old_logs_and_expired_links_but_keeps_firmware(
    volta: Volta, api: httpx.AsyncClient
) -> None:
    services = volta.services
    firmware = (await upload(api, IMAGE)).json()

    async def one(data: bytes):
        yield data

    old_log = await files.store(services, one(b"old log"), kind="log", name="a.log")
    new_log = await files.store(services, one(b"new log"), kind="diagnostics", name="b.log")
    expired = await files.upload_url(services, station_id="CP1", kind="log", seconds=-5)
    live = await files.upload_url(services, station_id="CP1", kind="log")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(
        days=services.settings.retention_files_days + 1
    )
    async with services.db.write() as conn:
        for file_id in (old_log["id"], firmware["id"]):
            await conn.execute(
                sa.update(StoredFile).where(StoredFile.id == file_id).values(created_at=long_ago)
            )

    assert await files.prune(services) == {"files_pruned": 1, "links_pruned": 1}
    kept = {f["id"] for f in (await api.get("/api/v1/files")).json()}
    assert kept == {firmware["id"], new_log["id"]}
    async with services.db.read() as conn:
        tokens = set((await conn.execute(sa.select(FileLink.token))).scalars())
    assert files.token_of(live) in tokens and files.token_of(expired) not in tokens
    assert len(stored_blobs(volta)) == 2


async def test_bad_input_gets_a_clear_4xx(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/v1/files", params={"kind": "movies"})).status_code == 422
    assert (await api.get("/api/v1/files/nope/content")).status_code == 404
    assert (await api.get("/api/v1/files", params={"limit": 0})).status_code == 422
    # A path-like name is kept as its last part only.
    made = await upload(api, b"abc", name="../../etc/passwd")
    assert made.status_code == 201 and made.json()["name"] == "passwd"
