"""The EST backend (RFC 7030 simpleenroll) against a real EST server over
HTTPS on loopback, backed by a test CA made here: a station's CSR reaches it,
its certificate goes back to the station with the EST CA's sub-CA."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from tests.helpers import wait_until
from tests.security import pki
from tests.security.conftest import booted

USER, PASSWORD = "volta", "est-secret-password-1"


@dataclass
class EstServer:
    url: str
    ca_file: str
    root: x509.Certificate
    sub: x509.Certificate
    enrolled: list[x509.CertificateSigningRequest] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)


def _pkcs7(certificates: list[x509.Certificate]) -> bytes:
    return base64.encodebytes(
        pkcs7.serialize_certificates(certificates, serialization.Encoding.DER)
    )


@pytest.fixture
def est(tmp_path: Path) -> Iterator[EstServer]:
    root, root_key = pki.root("EST Test Root")
    sub, sub_key = pki.sub_ca("EST Test Issuing CA", root, root_key)
    # The EST server's own TLS certificate, for 127.0.0.1.
    tls_key = pki.ec_key()
    now = dt.datetime.now(dt.UTC)
    tls_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "est.test")]))
        .issuer_name(root.subject)
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            False,
        )
        .sign(root_key, hashes.SHA256())
    )
    (tmp_path / "est-cert.pem").write_text(pki.pem(tls_cert))
    (tmp_path / "est-key.pem").write_bytes(
        tls_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "est-root.pem").write_text(pki.pem(root))
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    state = EstServer("", str(tmp_path / "est-root.pem"), root, sub)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: bytes = b"", ctype: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/.well-known/est/cacerts":
                self._send(200, _pkcs7([sub, root]), "application/pkcs7-mime")
            else:
                self._send(404)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/.well-known/est/simpleenroll":
                return self._send(404)
            if self.headers.get("Authorization") != expected:
                return self._send(401)
            state.content_types.append(self.headers.get("Content-Type", ""))
            csr = x509.load_der_x509_csr(base64.b64decode(body))
            state.enrolled.append(csr)
            issued = (
                x509.CertificateBuilder()
                .subject_name(csr.subject)
                .issuer_name(sub.subject)
                .public_key(csr.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=1))
                .not_valid_after(now + dt.timedelta(days=90))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                .sign(sub_key, hashes.SHA256())
            )
            self._send(200, _pkcs7([issued]), "application/pkcs7-mime; smime-type=certs-only")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "est-cert.pem", tmp_path / "est-key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.url = f"https://127.0.0.1:{server.server_address[1]}/.well-known/est"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class TestEst:
    @pytest.fixture
    def volta_settings(self, est: EstServer) -> dict[str, object]:
        return {
            "ca_backend": "est",
            "ca_est_url": est.url,
            "ca_est_username": USER,
            "ca_est_password": PASSWORD,
            "ca_est_ca_file": est.ca_file,
        }

    async def test_csr_signed_by_the_est_ca(self, volta, api, est: EstServer) -> None:
        """simpleenroll over HTTPS (server verified against the configured CA
        file, HTTP Basic): the station gets the EST CA's certificate for its
        key, followed by the issuing sub-CA from /cacerts; stored as `est`."""
        key = pki.ec_key()
        answers = {"CertificateSigned": {"status": "Accepted"}}
        async with booted(volta, "CS1", "ocpp2.0.1", answers) as st:
            r = await st.call("SignCertificate", {"csr": pki.csr("CS1", key=key)})
            assert r["status"] == "Accepted"
            sent = await st.expect("CertificateSigned")
        chain = pki.load_chain(sent["certificateChain"])
        assert len(chain) == 2
        assert chain[0].public_key() == key.public_key()
        assert chain[1] == est.sub
        pki.verify_chain(chain, est.root)
        assert len(est.enrolled) == 1
        assert est.content_types == ["application/pkcs10"]

        async def stored() -> bool:
            rows = (await api.get("/api/v1/certificates")).json()
            return bool(rows) and rows[0]["status"] == "Accepted"

        assert await wait_until(stored)
        row = (await api.get("/api/v1/certificates")).json()[0]
        assert row["backend"] == "est"
        assert row["issuer"] == est.sub.subject.rfc4514_string()


class TestEstRefuses:
    @pytest.fixture
    def volta_settings(self, est: EstServer) -> dict[str, object]:
        return {
            "ca_backend": "est",
            "ca_est_url": est.url,
            "ca_est_username": USER,
            "ca_est_password": "a-wrong-password-2",
            "ca_est_ca_file": est.ca_file,
        }

    async def test_est_refusal_fails_the_csr_without_leaking(
        self, volta, api, est: EstServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The EST server answers 401: nothing is sent to the station, the
        CSR is stored Failed with the HTTP status, no password in the log."""
        async with booted(volta, "CS1", "ocpp2.0.1") as st:
            assert (await st.call("SignCertificate", {"csr": pki.csr("CS1")}))["status"] == (
                "Accepted"
            )

            async def failed() -> bool:
                rows = (await api.get("/api/v1/certificate-requests")).json()
                return bool(rows) and rows[0]["status"] == "Failed"

            assert await wait_until(failed)
            assert st.received.empty()
        row = (await api.get("/api/v1/certificate-requests")).json()[0]
        assert "HTTP 401" in row["reason"]
        assert "a-wrong-password-2" not in caplog.text
        assert (await api.get("/api/v1/certificates")).json() == []
