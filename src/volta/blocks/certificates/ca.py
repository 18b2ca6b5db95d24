"""Who signs a station's CSR: the `CertificateAuthority` interface, Volta's
built-in CA and an external CA reached over EST (est.py).

The built-in CA keeps two hierarchies, made on first use (or by
`volta ca init`), in the `ca_certificates` table, every private key sealed
with the deployment's secret key (volta.secretbox, as webhook secrets are),
so that every node of a deployment signs with the same CA and a copy of the
database alone opens no key:

- "csms": the CSMS root that signs ChargingStationCertificates (or the
  operator's own root or sub-CA, imported with `volta ca init --certificate
  --key`); its certificate is what the TLS port's client-CA setting trusts
  for security profile 3 (`volta ca export`).
- "v2g_root" -> "cpo_sub1" -> "cpo_sub2": an ISO 15118-2 V2G root and CPO
  sub-CAs (EC secp256r1, ECDSA-SHA256) that sign V2GCertificates (SECC
  certificates); the chain sent is leaf, Sub-CA 2, Sub-CA 1.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy.exc import IntegrityError

from volta.blocks.certificates.csr import CHARGING_STATION, V2G
from volta.config import Settings
from volta.events.webhooks import ca_key_purpose, key_file, secret_box
from volta.secretbox import load_key
from volta.store.db import Database
from volta.store.models import CaCertificate, utcnow

log = logging.getLogger(__name__)

CSMS = "csms"
V2G_CHAIN = ("v2g_root", "cpo_sub1", "cpo_sub2")
NAMES = (CSMS, *V2G_CHAIN)
# Days each CA is valid when Volta makes it (ISO 15118-2 allows a V2G root
# up to 40 years and a Sub-CA 2 up to 2 years; we stay well inside).
_CA_DAYS = {CSMS: 3650, "v2g_root": 3650, "cpo_sub1": 1460, "cpo_sub2": 730}
_PATH_LENGTH = {CSMS: 0, "v2g_root": 2, "cpo_sub1": 1, "cpo_sub2": 0}
_TITLES = {
    CSMS: "CSMS Root CA",
    "v2g_root": "V2G Root CA",
    "cpo_sub1": "CPO Sub-CA 1",
    "cpo_sub2": "CPO Sub-CA 2",
}
# Backdated so that a station whose clock is a little behind accepts it.
_BACKDATE = dt.timedelta(minutes=5)


def _purpose(name: str) -> str:
    """What a sealed CA key is bound to (AES-GCM associated data)."""
    return ca_key_purpose(name)


class SigningFailed(Exception):
    """The CA could not sign (unreachable, refused, misconfigured); the
    message says why, without secrets."""


class CertificateAuthority(Protocol):
    """Signs a checked CSR of `kind` for `station_id`; returns the chain to
    send in CertificateSigned, leaf first (its sub-CAs after it, no root)."""

    backend: str

    async def sign(
        self, csr: x509.CertificateSigningRequest, kind: str, station_id: str
    ) -> list[x509.Certificate]: ...


@dataclass(frozen=True, slots=True)
class Authority:
    name: str
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    origin: str


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def chain_pem(chain: list[x509.Certificate]) -> str:
    return "".join(pem(c) for c in chain)


def _ski(key: object) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key)  # type: ignore[arg-type]


def _make_ca(
    name: str, organization: str, parent: Authority | None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [
        x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} {_TITLES[name]}"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
    ]
    if name != CSMS:
        # ISO 15118-2 names the PKI a certificate belongs to in DC.
        dc = "V2G" if name == "v2g_root" else "CPO"
        attrs.append(x509.NameAttribute(NameOID.DOMAIN_COMPONENT, dc))
    subject = x509.Name(attrs)
    issuer_name = parent.certificate.subject if parent else subject
    signing_key = parent.key if parent else key
    now = utcnow()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS[name]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=_PATH_LENGTH[name]), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )
        .add_extension(_ski(key.public_key()), False)
    )
    if parent:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()), False
        )
    return builder.sign(signing_key, hashes.SHA256()), key


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class BuiltinCA:
    """Volta's own CA (see the module's text)."""

    backend = "builtin"

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def load(self, name: str, *, create: bool = True) -> Authority | None:
        """The CA `name`, made (with its parents) when missing and `create`."""
        async with self.db.read() as conn:
            row = (
                (await conn.execute(sa.select(CaCertificate).where(CaCertificate.name == name)))
                .mappings()
                .first()
            )
        if row is not None:
            # Never a new key file in place of a lost one: the stored keys
            # would not open with it (SecretKeyError says what to do).
            box, _ = load_key(
                self.settings.secret_key, key_file(self.settings, self.db), create=False
            )
            key = serialization.load_pem_private_key(
                box.open(row["sealed_key"], _purpose(name)).encode(), password=None
            )
            assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
            certificate = x509.load_pem_x509_certificate(row["certificate_pem"].encode())
            return Authority(name, certificate, key, row["origin"])
        if not create:
            return None
        parent = None
        if name in V2G_CHAIN and name != V2G_CHAIN[0]:
            parent = await self.load(V2G_CHAIN[V2G_CHAIN.index(name) - 1])
        certificate, key = _make_ca(name, self.settings.ca_organization, parent)
        if await self._store(name, certificate, key, "generated"):
            log.warning(
                "created the %s certificate authority (%s); its key is sealed in the database",
                name,
                certificate.subject.rfc4514_string(),
            )
        return await self.load(name, create=False)

    async def _store(
        self,
        name: str,
        certificate: x509.Certificate,
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
        origin: str,
        *,
        replace: bool = False,
    ) -> bool:
        box = await secret_box(self.db, self.settings)
        values = {
            "name": name,
            "certificate_pem": pem(certificate),
            "sealed_key": box.seal(_key_pem(key), _purpose(name)),
            "origin": origin,
            "created_at": utcnow(),
        }
        try:
            async with self.db.write() as conn:
                if replace:
                    await conn.execute(sa.delete(CaCertificate).where(CaCertificate.name == name))
                elif (
                    await conn.execute(
                        sa.select(CaCertificate.name).where(CaCertificate.name == name)
                    )
                ).first() is not None:
                    return False
                await conn.execute(sa.insert(CaCertificate).values(**values))
        except IntegrityError:  # another node made it at the same moment: use theirs
            return False
        return True

    async def import_authority(self, certificate_pem: str, key_pem: str) -> Authority:
        """Use the operator's own root or sub-CA as the CSMS CA (replacing any)."""
        try:
            certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
            key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        except ValueError:
            raise ValueError("the CA certificate or key is not valid PEM") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError("the CA key must be RSA or EC")
        if key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]
            raise ValueError("the key does not belong to the certificate")
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
            is_ca = constraints.value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise ValueError("the certificate is not a CA certificate (basicConstraints cA)")
        await self._store(CSMS, certificate, key, "imported", replace=True)
        found = await self.load(CSMS, create=False)
        assert found is not None
        return found

    async def chain_for(self, kind: str) -> list[Authority]:
        """The signing CA of `kind` first, then its parents."""
        if kind == V2G:
            names = list(reversed(V2G_CHAIN))
            loaded = [await self.load(n) for n in names]
            return [a for a in loaded if a is not None]
        found = await self.load(CSMS)
        assert found is not None
        return [found]

    async def sign(
        self, csr: x509.CertificateSigningRequest, kind: str, station_id: str
    ) -> list[x509.Certificate]:
        chain = await self.chain_for(kind)
        signer = chain[0]
        key = csr.public_key()
        is_rsa = isinstance(key, rsa.RSAPublicKey)
        days = (
            self.settings.v2g_certificate_validity_days
            if kind == V2G
            else self.settings.certificate_validity_days
        )
        now = utcnow()
        not_after = min(now + dt.timedelta(days=days), signer.certificate.not_valid_after_utc)
        attrs = [
            x509.NameAttribute(NameOID.COMMON_NAME, station_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.settings.ca_organization),
        ]
        if kind == V2G:
            attrs.append(x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "CPO"))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(signer.certificate.subject)
            .public_key(key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=is_rsa,
                    data_encipherment=False,
                    key_agreement=not is_rsa,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                True,
            )
            .add_extension(_ski(key), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.key.public_key()), False
            )
        )
        if kind == CHARGING_STATION:
            # The station presents it as a TLS client (security profile 3).
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False
            )
        leaf = builder.sign(signer.key, hashes.SHA256())
        # Sub-CAs after the leaf; a self-signed root is never sent (the
        # station has it as a root certificate, installed apart).
        return [leaf] + [a.certificate for a in chain if not _self_signed(a.certificate)]


def _self_signed(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def authority_for(db: Database, settings: Settings, kind: str) -> CertificateAuthority:
    """The CA that signs CSRs of `kind` under the settings."""
    from volta.blocks.certificates.est import EstCA

    if settings.ca_backend == "est":
        url = settings.ca_est_v2g_url if kind == V2G else settings.ca_est_url
        if url:
            return EstCA(url, settings)
        if kind != V2G:
            raise SigningFailed("ca_backend is est but ca_est_url is empty")
    elif settings.ca_backend != "builtin":
        raise SigningFailed(f"unknown ca_backend {settings.ca_backend!r}: builtin or est")
    return BuiltinCA(db, settings)
