"""Authorize for both versions: Accepted, Blocked, Expired, Invalid/Unknown,
expiry date and group (1.6 parentIdTag, 2.0.1 groupIdToken)."""

from __future__ import annotations

import datetime as dt

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.helpers import add_token, register, station


@pytest.fixture
async def tokens(volta):
    await add_token(volta, "GROUP-1", token_type="Central")
    await add_token(volta, "OK-1", group_id="GROUP-1")
    await add_token(volta, "BLOCKED-1", status="Blocked")
    await add_token(volta, "INVALID-1", status="Invalid")
    await add_token(volta, "OLD-1", expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    await add_token(volta, "FUTURE-1", expires_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
    await register(volta, "A16")
    await register(volta, "A201")


async def test_authorize_v16(volta, tokens):
    async with station(volta, "A16", "1.6") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="a", charge_point_model="b"))

        async def status(tag: str) -> dict:
            return (await cp.call(call16.Authorize(id_tag=tag))).id_tag_info

        assert await status("OK-1") == {"status": "Accepted", "parent_id_tag": "GROUP-1"}
        assert (await status("BLOCKED-1"))["status"] == "Blocked"
        assert (await status("INVALID-1"))["status"] == "Invalid"
        assert (await status("OLD-1"))["status"] == "Expired"
        # 1.6 has no "Unknown": an unknown tag is Invalid.
        assert (await status("NOBODY"))["status"] == "Invalid"
        future = await status("FUTURE-1")
        assert future["status"] == "Accepted"
        assert future["expiry_date"].startswith("2099-01-01T00:00:00")


async def test_authorize_v201(volta, tokens):
    async with station(volta, "A201", "2.0.1") as cp:
        await cp.call(
            call201.BootNotification(
                charging_station={"model": "m", "vendor_name": "v"}, reason="PowerUp"
            )
        )

        async def info(token: str, kind: str = "ISO14443") -> dict:
            r = await cp.call(call201.Authorize(id_token={"id_token": token, "type": kind}))
            return r.id_token_info

        ok = await info("OK-1")
        assert ok["status"] == "Accepted"
        assert ok["group_id_token"] == {"id_token": "GROUP-1", "type": "Central"}
        assert (await info("BLOCKED-1"))["status"] == "Blocked"
        assert (await info("INVALID-1"))["status"] == "Invalid"
        assert (await info("OLD-1"))["status"] == "Expired"
        assert (await info("NOBODY"))["status"] == "Unknown"
        assert (await info("", "NoAuthorization"))["status"] == "Accepted"
        assert (await info("FUTURE-1"))["cache_expiry_date_time"].startswith("2099-01-01")


async def test_authorize_emaid_with_certificate_hash_data(volta, tokens):
    """C07: certificate data is checked, never ignored. Here the responder is
    on an address Volta may not reach (the default SSRF rule), so the
    contract's status is unknown: certificateStatus CertChainError and the
    eMAID Invalid, although its token is Accepted and answers so alone
    (tests/blocks/test_plug_and_charge.py has the real responder)."""
    await add_token(volta, "NL-ABC-C12345678-X", token_type="eMAID")
    async with station(volta, "A201", "2.0.1") as cp:
        await cp.call(
            call201.BootNotification(
                charging_station={"model": "m", "vendor_name": "v"}, reason="PowerUp"
            )
        )
        r = await cp.call(
            call201.Authorize(
                id_token={"id_token": "NL-ABC-C12345678-X", "type": "eMAID"},
                iso15118_certificate_hash_data=[
                    {
                        "hash_algorithm": "SHA256",
                        "issuer_name_hash": "a" * 64,
                        "issuer_key_hash": "b" * 64,
                        "serial_number": "01",
                        "responder_url": "http://127.0.0.1:9/ocsp",
                    }
                ],
            )
        )
        assert r.id_token_info["status"] == "Invalid"
        assert r.certificate_status == "CertChainError"
        r = await cp.call(
            call201.Authorize(id_token={"id_token": "NL-ABC-C12345678-X", "type": "eMAID"})
        )
        assert r.id_token_info["status"] == "Accepted"
        assert r.certificate_status is None
