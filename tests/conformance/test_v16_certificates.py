"""OCPP 1.6 CSMS test cases of the security whitepaper's certificate
management (TC_074-TC_078): the charge point is played over a real WebSocket
with real X.509 made in the test; the operator acts through the HTTP API."""

from __future__ import annotations

from typing import Any

from tests.conformance.conftest import Station
from tests.helpers import wait_until
from tests.security import pki
from volta.blocks.certificates.hashdata import hash_data

API = "/api/v1/stations/CP16/certificates"


async def _sign(cp: Station, api: Any, answers: dict[str, Any], status: str) -> dict[str, Any]:
    answers.update(
        {"ExtendedTriggerMessage": {"status": "Accepted"}, "CertificateSigned": {"status": status}}
    )
    r = await api.post(f"{API}/renew")
    assert r.status_code == 200, r.text
    assert await cp.expect("ExtendedTriggerMessage") == {
        "requestedMessage": "SignChargePointCertificate"
    }
    assert await cp.call("SignCertificate", {"csr": pki.csr("CP16")}) == {"status": "Accepted"}
    return await cp.expect("CertificateSigned")


async def _issued(api: Any, status: str) -> bool:
    async def check() -> bool:
        rows = (await api.get("/api/v1/certificates", params={"station_id": "CP16"})).json()
        return bool(rows) and rows[0]["status"] == status

    return await wait_until(check)


async def test_TC_074_CSMS(answers, cp, api) -> None:
    """ExtendedTriggerMessage SignChargePointCertificate, SignCertificate
    Accepted, CertificateSigned with a chain Volta's CA signed."""
    sent = await _sign(cp, api, answers, "Accepted")
    ca = {c["name"]: c for c in (await api.get("/api/v1/ca")).json()}["csms"]
    pki.verify_chain(pki.load_chain(sent["certificateChain"]), pki.load_chain(ca["certificate"])[0])
    assert await _issued(api, "Accepted")


async def test_TC_075_1_CSMS(answers, cp, api) -> None:
    """InstallCertificate ManufacturerRootCertificate, then
    GetInstalledCertificateIds for that type; the answer is kept."""
    root, _ = pki.root("Manufacturer root")
    answers["InstallCertificate"] = {"status": "Accepted"}
    answers["GetInstalledCertificateIds"] = lambda p: (
        {"status": "Accepted", "certificateHashData": [hash_data(root).payload()]}
        if p["certificateType"] == "ManufacturerRootCertificate"
        else {"status": "NotFound"}
    )
    r = await api.post(
        f"{API}/install",
        json={"certificate_type": "ManufacturerRootCertificate", "certificate": pki.pem(root)},
    )
    assert r.status_code == 200 and r.json()["status"] == "Accepted"
    got = await cp.expect("InstallCertificate")
    assert got["certificateType"] == "ManufacturerRootCertificate"
    r = await api.post(f"{API}/refresh", params={"certificate_type": "ManufacturerRootCertificate"})
    assert r.status_code == 200
    assert await cp.expect("GetInstalledCertificateIds") == {
        "certificateType": "ManufacturerRootCertificate"
    }
    assert [x["serial_number"] for x in r.json()["installed"]] == [format(root.serial_number, "x")]


async def test_TC_076_CSMS(answers, cp, api) -> None:
    """Install CentralSystemRootCertificate 2; GetInstalledCertificateIds to
    learn the hash algorithm; DeleteCertificate of that certificate."""
    first, _ = pki.root("Central System root 1")
    second, _ = pki.root("Central System root 2")
    answers["InstallCertificate"] = {"status": "Accepted"}
    answers["DeleteCertificate"] = {"status": "Accepted"}
    answers["GetInstalledCertificateIds"] = lambda p: (
        {
            "status": "Accepted",
            "certificateHashData": [hash_data(first).payload(), hash_data(second).payload()],
        }
        if p["certificateType"] == "CentralSystemRootCertificate"
        else {"status": "NotFound"}
    )
    r = await api.post(
        f"{API}/install",
        json={"certificate_type": "CSMSRootCertificate", "certificate": pki.pem(second)},
    )
    assert r.json()["status"] == "Accepted"
    assert (await cp.expect("InstallCertificate"))["certificateType"] == (
        "CentralSystemRootCertificate"
    )
    h = hash_data(second).payload()
    r = await api.post(
        f"{API}/delete",
        json={
            "hash_algorithm": h["hashAlgorithm"],
            "issuer_name_hash": h["issuerNameHash"],
            "issuer_key_hash": h["issuerKeyHash"],
            "serial_number": h["serialNumber"],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "Accepted"
    assert (await cp.expect("GetInstalledCertificateIds"))["certificateType"] == (
        "CentralSystemRootCertificate"
    )
    await cp.expect("GetInstalledCertificateIds")  # ManufacturerRootCertificate
    assert await cp.expect("DeleteCertificate") == {"certificateHashData": h}


async def test_TC_077_CSMS(answers, cp, api) -> None:
    """The charge point rejects the signed certificate and reports
    InvalidChargePointCertificate: Volta keeps it as Rejected and answers
    the SecurityEventNotification."""
    await _sign(cp, api, answers, "Rejected")
    assert await _issued(api, "Rejected")
    r = await cp.call(
        "SecurityEventNotification",
        {"type": "InvalidChargePointCertificate", "timestamp": "2026-12-06T12:00:00Z"},
    )
    assert r == {}


async def test_TC_078_CSMS(answers, cp, api) -> None:
    """InstallCertificate CentralSystemRootCertificate Rejected; the charge
    point reports InvalidCentralSystemCertificate, which Volta answers."""
    answers["InstallCertificate"] = {"status": "Rejected"}
    root, _ = pki.root("Central System root")
    r = await api.post(
        f"{API}/install",
        json={"certificate_type": "CSMSRootCertificate", "certificate": pki.pem(root)},
    )
    assert r.status_code == 200 and r.json()["status"] == "Rejected"
    got = await cp.expect("InstallCertificate")
    assert got["certificateType"] == "CentralSystemRootCertificate"
    r = await cp.call(
        "SecurityEventNotification",
        {"type": "InvalidCentralSystemCertificate", "timestamp": "2026-12-06T12:00:00Z"},
    )
    assert r == {}
