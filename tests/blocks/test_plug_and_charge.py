"""Plug & Charge (ISO 15118 through OCPP) against a real OCSP responder over
HTTP and a real contract certificate provider over HTTP, on SQLite and
PostgreSQL: GetCertificateStatus (M06), Get15118EVCertificate (M01/M02),
Authorize with contract certificates beyond TC_C_50-52 (cache, responder
down or slow, forged answers, unknown eMAID, untrusted chains), the OCA's
1.6 DataTransfer wrapping, and the outbound-address rule (SSRF)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from cryptography.x509 import ocsp as x509_ocsp

from tests.helpers import RawStation, add_token, connect, register
from tests.pnc_pki import Pki, make_cert, new_key, pem, pnc_settings, running_pki
from volta.blocks.plug_and_charge import ocsp
from volta.blocks.plug_and_charge.ocsp import CertId

EMAID = "DEVOLC0000001A"
VENDOR = "org.openchargealliance.iso15118pnc"


@pytest.fixture
async def pki(tmp_path) -> AsyncIterator[Pki]:
    async with running_pki(tmp_path) as p:
        yield p


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    return {}


@pytest.fixture
def volta_settings(pki, extra_settings) -> dict[str, Any]:
    return pnc_settings(pki, **extra_settings)


@contextlib.asynccontextmanager
async def booted(
    volta: Any, version: str = "2.0.1", station_id: str | None = None
) -> AsyncIterator[RawStation]:
    station_id = station_id or ("PNC201" if version == "2.0.1" else "PNC16")
    await register(volta, station_id, password="pnc-station-password")
    protocol = "ocpp2.0.1" if version == "2.0.1" else "ocpp1.6"
    async with connect(volta, station_id, protocol, "pnc-station-password") as ws:
        raw = RawStation(ws)
        if version == "2.0.1":
            boot = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
        else:
            boot = {"chargePointVendor": "V", "chargePointModel": "M"}
        frame = await raw.call("BootNotification", boot)
        assert frame[2]["status"] == "Accepted"
        yield raw


async def result(raw: RawStation, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    frame = await raw.call(action, payload)
    assert frame[0] == 3, frame
    return frame[2]


def emaid_token(value: str = EMAID) -> dict[str, str]:
    return {"idToken": value, "type": "eMAID"}


# -- Authorize (C07) beyond the conformance cases ---------------------------------


async def test_authorize_answers_are_cached_until_next_update(volta, pki):
    """C07.FR.05 "real-time or cached OCSP data": the second Authorize of
    the same contract is answered from the cache, the responder is asked
    once per certificate."""
    await add_token(volta, EMAID, token_type="eMAID")
    contract = pki.contract(EMAID)
    body = {"idToken": emaid_token(), "iso15118CertificateHashData": pki.hash_data(contract)}
    async with booted(volta) as raw:
        first = await result(raw, "Authorize", body)
        second = await result(raw, "Authorize", body)
    assert (
        first == second == {"idTokenInfo": {"status": "Accepted"}, "certificateStatus": "Accepted"}
    )
    assert pki.responder.requests == 2


async def test_concurrent_authorizes_share_one_ocsp_request(volta, pki):
    """Two stations authorizing the same contract at once: one request per
    certificate reaches the responder, both get the answer."""
    await add_token(volta, EMAID, token_type="eMAID")
    contract = pki.contract(EMAID)
    pki.responder.mode = "delayed"
    body = {"idToken": emaid_token(), "iso15118CertificateHashData": pki.hash_data(contract)}
    async with booted(volta) as one, booted(volta, station_id="PNC201B") as two:
        answers = await asyncio.gather(
            result(one, "Authorize", body), result(two, "Authorize", body)
        )
    assert answers == [{"idTokenInfo": {"status": "Accepted"}, "certificateStatus": "Accepted"}] * 2
    assert pki.responder.requests == 2


async def test_unknown_emaid_with_a_good_certificate(volta, pki):
    """The certificate is good but Volta has no token for the eMAID: the
    certificate is Accepted, the token Unknown (C07.FR.04: a reason for rejection)."""
    contract = pki.contract("DEVOLC0000009Z")
    async with booted(volta) as raw:
        r = await result(
            raw,
            "Authorize",
            {
                "idToken": emaid_token("DEVOLC0000009Z"),
                "iso15118CertificateHashData": pki.hash_data(contract),
            },
        )
    assert r == {"idTokenInfo": {"status": "Unknown"}, "certificateStatus": "Accepted"}


async def test_blocked_emaid_keeps_its_status(volta, pki):
    await add_token(volta, EMAID, token_type="eMAID", status="Blocked")
    contract = pki.contract(EMAID)
    async with booted(volta) as raw:
        r = await result(
            raw, "Authorize", {"idToken": emaid_token(), "certificate": pki.chain_pem(contract)}
        )
    assert r == {"idTokenInfo": {"status": "Blocked"}, "certificateStatus": "Accepted"}


@pytest.mark.parametrize(
    ("mode", "expected_requests"), [("down", 1), ("forged", 1), ("unknown", 1)]
)
async def test_no_usable_ocsp_answer_refuses(volta, pki, mode, expected_requests):
    """A responder that fails (HTTP 503), answers with a signature not the
    issuer's, or does not know the certificate: Volta cannot learn the
    contract's status and does not accept it (CertChainError, Invalid)."""
    await add_token(volta, EMAID, token_type="eMAID")
    contract = pki.contract(EMAID)
    pki.responder.mode = mode
    async with booted(volta) as raw:
        r = await result(
            raw,
            "Authorize",
            {"idToken": emaid_token(), "iso15118CertificateHashData": pki.hash_data(contract)[:1]},
        )
    assert r == {"idTokenInfo": {"status": "Invalid"}, "certificateStatus": "CertChainError"}
    assert pki.responder.requests == expected_requests


