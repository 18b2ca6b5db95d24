"""Issue 12, the HTTP edge: body limit, token before body, control
characters and out-of-range integers. Over a real socket to a real Volta, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API_TOKEN
from tests.helpers import register
from volta.app import Volta

AUTH = f"Authorization: Bearer {API_TOKEN}\r\n"
CHUNK = b"x" * 65536


def rss_bytes() -> int:
    """This process's resident set (Volta runs in the test process)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def raw_exchange(
    volta: Volta, head: str, *, chunked: bool = False, limit_bytes: int = 64 * 2**20
) -> tuple[int, bytes, int]:
    """Send `head`, then body bytes (chunked or not) until the server answers
    or `limit_bytes` went out; returns (status, answer, bytes sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", volta.api_port)
    writer.write(head.encode() + b"\r\n")
    answer = asyncio.create_task(reader.read(65536))
    sent = 0
    try:
        while sent < limit_bytes and not answer.done():
            piece = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK
            writer.write(piece)
            sent += len(CHUNK)
            try:
                await asyncio.wait_for(writer.drain(), 2)
            except (ConnectionError, TimeoutError):
                break
            await asyncio.sleep(0)
        data = await asyncio.wait_for(answer, 10)
    finally:
        answer.cancel()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    match = re.match(rb"HTTP/1\.1 (\d+)", data)
    assert match, data[:200]
    return int(match.group(1)), data, sent


def json_body(answer: bytes) -> bytes:
    return answer.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize("path", ["/api/v1/stations", "/api/v1/webhooks", "/login"])
async def test_a_claimed_400_mb_body_is_refused_413_before_it_is_read(volta, path):
    rss = rss_bytes()
    started = time.monotonic()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: application/json\r\n"
        f"Content-Length: {400 * 2**20}\r\n"
    )
    status, answer, _ = await raw_exchange(volta, head, limit_bytes=2 * 2**20)
    assert status == 413
    assert b'"detail":"request body larger than 1048576 bytes"' in json_body(answer)
    assert time.monotonic() - started < 3
    assert rss_bytes() - rss < 16 * 2**20


async def test_a_chunked_body_is_counted_and_reading_stops_at_the_limit(volta):
    rss = rss_bytes()
    started = time.monotonic()
    head = (
        f"POST /api/v1/stations HTTP/1.1\r\nHost: x\r\n{AUTH}"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    )
    status, answer, sent = await raw_exchange(volta, head, chunked=True)
    assert status == 413, answer[:300]
    assert b"request body larger than" in json_body(answer)
    # Answered long before the 64 MB the client was ready to send.
    assert sent < 32 * 2**20
    assert time.monotonic() - started < 5
    assert rss_bytes() - rss < 16 * 2**20


async def test_a_body_within_the_limit_is_served(volta, api):
    note = "n" * 900_000  # under 1 MiB: too long for the field (422), not 413
    answer = await api.post("/api/v1/id-tokens", json={"token": "T-1", "note": note})
    assert answer.status_code == 422


@pytest.mark.parametrize("volta_settings", [{"max_body_bytes": 1000}])
async def test_the_limit_is_a_setting(volta, api):
    answer = await api.post("/api/v1/webhooks", content=b"{" + b" " * 2000 + b"}")
    assert answer.status_code == 413
    assert answer.json() == {"detail": "request body larger than 1000 bytes"}


async def test_no_token_is_401_before_the_body_is_read(volta):
    # Huge and never sent: a server that read it first would hang here.
    head = f"POST /api/v1/stations HTTP/1.1\r\nHost: x\r\nContent-Length: {400 * 2**20}\r\n"
    status, answer, _ = await raw_exchange(volta, head, limit_bytes=0)
    assert status == 401
    assert json_body(answer) == b'{"detail":"missing bearer token"}'
    head = head.replace("Host: x\r\n", "Host: x\r\nAuthorization: Bearer wrong\r\n")
    status, answer, _ = await raw_exchange(volta, head, limit_bytes=0)
    assert status == 401
    assert json_body(answer) == b'{"detail":"invalid bearer token"}'


async def test_a_malformed_body_without_a_token_is_401_not_422(volta):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{volta.api_port}") as client:
        answer = await client.post(
            "/api/v1/stations", content=b'{"id": ', headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json() == {"detail": "missing bearer token"}
        # /healthz and the dashboard need no token.
        assert (await client.get("/healthz")).status_code == 200


# -- control characters ---------------------------------------------------------


async def test_nul_in_api_bodies_is_422_naming_the_field(volta, api):
    await register(volta, "CP-1")
    cases: list[tuple[str, str, dict[str, Any], list[Any]]] = [
        ("POST", "/api/v1/stations", {"id": "CP\u0000X"}, ["body", "id"]),
        ("POST", "/api/v1/id-tokens", {"token": "T\u0000"}, ["body", "token"]),
        (
            "POST",
            "/api/v1/webhooks",
            {"url": "https://example.com/h", "description": "a\u0000b"},
            ["body", "description"],
        ),
        ("PATCH", "/api/v1/stations/CP-1", {"password": "pass\u0001word"}, ["body", "password"]),
        (
            "POST",
            "/api/v1/stations/CP-1/commands/DataTransfer",
            {"vendorId": "acme", "data": "x\u0000"},
            ["body", "data"],
        ),
        ("POST", "/api/v1/tariffs", {"name": "T\u001b", "currency": "EUR"}, ["body", "name"]),
    ]
    for method, path, body, loc in cases:
        answer = await api.request(method, path, json=body)
        assert answer.status_code == 422, (path, answer.text)
        error = answer.json()
        assert error["errors"] == [{"loc": loc, "msg": "control characters are not allowed"}]
        assert "control characters" in error["detail"]
    # Nothing was stored.
    assert (await api.get("/api/v1/webhooks")).json() == []
    assert (await api.get("/api/v1/stations/CP\u0000X".replace("\u0000", "%00"))).status_code == 422


async def test_nul_in_path_and_query_is_422(volta, api):
    for url in (
        "/api/v1/stations/CP%00X",
        "/api/v1/id-tokens/T%01",
        "/api/v1/transactions?station_id=CP%00",
        "/api/v1/events?station_id=%00",
        "/api/v1/cdrs?station_id=a%0Ab",
    ):
        answer = await api.get(url)
        assert answer.status_code == 422, (url, answer.text)
        assert "control characters are not allowed" in answer.json()["detail"]


async def test_tab_and_newline_are_fine_in_free_text(volta, api):
    answer = await api.post(
        "/api/v1/webhooks",
        json={"url": "https://example.com/h", "description": "line one\n\tline two"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["description"] == "line one\n\tline two"


async def test_nul_in_the_sign_in_form_is_422(volta):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{volta.api_port}") as client:
        answer = await client.post(
            "/login", data={"username": "ada\u0000", "password": "x", "csrf": "y"}
        )
    assert answer.status_code == 422
    assert answer.json() == {"detail": "username: control characters are not allowed"}


async def test_sql_parameters_are_never_logged(volta, caplog):
    """hide_parameters: a failing statement's error and log carry no bound value."""
    secret = "very-secret-signing-key-4711"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(sa.exc.DBAPIError) as failure:
        async with volta.db.write() as conn:
            await conn.execute(
                sa.text("INSERT INTO no_such_table (secret) VALUES (:secret)"), {"secret": secret}
            )
    assert secret not in str(failure.value)
    assert "hidden due to hide_parameters" in str(failure.value)
    assert secret not in caplog.text


