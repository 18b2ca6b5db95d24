"""Authorization with contract certificates (2.0.1 C07): the certificate's
status by OCSP, and the eMAID's own status from Volta's id tokens.

Two ways a station asks (AuthorizeRequest):

- *local validation* (C07.FR.02): the station checked the chain itself and
  sends `iso15118CertificateHashData`, one OCSPRequestData per certificate of
  the chain (at most 4); Volta asks each responder (TC_C_50, TC_C_51).
- *central validation* (C07.FR.06): the station sends the chain in PEM
  (`certificate`, leaf first, root excluded); Volta checks it against its
  V2G / MO roots (`pnc_trust_roots`), asks the responder of every
  certificate of the chain that names one (the leaf must), and checks that
  the leaf's subject CN is the eMAID presented (TC_C_52).

Any certificate not Accepted makes the idTokenInfo Invalid (C07.FR.16 says
so for a revoked chain; Volta does the same for every refusal). The
mapping of OCSP answers, where the specification is silent, is:
good -> Accepted, revoked -> CertificateRevoked, unknown or no usable answer
(responder refused, down, too slow, unsigned) -> CertChainError: Volta does
not accept a contract whose status it could not learn (C07.FR.05).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

from volta.blocks.authorization.service import Authorization, token_verdict
from volta.blocks.plug_and_charge import ocsp
from volta.blocks.security import log as security_log
from volta.config import Settings
from volta.services import Services

log = logging.getLogger(__name__)

# The longest chain Volta reads (leaf and sub-CAs; OCPP's 5500 characters
# hold about four).
MAX_CHAIN = 4


@dataclass(frozen=True, slots=True)
class ContractVerdict:
    """certificateStatus (AuthorizeCertificateStatusEnumType) and the token's verdict."""

    certificate_status: str
    authorization: Authorization
    reason: str = ""


def normalize_emaid(value: str) -> str:
    """ISO 15118 eMAIDs are compared without their optional dashes, case-insensitively."""
    return value.replace("-", "").upper()


async def authorize_contract(
    services: Services,
    station_id: str | None,
    id_token: str,
    *,
    certificate: str | None,
    hash_data: list[dict[str, str]] | None,
) -> ContractVerdict:
    settings = services.settings
    try:
        if certificate:
            status, reason = await _central(services, id_token, certificate)
        else:
            status, reason = await _local(settings, hash_data or [])
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # A certificate whose extensions or key cryptography cannot read
        # (parsed lazily, so anywhere above).
        status, reason = "CertChainError", "a certificate cannot be read"
    if status != "Accepted":
        await security_log.record(
            services,
            station_id,
            "InvalidContractCertificate",
            tech_info=f"{status}: {reason}"[:255],
        )
        return ContractVerdict(status, Authorization("Invalid"), reason)
    async with services.db.read() as conn:
        auth = await token_verdict(conn, id_token)
    return ContractVerdict(status, auth)


async def _local(settings: Settings, hash_data: list[dict[str, str]]) -> tuple[str, str]:
    if not hash_data:
        return "CertChainError", "no certificate hash data"
    try:
        ids = [ocsp.CertId.from_ocpp(d) for d in hash_data[:MAX_CHAIN]]
    except (KeyError, ValueError) as exc:
        return "CertChainError", f"bad OCSP request data: {exc}"
    # The station validated the chain; Volta only learns the status. The
    # response must still be signed by the certificate's issuer, whose key
    # the responder includes or the trust roots hold.
    roots = await trust_roots(settings.pnc_trust_roots)
    answers = await asyncio.gather(*(ocsp.check(settings, i, issuers=roots) for i in ids))
    return _combine(answers)


def _combine(answers: list[ocsp.OcspAnswer]) -> tuple[str, str]:
    if any(a.status is ocsp.CertStatus.REVOKED for a in answers):
        return "CertificateRevoked", "revoked"
    for a in answers:
        if a.status is not ocsp.CertStatus.GOOD:
            return "CertChainError", a.reason or a.status.value
    return "Accepted", ""


