"""TLS on the OCPP port as the specification asks, security profile 3 (mutual
TLS) and the security profile per station, over real TLS with a PKI made in
the test (tests/security/tls_pki.py), on both transports.

Requirements: OCPP 2.0.1 Part 2 A00.FR.314/315 (TLS 1.2 or above), A00.FR.318
(the CSMS's cipher suites), A00.FR.409/410/415/416/421 (client certificate,
subject CN = the station's identity), A05.FR.07 (never back to a lower
profile); the 1.6 security whitepaper §2 (the same, for 1.6 stations).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.exceptions import InvalidMessage, InvalidStatus

from tests.conftest import TRANSPORTS, api_client
from tests.helpers import basic_auth, register
from tests.security.tls_pki import Authority, Issued, client_context
from volta.app import Volta
from volta.blocks.security import log as seclog
from volta.gateway.tls import TLS12_CIPHERS

PASSWORD = "station-password-1"
# A handshake OpenSSL aborted: under TLS 1.2 the client sees the alert; under
# TLS 1.3 the client's part ends first, so it learns of it when its HTTP
# request gets no answer (InvalidMessage). Never an HTTP status.
HANDSHAKE_FAILED = (ssl.SSLError, ConnectionError, EOFError, InvalidMessage)
V201, V16 = "ocpp2.0.1", "ocpp1.6"


@dataclass
class Pki:
    server_ca: Authority
    rsa: Issued
    ecdsa: Issued
    station_ca: Authority
    stranger_ca: Authority
    clients: dict[str, Issued]


@pytest.fixture(scope="module")
def pki() -> Pki:
    server_ca = Authority.create("Volta Test CSMS Root")
    station_ca = Authority.create("Volta Test Station CA", key="ecdsa")
    stranger_ca = Authority.create("Somebody Else's CA")
    clients = {
        "CP1": station_ca.issue_client("CP1"),
        "CP2": station_ca.issue_client("CP2", key="ecdsa"),
        "CP16": station_ca.issue_client("CP16"),
        "REVOKED": station_ca.issue_client("REVOKED"),
        "STRANGER": stranger_ca.issue_client("CP1"),
    }
    return Pki(
        server_ca,
        server_ca.issue_server("127.0.0.1"),
        server_ca.issue_server("127.0.0.1", key="ecdsa"),
        station_ca,
        stranger_ca,
        clients,
    )


@pytest.fixture
def files(pki: Pki, tmp_path: Path) -> dict[str, str]:
    rsa_cert, rsa_key = pki.rsa.write(tmp_path / "server-rsa")
    ec_cert, ec_key = pki.ecdsa.write(tmp_path / "server-ecdsa")
    return {
        "tls_cert": rsa_cert,
        "tls_key": rsa_key,
        "tls_cert_ecdsa": ec_cert,
        "tls_key_ecdsa": ec_key,
        "tls_client_ca": pki.station_ca.write(tmp_path / "station-ca.pem"),
    }


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def volta_settings(files: dict[str, str]) -> dict[str, object]:
    return {**files, "ocpp_plain_port": 0, "tls_reload_interval": 0}


def wss(volta: Any, station_id: str) -> str:
    return f"wss://127.0.0.1:{volta.ocpp_port}/ocpp/{station_id}"


def context(pki: Pki, tmp_path: Path, client: str | None = None) -> ssl.SSLContext:
    return client_context(pki.server_ca, pki.clients[client] if client else None, tmp=tmp_path)


def open_station(
    url: str, ctx: ssl.SSLContext | None, station_id: str, *, password: str | None = None,
    protocol: str = V201,
) -> Any:  # fmt: skip
    return websockets.connect(
        url,
        ssl=ctx,
        subprotocols=[protocol],  # type: ignore[list-item]
        additional_headers=basic_auth(station_id, password) if password else None,
        open_timeout=5,
    )


async def refused_status(url: str, ctx: ssl.SSLContext | None, station_id: str, **kw: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with open_station(url, ctx, station_id, **kw):
            pass
    return info.value.response.status_code


async def boot(ws: Any, protocol: str = V201) -> dict[str, Any]:
    if protocol == V16:
        payload: dict[str, Any] = {"chargePointVendor": "v", "chargePointModel": "m"}
    else:
        payload = {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}}
    await ws.send(orjson.dumps([2, "b1", "BootNotification", payload]).decode())
    answer = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    assert answer[0] == 3, answer
    return dict(answer[2])


async def stored_profile(volta: Any, station_id: str) -> int | None:
    async with api_client(volta) as api:
        r = await api.get(f"/api/v1/stations/{station_id}")
        assert r.status_code == 200
        return r.json()["security_profile"]  # type: ignore[no-any-return]


async def events_of(volta: Volta, kind: str, station_id: str) -> list[str]:
    """The tech info of the stored security events of `kind` for
    `station_id` (recorded in the background: waited for, up to 2.5 s)."""
    for _ in range(50):
        found = await seclog.list_events(volta.db, station_id=station_id, kind=kind)
        if found:
            return [e.tech_info or "" for e in found]
        await asyncio.sleep(0.05)
    return []


# -- profile 3 -----------------------------------------------------------------


async def test_client_certificate_admits_without_password(volta, pki, tmp_path):
    """A00.FR.409/410: a certificate of a configured CA with CN = the station
    id admits the station with no Basic credentials (profile 3); the stored
    profile becomes 3."""
    await register(volta, "CP1", password=PASSWORD)
    async with open_station(wss(volta, "CP1"), context(pki, tmp_path, "CP1"), "CP1") as ws:
        assert (await boot(ws))["status"] == "Accepted"
        assert ws.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    assert await stored_profile(volta, "CP1") == 3


async def test_ecdsa_client_certificate(volta, pki, tmp_path):
    """A station certificate with an ECDSA key works as an RSA one does."""
    await register(volta, "CP2")
    async with open_station(wss(volta, "CP2"), context(pki, tmp_path, "CP2"), "CP2") as ws:
        assert (await boot(ws))["status"] == "Accepted"
    assert await stored_profile(volta, "CP2") == 3


async def test_certificate_of_another_station_is_refused(volta, pki, tmp_path):
    """A00.FR.410: the CN must be the station's identity: CP1's certificate
    does not open CP2 (401, as a wrong password), even with CP2's right
    password, and the refusal is a security event."""
    await register(volta, "CP2", password=PASSWORD)
    ctx = context(pki, tmp_path, "CP1")
    assert await refused_status(wss(volta, "CP2"), ctx, "CP2", password=PASSWORD) == 401
    assert await events_of(volta, "InvalidChargingStationCertificate", "CP2")
    assert await stored_profile(volta, "CP2") is None


async def test_certificate_of_unknown_ca_fails_the_handshake(volta, pki, tmp_path):
    """TC_A_08 in short: a certificate from a CA Volta does not trust ends
    the TLS handshake (OpenSSL's alert), before any HTTP."""
    await register(volta, "CP1", password=PASSWORD)
    with pytest.raises(HANDSHAKE_FAILED):
        async with open_station(
            wss(volta, "CP1"), context(pki, tmp_path, "STRANGER"), "CP1", password=PASSWORD
        ) as ws:
            await ws.recv()  # TLS 1.3: the client learns of the alert on its first read


# -- never lowered ---------------------------------------------------------------


async def test_downgrade_is_refused_and_recorded(volta, pki, tmp_path):
    """A05.FR.07: once a station connected with profile 3, a TLS connection
    with only its (right) password and a plain one are refused with the same
    401 as a wrong password, and each attempt is a security event."""
    await register(volta, "CP1", password=PASSWORD)
    async with open_station(wss(volta, "CP1"), context(pki, tmp_path, "CP1"), "CP1"):
        pass
    assert await stored_profile(volta, "CP1") == 3
    status = await refused_status(
        wss(volta, "CP1"), context(pki, tmp_path), "CP1", password=PASSWORD
    )
    assert status == 401
    plain = f"ws://127.0.0.1:{volta.gateway.plain_port}/ocpp/CP1"
    assert await refused_status(plain, None, "CP1", password=PASSWORD) == 401
    hits = await events_of(volta, "SecurityProfileDowngradeAttempt", "CP1")
    assert hits and "profile 2, station at 3" in " ".join(hits)
    # The certificate still opens it.
    async with open_station(wss(volta, "CP1"), context(pki, tmp_path, "CP1"), "CP1") as ws:
        assert (await boot(ws))["status"] == "Accepted"


async def test_profile_2_station_refused_on_the_plain_port(volta, pki, tmp_path):
    """Profile 2 raised by the first TLS connection; profile 1 (plain port)
    served beside it for stations still at 1."""
    await register(volta, "SP2", password=PASSWORD)
    await register(volta, "SP1", password=PASSWORD)
    async with open_station(wss(volta, "SP2"), context(pki, tmp_path), "SP2", password=PASSWORD):
        pass
    assert await stored_profile(volta, "SP2") == 2
    plain = volta.gateway.plain_port
    status = await refused_status(
        f"ws://127.0.0.1:{plain}/ocpp/SP2", None, "SP2", password=PASSWORD
    )
    assert status == 401
    async with open_station(
        f"ws://127.0.0.1:{plain}/ocpp/SP1", None, "SP1", password=PASSWORD
    ) as ws:
        assert (await boot(ws))["status"] == "Accepted"
    assert await stored_profile(volta, "SP1") == 1


@pytest.mark.parametrize("transport", ["picows"])
async def test_operator_sets_and_lowers_the_profile(volta, pki, tmp_path):
    """The API raises a profile at will; lowering needs allow_lower (409
    without, in the JSON error shape); a station set to 3 is refused on 2."""
    await register(volta, "CP1", password=PASSWORD)
    async with api_client(volta) as api:
        r = await api.patch("/api/v1/stations/CP1", json={"security_profile": 3})
        assert r.status_code == 200 and r.json()["security_profile"] == 3
        r = await api.patch("/api/v1/stations/CP1", json={"security_profile": 2})
        assert r.status_code == 409 and "allow_lower" in r.json()["detail"]
        r = await api.patch("/api/v1/stations/CP1", json={"security_profile": 4})
        assert r.status_code == 422
        r = await api.patch("/api/v1/stations/CP1", json={"security_profile": None})
        assert r.status_code == 422
    status = await refused_status(
        wss(volta, "CP1"), context(pki, tmp_path), "CP1", password=PASSWORD
    )
    assert status == 401
    async with api_client(volta) as api:
        r = await api.patch(
            "/api/v1/stations/CP1", json={"security_profile": 2, "allow_lower": True}
        )
        assert r.status_code == 200 and r.json()["security_profile"] == 2
    async with open_station(wss(volta, "CP1"), context(pki, tmp_path), "CP1", password=PASSWORD):
        pass


async def test_1_6_station_with_client_certificate(volta, pki, tmp_path):
    """1.6 security whitepaper §2.4 (TC_087_CSMS in tests/conformance): a
    1.6 station on profile 3."""
    await register(volta, "CP16", password=PASSWORD)
    ctx = context(pki, tmp_path, "CP16")
    async with open_station(wss(volta, "CP16"), ctx, "CP16", protocol=V16) as ws:
        assert ws.subprotocol == V16
        assert (await boot(ws, V16))["status"] == "Accepted"
    assert await stored_profile(volta, "CP16") == 3


# -- revocation ------------------------------------------------------------------


class TestRevocation:
    @pytest.fixture
    def volta_settings(self, files, pki, tmp_path):
        crl = tmp_path / "stations.crl"
        crl.write_bytes(pki.station_ca.crl([pki.clients["REVOKED"]]))
        return {**files, "tls_client_crl": str(crl), "tls_reload_interval": 0}

    async def test_revoked_certificate_fails_the_handshake(self, volta, pki, tmp_path):
        """A certificate on its CA's CRL ends the handshake; one that is not
        still opens its station."""
        await register(volta, "REVOKED")
        await register(volta, "CP1")
        with pytest.raises(HANDSHAKE_FAILED):
            async with open_station(
                wss(volta, "REVOKED"), context(pki, tmp_path, "REVOKED"), "REVOKED"
            ) as ws:
                await ws.recv()
        async with open_station(wss(volta, "CP1"), context(pki, tmp_path, "CP1"), "CP1") as ws:
            assert (await boot(ws))["status"] == "Accepted"

    async def test_crl_reloaded(self, volta, pki, tmp_path):
        """A station revoked after the start is refused once the new CRL is
        loaded (reload on the API), without a restart."""
        await register(volta, "CP1")
        async with open_station(wss(volta, "CP1"), context(pki, tmp_path, "CP1"), "CP1"):
            pass
        crl = tmp_path / "stations.crl"
        crl.write_bytes(pki.station_ca.crl([pki.clients["REVOKED"], pki.clients["CP1"]]))
        async with api_client(volta) as api:
            r = await api.post("/api/v1/tls/reload")
            assert r.status_code == 200 and r.json() == {"reloaded": True}
        with pytest.raises(HANDSHAKE_FAILED):
            async with open_station(wss(volta, "CP1"), context(pki, tmp_path, "CP1"), "CP1") as ws:
                await ws.recv()


# -- server certificates -----------------------------------------------------------


def tls12_client(pki: Pki, ciphers: str) -> ssl.SSLContext:
    ctx = client_context(pki.server_ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
    return ctx


async def handshake(port: int, ctx: ssl.SSLContext) -> ssl.SSLObject:
    """A bare TLS handshake with the OCPP port; the connection's SSLObject."""
    _, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1"), 5
    )
    try:
        obj = writer.get_extra_info("ssl_object")
        assert isinstance(obj, ssl.SSLObject)
        return obj
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def served_key(obj: ssl.SSLObject) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    der = obj.getpeercert(binary_form=True)
    assert der is not None
    key = x509.load_der_x509_certificate(der).public_key()
    return "ecdsa" if isinstance(key, ec.EllipticCurvePublicKey) else (
        "rsa" if isinstance(key, rsa.RSAPublicKey) else "other"
    )  # fmt: skip


async def test_rsa_and_ecdsa_certificates_at_once(volta, pki):
    """A00.FR.318: a client offering only ECDSA suites gets the ECDSA
    certificate, one offering only TLS_RSA_WITH_AES_128_GCM_SHA256 (refused
    before this issue) gets the RSA one."""
    obj = await handshake(volta.ocpp_port, tls12_client(pki, "ECDHE-ECDSA-AES128-GCM-SHA256"))
    assert (obj.cipher() or ("",))[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert served_key(obj) == "ecdsa"
    obj = await handshake(volta.ocpp_port, tls12_client(pki, "AES128-GCM-SHA256"))
    assert (obj.cipher() or ("",))[0] == "AES128-GCM-SHA256"
    assert served_key(obj) == "rsa"
    obj = await handshake(volta.ocpp_port, tls12_client(pki, "AES256-GCM-SHA384"))
    assert served_key(obj) == "rsa"


async def test_tls_scan(volta, pki):
    """The scan of the port: TLS 1.0 and 1.1 refused, 1.2 and 1.3 accepted
    (A00.FR.314/315); every TLS 1.2 suite this OpenSSL knows tried one by one:
    exactly the A00.FR.318 ones (and their ECDHE_RSA twins) are accepted."""
    port = volta.ocpp_port

    def versioned(version: ssl.TLSVersion) -> ssl.SSLContext:
        ctx = client_context(pki.server_ca)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = version
            ctx.maximum_version = version
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        return ctx

    outcome: dict[str, bool] = {}
    for name, version in [
        ("TLSv1", ssl.TLSVersion.TLSv1),
        ("TLSv1.1", ssl.TLSVersion.TLSv1_1),
        ("TLSv1.2", ssl.TLSVersion.TLSv1_2),
        ("TLSv1.3", ssl.TLSVersion.TLSv1_3),
    ]:
        try:
            obj = await handshake(port, versioned(version))
            outcome[name] = obj.version() == name
        except (ssl.SSLError, OSError):
            outcome[name] = False
    assert outcome == {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True}

    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    suites = sorted(
        {c["name"] for c in probe.get_ciphers() if c["protocol"] == "TLSv1.2"}
        | {c["name"] for c in probe.get_ciphers() if c["protocol"] in ("TLSv1.0", "SSLv3")}
    )
    assert len(suites) > 20, suites  # the scan covers what OpenSSL offers
    accepted = []
    for suite in suites:
        try:
            ctx = tls12_client(pki, suite + ":@SECLEVEL=0")
        except ssl.SSLError:
            continue  # this OpenSSL cannot offer it at all
        try:
            obj = await handshake(port, ctx)
        except (ssl.SSLError, OSError):
            continue
        assert obj.version() == "TLSv1.2"
        accepted.append(suite)
    assert sorted(accepted) == sorted(TLS12_CIPHERS)


# -- reload ----------------------------------------------------------------------


class TestReload:
    @pytest.fixture
    def volta_settings(self, files):
        return {**files, "tls_reload_interval": 0.2}

    async def test_certificate_replaced_without_restart(self, volta, pki, files, tmp_path):
        """The certificate files replaced on disk: within tls_reload_interval
        new handshakes get the new certificate, and a station connected
        before keeps its connection and is answered."""
        await register(volta, "CP1")
        ctx = context(pki, tmp_path, "CP1")
        async with open_station(wss(volta, "CP1"), ctx, "CP1") as ws:
            await boot(ws)
            rsa_only = tls12_client(pki, "AES128-GCM-SHA256")
            old = (await handshake(volta.ocpp_port, rsa_only)).getpeercert(binary_form=True)
            assert old is not None
            new = pki.server_ca.issue_server("127.0.0.1")
            # Written as a deployment tool would: new files moved into place.
            stem = tmp_path / "next"
            cert, key = new.write(stem)
            os.replace(cert, files["tls_cert"])
            os.replace(key, files["tls_key"])
            served = old
            for _ in range(50):
                await asyncio.sleep(0.1)
                served = (await handshake(volta.ocpp_port, rsa_only)).getpeercert(True)
                if served != old:
                    break
            assert served == new.certificate.public_bytes(_der())
            # The connection opened before the reload lives on.
            await ws.send(orjson.dumps([2, "h1", "Heartbeat", {}]).decode())
            answer = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            assert answer[0] == 3 and "currentTime" in answer[2]
        # And client certificates still verify on the new context.
        async with open_station(wss(volta, "CP1"), ctx, "CP1") as ws:
            assert (await boot(ws))["status"] == "Accepted"

    async def test_broken_files_keep_the_old_certificate(self, volta, pki, files, tmp_path):
        """A half-written key is not loaded: the old certificate is served."""
        rsa_only = tls12_client(pki, "AES128-GCM-SHA256")
        old = (await handshake(volta.ocpp_port, rsa_only)).getpeercert(True)
        with open(files["tls_key"], "wb") as half_written:  # noqa: ASYNC230
            half_written.write(b"-----BEGIN PRIVATE KEY-----\nAAAA\n")
        await asyncio.sleep(0.6)
        assert (await handshake(volta.ocpp_port, rsa_only)).getpeercert(True) == old


def _der() -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER


# -- the API's and the CLI's doors ----------------------------------------------------


@pytest.mark.parametrize("transport", ["picows"])
async def test_upgrade_route_refuses_what_it_cannot_do(volta, pki, tmp_path):
    """POST /stations/{id}/security-profile: 404 unknown, 409 offline, 409 not
    higher than the stored profile, 422 for a 2.0.1 station without
    csms_url or a profile outside 2-3, all in the JSON error shape."""
    await register(volta, "CP1", password=PASSWORD)
    async with api_client(volta) as api:
        r = await api.post("/api/v1/stations/NOPE/security-profile", json={"security_profile": 3})
        assert r.status_code == 404 and "not found" in r.json()["detail"]
        r = await api.post("/api/v1/stations/CP1/security-profile", json={"security_profile": 3})
        assert r.status_code == 409 and "not connected" in r.json()["detail"]
        r = await api.post("/api/v1/stations/CP1/security-profile", json={"security_profile": 1})
        assert r.status_code == 422 and r.json()["errors"]
        async with open_station(
            wss(volta, "CP1"), context(pki, tmp_path), "CP1", password=PASSWORD
        ) as ws:
            await boot(ws)
            r = await api.post(
                "/api/v1/stations/CP1/security-profile", json={"security_profile": 3}
            )
            assert r.status_code == 422 and "csms_url" in r.json()["detail"]
            r = await api.post(
                "/api/v1/stations/CP1/security-profile", json={"security_profile": 2}
            )
            assert r.status_code == 409 and "already" in r.json()["detail"]


def test_cli_sets_the_profile(tmp_path):
    """`volta stations update ID --security-profile N`: raising is plain,
    lowering needs --allow-lower (exit 1 and a message, no traceback). Run
    in-process (tests.test_cli.volta); the entry point has its own test."""
    from tests.test_cli import volta as run_volta

    url = f"sqlite:///{tmp_path}/volta.db"

    def volta(*args: str) -> subprocess.CompletedProcess[str]:
        return run_volta(url, *args)

    assert volta("stations", "add", "CP1").returncode == 0
    out = volta("stations", "update", "CP1", "--security-profile", "3")
    assert out.returncode == 0 and "security profile 3" in out.stdout
    out = volta("stations", "update", "CP1", "--security-profile", "2")
    assert out.returncode == 1 and "--allow-lower" in out.stderr
    assert "Traceback" not in out.stderr
    out = volta("stations", "update", "CP1", "--security-profile", "2", "--allow-lower")
    assert out.returncode == 0 and "security profile 2" in out.stdout
    out = volta("stations", "update", "CP1")
    assert "security profile 2" in out.stdout
    out = volta("stations", "update", "CP1", "--security-profile", "4")
    assert out.returncode == 2  # argparse: a usage error


class TestBehindTlsProxy:
    @pytest.fixture
    def volta_settings(self):
        return {"trusted_proxies": "127.0.0.1"}

    @pytest.mark.parametrize("transport", ["picows"])
    async def test_forwarded_proto_from_a_trusted_proxy_is_profile_2(self, volta):
        """A TLS proxy in front of a plain port: its X-Forwarded-Proto: https
        counts as TLS (profile 2); the header from anyone else does not."""
        await register(volta, "SP2", password=PASSWORD)
        url = f"ws://127.0.0.1:{volta.ocpp_port}/ocpp/SP2"
        async with websockets.connect(
            url,
            subprotocols=[V201],  # type: ignore[list-item]
            additional_headers={**basic_auth("SP2", PASSWORD), "X-Forwarded-Proto": "https"},
        ):
            pass
        assert await stored_profile(volta, "SP2") == 2
        # Without the header the same proxy's connection is profile 1: refused.
        assert await refused_status(url, None, "SP2", password=PASSWORD) == 401


async def test_forwarded_proto_from_an_untrusted_peer_is_ignored(volta, pki, tmp_path):
    """X-Forwarded-Proto from a peer that is not a trusted proxy is no TLS."""
    await register(volta, "SP1", password=PASSWORD)
    url = f"ws://127.0.0.1:{volta.gateway.plain_port}/ocpp/SP1"
    async with websockets.connect(
        url,
        subprotocols=[V201],  # type: ignore[list-item]
        additional_headers={**basic_auth("SP1", PASSWORD), "X-Forwarded-Proto": "https"},
    ):
        pass
    assert await stored_profile(volta, "SP1") == 1


@pytest.mark.parametrize("transport", ["picows"])
async def test_dashboard_shows_the_profile(volta, pki, tmp_path):
    """The station page says which profile the station is held to."""
    from tests.web.conftest import VIEWER, add_users, base_url, sign_in

    await add_users(volta)
    await register(volta, "CP1")
    async with httpx.AsyncClient(base_url=base_url(volta), timeout=15) as web:
        await sign_in(web, *VIEWER)
        page = await web.get("/stations/CP1")
        assert page.status_code == 200 and "not known yet" in page.text
        async with open_station(wss(volta, "CP1"), context(pki, tmp_path, "CP1"), "CP1"):
            pass
        page = await web.get("/stations/CP1")
        assert "3 (TLS with client certificate)" in page.text


@pytest.mark.parametrize("transport", ["picows"])
async def test_dashboard_sets_the_profile(volta):
    """An admin raises the profile from the station page; lowering it needs
    the 'allow' box; a viewer cannot."""
    from tests.web.conftest import ADMIN, add_users, base_url, csrf_of, sign_in

    await add_users(volta)
    await register(volta, "CP1")
    async with httpx.AsyncClient(base_url=base_url(volta), timeout=15) as web:
        await sign_in(web, *ADMIN)
        page = await web.get("/stations/CP1")
        headers = {"X-CSRF-Token": csrf_of(page.text)}
        url = "/stations/CP1/settings"
        r = await web.post(url, data={"security_profile": "3"}, headers=headers)
        assert r.status_code == 200 and "Saved" in r.text
        assert await stored_profile(volta, "CP1") == 3
        r = await web.post(url, data={"security_profile": "1"}, headers=headers)
        assert "allow" in r.text and await stored_profile(volta, "CP1") == 3
        r = await web.post(url, data={"security_profile": "7"}, headers=headers)
        assert r.status_code == 200 and await stored_profile(volta, "CP1") == 3
        lower = {"security_profile": "1", "allow_lower": "on"}
        r = await web.post(url, data=lower, headers=headers)
        assert "Saved" in r.text and await stored_profile(volta, "CP1") == 1


class TestClientCaDirectory:
    """tls_client_ca as an OpenSSL hashed directory (`openssl rehash`)."""

    @pytest.fixture
    def volta_settings(self, files, pki, tmp_path):
        import subprocess

        directory = tmp_path / "station-cas"
        directory.mkdir()
        pem = directory / "station-ca.pem"
        pem.write_bytes(pki.station_ca.pem)
        digest = subprocess.run(
            ["openssl", "x509", "-hash", "-noout", "-in", str(pem)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        (directory / f"{digest}.0").write_bytes(pki.station_ca.pem)
        return {**files, "tls_client_ca": str(directory), "tls_reload_interval": 0}

    @pytest.mark.parametrize("transport", ["picows"])
    async def test_certificate_from_a_ca_directory(self, volta, pki, tmp_path):
        await register(volta, "CP1")
        async with open_station(wss(volta, "CP1"), context(pki, tmp_path, "CP1"), "CP1") as ws:
            assert (await boot(ws))["status"] == "Accepted"
        assert await stored_profile(volta, "CP1") == 3


class TestOrganization:
    """tls_client_organization: the certificate's O must be the operator's."""

    @pytest.fixture
    def volta_settings(self, files):
        return {**files, "tls_client_organization": "Volta Test CPO", "tls_reload_interval": 0}

    @pytest.mark.parametrize("transport", ["picows"])
    async def test_certificate_of_another_operator_is_refused(self, volta, pki, tmp_path):
        """1.6 whitepaper §2.4: the CSMS checks that the certificate is the
        operator's (its O); another operator's, even with the right CN and
        from a trusted CA, is refused 401 and recorded."""
        await register(volta, "CP1")
        ours = context(pki, tmp_path, "CP1")
        theirs = client_context(
            pki.server_ca,
            pki.station_ca.issue_client("CP1", organization="Other CPO"),
            tmp=tmp_path,
        )
        assert await refused_status(wss(volta, "CP1"), theirs, "CP1") == 401
        hits = await events_of(volta, "InvalidChargingStationCertificate", "CP1")
        assert hits and "Other CPO" in hits[0]
        async with open_station(wss(volta, "CP1"), ours, "CP1") as ws:
            assert (await boot(ws))["status"] == "Accepted"
