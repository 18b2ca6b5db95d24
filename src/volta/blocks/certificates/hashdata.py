"""CertificateHashData (2.0.1 §2.6, 1.6 whitepaper): how a certificate is
named in GetInstalledCertificateIds and DeleteCertificate: the hash of its
issuer's distinguished name (DER), the hash of its issuer's public key (the
key bits, without the algorithm identifier, as in OCSP, RFC 6960 §4.1.1) and
its serial number in hex."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}
HASH_ALGORITHMS = tuple(_HASHES)


@dataclass(frozen=True, slots=True)
class HashData:
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def payload(self) -> dict[str, str]:
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> HashData:
        return cls(p["hashAlgorithm"], p["issuerNameHash"], p["issuerKeyHash"], p["serialNumber"])

    def same(self, other: HashData) -> bool:
        """Hex compared case-blind, serial numbers without leading zeros."""
        return (
            self.hash_algorithm == other.hash_algorithm
            and self.issuer_name_hash.lower() == other.issuer_name_hash.lower()
            and self.issuer_key_hash.lower() == other.issuer_key_hash.lower()
            and _serial(self.serial_number) == _serial(other.serial_number)
        )


def _serial(text: str) -> str:
    return text.lower().lstrip("0") or "0"


def _digest(algorithm: str, data: bytes) -> str:
    h = hashes.Hash(_HASHES[algorithm]())
    h.update(data)
    return h.finalize().hex()


def key_bits(certificate: x509.Certificate) -> bytes:
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    raise ValueError(f"unsupported key type {type(key).__name__}")


def hash_data(
    certificate: x509.Certificate, issuer: x509.Certificate | None = None, algorithm: str = "SHA256"
) -> HashData:
    """The hash data of `certificate`; `issuer` defaults to itself (a root)."""
    issuer = issuer or certificate
    return HashData(
        algorithm,
        _digest(algorithm, certificate.issuer.public_bytes()),
        _digest(algorithm, key_bits(issuer)),
        format(certificate.serial_number, "x"),
    )