async def test_slow_responder_is_bounded_by_the_timeout(volta, pki):
    """pnc_ocsp_timeout (1 s here) bounds the wait; the station is answered
    well within its own call timeout."""
    await add_token(volta, EMAID, token_type="eMAID")
    contract = pki.contract(EMAID)
    pki.responder.mode = "slow"
    async with booted(volta) as raw:
        started = time.monotonic()
        r = await result(
            raw,
            "Authorize",
            {"idToken": emaid_token(), "iso15118CertificateHashData": pki.hash_data(contract)},
        )
        took = time.monotonic() - started
    assert r["certificateStatus"] == "CertChainError"
    assert r["idTokenInfo"]["status"] == "Invalid"
    assert took < 4


async def test_central_validation_refuses_bad_chains(volta, pki, tmp_path):
    """C07.FR.06: a chain that does not end in a configured root (forged or
    foreign), a sub-CA as the contract, an expired
    contract, a contract for another eMAID, a revoked one."""
    await add_token(volta, EMAID, token_type="eMAID")
    # Another PKI's contract: same names, other keys.
    (tmp_path / "other").mkdir()
    async with running_pki(tmp_path / "other") as other:
        stranger = other.contract(EMAID)
        stranger_chain = other.chain_pem(stranger)
    lone_key = new_key()
    lone = make_cert("Unknown Root", lone_key, None, ca=True)
    orphan = make_cert(EMAID, new_key(), (lone, lone_key), ca=False, ocsp_url=pki.responder.url)
    expired = make_cert(
        EMAID,
        new_key(),
        (pki.sub, pki.sub_key),
        ca=False,
        ocsp_url=pki.responder.url,
        not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=3),
        days=1,
    )
    cases = [
        (stranger_chain, "SignatureError"),  # its sub-CA names our root
        (pem(orphan), "CertChainError"),  # no configured root issued it
        (pem(expired, pki.sub), "CertificateExpired"),
        (pki.chain_pem(pki.contract("DEVOLC0000002B")), "CertChainError"),
        (pki.chain_pem(pki.contract(EMAID, revoked=True)), "CertificateRevoked"),
        (pki.chain_pem(pki.contract(EMAID, ocsp_url="")), "CertChainError"),
        ("not a certificate", "CertChainError"),
        (pem(junk_aia(pki), pki.sub), "CertChainError"),  # extensions unreadable
    ]
    async with booted(volta) as raw:
        for chain, expected in cases:
            r = await result(raw, "Authorize", {"idToken": emaid_token(), "certificate": chain})
            assert r == {"idTokenInfo": {"status": "Invalid"}, "certificateStatus": expected}, (
                expected
            )


