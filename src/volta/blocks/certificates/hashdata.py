"""CertificateHashData (2.0.1 §2.6, 1.6 whitepaper): how a certificate is
named in GetInstalledCertificateIds and DeleteCertificate: the hash of its
issuer's distinguished name (DER), the hash of its issuer's public key (the
key bits, without the algorithm identifier, as in OCSP, RFC 6960 §4.1.1) and
its serial number in hex. The same hashes name a certificate in an OCSP
request (plug_and_charge.ocsp builds its CertID from `digest` and
`key_bits`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

# OCPP's HashAlgorithmEnumType.
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}
HASH_ALGORITHMS = tuple(HASHES)


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


def digest(algorithm: str, data: bytes) -> bytes:
    h = hashes.Hash(HASHES[algorithm]())
    h.update(data)
    return h.finalize()


def key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's bytes (what issuerKeyHash hashes,
    RFC 6960 §4.1.1), read from the SubjectPublicKeyInfo's DER: for any key
    type (for EC the uncompressed point, for RSA the PKCS#1 key)."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _, body = _tlv(spki, 0)  # SEQUENCE
    end_alg, _ = _tlv(spki, body)  # AlgorithmIdentifier
    _, bits = _tlv(spki, end_alg)  # BIT STRING
    return spki[bits + 1 :]  # after the unused-bits byte


def _tlv(der: bytes, at: int) -> tuple[int, int]:
    """(end of the element at `at`, start of its contents)."""
    length = der[at + 1]
    start = at + 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(der[start : start + n], "big")
        start += n
    return start + length, start


def hash_data(
    certificate: x509.Certificate, issuer: x509.Certificate | None = None, algorithm: str = "SHA256"
) -> HashData:
    """The hash data of `certificate`; `issuer` defaults to itself (a root)."""
    issuer = issuer or certificate
    return HashData(
        algorithm,
        digest(algorithm, certificate.issuer.public_bytes()).hex(),
        digest(algorithm, key_bits(issuer)).hex(),
        format(certificate.serial_number, "x"),
    )
