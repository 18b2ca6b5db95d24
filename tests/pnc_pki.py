"""A test V2G / MO PKI and a real OCSP responder over HTTP on loopback, for
the Plug & Charge tests: V2G root -> MO sub-CA -> contract certificate
(subject CN the eMAID, its OCSP responder in the AIA), EC P-256 as ISO
15118-2 uses. The responder answers with cryptography's OCSPResponseBuilder,
signed by the certificate's issuer, and can be told to answer revoked,
unknown, nothing (down), too late (slow) or with a forged signature."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from volta.blocks.plug_and_charge.ocsp import CertId

Key = ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(
    cn: str,
    key: Key,
    issuer: tuple[x509.Certificate, Key] | None,
    *,
    ca: bool,
    ocsp_url: str | None = None,
    days: int = 30,
    not_before: dt.datetime | None = None,
) -> x509.Certificate:
    now = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    issuer_name = issuer[0].subject if issuer else _name(cn)
    signer = issuer[1] if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                    )
                ]
            ),
            critical=False,
        )
    return builder.sign(signer, hashes.SHA256())


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class Responder:
    """The OCSP responder: status by serial number, and how to misbehave."""

    issued: dict[int, tuple[x509.Certificate, x509.Certificate, Key]] = field(default_factory=dict)
    revoked: set[int] = field(default_factory=set)
    mode: str = "normal"  # normal | down | slow | delayed | forged | unknown
    requests: int = 0
    port: int = 0
    next_update: dt.timedelta = dt.timedelta(hours=1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ocsp"

    def answer(self, der: bytes) -> bytes:
        request = ocsp.load_der_ocsp_request(der)
        now = dt.datetime.now(dt.UTC)
        entry = self.issued.get(request.serial_number)
        if entry is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED
            ).public_bytes(serialization.Encoding.DER)
        cert, issuer, issuer_key = entry
        if self.mode == "unknown":
            status = ocsp.OCSPCertStatus.UNKNOWN
        elif request.serial_number in self.revoked:
            status = ocsp.OCSPCertStatus.REVOKED
        else:
            status = ocsp.OCSPCertStatus.GOOD
        revoked = status is ocsp.OCSPCertStatus.REVOKED
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=cert,
                issuer=issuer,
                algorithm=request.hash_algorithm,
                cert_status=status,
                this_update=now - dt.timedelta(minutes=1),
                next_update=now + self.next_update,
                revocation_time=now - dt.timedelta(minutes=5) if revoked else None,
                revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
            .certificates([issuer])
        )
        signer = new_key() if self.mode == "forged" else issuer_key
        return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            self.requests += 1
            if self.mode == "down":
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                return
            if self.mode == "slow":
                await asyncio.sleep(30)
            if self.mode == "delayed":
                await asyncio.sleep(0.3)
            out = self.answer(body)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                + f"Content-Length: {len(out)}\r\nConnection: close\r\n\r\n".encode()
                + out
            )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                await writer.drain()
                writer.close()


@dataclass
class Pki:
    """V2G root -> MO sub-CA -> contracts, with its responder."""

    responder: Responder
    root: x509.Certificate
    root_key: Key
    sub: x509.Certificate
    sub_key: Key
    roots_file: str

    def contract(
        self, emaid: str, *, revoked: bool = False, ocsp_url: str | None = None, days: int = 30
    ) -> x509.Certificate:
        url = ocsp_url if ocsp_url is not None else self.responder.url
        cert = make_cert(
            emaid, new_key(), (self.sub, self.sub_key), ca=False, ocsp_url=url or None, days=days
        )
        self.responder.issued[cert.serial_number] = (cert, self.sub, self.sub_key)
        if revoked:
            self.responder.revoked.add(cert.serial_number)
        return cert

    def chain_pem(self, leaf: x509.Certificate) -> str:
        """The chain as a station sends it (leaf first, root excluded)."""
        return pem(leaf, self.sub)

    def hash_data(self, leaf: x509.Certificate, url: str | None = None) -> list[dict[str, str]]:
        """iso15118CertificateHashData for the leaf and the sub-CA."""
        url = url or self.responder.url
        return [
            CertId.of(leaf, self.sub, url).to_ocpp(),
            CertId.of(self.sub, self.root, url).to_ocpp(),
        ]


@contextlib.asynccontextmanager
async def running_pki(directory: Path) -> AsyncIterator[Pki]:
    responder = Responder()
    server = await asyncio.start_server(responder.handle, "127.0.0.1", 0)
    responder.port = server.sockets[0].getsockname()[1]
    root_key, sub_key = new_key(), new_key()
    root = make_cert("V2G Root CA (test)", root_key, None, ca=True, days=3650)
    sub = make_cert("MO Sub-CA (test)", sub_key, (root, root_key), ca=True, ocsp_url=responder.url)
    responder.issued[sub.serial_number] = (sub, root, root_key)
    roots_file = directory / "pnc-roots.pem"
    roots_file.write_text(pem(root))
    try:
        yield Pki(responder, root, root_key, sub, sub_key, str(roots_file))
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)


def pnc_settings(pki: Pki, **more: Any) -> dict[str, Any]:
    """Settings that let Volta reach the loopback responder and trust the test root."""
    return {
        "pnc_allowed_networks": "127.0.0.1/32",
        "pnc_trust_roots": pki.roots_file,
        "pnc_ocsp_timeout": 1.0,
        **more,
    }
