"""A test PKI made with `cryptography`: CAs, server and client certificates,
CRLs, written as PEM files. Shared by the security tests (TLS, mutual TLS,
certificates, Plug & Charge).

    ca = Authority.create("Volta Test CSMS Root")            # RSA root
    server = ca.issue_server("127.0.0.1")                    # RSA leaf
    ecdsa = ca.issue_server("127.0.0.1", key="ecdsa")        # ECDSA leaf
    client = station_ca.issue_client("CP1")                  # CN = CP1
    paths = server.write(tmp_path / "server")                # .crt / .key
    crl = station_ca.crl([client])                           # revoked
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyKind = Literal["rsa", "ecdsa"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_key(kind: KeyKind = "rsa") -> PrivateKey:
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Issued:
    """A certificate and its key (and the chain up to, not including, the root)."""

    certificate: x509.Certificate
    key: PrivateKey
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def cert_pem(self) -> bytes:
        pems = [self.certificate, *self.chain]
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in pems)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, stem: Path) -> tuple[str, str]:
        """Write `stem`.crt and `stem`.key; return their paths."""
        cert, key = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        return str(cert), str(key)


@dataclass
class Authority:
    """A CA (root, or intermediate when `parent` is set)."""

    certificate: x509.Certificate
    key: PrivateKey
    parent: Authority | None = None

    @classmethod
    def create(cls, cn: str, *, key: KeyKind = "rsa", parent: Authority | None = None) -> Authority:
        private = new_key(key)
        issuer_name = parent.certificate.subject if parent else _name(cn, "Volta Tests")
        signer = parent.key if parent else private
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, "Volta Tests"))
            .issuer_name(issuer_name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(hours=1))
            .not_valid_after(_now() + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False
            )
        )
        return cls(builder.sign(signer, hashes.SHA256()), private, parent)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write(self, path: Path) -> str:
        path.write_bytes(self.pem)
        return str(path)

    def _chain(self) -> list[x509.Certificate]:
        """This CA and its intermediates above, without the root."""
        chain: list[x509.Certificate] = []
        ca: Authority | None = self
        while ca is not None and ca.parent is not None:
            chain.append(ca.certificate)
            ca = ca.parent
        return chain

    def _issue(
        self,
        cn: str,
        *,
        key: KeyKind,
        usage: x509.ObjectIdentifier,
        organization: str | None,
        san: x509.SubjectAlternativeName | None,
        not_after: dt.datetime | None = None,
    ) -> Issued:
        private = new_key(key)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, organization))
            .issuer_name(self.certificate.subject)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(hours=1))
            .not_valid_after(not_after or _now() + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        return Issued(builder.sign(self.key, hashes.SHA256()), private, self._chain())

    def issue_server(self, host: str = "127.0.0.1", *, key: KeyKind = "rsa") -> Issued:
        try:
            general: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            general = x509.DNSName(host)
        return self._issue(
            host,
            key=key,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            organization="Volta Tests",
            san=x509.SubjectAlternativeName([general]),
        )

    def issue_client(
        self, station_id: str, *, key: KeyKind = "rsa", organization: str = "Volta Test CPO"
    ) -> Issued:
        """A station's certificate: subject CN = its identity, O = the
        operator (2.0.1 A00.FR.409 / 1.6 whitepaper)."""
        return self._issue(
            station_id,
            key=key,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
            organization=organization,
            san=None,
        )

    def crl(self, revoked: list[Issued] | None = None) -> bytes:
        """A CRL of this CA revoking `revoked` (PEM)."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(_now() - dt.timedelta(minutes=5))
            .next_update(_now() + dt.timedelta(days=1))
        )
        for item in revoked or []:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(item.certificate.serial_number)
                .revocation_date(_now() - dt.timedelta(minutes=1))
                .build()
            )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def client_context(
    trust: Authority, client: Issued | None = None, *, tmp: Path | None = None
) -> ssl.SSLContext:
    """A station's TLS context: trusts `trust`, presents `client` if given
    (written under `tmp`)."""
    context = ssl.create_default_context(cadata=trust.pem.decode())
    if client is not None:
        assert tmp is not None, "a client certificate is loaded from files"
        stem = tmp / f"client-{client.certificate.serial_number}"
        cert, key = client.write(stem)
        context.load_cert_chain(cert, key)
    return context


@dataclass
class CsmsPki:
    """What a CSMS under test needs: a server CA with an RSA and an ECDSA
    certificate for 127.0.0.1, and the CA that issues stations'
    certificates (security profile 3)."""

    server_ca: Authority
    rsa: Issued
    ecdsa: Issued
    station_ca: Authority

    @classmethod
    def create(cls) -> CsmsPki:
        server_ca = Authority.create("Volta Test CSMS Root")
        return cls(
            server_ca,
            server_ca.issue_server("127.0.0.1"),
            server_ca.issue_server("127.0.0.1", key="ecdsa"),
            Authority.create("Volta Test Station CA"),
        )

    def settings(self, directory: Path) -> dict[str, str]:
        """The tls_* settings, with the files written under `directory`."""
        cert, key = self.rsa.write(directory / "server-rsa")
        cert_ec, key_ec = self.ecdsa.write(directory / "server-ecdsa")
        return {
            "tls_cert": cert,
            "tls_key": key,
            "tls_cert_ecdsa": cert_ec,
            "tls_key_ecdsa": key_ec,
            "tls_client_ca": self.station_ca.write(directory / "station-ca.pem"),
        }

    def station(self, directory: Path, client: Issued | str | None = None) -> ssl.SSLContext:
        """A station's TLS context: trusts the server CA and, given a
        station id (issued here) or a certificate, presents it."""
        if isinstance(client, str):
            client = self.station_ca.issue_client(client)
        return client_context(self.server_ca, client, tmp=directory)
