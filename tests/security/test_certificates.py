"""The certificate authority and certificates in stations, end to end: real
WebSockets, real X.509 made here, SQLite and PostgreSQL (docs/security.md,
"Certificates")."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import api_client, make_settings
from tests.helpers import wait_until
from tests.security import pki
from tests.security.conftest import booted
from volta.app import Volta
from volta.blocks.certificates import service
from volta.blocks.certificates.csr import CsrRefused, check_csr
from volta.blocks.certificates.hashdata import hash_data
from volta.housekeeping import leader_work
from volta.secretbox import SecretKeyError
from volta.store.models import CaCertificate, Event

V201, V16 = "ocpp2.0.1", "ocpp1.6"
PNC = "org.openchargealliance.iso15118pnc"


async def _ca(api: Any, name: str = "csms") -> x509.Certificate:
    r = await api.get("/api/v1/ca")
    assert r.status_code == 200, r.text
    found = {c["name"]: c for c in r.json()}
    return x509.load_pem_x509_certificate(found[name]["certificate"].encode())


async def _events(volta: Any, type_: str) -> list[dict[str, Any]]:
    async with volta.db.read() as conn:
        rows = await conn.execute(sa.select(Event.data).where(Event.type == type_))
        return [r.data for r in rows]


# -- CSR checks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "kind", "reason"),
    [
        (lambda: pki.csr("OTHER"), "ChargingStationCertificate", "CN must be the station id"),
        (lambda: pki.csr("CS1", organization="Evil"), "ChargingStationCertificate", "O must be"),
        (lambda: pki.csr("CS1", organization=None), "ChargingStationCertificate", "O must be"),
        (
            lambda: pki.csr("CS1", key=pki.rsa_key(1024)),
            "ChargingStationCertificate",
            "1024 bits",
        ),
        (
            lambda: pki.csr("CS1", key=pki.ec_key(ec.SECP192R1())),
            "ChargingStationCertificate",
            "at least 256",
        ),
        (lambda: pki.tampered_csr("CS1"), "ChargingStationCertificate", "signature"),
        (lambda: "garbage", "ChargingStationCertificate", "not a PEM"),
        (lambda: pki.csr("CS1", key=pki.rsa_key(2048)), "V2GCertificate", "secp256r1"),
        (
            lambda: pki.csr("CS1", key=pki.ec_key(ec.SECP384R1())),
            "V2GCertificate",
            "secp256r1",
        ),
        (lambda: pki.sha1_csr("CS1"), "ChargingStationCertificate", "weak"),
    ],
)
def test_csr_checks_refuse(make: Any, kind: str, reason: str) -> None:
    """2.0.1 §A00 certificate properties: CN = station id, O = the CSO, RSA
    >= 2048 or EC >= 256; ISO 15118-2: V2G keys are EC secp256r1."""
    with pytest.raises(CsrRefused, match=reason):
        check_csr(make(), kind, "CS1", "Volta")


def test_csr_checks_accept_rsa_and_ec() -> None:
    assert check_csr(
        pki.csr("CS1", key=pki.rsa_key(2048)), "ChargingStationCertificate", "CS1", "Volta"
    )
    assert check_csr(pki.csr("CS1"), "V2GCertificate", "CS1", "Volta")
    assert check_csr(
        pki.csr("CS1", key=pki.ec_key(ec.SECP384R1())), "ChargingStationCertificate", "CS1", "Volta"
    )


async def test_bad_csrs_rejected_stored_and_never_signed(volta, api) -> None:
    """Wrong CN, small key, bad signature, garbage: SignCertificate answered
    Rejected, the CSR stored with the reason, no CertificateSigned sent."""
    async with booted(volta, "CS1", V201) as st:
        for text in (
            pki.csr("OTHER"),
            pki.csr("CS1", key=pki.rsa_key(1024)),
            pki.tampered_csr("CS1"),
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
        ):
            r = await st.call(
                "SignCertificate", {"csr": text, "certificateType": "ChargingStationCertificate"}
            )
            assert r["status"] == "Rejected"
        assert st.received.empty()
    r = await api.get("/api/v1/certificate-requests", params={"station_id": "CS1"})
    assert [c["status"] for c in r.json()] == ["Rejected"] * 4
    reasons = [c["reason"] for c in r.json()]
    assert any("CN must be" in x for x in reasons)
    assert any("1024 bits" in x for x in reasons)
    assert any("signature" in x for x in reasons)
    assert any("not a PEM" in x for x in reasons)
    assert (await api.get("/api/v1/certificates")).json() == []


# -- signing ------------------------------------------------------------------------


async def test_charging_station_certificate_signed_and_verifies(volta, api) -> None:
    """A02/A03: a good CSR is Accepted, then CertificateSigned carries a
    certificate for the CSR's key, CN = the station id, signed by Volta's
    CSMS CA (the one GET /ca shows), for TLS client authentication."""
    key = pki.ec_key()
    async with booted(volta, "CS1", V201, {"CertificateSigned": {"status": "Accepted"}}) as st:
        r = await st.call(
            "SignCertificate",
            {"csr": pki.csr("CS1", key=key), "certificateType": "ChargingStationCertificate"},
        )
        assert r == {"status": "Accepted"}
        sent = await st.expect("CertificateSigned")
    assert sent["certificateType"] == "ChargingStationCertificate"
    chain = pki.load_chain(sent["certificateChain"])
    leaf = chain[0]
    assert leaf.public_key() == key.public_key()
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CS1"
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Volta"
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    pki.verify_chain(chain, await _ca(api))

    async def stored() -> bool:
        rows = (await api.get("/api/v1/certificates", params={"station_id": "CS1"})).json()
        return bool(rows) and rows[0]["status"] == "Accepted"

    assert await wait_until(stored)
    issued = (await api.get("/api/v1/certificates", params={"station_id": "CS1"})).json()[0]
    assert issued["serial_number"] == format(leaf.serial_number, "x")
    assert issued["backend"] == "builtin"
    assert dt.datetime.fromisoformat(issued["not_after"]) > dt.datetime.now(dt.UTC) + dt.timedelta(
        days=300
    )
    signed = await _events(volta, "certificate.signed")
    assert signed and signed[0]["certificate_id"] == issued["id"]
    requests = (await api.get("/api/v1/certificate-requests")).json()
    assert requests[0]["status"] == "Signed" and requests[0]["certificate_id"] == issued["id"]


async def test_v2g_certificate_chain_iso15118(volta, api) -> None:
    """A V2GCertificate is signed by the CPO Sub-CA 2 and sent with Sub-CA 2
    and Sub-CA 1 after it; the chain verifies up to the V2G root, EC
    secp256r1 with ECDSA-SHA256 throughout, valid for v2g_certificate_validity_days."""
    async with booted(volta, "CS1", V201, {"CertificateSigned": {"status": "Accepted"}}) as st:
        r = await st.call(
            "SignCertificate", {"csr": pki.csr("CS1"), "certificateType": "V2GCertificate"}
        )
        assert r["status"] == "Accepted"
        sent = await st.expect("CertificateSigned")
    assert sent["certificateType"] == "V2GCertificate"
    chain = pki.load_chain(sent["certificateChain"])
    assert len(chain) == 3
    pki.verify_chain(chain, await _ca(api, "v2g_root"))
    for c in chain:
        assert isinstance(c.public_key(), ec.EllipticCurvePublicKey)
        assert isinstance(c.public_key().curve, ec.SECP256R1)  # type: ignore[union-attr]
        assert isinstance(c.signature_hash_algorithm, hashes.SHA256)
    days = (chain[0].not_valid_after_utc - chain[0].not_valid_before_utc).days
    assert 59 <= days <= 60
    # GET /ca names each sub-CA by the hash data its issuer gives it.
    cas = {c["name"]: c for c in (await api.get("/api/v1/ca")).json()}
    sub1 = pki.load_chain(cas["cpo_sub1"]["certificate"])[0]
    assert cas["cpo_sub2"]["hash_data"] == hash_data(chain[1], sub1).payload()


async def test_ca_private_keys_are_sealed_not_in_clear(volta, api) -> None:
    """The CA keys are in the database only sealed (AES-GCM, key outside the
    database); no API answer carries a private key."""
    r = await api.get("/api/v1/ca")
    assert r.status_code == 200 and "PRIVATE KEY" not in r.text
    async with volta.db.read() as conn:
        rows = (await conn.execute(sa.select(CaCertificate.name, CaCertificate.sealed_key))).all()
    assert {r.name for r in rows} == {"csms", "v2g_root", "cpo_sub1", "cpo_sub2"}
    for row in rows:
        assert row.sealed_key.startswith("enc:v1:")
        assert "PRIVATE" not in row.sealed_key
    # The same CA on a second read (not a new one each time).
    assert (await api.get("/api/v1/ca")).json() == r.json()


async def test_station_rejecting_certificate_is_recorded(volta, api) -> None:
    """TC_A_14: the station answers CertificateSigned Rejected: the
    certificate is stored as Rejected and Volta records a security event."""
    async with booted(volta, "CS1", V201, {"CertificateSigned": {"status": "Rejected"}}) as st:
        await st.call("SignCertificate", {"csr": pki.csr("CS1")})
        await st.expect("CertificateSigned")

        async def rejected() -> bool:
            rows = (await api.get("/api/v1/certificates")).json()
            return bool(rows) and rows[0]["status"] == "Rejected"

        assert await wait_until(rejected)

    async def recorded() -> bool:
        found = await api.get(
            "/api/v1/security-events",
            params={"station_id": "CS1", "type": "CertificateSignedRejected"},
        )
        return len(found.json()) == 1

    assert await wait_until(recorded)


# -- expiry ------------------------------------------------------------------------


class TestExpiry:
    @pytest.fixture
    def volta_settings(self) -> dict[str, object]:
        # Certificates that expire within the renewal window from the start.
        # Housekeeping's own runs stay out of the way: the test calls
        # leader_work itself and counts what that call renewed.
        return {
            "certificate_validity_days": 10,
            "certificate_renew_days": 30,
            "housekeeping_interval": 3600.0,
        }

    async def test_expiring_certificate_triggers_renewal(self, volta, api) -> None:
        await _expiry_scenario(volta, api)


async def _expiry_scenario(volta: Any, api: Any) -> None:
    """Housekeeping (leader work) finds the certificate expiring within
    certificate_renew_days, raises certificate.expiring and sends
    TriggerMessage SignChargingStationCertificate, once per day at most."""
    answers = {
        "CertificateSigned": {"status": "Accepted"},
        "TriggerMessage": {"status": "Accepted"},
    }
    async with booted(volta, "CS1", V201, answers) as st:
        await st.call("SignCertificate", {"csr": pki.csr("CS1")})
        await st.expect("CertificateSigned")

        async def accepted() -> bool:
            rows = (await api.get("/api/v1/certificates")).json()
            return bool(rows) and rows[0]["status"] == "Accepted"

        assert await wait_until(accepted)
        counts = await leader_work(volta.services)
        assert counts["certificate_renewals"] == 1
        trigger = await st.expect("TriggerMessage")
        assert trigger == {"requestedMessage": "SignChargingStationCertificate"}
        assert (await leader_work(volta.services))["certificate_renewals"] == 0
        assert st.received.empty()
    expiring = await _events(volta, "certificate.expiring")
    assert len(expiring) == 1 and expiring[0]["station_id"] == "CS1"
    rows = (await api.get("/api/v1/certificates", params={"expiring_within_days": 30})).json()
    assert rows[0]["renewal_requested_at"] is not None


# -- installed certificates ---------------------------------------------------------


def _chain_entry(kind: str, certificate: x509.Certificate) -> dict[str, Any]:
    return {"certificateType": kind, "certificateHashData": hash_data(certificate).payload()}


async def test_delete_never_the_last_root_of_a_kind(volta, api) -> None:
    """DeleteCertificate is preceded by GetInstalledCertificateIds; the last
    CSMSRootCertificate is refused (409, JSON error shape, nothing sent); one
    of two is deleted, and the stored list follows."""
    root_a, _ = pki.root("Root A")
    root_b, _ = pki.root("Root B")
    installed = [_chain_entry("CSMSRootCertificate", root_a)]

    def ids(_: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted", "certificateHashDataChain": list(installed)}

    answers = {"GetInstalledCertificateIds": ids, "DeleteCertificate": {"status": "Accepted"}}
    async with booted(volta, "CS1", V201, answers) as st:
        body = {
            k: v
            for k, v in zip(
                ("hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number"),
                hash_data(root_a).payload().values(),
                strict=True,
            )
        }
        r = await api.post("/api/v1/stations/CS1/certificates/delete", json=body)
        assert r.status_code == 409, r.text
        assert "last CSMSRootCertificate" in r.json()["detail"]
        assert await st.expect("GetInstalledCertificateIds") == {}
        assert st.received.empty()

        installed.append(_chain_entry("CSMSRootCertificate", root_b))
        r = await api.post("/api/v1/stations/CS1/certificates/delete", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "Accepted"
        await st.expect("GetInstalledCertificateIds")
        deleted = await st.expect("DeleteCertificate")
        assert deleted["certificateHashData"] == hash_data(root_a).payload()
    left = (await api.get("/api/v1/stations/CS1/certificates")).json()
    assert [x["serial_number"] for x in left] == [format(root_b.serial_number, "x")]


async def test_api_errors_are_4xx_in_the_json_shape(volta, api) -> None:
    """Unknown station 404, offline 409, bad PEM / unknown type 422, an
    unknown hash 404: never a 500."""
    r = await api.post(
        "/api/v1/stations/NOPE/certificates/install",
        json={"certificate_type": "CSMSRootCertificate", "certificate": pki.pem(pki.root()[0])},
    )
    assert r.status_code == 404 and "detail" in r.json()
    await volta_register(volta, "OFF")
    r = await api.post("/api/v1/stations/OFF/certificates/renew")
    assert r.status_code == 409 and "not connected" in r.json()["detail"]
    answers = {"GetInstalledCertificateIds": {"status": "NotFound"}}
    async with booted(volta, "CS1", V201, answers):
        r = await api.post(
            "/api/v1/stations/CS1/certificates/install",
            json={"certificate_type": "CSMSRootCertificate", "certificate": "not a pem"},
        )
        assert r.status_code == 422 and "PEM" in r.json()["detail"]
        r = await api.post(
            "/api/v1/stations/CS1/certificates/install",
            json={"certificate_type": "Bogus", "certificate": "x"},
        )
        assert r.status_code == 422
        r = await api.post(
            "/api/v1/stations/CS1/certificates/delete",
            json={
                "hash_algorithm": "SHA256",
                "issuer_name_hash": "ab",
                "issuer_key_hash": "cd",
                "serial_number": "1",
            },
        )
        assert r.status_code == 404, r.text
    assert (await api.get("/api/v1/certificates/999")).status_code == 404


async def volta_register(volta: Any, station_id: str) -> None:
    from tests.helpers import register

    await register(volta, station_id, password="conformance-station-pass")


# -- OCPP 1.6 (security whitepaper) -------------------------------------------------


async def test_v16_sign_install_get_delete_and_trigger(volta, api) -> None:
    """1.6: SignCertificate -> CertificateSigned (no certificateType), the
    ExtendedTriggerMessage SignChargePointCertificate, InstallCertificate as
    CentralSystemRootCertificate, GetInstalledCertificateIds one type at a
    time, and a V2G request refused as unsayable (422)."""
    root_a, _ = pki.root("Root A")
    root_b, _ = pki.root("Root B")

    def ids(p: dict[str, Any]) -> dict[str, Any]:
        if p["certificateType"] == "CentralSystemRootCertificate":
            return {
                "status": "Accepted",
                "certificateHashData": [hash_data(root_a).payload(), hash_data(root_b).payload()],
            }
        return {"status": "NotFound"}

    answers = {
        "CertificateSigned": {"status": "Accepted"},
        "ExtendedTriggerMessage": {"status": "Accepted"},
        "InstallCertificate": {"status": "Accepted"},
        "GetInstalledCertificateIds": ids,
        "DeleteCertificate": {"status": "Accepted"},
    }
    async with booted(volta, "CP1", V16, answers) as st:
        r = await api.post("/api/v1/stations/CP1/certificates/renew")
        assert r.status_code == 200 and r.json()["status"] == "Accepted"
        assert await st.expect("ExtendedTriggerMessage") == {
            "requestedMessage": "SignChargePointCertificate"
        }
        assert (await st.call("SignCertificate", {"csr": pki.csr("CP1")})) == {"status": "Accepted"}
        sent = await st.expect("CertificateSigned")
        assert set(sent) == {"certificateChain"}
        pki.verify_chain(pki.load_chain(sent["certificateChain"]), await _ca(api))

        r = await api.post(
            "/api/v1/stations/CP1/certificates/install",
            json={"certificate_type": "CSMSRootCertificate", "certificate": pki.pem(root_b)},
        )
        assert r.status_code == 200 and r.json()["status"] == "Accepted"
        got = await st.expect("InstallCertificate")
        assert got["certificateType"] == "CentralSystemRootCertificate"

        r = await api.post("/api/v1/stations/CP1/certificates/refresh")
        assert r.status_code == 200
        assert await st.expect("GetInstalledCertificateIds") == {
            "certificateType": "CentralSystemRootCertificate"
        }
        assert await st.expect("GetInstalledCertificateIds") == {
            "certificateType": "ManufacturerRootCertificate"
        }
        kinds = [x["certificate_type"] for x in r.json()["installed"]]
        assert kinds == ["CSMSRootCertificate", "CSMSRootCertificate"]

    issued = (await api.get("/api/v1/certificates", params={"station_id": "CP1"})).json()
    assert len(issued) == 1


def pnc_wrapped(message_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"vendorId": PNC, "messageId": message_id, "data": orjson.dumps(payload).decode()}


async def test_v16_v2g_certificate_through_the_plug_and_charge_wrapping(volta, api) -> None:
    """OCA "Using ISO 15118 Plug & Charge with OCPP 1.6" (§ SignCertificate /
    CertificateSigned / TriggerMessage / InstallCertificate): a 1.6 station's
    V2G certificate CSR comes in a DataTransfer, is checked and signed by the
    ISO 15118 chain, and goes back as a wrapped CertificateSigned whose inner
    answer is kept; a V2G renewal and the install of a V2G root are sent
    wrapped too."""
    inner_answers = {"CertificateSigned": {"status": "Accepted"}}

    def data_transfer(p: dict[str, Any]) -> dict[str, Any]:
        assert p["vendorId"] == PNC
        inner = inner_answers.get(p["messageId"], {"status": "Accepted"})
        return {"status": "Accepted", "data": orjson.dumps(inner).decode()}

    async with booted(volta, "CP1", V16, {"DataTransfer": data_transfer}) as st:
        r = await st.call("DataTransfer", pnc_wrapped("SignCertificate", {"csr": pki.csr("CP1")}))
        assert r["status"] == "Accepted"
        assert orjson.loads(r["data"]) == {"status": "Accepted"}
        sent = await st.expect("DataTransfer")
        assert sent["messageId"] == "CertificateSigned"
        inner = orjson.loads(sent["data"])
        assert inner["certificateType"] == "V2GCertificate"
        chain = pki.load_chain(inner["certificateChain"])
        pki.verify_chain(chain, await _ca(api, "v2g_root"))

        async def accepted() -> bool:
            rows = (await api.get("/api/v1/certificates", params={"station_id": "CP1"})).json()
            return [(c["certificate_type"], c["status"]) for c in rows] == [
                ("V2GCertificate", "Accepted")
            ]

        assert await wait_until(accepted)

        # A bad V2G CSR (RSA) is refused inside the wrapping; nothing is sent.
        bad = pki.csr("CP1", key=pki.rsa_key(2048))
        r = await st.call("DataTransfer", pnc_wrapped("SignCertificate", {"csr": bad}))
        assert orjson.loads(r["data"]) == {"status": "Rejected"}

        r = await api.post(
            "/api/v1/stations/CP1/certificates/renew", json={"certificate_type": "V2GCertificate"}
        )
        assert r.status_code == 200, r.text
        sent = await st.expect("DataTransfer")
        assert (sent["messageId"], orjson.loads(sent["data"])) == (
            "TriggerMessage",
            {"requestedMessage": "SignV2GCertificate"},
        )
        root, _ = pki.root("V2G Root")
        r = await api.post(
            "/api/v1/stations/CP1/certificates/install",
            json={"certificate_type": "V2GRootCertificate", "certificate": pki.pem(root)},
        )
        assert r.status_code == 200, r.text
        sent = await st.expect("DataTransfer")
        assert sent["messageId"] == "InstallCertificate"
        assert orjson.loads(sent["data"])["certificateType"] == "V2GRootCertificate"
        assert st.received.empty()


async def test_v16_bad_csr_rejected(volta, api) -> None:
    async with booted(volta, "CP1", V16) as st:
        r = await st.call("SignCertificate", {"csr": pki.csr("CP1", key=pki.rsa_key(1024))})
        assert r == {"status": "Rejected"}
        assert st.received.empty()


async def test_service_lists_match_api(volta, api) -> None:
    """The service view (CLI and dashboard) and the API agree."""
    async with booted(volta, "CS1", V201, {"CertificateSigned": {"status": "Accepted"}}) as st:
        await st.call("SignCertificate", {"csr": pki.csr("CS1")})
        await st.expect("CertificateSigned")
    rows = await service.list_issued(volta.db)
    api_rows = (await api.get("/api/v1/certificates")).json()
    assert [r["id"] for r in rows] == [r["id"] for r in api_rows]


class TestLostSecretKey:
    @pytest.fixture
    def volta_settings(self, tmp_path: Any) -> dict[str, object]:
        return {"secret_key": "", "secret_key_file": str(tmp_path / "sealing.key")}

    async def test_replaced_key_file_stops_signing_not_a_new_ca(
        self, volta: Any, api: Any, tmp_path: Any
    ) -> None:
        """The CA keys sealed with one key file do not open with another:
        the CSR is Failed, GET /ca answers 503 with what to do, and no new
        CA is made in place of the old one."""
        before = (await api.get("/api/v1/ca")).json()
        assert (tmp_path / "sealing.key").stat().st_mode & 0o777 == 0o600
        (tmp_path / "sealing.key").write_text("another-key-that-is-long-enough-0123456789\n")
        r = await api.get("/api/v1/ca")
        assert r.status_code == 503 and "does not open" in r.json()["detail"]
        async with booted(volta, "CS1", V201) as st:
            assert (await st.call("SignCertificate", {"csr": pki.csr("CS1")}))["status"] == (
                "Accepted"
            )

            async def failed() -> bool:
                rows = (await api.get("/api/v1/certificate-requests")).json()
                return bool(rows) and rows[0]["status"] == "Failed"

            assert await wait_until(failed)
            assert st.received.empty()
        async with volta.db.read() as conn:
            pems = {r.name: r.certificate_pem for r in await conn.execute(sa.select(CaCertificate))}
        assert pems == {c["name"]: c["certificate"] for c in before}


async def test_a_key_that_does_not_open_the_ca_stops_the_start(volta, api, database) -> None:
    """The CA keys are secrets like the webhooks' (docs/security.md,
    "Webhooks": Volta will not start when its key does not open what the
    database holds): a node started with another key refuses to start,
    even with no webhook, instead of failing at the first CSR."""
    assert (await api.get("/api/v1/ca")).status_code == 200  # the CA is made
    await volta.stop()
    try:
        other = Volta(
            make_settings(database, secret_key="another-secret-key-of-32-characters-or-more"),
            db_schema=database.schema,
        )
        with pytest.raises(SecretKeyError, match="does not open a secret stored in the database"):
            await other.start()
        await other.stop()
    finally:
        await volta.start()  # the fixture stops it
    async with api_client(volta) as again:  # the right key opens it again
        assert (await again.get("/api/v1/ca")).status_code == 200