async def _central(services: Services, id_token: str, pem: str) -> tuple[str, str]:
    settings = services.settings
    try:
        chain = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return "CertChainError", "the certificate is not PEM"
    if not chain or len(chain) > MAX_CHAIN:
        return "CertChainError", f"{len(chain)} certificates in the chain"
    roots = await trust_roots(settings.pnc_trust_roots)
    if not roots:
        return "CertChainError", "no V2G / MO root is configured (pnc_trust_roots)"
    leaf = chain[0]
    status, reason, issuers = _verify_chain(chain, roots)
    if status != "Accepted":
        return status, reason
    cn = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if not cn or normalize_emaid(str(cn[0].value)) != normalize_emaid(id_token):
        return "CertChainError", "the certificate is not the eMAID's"
    checks = []
    for cert, issuer in zip(chain, issuers, strict=True):
        urls = ocsp.responder_urls(cert)
        if not urls:
            if cert is leaf:
                return "CertChainError", "the contract certificate names no OCSP responder"
            continue
        checks.append(ocsp.check(settings, ocsp.CertId.of(cert, issuer, urls[0]), issuers=[issuer]))
    return _combine(list(await asyncio.gather(*checks)))


def _verify_chain(
    chain: list[x509.Certificate], roots: list[x509.Certificate]
) -> tuple[str, str, list[x509.Certificate]]:
    """Each certificate issued by the next, the last by a root; all in their
    validity period. Returns the status, why, and each one's issuer."""
    now = dt.datetime.now(dt.UTC)
    issuers: list[x509.Certificate] = []
    for i, cert in enumerate(chain):
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            return "CertificateExpired", f"certificate {i} is not valid now", []
        candidates = chain[i + 1 : i + 2] if i + 1 < len(chain) else roots
        issuer = None
        forged = False
        for candidate in candidates:  # roots may share a name (a rollover)
            if candidate.subject != cert.issuer or not _is_ca(candidate):
                continue
            try:
                cert.verify_directly_issued_by(candidate)
            except InvalidSignature:
                forged = True
                continue
            except (ValueError, TypeError, UnsupportedAlgorithm):
                continue
            issuer = candidate
            break
        if issuer is None and forged:
            return "SignatureError", f"certificate {i} has a bad signature", []
        if issuer is None:
            return "CertChainError", f"certificate {i} has no trusted issuer", []
        issuers.append(issuer)
    root = issuers[-1]
    if not (root.not_valid_before_utc <= now <= root.not_valid_after_utc):
        return "CertificateExpired", "the root is not valid now", []
    return "Accepted", "", issuers


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


_roots: dict[str, tuple[tuple[tuple[str, float], ...], list[x509.Certificate]]] = {}


async def trust_roots(location: str) -> list[x509.Certificate]:
    """The V2G / MO roots of `pnc_trust_roots` (a PEM file or a directory of
    *.pem / *.crt files), read again when a file changes."""
    if not location:
        return []
    return await asyncio.to_thread(_load_roots, location)


def _load_roots(location: str) -> list[x509.Certificate]:
    try:
        return _read_roots(location)
    except OSError as exc:
        log.error("pnc_trust_roots: cannot read %s (%s)", location, type(exc).__name__)
        return []


def _read_roots(location: str) -> list[x509.Certificate]:
    path = Path(location)
    files = sorted(
        [p for p in path.iterdir() if p.suffix in (".pem", ".crt")] if path.is_dir() else [path]
    )
    stamp = tuple((str(p), os.stat(p).st_mtime) for p in files if p.exists())
    cached = _roots.get(location)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    certs: list[x509.Certificate] = []
    for name, _ in stamp:
        try:
            certs += x509.load_pem_x509_certificates(Path(name).read_bytes())
        except ValueError:
            log.error("pnc_trust_roots: %s holds no PEM certificate", name)
    _roots[location] = (stamp, certs)
    return certs


async def describe_roots(location: str) -> list[dict[str, str]]:
    """The configured V2G / MO roots, for the API."""
    return [
        {
            "subject": cert.subject.rfc4514_string(),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "sha256": cert.fingerprint(hashes.SHA256()).hex(),
        }
        for cert in await trust_roots(location)
    ]
