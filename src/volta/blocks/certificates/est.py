"""An external CA over EST (RFC 7030, Enrollment over Secure Transport):
`POST {url}/simpleenroll` with the base64 DER PKCS#10 CSR
(`application/pkcs10`) returns a certs-only PKCS#7 (`application/pkcs7-mime`)
holding the new certificate; `GET {url}/cacerts` returns the CA's chain.
EJBCA, step-ca, Hubject's Open Plug&Charge PKI and others offer it.

The server is reached over HTTPS only (RFC 7030 §3.3), verified against
`ca_est_ca_file` (else the system's CAs), with HTTP Basic credentials
(`ca_est_username` / `ca_est_password`) and/or a TLS client certificate.
"""

from __future__ import annotations

import base64
import logging
import ssl

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from volta.blocks.certificates.ca import SigningFailed
from volta.config import Settings

log = logging.getLogger(__name__)

TIMEOUT_S = 30.0


class EstCA:
    backend = "est"

    def __init__(self, url: str, settings: Settings) -> None:
        if not url.startswith("https://"):
            raise SigningFailed("the EST URL must be https:// (RFC 7030 §3.3)")
        self.url = url.rstrip("/")
        self.settings = settings

    def _client(self) -> httpx.AsyncClient:
        s = self.settings
        context = ssl.create_default_context(cafile=s.ca_est_ca_file or None)
        if s.ca_est_client_cert:
            context.load_cert_chain(s.ca_est_client_cert, s.ca_est_client_key or None)
        auth = httpx.BasicAuth(s.ca_est_username, s.ca_est_password) if s.ca_est_username else None
        return httpx.AsyncClient(verify=context, auth=auth, timeout=TIMEOUT_S, trust_env=False)

    async def sign(
        self, csr: x509.CertificateSigningRequest, kind: str, station_id: str
    ) -> list[x509.Certificate]:
        body = base64.encodebytes(csr.public_bytes(serialization.Encoding.DER))
        try:
            async with self._client() as client:
                enrolled = await client.post(
                    f"{self.url}/simpleenroll",
                    content=body,
                    headers={
                        "Content-Type": "application/pkcs10",
                        "Content-Transfer-Encoding": "base64",
                    },
                )
                if enrolled.status_code != 200:
                    raise SigningFailed(f"EST simpleenroll answered HTTP {enrolled.status_code}")
                certificates = _certs_only(enrolled.content)
                cacerts = await client.get(f"{self.url}/cacerts")
                chain = _certs_only(cacerts.content) if cacerts.status_code == 200 else []
        except httpx.HTTPError as exc:
            # The exception's class only: its text may carry the URL's credentials.
            log.debug("EST request for %s failed: %r", station_id, exc)
            raise SigningFailed(f"EST server unreachable ({type(exc).__name__})") from None
        own_key = csr.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        leaves = [
            c
            for c in certificates
            if c.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            == own_key
        ]
        if not leaves:
            raise SigningFailed("the EST answer holds no certificate for the CSR's key")
        leaf = leaves[0]
        # Leaf, then its sub-CAs from /cacerts (not the self-signed root),
        # nearest issuer first.
        subs = [c for c in chain if c.issuer != c.subject]
        ordered: list[x509.Certificate] = [leaf]
        issuer = leaf.issuer
        while True:
            nxt = next((c for c in subs if c.subject == issuer and c not in ordered), None)
            if nxt is None:
                break
            ordered.append(nxt)
            issuer = nxt.issuer
        return ordered


def _certs_only(content: bytes) -> list[x509.Certificate]:
    """The certificates of a base64 certs-only PKCS#7 (RFC 7030 §4.1.3, §4.2.3)."""
    try:
        der = base64.b64decode(b"".join(content.split()), validate=True)
        return list(pkcs7.load_der_pkcs7_certificates(der))
    except ValueError:
        raise SigningFailed("the EST answer is not a base64 certs-only PKCS#7") from None
