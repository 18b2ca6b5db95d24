"""Real X.509 for the tests: keys, CSRs (good and bad), CAs, chain checks."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def csr(
    cn: str,
    organization: str | None = "Volta",
    key: Key | None = None,
    algorithm: hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None = None,
) -> str:
    key = key or ec_key()
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if organization is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attrs))
        .sign(key, algorithm or hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


def sha1_csr(cn: str) -> str:
    """A CSR signed with ECDSA-SHA1 (cryptography no longer makes these:
    openssl does)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                "openssl", "req", "-new", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{tmp}/key.pem", "-subj", f"/CN={cn}/O=Volta", "-sha1",
                "-out", f"{tmp}/csr.pem",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        with open(f"{tmp}/csr.pem") as f:
            return f.read()


def tampered_csr(cn: str) -> str:
    """A CSR whose subject was changed after signing: its signature fails."""
    good = x509.load_pem_x509_csr(csr("SOMEONE-ELSE").encode())
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    i = der.find(b"SOMEONE-ELSE")
    der[i : i + len(cn)] = cn.encode()[: len("SOMEONE-ELSE")].ljust(len(cn), b"X")
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()


def root(
    cn: str = "Test Root", key: Key | None = None, days: int = 365
) -> tuple[x509.Certificate, Key]:
    key = key or ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def sub_ca(cn: str, parent: x509.Certificate, parent_key: Key) -> tuple[x509.Certificate, Key]:
    key = ec_key()
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(parent.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(parent_key, hashes.SHA256())
    )
    return certificate, key


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def load_chain(text: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(text.encode())


def verify_signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> None:
    """Raises InvalidSignature when `issuer`'s key did not sign `certificate`."""
    assert certificate.issuer == issuer.subject
    key = issuer.public_key()
    assert certificate.signature_hash_algorithm is not None
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(
            certificate.signature,
            certificate.tbs_certificate_bytes,
            ec.ECDSA(certificate.signature_hash_algorithm),
        )
    else:
        assert isinstance(key, rsa.RSAPublicKey)
        key.verify(
            certificate.signature,
            certificate.tbs_certificate_bytes,
            padding.PKCS1v15(),
            certificate.signature_hash_algorithm,
        )


def verify_chain(chain: list[x509.Certificate], trust: x509.Certificate) -> None:
    """Each certificate signed by the next, the last by `trust`; all in date."""
    now = dt.datetime.now(dt.UTC)
    for child, parent in zip(chain, [*chain[1:], trust], strict=True):
        verify_signed_by(child, parent)
        assert child.not_valid_before_utc <= now <= child.not_valid_after_utc