# -- integers beyond the columns ------------------------------------------------

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/transactions/{transaction_id}/close"): {"reason": "test"},
    ("put", "/api/v1/transactions/{transaction_id}/limits"): {"energy_wh": 1000},
    ("put", "/api/v1/tariffs/{tariff_id}"): {"name": "T", "currency": "EUR"},
    ("post", "/api/v1/tariffs/{tariff_id}/assignments"): {"station_id": "CP-1"},
    ("patch", "/api/v1/webhooks/{webhook_id}"): {"description": "x"},
}
SKIP = {("get", "/api/v1/events/stream")}  # a stream; its `after` is checked below


async def test_huge_integers_in_paths_and_queries_are_404_or_422(volta, api):
    await register(volta, "CP-1")
    schema = (await api.get("/openapi.json")).json()
    checked: list[tuple[str, str, str]] = []
    for template, operations in schema["paths"].items():
        for method, operation in operations.items():
            if (method, template) in SKIP:
                continue
            params = operation.get("parameters", [])
            ints = [
                p
                for p in params
                if p["in"] in ("path", "query")
                and "integer" in str(p["schema"].get("type", p["schema"].get("anyOf", "")))
            ]
            for param in ints:
                for value in (2**31, 2**63, 2**64 + 1, 10**30, -(2**64)):
                    path = template
                    for other in params:
                        if other["in"] == "path":
                            fill = value if other is param else "CP-1"
                            if other is not param and "integer" in str(other["schema"]):
                                fill = 1
                            path = path.replace("{" + other["name"] + "}", str(fill))
                    query = {param["name"]: value} if param["in"] == "query" else {}
                    answer = await api.request(
                        method, path, params=query, json=BODIES.get((method, template))
                    )
                    # An offset within 64 bits is a valid (empty) page.
                    fine = (404, 422, 200) if query and 0 <= value < 2**63 else (404, 422)
                    assert answer.status_code in fine, (method, path, query, answer.text)
                    if answer.status_code != 200:
                        assert isinstance(answer.json()["detail"], str)
                checked.append((method, template, param["name"]))
    # Every int path or query parameter, about 14 routes of ids and the offsets.
    assert len({(m, t) for m, t, _ in checked}) >= 25, checked
    answer = await api.get("/api/v1/events/stream", params={"after": 2**64})
    assert answer.status_code == 422


async def test_out_of_range_numbers_in_bodies_are_422(volta, api):
    for limits in ({"seconds": 2**40}, {"seconds": 2**70}, {"energy_wh": "1e400"}):
        answer = await api.post("/api/v1/id-tokens", json={"token": "LIM-1", "limits": limits})
        assert answer.status_code == 422, (limits, answer.text)
        assert answer.json()["errors"][0]["loc"][:2] == ["body", "limits"]
    for body in (
        {"station_id": "CP-1", "id_token": "T", "evse_id": 2**40},
        {"station_id": "CP-1", "id_token": "T", "evse_id": 2**70},
    ):
        answer = await api.post("/api/v1/remote-starts", json=body)
        assert answer.status_code == 422, (body, answer.text)
    assert (await api.get("/api/v1/id-tokens")).json() == []
