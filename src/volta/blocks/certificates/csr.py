"""The checks a station's CSR must pass before Volta's CA signs it
(SignCertificate, 2.0.1 A02/A03, 1.6 security whitepaper "Use cases A02/A03").

OCPP 2.0.1 Part 2 §A00, "Certificate Properties": a ChargingStationCertificate
names the station (its identity) in the subject's commonName and the CSO in
organizationName, with an RSA key of at least 2048 bits or an elliptic-curve
key of at least 256 bits. ISO 15118-2 (Annex F, certificate profiles): a V2G
(SECC) certificate has an EC secp256r1 key and an ECDSA-SHA256 signature.
A CSR that fails any check is answered Rejected (A02.FR.xx: the CSMS may
refuse to have a CSR signed) and never reaches the CA.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

CHARGING_STATION = "ChargingStationCertificate"
V2G = "V2GCertificate"
KINDS = (CHARGING_STATION, V2G)

MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
# Hashes a CSR may be signed with (SHA-1 and MD5 are refused).
STRONG_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)


class CsrRefused(ValueError):
    """The CSR fails a check; the message says which (never the CSR itself)."""


@dataclass(frozen=True, slots=True)
class CheckedCsr:
    csr: x509.CertificateSigningRequest
    key_description: str


def check_csr(pem: str, kind: str, station_id: str, organization: str) -> CheckedCsr:
    """Parse and check `pem`; raise CsrRefused with the reason."""
    if kind not in KINDS:
        raise CsrRefused(f"unknown certificate type {kind!r}")
    try:
        csr = x509.load_pem_x509_csr(pem.strip().encode())
    except ValueError:
        raise CsrRefused("not a PEM-encoded PKCS#10 certificate signing request") from None
    try:
        algorithm = csr.signature_hash_algorithm
    except Exception:  # an algorithm cryptography does not know
        algorithm = None
    if not isinstance(algorithm, STRONG_HASHES):
        name = algorithm.name if algorithm is not None else "unknown"
        raise CsrRefused(f"the CSR is signed with a weak or unknown hash ({name})")
    try:
        valid = csr.is_signature_valid
    except Exception:  # an unsupported key or signature algorithm
        valid = False
    if not valid:
        raise CsrRefused("the CSR's signature does not verify with its own public key")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or names[0].value != station_id:
        got = ", ".join(str(n.value) for n in names) or "none"
        raise CsrRefused(f"subject CN must be the station id {station_id!r} (got {got})")
    orgs = csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if len(orgs) != 1 or orgs[0].value != organization:
        got = ", ".join(str(o.value) for o in orgs) or "none"
        raise CsrRefused(f"subject O must be {organization!r} (got {got})")
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if kind == V2G:
            raise CsrRefused("a V2GCertificate needs an EC secp256r1 key (ISO 15118-2), not RSA")
        if key.key_size < MIN_RSA_BITS:
            raise CsrRefused(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} needed")
        return CheckedCsr(csr, f"RSA {key.key_size}")
    if isinstance(key, ec.EllipticCurvePublicKey):
        if kind == V2G and not isinstance(key.curve, ec.SECP256R1):
            raise CsrRefused(f"a V2GCertificate needs an EC secp256r1 key, not {key.curve.name}")
        if key.curve.key_size < MIN_EC_BITS:
            raise CsrRefused(
                f"EC key on {key.curve.name} ({key.curve.key_size} bits); "
                f"at least {MIN_EC_BITS} needed"
            )
        return CheckedCsr(csr, f"EC {key.curve.name}")
    raise CsrRefused(f"unsupported key type {type(key).__name__}: RSA or EC needed")
