"""OCPP 2.1 GetCertificateChainStatus: Volta asks each certificate's OCSP
responder or CRL distribution point and answers Good, Revoked, Unknown or
Failed with a nextUpdate."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.helpers import register, station
from tests.pnc_pki import Pki, make_cert, new_key, pnc_settings, running_pki
from tests.v21.payment_flows import BOOT
from volta.blocks.plug_and_charge.ocsp import CertId


@pytest.fixture
async def pki(tmp_path) -> AsyncIterator[Pki]:
    async with running_pki(tmp_path) as p:
        yield p


@pytest.fixture
def volta_settings(pki) -> dict[str, Any]:
    return pnc_settings(pki)


def hash_data(cert: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    data = CertId.of(cert, issuer, "").to_ocpp()
    del data["responderURL"]
    return data


@contextlib.asynccontextmanager
async def crl_server(body: bytes) -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/sub.crl"
    finally:
        server.close()


def make_crl(pki: Pki, revoked: list[x509.Certificate]) -> bytes:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.sub.subject)
        .last_update(now - dt.timedelta(minutes=1))
        .next_update(now + dt.timedelta(hours=6))
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(now - dt.timedelta(minutes=5))
            .build()
        )
    return builder.sign(pki.sub_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


async def test_chain_status_by_ocsp(volta, pki):
    """GetCertificateChainStatus, source OCSP: each certificate's status from
    its responder (the first URL that answers), with the response's nextUpdate."""
    good = pki.contract("DEGOOD0000001")
    revoked = pki.contract("DEBAD00000001", revoked=True)
    await register(volta, "CHAIN-1")
    async with station(volta, "CHAIN-1", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        dead = "http://127.0.0.1:9/ocsp"
        out = await cp.call(
            "GetCertificateChainStatus",
            {
                "certificateStatusRequests": [
                    {
                        "certificateHashData": hash_data(good, pki.sub),
                        "source": "OCSP",
                        "urls": [dead, pki.responder.url],
                    },
                    {
                        "certificateHashData": hash_data(revoked, pki.sub),
                        "source": "OCSP",
                        "urls": [pki.responder.url],
                    },
                    {
                        "certificateHashData": hash_data(pki.sub, pki.root),
                        "source": "OCSP",
                        "urls": [dead],
                    },
                ]
            },
        )
    statuses = out["certificateStatus"]
    assert [s["status"] for s in statuses] == ["Good", "Revoked", "Failed"]
    assert statuses[0]["certificateHashData"] == hash_data(good, pki.sub)
    assert all(s["source"] == "OCSP" for s in statuses)
    for s in statuses:
        assert dt.datetime.fromisoformat(s["nextUpdate"]) > dt.datetime.now(dt.UTC)


async def test_chain_status_by_crl(volta, pki):
    """GetCertificateChainStatus, source CRL: the CRL of the certificate's
    issuer names it revoked or not; a CRL of another issuer does not count."""
    good = pki.contract("DEGOOD0000002")
    revoked = pki.contract("DEBAD00000002")
    other_key = new_key()
    other = make_cert("Other CA", other_key, None, ca=True)
    async with crl_server(make_crl(pki, [revoked])) as url:
        await register(volta, "CHAIN-2")
        async with station(volta, "CHAIN-2", "2.1") as cp:
            await cp.call("BootNotification", BOOT)
            stranger = make_cert("x", new_key(), (other, other_key), ca=False)
            out = await cp.call(
                "GetCertificateChainStatus",
                {
                    "certificateStatusRequests": [
                        {
                            "certificateHashData": hash_data(good, pki.sub),
                            "source": "CRL",
                            "urls": [url],
                        },
                        {
                            "certificateHashData": hash_data(revoked, pki.sub),
                            "source": "CRL",
                            "urls": [url],
                        },
                        {
                            "certificateHashData": hash_data(stranger, other),
                            "source": "CRL",
                            "urls": [url],
                        },
                    ]
                },
            )
    assert [s["status"] for s in out["certificateStatus"]] == ["Good", "Revoked", "Failed"]
    next_update = dt.datetime.fromisoformat(out["certificateStatus"][0]["nextUpdate"])
    assert next_update > dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)


@pytest.mark.parametrize("volta_settings", [{}])
async def test_chain_status_never_asks_a_private_address_unless_allowed(volta, pki):
    """Without pnc_allowed_networks a loopback responder is not asked: Failed."""
    good = pki.contract("DEGOOD0000003")
    before = pki.responder.requests
    await register(volta, "CHAIN-3")
    async with station(volta, "CHAIN-3", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        out = await cp.call(
            "GetCertificateChainStatus",
            {
                "certificateStatusRequests": [
                    {
                        "certificateHashData": hash_data(good, pki.sub),
                        "source": "OCSP",
                        "urls": [pki.responder.url],
                    }
                ]
            },
        )
    assert out["certificateStatus"][0]["status"] == "Failed"
    assert pki.responder.requests == before