def junk_aia(pki: Pki) -> Any:
    """A contract whose Authority Information Access is not DER."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtensionOID, NameOID

    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, EMAID)]))
        .issuer_name(pki.sub.subject)
        .public_key(new_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.UnrecognizedExtension(ExtensionOID.AUTHORITY_INFORMATION_ACCESS, b"\x01\x02"),
            critical=False,
        )
        .sign(pki.sub_key, hashes.SHA256())
    )


async def test_bad_hash_data_is_refused_not_an_error(volta, pki):
    async with booted(volta) as raw:
        r = await result(
            raw,
            "Authorize",
            {
                "idToken": emaid_token(),
                "iso15118CertificateHashData": [
                    {
                        "hashAlgorithm": "SHA256",
                        "issuerNameHash": "zz",
                        "issuerKeyHash": "00",
                        "serialNumber": "1",
                        "responderURL": pki.responder.url,
                    }
                ],
            },
        )
    assert r == {"idTokenInfo": {"status": "Invalid"}, "certificateStatus": "CertChainError"}
    assert pki.responder.requests == 0


# -- SSRF: responders on internal addresses ---------------------------------------


@pytest.mark.parametrize("extra_settings", [{"pnc_allowed_networks": ""}])
async def test_private_responder_is_not_requested_unless_allowed(volta, pki):
    """The responder URL is the station's (or the EV's): a loopback address
    is not connected to by default (the webhook rule, events/targets.py);
    the tests elsewhere allow 127.0.0.1 with pnc_allowed_networks."""
    await add_token(volta, EMAID, token_type="eMAID")
    contract = pki.contract(EMAID)
    async with booted(volta) as raw:
        r = await result(
            raw,
            "Authorize",
            {"idToken": emaid_token(), "iso15118CertificateHashData": pki.hash_data(contract)},
        )
        assert r == {"idTokenInfo": {"status": "Invalid"}, "certificateStatus": "CertChainError"}
        r = await result(
            raw, "Authorize", {"idToken": emaid_token(), "certificate": pki.chain_pem(contract)}
        )
        assert r["certificateStatus"] == "CertChainError"
        localhost = pki.hash_data(contract, url=f"http://localhost:{pki.responder.port}/ocsp")
        r = await result(raw, "GetCertificateStatus", {"ocspRequestData": localhost[0]})
        assert r["status"] == "Failed"
    assert pki.responder.requests == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "http://exa mple.com/",
        "ftp://127.0.0.1/",
        "http://",
        "http://xn--a.example/",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/",
        "http://2130706433/",
        "file:///etc/passwd",
    ],
)
@pytest.mark.parametrize("extra_settings", [{"pnc_allowed_networks": ""}])
async def test_bad_or_internal_responder_urls_fail_cleanly(volta, pki, url):
    """Whatever URL a station names, the answer is Failed, never an
    InternalError, and nothing internal is asked."""
    contract = pki.contract("STATIONCERT09")
    data = pki.hash_data(contract, url=url)[0]
    async with booted(volta) as raw:
        r = await result(raw, "GetCertificateStatus", {"ocspRequestData": data})
    assert r["status"] == "Failed"
    assert r["statusInfo"]["reasonCode"] == "OCSPUnavailable"


# -- GetCertificateStatus (M06) ---------------------------------------------------


async def test_get_certificate_status(volta, pki):
    """M06 (Get Certificate Status): the station asks the OCSP status of its V2G certificate:
    Accepted with the responder's DER answer, base64, which says good or
    revoked; Failed when the responder is down."""
    good = pki.contract("STATIONCERT01")
    revoked = pki.contract("STATIONCERT02", revoked=True)
    async with booted(volta) as raw:
        r = await result(raw, "GetCertificateStatus", {"ocspRequestData": pki.hash_data(good)[0]})
        assert r["status"] == "Accepted"
        answer = x509_ocsp.load_der_ocsp_response(base64.b64decode(r["ocspResult"]))
        assert answer.certificate_status is x509_ocsp.OCSPCertStatus.GOOD
        assert answer.serial_number == good.serial_number
        r = await result(
            raw, "GetCertificateStatus", {"ocspRequestData": pki.hash_data(revoked)[0]}
        )
        answer = x509_ocsp.load_der_ocsp_response(base64.b64decode(r["ocspResult"]))
        assert answer.certificate_status is x509_ocsp.OCSPCertStatus.REVOKED
        pki.responder.mode = "down"
        fresh = pki.contract("STATIONCERT03")
        r = await result(raw, "GetCertificateStatus", {"ocspRequestData": pki.hash_data(fresh)[0]})
        assert r["status"] == "Failed"
        assert r["statusInfo"]["reasonCode"] == "OCSPUnavailable"
        assert "ocspResult" not in r


# -- Get15118EVCertificate (M01 / M02) through a provider over HTTP -----------------


class Provider:
    """A contract certificate service over HTTP (what pnc_provider_url names)."""

    def __init__(self, answer: bytes, status: int = 200) -> None:
        self.answer = answer
        self.status = status
        self.received: list[dict[str, Any]] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        self.received.append(orjson.loads(await reader.readexactly(length)))
        writer.write(
            f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(self.answer)}\r\nConnection: close\r\n\r\n".encode()
            + self.answer
        )
        await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def provider(answer: bytes, status: int = 200) -> AsyncIterator[Provider]:
    p = Provider(answer, status)
    server = await asyncio.start_server(p.handle, "127.0.0.1", 0)
    p.port = server.sockets[0].getsockname()[1]
    try:
        yield p
    finally:
        server.close()


EXI_REQUEST = base64.b64encode(b"\x80\x98\x02 CertificateInstallationReq (EXI)").decode()
EXI_RESPONSE = base64.b64encode(b"\x80\x98\x02 CertificateInstallationRes (EXI)").decode()
GOOD_ANSWER = orjson.dumps({"status": "Accepted", "exiResponse": EXI_RESPONSE})


@pytest.fixture
async def http_provider() -> AsyncIterator[Provider]:
    async with provider(GOOD_ANSWER) as p:
        yield p


async def test_get_15118_ev_certificate_through_the_provider(volta, http_provider):
    """M01.FR.01 / M02: the EXI request goes to the provider as it came; its
    EXI response goes back to the station."""
    volta.settings.pnc_provider_url = f"http://127.0.0.1:{http_provider.port}/ev-certificate"
    request = {
        "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
        "action": "Install",
        "exiRequest": EXI_REQUEST,
    }
    async with booted(volta) as raw:
        r = await result(raw, "Get15118EVCertificate", request)
    assert r == {"status": "Accepted", "exiResponse": EXI_RESPONSE}
    assert http_provider.received == [
        {
            "stationId": "PNC201",
            "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
            "action": "Install",
            "exiRequest": EXI_REQUEST,
        }
    ]


@pytest.mark.parametrize(
    ("answer", "status", "reason"),
    [
        (b"not json", 200, "ProviderError"),
        (orjson.dumps({"status": "Accepted", "exiResponse": "!!"}), 200, "ProviderError"),
        (orjson.dumps({"status": "Failed", "exiResponse": ""}), 200, "ProviderFailed"),
        (b"{}", 500, "ProviderError"),
    ],
)
async def test_get_15118_ev_certificate_provider_failures(volta, answer, status, reason):
    async with provider(answer, status) as p, booted(volta) as raw:
        volta.settings.pnc_provider_url = f"http://127.0.0.1:{p.port}/"
        r = await result(
            raw,
            "Get15118EVCertificate",
            {
                "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
                "action": "Update",
                "exiRequest": EXI_REQUEST,
            },
        )
    assert r["status"] == "Failed"
    assert r["exiResponse"] == ""
    assert r["statusInfo"]["reasonCode"] == reason


async def test_get_15118_ev_certificate_without_provider(volta):
    async with booted(volta) as raw:
        r = await result(
            raw,
            "Get15118EVCertificate",
            {
                "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
                "action": "Install",
                "exiRequest": EXI_REQUEST,
            },
        )
    assert r == {
        "status": "Failed",
        "exiResponse": "",
        "statusInfo": {"reasonCode": "NoProvider", "additionalInfo": "provider none"},
    }


# -- OCPP 1.6: the OCA's DataTransfer wrapping ---------------------------------------


def wrapped(message_id: str, payload: Any) -> dict[str, Any]:
    data = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return {"vendorId": VENDOR, "messageId": message_id, "data": data}


async def test_16_pnc_data_transfer(volta, pki, http_provider):
    """ "Using ISO 15118 Plug & Charge with OCPP 1.6": Authorize,
    GetCertificateStatus and Get15118EVCertificate as DataTransfer, answered
    Accepted with the 2.0.1 response as JSON text; an unknown messageId is
    UnknownMessageId, a payload that is not a valid 2.0.1 request Rejected."""
    volta.settings.pnc_provider_url = f"http://127.0.0.1:{http_provider.port}/"
    await add_token(volta, EMAID, token_type="eMAID")
    good = pki.contract(EMAID)
    revoked = pki.contract("DEVOLC0000003C", revoked=True)
    async with booted(volta, "1.6") as raw:
        r = await result(
            raw,
            "DataTransfer",
            wrapped("Authorize", {"idToken": emaid_token(), "certificate": pki.chain_pem(good)}),
        )
        assert r["status"] == "Accepted"
        assert orjson.loads(r["data"]) == {
            "idTokenInfo": {"status": "Accepted"},
            "certificateStatus": "Accepted",
        }
        r = await result(
            raw,
            "DataTransfer",
            wrapped(
                "Authorize",
                {
                    "idToken": emaid_token("DEVOLC0000003C"),
                    "iso15118CertificateHashData": pki.hash_data(revoked),
                },
            ),
        )
        assert orjson.loads(r["data"]) == {
            "idTokenInfo": {"status": "Invalid"},
            "certificateStatus": "CertificateRevoked",
        }
        r = await result(
            raw,
            "DataTransfer",
            wrapped("GetCertificateStatus", {"ocspRequestData": pki.hash_data(good)[0]}),
        )
        inner = orjson.loads(r["data"])
        assert inner["status"] == "Accepted"
        der = base64.b64decode(inner["ocspResult"])
        assert (
            x509_ocsp.load_der_ocsp_response(der).certificate_status
            is x509_ocsp.OCSPCertStatus.GOOD
        )
        r = await result(
            raw,
            "DataTransfer",
            wrapped(
                "Get15118EVCertificate",
                {
                    "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
                    "action": "Install",
                    "exiRequest": EXI_REQUEST,
                },
            ),
        )
        assert orjson.loads(r["data"]) == {"status": "Accepted", "exiResponse": EXI_RESPONSE}
        assert http_provider.received[0]["stationId"] == "PNC16"
        r = await result(raw, "DataTransfer", wrapped("Heartbeat", {}))
        assert r == {"status": "UnknownMessageId"}
        r = await result(raw, "DataTransfer", wrapped("Authorize", "{not json"))
        assert r == {"status": "Rejected"}
        r = await result(raw, "DataTransfer", wrapped("Authorize", {"idToken": "x"}))
        assert r == {"status": "Rejected"}
        r = await result(raw, "DataTransfer", {"vendorId": "com.example", "messageId": "Authorize"})
        assert r == {"status": "UnknownVendorId"}


async def test_201_data_transfer_is_not_the_16_wrapping(volta):
    """2.0.1 stations send these messages natively; the vendorId stays unknown there."""
    async with booted(volta) as raw:
        r = await result(raw, "DataTransfer", wrapped("Authorize", {"idToken": emaid_token()}))
    assert r == {"status": "UnknownVendorId"}


# -- the cache itself ---------------------------------------------------------------


def test_cache_is_bounded_and_forgets_at_next_update():
    cache = ocsp.OcspCache()
    now = dt.datetime.now(dt.UTC)
    later = now + dt.timedelta(minutes=10)
    for n in range(5):
        cache.put((n,), ocsp.OcspAnswer(ocsp.CertStatus.GOOD, next_update=later), limit=3)
    assert len(cache) == 3
    assert cache.get((0,), now) is None
    assert cache.get((4,), now) is not None
    assert cache.get((4,), later) is None  # expired at its nextUpdate
    cache.put((9,), ocsp.OcspAnswer(ocsp.CertStatus.GOOD), limit=3)
    assert cache.get((9,), now) is None  # no nextUpdate: never cached


def test_cert_id_round_trip():
    key = new_key()
    root = make_cert("root", key, None, ca=True)
    leaf = make_cert("leaf", new_key(), (root, key), ca=False)
    cert_id = CertId.of(leaf, root, "http://ocsp.example/")
    data = cert_id.to_ocpp()
    assert CertId.from_ocpp(data) == cert_id
    # The hashes are what cryptography's own request builder computes.
    from cryptography.hazmat.primitives import hashes

    built = x509_ocsp.OCSPRequestBuilder().add_certificate(leaf, root, hashes.SHA256()).build()
    assert built.issuer_key_hash == cert_id.issuer_key_hash
    assert built.issuer_name_hash == cert_id.issuer_name_hash


# -- the API ------------------------------------------------------------------------


async def test_api_status_check_and_cache(volta, api, pki):
    """GET /plug-and-charge names the configured root; POST
    /plug-and-charge/contract-check validates a chain as a central Authorize
    would; DELETE /plug-and-charge/ocsp-cache makes Volta ask again."""
    r = await api.get("/api/v1/plug-and-charge")
    assert r.status_code == 200
    body = r.json()
    assert [root["subject"] for root in body["trust_roots"]] == ["CN=V2G Root CA (test)"]
    assert body["provider"] == "none"
    await add_token(volta, EMAID, token_type="eMAID")
    good = pki.chain_pem(pki.contract(EMAID))
    r = await api.post(
        "/api/v1/plug-and-charge/contract-check", json={"certificate": good, "id_token": EMAID}
    )
    assert r.json() == {
        "certificate_status": "Accepted",
        "id_token_status": "Accepted",
        "reason": "",
    }
    assert pki.responder.requests == 2
    r = await api.post(
        "/api/v1/plug-and-charge/contract-check", json={"certificate": good, "id_token": EMAID}
    )
    assert pki.responder.requests == 2  # cached
    assert (await api.delete("/api/v1/plug-and-charge/ocsp-cache")).status_code == 204
    r = await api.post(
        "/api/v1/plug-and-charge/contract-check", json={"certificate": good, "id_token": EMAID}
    )
    assert r.json()["certificate_status"] == "Accepted"
    assert pki.responder.requests == 4
    revoked = pki.chain_pem(pki.contract(EMAID, revoked=True))
    r = await api.post(
        "/api/v1/plug-and-charge/contract-check", json={"certificate": revoked, "id_token": EMAID}
    )
    assert r.json() == {
        "certificate_status": "CertificateRevoked",
        "id_token_status": "Invalid",
        "reason": "revoked",
    }
    r = await api.post(
        "/api/v1/plug-and-charge/contract-check",
        json={"certificate": "x" * 10_001, "id_token": EMAID},
    )
    assert r.status_code == 422
    assert "detail" in r.json()
    r = await api.post(
        "/api/v1/plug-and-charge/contract-check", json={"certificate": "junk", "id_token": EMAID}
    )
    assert r.status_code == 200
    assert r.json()["certificate_status"] == "CertChainError"


def test_16_wrapping_of_outgoing_messages():
    """What the certificates block sends a 1.6 station (CertificateSigned,
    InstallCertificate, ...) goes in DataTransfer as the whitepaper says."""
    from volta.blocks.plug_and_charge.wrapping import unwrap_answer, wrap
    from volta.outgoing import Message

    sent = wrap(
        Message(
            "CertificateSigned", {"certificateChain": "PEM", "certificateType": "V2GCertificate"}
        )
    )
    assert sent.action == "DataTransfer"
    assert sent.payload["vendorId"] == VENDOR
    assert sent.payload["messageId"] == "CertificateSigned"
    assert orjson.loads(sent.payload["data"]) == {
        "certificateChain": "PEM",
        "certificateType": "V2GCertificate",
    }
    assert unwrap_answer({"status": "Accepted", "data": '{"status": "Accepted"}'}) == {
        "status": "Accepted"
    }
    assert unwrap_answer({"status": "Rejected"}) is None
    assert unwrap_answer({"status": "Accepted", "data": "[1]"}) is None
    with pytest.raises(ValueError):
        wrap(Message("Reset", {"type": "Hard"}))
