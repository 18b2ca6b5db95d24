"""OCPP 2.0.1 CSMS test cases of certificates: A11-A14 (update the Charging
Station Certificate by request of the CSMS, A02) and block M (M03 retrieve,
M04 delete, M05 install). The station is played over a real WebSocket with
real X.509 made in the test; the operator acts through the HTTP API."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.x509.oid import NameOID

from tests.conformance.conftest import Answer, Station
from tests.helpers import wait_until
from tests.security import pki
from volta.blocks.certificates.hashdata import hash_data

API = "/api/v1/stations/CS201/certificates"


async def _ca(api: Any, name: str) -> Any:
    found = {c["name"]: c for c in (await api.get("/api/v1/ca")).json()}
    return pki.load_chain(found[name]["certificate"])[0]


async def _issued_status(api: Any, status: str, count: int = 1) -> bool:
    async def check() -> bool:
        rows = (await api.get("/api/v1/certificates", params={"station_id": "CS201"})).json()
        return len(rows) == count and all(r["status"] == status for r in rows)

    return await wait_until(check)


async def _renewal(
    cs: Station, api: Any, kind: str, trigger: str, csr_types: list[str]
) -> list[dict[str, Any]]:
    """TriggerMessage -> SignCertificate (one per type) -> CertificateSigned."""
    r = await api.post(f"{API}/renew", json={"certificate_type": kind})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "Accepted"
    assert await cs.expect("TriggerMessage") == {"requestedMessage": trigger}
    sent = []
    for csr_type in csr_types:
        answer = await cs.call(
            "SignCertificate", {"csr": pki.csr("CS201"), "certificateType": csr_type}
        )
        assert answer["status"] == "Accepted"
        sent.append(await cs.expect("CertificateSigned"))
    return sent


@pytest.fixture
def station_answers(answers: dict[str, Answer]) -> dict[str, Answer]:
    answers.update(
        {"TriggerMessage": {"status": "Accepted"}, "CertificateSigned": {"status": "Accepted"}}
    )
    return answers


# -- A. Security -------------------------------------------------------------------


async def test_TC_A_11_CSMS(station_answers, cs, api) -> None:
    """A02 (A02.FR.06-09 on the CSMS side): TriggerMessage
    SignChargingStationCertificate, the CSR signed by the CSMS CA and sent
    back as a ChargingStationCertificate; the station accepts."""
    (sent,) = await _renewal(
        cs, api, "ChargingStationCertificate", "SignChargingStationCertificate",
        ["ChargingStationCertificate"],
    )  # fmt: skip
    assert sent["certificateType"] == "ChargingStationCertificate"
    chain = pki.load_chain(sent["certificateChain"])
    assert chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CS201"
    pki.verify_chain(chain, await _ca(api, "csms"))
    assert await _issued_status(api, "Accepted")


async def test_TC_A_12_CSMS(station_answers, cs, api) -> None:
    """A02 for the V2G certificate: TriggerMessage SignV2GCertificate; the
    CSR is signed by the CPO Sub-CA and the chain verifies up to the V2G root."""
    (sent,) = await _renewal(cs, api, "V2GCertificate", "SignV2GCertificate", ["V2GCertificate"])
    assert sent["certificateType"] == "V2GCertificate"
    pki.verify_chain(pki.load_chain(sent["certificateChain"]), await _ca(api, "v2g_root"))
    assert await _issued_status(api, "Accepted")


async def test_TC_A_13_CSMS(station_answers, cs, api) -> None:
    """A02 combined: TriggerMessage SignCombinedCertificate; the station sends
    a CSR of each type and gets each certificate from its own hierarchy."""
    sent = await _renewal(
        cs, api, "Combined", "SignCombinedCertificate",
        ["ChargingStationCertificate", "V2GCertificate"],
    )  # fmt: skip
    assert [s["certificateType"] for s in sent] == ["ChargingStationCertificate", "V2GCertificate"]
    pki.verify_chain(pki.load_chain(sent[0]["certificateChain"]), await _ca(api, "csms"))
    pki.verify_chain(pki.load_chain(sent[1]["certificateChain"]), await _ca(api, "v2g_root"))
    assert await _issued_status(api, "Accepted", count=2)


async def test_TC_A_14_CSMS(station_answers, cs, api) -> None:
    """The station rejects the new certificate (CertificateSigned Rejected):
    Volta stores it as Rejected (so it is never taken as the station's
    certificate, nor renewed) and records a security event."""
    station_answers["CertificateSigned"] = {"status": "Rejected"}
    await _renewal(
        cs, api, "ChargingStationCertificate", "SignChargingStationCertificate",
        ["ChargingStationCertificate"],
    )  # fmt: skip
    assert await _issued_status(api, "Rejected")


# -- M. ISO 15118 Certificate Management -----------------------------------------


async def _install(cs: Station, api: Any, kind: str) -> dict[str, Any]:
    root, _ = pki.root(f"Test {kind}")
    r = await api.post(
        f"{API}/install", json={"certificate_type": kind, "certificate": pki.pem(root)}
    )
    assert r.status_code == 200, r.text
    got = await cs.expect("InstallCertificate")
    assert got == {"certificateType": kind, "certificate": pki.pem(root)}
    return dict(r.json())


async def test_TC_M_01_CSMS(answers, cs, api) -> None:
    """M05.FR.01: InstallCertificate with a CSMSRootCertificate."""
    answers["InstallCertificate"] = {"status": "Accepted"}
    assert (await _install(cs, api, "CSMSRootCertificate"))["status"] == "Accepted"


async def test_TC_M_02_CSMS(answers, cs, api) -> None:
    """M05.FR.01: InstallCertificate with a ManufacturerRootCertificate."""
    answers["InstallCertificate"] = {"status": "Accepted"}
    assert (await _install(cs, api, "ManufacturerRootCertificate"))["status"] == "Accepted"


async def test_TC_M_05_CSMS(answers, cs, api) -> None:
    """M05.FR.03: the station answers Failed; the operator sees it (the
    command is stored as rejected with the station's answer)."""
    answers["InstallCertificate"] = {"status": "Failed"}
    result = await _install(cs, api, "CSMSRootCertificate")
    assert result["status"] == "Failed"
    assert result["command"]["status"] == "rejected"


async def test_TC_M_18_CSMS(answers, cs, api) -> None:
    """M03.FR.01: GetInstalledCertificateIds without certificateType; every
    entry of the answer is kept, child certificates too."""
    csms, _ = pki.root("CSMS root")
    v2g, v2g_key = pki.root("V2G root")
    sub, _ = pki.sub_ca("CPO sub", v2g, v2g_key)
    answers["GetInstalledCertificateIds"] = {
        "status": "Accepted",
        "certificateHashDataChain": [
            {
                "certificateType": "CSMSRootCertificate",
                "certificateHashData": hash_data(csms).payload(),
            },
            {
                "certificateType": "V2GCertificateChain",
                "certificateHashData": hash_data(v2g).payload(),
                "childCertificateHashData": [hash_data(sub, v2g).payload()],
            },
        ],
    }
    r = await api.post(f"{API}/refresh")
    assert r.status_code == 200, r.text
    assert await cs.expect("GetInstalledCertificateIds") == {}
    listed = (await api.get(API)).json()
    assert {x["certificate_type"] for x in listed} == {"CSMSRootCertificate", "V2GCertificateChain"}
    chain = next(x for x in listed if x["certificate_type"] == "V2GCertificateChain")
    assert chain["child_certificates"] == [hash_data(sub, v2g).payload()]


async def test_TC_M_19_CSMS(answers, cs, api) -> None:
    """M03.FR.02: asked for ManufacturerRootCertificate, the station answers
    NotFound: nothing is kept for that type and the API says so."""
    answers["GetInstalledCertificateIds"] = {"status": "NotFound"}
    r = await api.post(f"{API}/refresh", params={"certificate_type": "ManufacturerRootCertificate"})
    assert r.status_code == 200, r.text
    assert await cs.expect("GetInstalledCertificateIds") == {
        "certificateType": ["ManufacturerRootCertificate"]
    }
    assert r.json()["installed"] == []
    assert r.json()["commands"][0]["response"] == {"status": "NotFound"}


def _body(h: dict[str, str]) -> dict[str, str]:
    return {
        "hash_algorithm": h["hashAlgorithm"],
        "issuer_name_hash": h["issuerNameHash"],
        "issuer_key_hash": h["issuerKeyHash"],
        "serial_number": h["serialNumber"],
    }


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
async def test_TC_M_20_CSMS(answers, cs, api, algorithm: str) -> None:
    """M04.FR.01/07: GetInstalledCertificateIds, then DeleteCertificate with
    the hash data the station returned, in each hash algorithm. (The station
    also has a second CSMS root: Volta never deletes the last one.)"""
    target, _ = pki.root("To delete")
    keep, _ = pki.root("To keep")
    answers["GetInstalledCertificateIds"] = {
        "status": "Accepted",
        "certificateHashDataChain": [
            {
                "certificateType": "CSMSRootCertificate",
                "certificateHashData": hash_data(c, algorithm=algorithm).payload(),
            }
            for c in (target, keep)
        ],
    }
    answers["DeleteCertificate"] = {"status": "Accepted"}
    h = hash_data(target, algorithm=algorithm).payload()
    r = await api.post(f"{API}/delete", json=_body(h))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "Accepted"
    assert await cs.expect("GetInstalledCertificateIds") == {}
    assert await cs.expect("DeleteCertificate") == {"certificateHashData": h}
    left = (await api.get(API)).json()
    assert [x["serial_number"] for x in left] == [format(keep.serial_number, "x")]


async def test_TC_M_21_CSMS(answers, cs, api) -> None:
    """M04: the station fails to delete; the certificate stays on record."""
    target, _ = pki.root("To delete")
    keep, _ = pki.root("To keep")
    answers["GetInstalledCertificateIds"] = {
        "status": "Accepted",
        "certificateHashDataChain": [
            {
                "certificateType": "CSMSRootCertificate",
                "certificateHashData": hash_data(c).payload(),
            }
            for c in (target, keep)
        ],
    }
    answers["DeleteCertificate"] = {"status": "Failed"}
    h = hash_data(target).payload()
    r = await api.post(f"{API}/delete", json=_body(h))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "Failed"
    await cs.expect("GetInstalledCertificateIds")
    assert await cs.expect("DeleteCertificate") == {"certificateHashData": h}
    assert len((await api.get(API)).json()) == 2
