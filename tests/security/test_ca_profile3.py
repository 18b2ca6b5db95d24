"""The certificate authority and security profile 3 together, end to end:
a station on profile 2 gets its client certificate from Volta's own CA
(2.0.1 A02: TriggerMessage SignChargingStationCertificate, SignCertificate,
CertificateSigned), the operator makes the gateway trust that CA (the CA
certificate from GET /api/v1/ca into `tls_client_ca`, POST /api/v1/tls/reload,
no restart), and the station connects again with that certificate on
profile 3: no password, the stored profile raised to 3, and a connection
below it refused from then on (docs/security.md)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from websockets.exceptions import InvalidStatus

from tests.conftest import api_client
from tests.helpers import register
from tests.security import pki
from tests.security.test_tls import HANDSHAKE_FAILED, PASSWORD, boot, open_station, wss
from tests.security.tls_pki import Authority


@pytest.fixture(scope="module")
def server_ca() -> Authority:
    return Authority.create("Volta Test CSMS Root")


@pytest.fixture
def volta_settings(server_ca: Authority, tmp_path: Path) -> dict[str, object]:
    cert, key = server_ca.issue_server("127.0.0.1").write(tmp_path / "server")
    # Before the operator exports Volta's CA, the gateway trusts another one.
    stranger = Authority.create("Not Yet Volta's CA")
    return {
        "tls_cert": cert,
        "tls_key": key,
        "tls_client_ca": stranger.write(tmp_path / "station-ca.pem"),
        "tls_reload_interval": 0,
    }


def station_context(server_ca: Authority, tmp_path: Path, cert: str = "", key: str = "") -> Any:
    context = ssl.create_default_context(cafile=server_ca.write(tmp_path / "server-ca.pem"))
    if cert:
        context.load_cert_chain(cert, key)
    return context


async def test_certificate_from_volta_ca_opens_profile_3(volta, server_ca, tmp_path) -> None:
    await register(volta, "CS1", password=PASSWORD)
    key = pki.ec_key()
    plain_tls = station_context(server_ca, tmp_path)
    async with api_client(volta) as api:
        # 1. Profile 2 (TLS and the password); Volta asks for a CSR.
        async with open_station(wss(volta, "CS1"), plain_tls, "CS1", password=PASSWORD) as ws:
            assert (await boot(ws))["status"] == "Accepted"
            renew = api.post("/api/v1/stations/CS1/certificates/renew")
            asked = asyncio.create_task(renew)
            trigger = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            assert trigger[2:] == [
                "TriggerMessage",
                {"requestedMessage": "SignChargingStationCertificate"},
            ]
            await ws.send(orjson.dumps([3, trigger[1], {"status": "Accepted"}]).decode())
            assert (await asked).status_code == 200
            csr = pki.csr("CS1", key=key)
            await ws.send(orjson.dumps([2, "s1", "SignCertificate", {"csr": csr}]).decode())
            answer = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            assert answer == [3, "s1", {"status": "Accepted"}]
            signed = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            assert signed[2] == "CertificateSigned"
            await ws.send(orjson.dumps([3, signed[1], {"status": "Accepted"}]).decode())
            chain = signed[3]["certificateChain"]

        cert_file, key_file = tmp_path / "cs1.pem", tmp_path / "cs1.key"
        await asyncio.to_thread(cert_file.write_text, chain)
        await asyncio.to_thread(
            key_file.write_bytes,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        with_cert = station_context(server_ca, tmp_path, str(cert_file), str(key_file))

        # 2. Not trusted yet: the gateway still trusts another CA only.
        with pytest.raises(HANDSHAKE_FAILED):
            async with open_station(wss(volta, "CS1"), with_cert, "CS1") as ws:
                await boot(ws)

        # 3. The operator trusts Volta's CA, without a restart.
        cas = {c["name"]: c for c in (await api.get("/api/v1/ca")).json()}
        await asyncio.to_thread(
            Path(str(volta.settings.tls_client_ca)).write_text, cas["csms"]["certificate"]
        )
        r = await api.post("/api/v1/tls/reload")
        assert r.status_code == 200, r.text

        # 4. Profile 3: the certificate alone opens the station.
        async with open_station(wss(volta, "CS1"), with_cert, "CS1") as ws:
            assert (await boot(ws))["status"] == "Accepted"
        station = (await api.get("/api/v1/stations/CS1")).json()
        assert station["security_profile"] == 3
    # ... and the password alone no longer does (never lowered).
    with pytest.raises(InvalidStatus) as refused:
        async with open_station(wss(volta, "CS1"), plain_tls, "CS1", password=PASSWORD):
            pass
    assert refused.value.response.status_code == 401
