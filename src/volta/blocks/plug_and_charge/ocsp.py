"""OCSP (RFC 6960) for Plug & Charge: asking the responder a station or a
contract certificate names whether a certificate is good, revoked or unknown.

The request is built with `cryptography.x509.ocsp` and POSTed over HTTP
(RFC 6960 appendix A.1). The responder URL comes from the station (its
`responderURL`) or from the EV's certificate, so it is client-controlled:
Volta connects only to public addresses unless `pnc_allowed_networks` (or
`pnc_allow_private_responders`) says otherwise, through the same guarded
transport as webhooks (events/targets.py: checked again at connect time,
no redirects, no proxies from the environment). Answers are bounded in size
and time (`pnc_ocsp_timeout`), and cached until their nextUpdate in a
bounded process-wide cache (C07.FR.05: "real-time or cached OCSP data").
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import enum
import functools
import logging
import ssl
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from volta.blocks.certificates.hashdata import HASHES, digest, key_bits
from volta.config import Settings
from volta.events.targets import GuardedTransport, TargetPolicy, TargetRefused

log = logging.getLogger(__name__)

# An OCSP response of a contract certificate is a few KiB; OCPP's ocspResult
# holds at most 5500 characters of base64 (GetCertificateStatusResponse).
MAX_RESPONSE_BYTES = 64 * 1024
# Clock skew tolerated on a response's thisUpdate.
SKEW = dt.timedelta(minutes=5)


class CertStatus(enum.StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    # No usable answer: refused target, timeout, HTTP error, bad or unsigned
    # response. The certificate's status is not known.
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class CertId:
    """OCPP's OCSPRequestDataType: hex hashes, hex serial, the responder."""

    hash_algorithm: str
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial_number: int
    responder_url: str

    @classmethod
    def from_ocpp(cls, data: dict[str, str]) -> CertId:
        """ValueError when a field is not what OCPP says (2.0.1 OCSPRequestDataType)."""
        algorithm = data["hashAlgorithm"]
        if algorithm not in HASHES:
            raise ValueError(f"unknown hashAlgorithm {algorithm!r}")
        size = HASHES[algorithm]().digest_size
        if not 0 < len(data["serialNumber"]) <= 40 or data["serialNumber"].startswith("-"):
            raise ValueError("bad serialNumber")
        return cls(
            algorithm,
            _hash_bytes(data["issuerNameHash"], size),
            _hash_bytes(data["issuerKeyHash"], size),
            int(data["serialNumber"], 16),
            data["responderURL"],
        )

    @classmethod
    def of(cls, cert: x509.Certificate, issuer: x509.Certificate, url: str) -> CertId:
        """The id of `cert` (issued by `issuer`), hashed with SHA-256."""
        return cls(
            "SHA256",
            digest("SHA256", issuer.subject.public_bytes()),
            digest("SHA256", key_bits(issuer)),
            cert.serial_number,
            url,
        )

    def to_ocpp(self) -> dict[str, str]:
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash.hex(),
            "issuerKeyHash": self.issuer_key_hash.hex(),
            "serialNumber": format(self.serial_number, "x"),
            "responderURL": self.responder_url,
        }


def _hash_bytes(text: str, size: int) -> bytes:
    # OCPP says hex; some stations send base64 (as the TZI test suite does).
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            raw = base64.b64decode(text, validate=True)
        except binascii.Error:
            raise ValueError("a hash is neither hex nor base64") from None
    if len(raw) != size:
        raise ValueError("a hash does not have its algorithm's length")
    return raw


@dataclass(frozen=True, slots=True)
class OcspAnswer:
    status: CertStatus
    # The responder's DER response (GetCertificateStatus hands it on).
    der: bytes | None = None
    # Why there is no usable answer (for the log; never a transport's text).
    reason: str = ""
    next_update: dt.datetime | None = None


class OcspCache:
    """Answers kept until their nextUpdate; the least recently used goes first."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[object, ...], OcspAnswer] = OrderedDict()

    def get(self, key: tuple[object, ...], now: dt.datetime) -> OcspAnswer | None:
        answer = self._entries.get(key)
        if answer is None:
            return None
        if answer.next_update is None or answer.next_update <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return answer

    def put(self, key: tuple[object, ...], answer: OcspAnswer, limit: int) -> None:
        if answer.next_update is None or limit <= 0:
            return  # RFC 6960 §4.2.2.1: no nextUpdate, newer information is always available
        self._entries[key] = answer
        self._entries.move_to_end(key)
        while len(self._entries) > limit:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# One per process: an OCSP answer is a fact about a certificate, the same
# whichever station asks.
cache = OcspCache()


def policy(settings: Settings) -> TargetPolicy:
    return TargetPolicy.from_settings(
        settings.pnc_allow_private_responders, settings.pnc_allowed_networks
    )


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One client TLS context per process: building one loads the system's
    CA certificates, about 40 ms of CPU on the event loop, which a context
    per request would cost every OCSP request (and provider call)."""
    return ssl.create_default_context()


def _url_allowed(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # "http://[::1" and the like
        return False


async def check(
    settings: Settings,
    cert_id: CertId,
    *,
    issuers: list[x509.Certificate] | None = None,
    verify: bool = True,
) -> OcspAnswer:
    """The status of `cert_id` from its responder (or the cache).

    `verify`: the response must be signed by the certificate's issuer, or by
    a responder the issuer delegated to (RFC 6960 §4.2.2.2); the issuer's key
    is found among `issuers` and the response's own certificates by its hash.
    """
    now = dt.datetime.now(dt.UTC)
    key = (
        cert_id.responder_url,
        cert_id.hash_algorithm,
        cert_id.issuer_name_hash,
        cert_id.issuer_key_hash,
        cert_id.serial_number,
        verify,
    )
    cached = cache.get(key, now)
    if cached is not None:
        return cached
    # One request per certificate at a time: after a restart many stations
    # ask about the same MO sub-CA at once.
    loop = asyncio.get_running_loop()
    task = _inflight.get(key)
    if task is None or task.get_loop() is not loop:
        task = loop.create_task(_ask(settings, cert_id, issuers or [], verify, now))
        _inflight[key] = task
        task.add_done_callback(lambda done: _forget(key, done))
    answer = await asyncio.shield(task)
    if answer.status is not CertStatus.UNAVAILABLE:
        cache.put(key, answer, settings.pnc_ocsp_cache_size)
    return answer


_inflight: dict[tuple[object, ...], asyncio.Task[OcspAnswer]] = {}


def _forget(key: tuple[object, ...], task: asyncio.Task[OcspAnswer]) -> None:
    if _inflight.get(key) is task:
        del _inflight[key]


async def _ask(
    settings: Settings,
    cert_id: CertId,
    issuers: list[x509.Certificate],
    verify: bool,
    now: dt.datetime,
) -> OcspAnswer:
    if not _url_allowed(cert_id.responder_url):
        return OcspAnswer(CertStatus.UNAVAILABLE, reason="responder URL is not http(s)")
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            cert_id.issuer_name_hash,
            cert_id.issuer_key_hash,
            cert_id.serial_number,
            HASHES[cert_id.hash_algorithm](),
        )
        .build()
    )
    try:
        current = policy(settings)
    except ValueError as exc:
        log.error("pnc_allowed_networks: %s", exc)
        return OcspAnswer(CertStatus.UNAVAILABLE, reason="pnc_allowed_networks is not valid")
    try:
        async with (
            httpx.AsyncClient(
                transport=GuardedTransport(lambda: current, verify=tls_context()),
                timeout=settings.pnc_ocsp_timeout,
                follow_redirects=False,
            ) as client,
            client.stream(
                "POST",
                cert_id.responder_url,
                content=request.public_bytes(serialization.Encoding.DER),
                headers={"Content-Type": "application/ocsp-request"},
            ) as reply,
        ):
            if reply.status_code != 200:
                return OcspAnswer(CertStatus.UNAVAILABLE, reason=f"HTTP {reply.status_code}")
            body = bytearray()
            async for chunk in reply.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    return OcspAnswer(CertStatus.UNAVAILABLE, reason="response too large")
    except TargetRefused:
        log.warning("OCSP responder %s refused: not a public address", cert_id.responder_url)
        return OcspAnswer(CertStatus.UNAVAILABLE, reason="target address not allowed")
    except httpx.TimeoutException:
        return OcspAnswer(CertStatus.UNAVAILABLE, reason="timeout")
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        # ValueError: a URL httpx cannot read (UnicodeError on a bad IDNA name).
        log.debug("OCSP request failed: %s", type(exc).__name__)
        return OcspAnswer(CertStatus.UNAVAILABLE, reason="connection failed")
    return parse(bytes(body), cert_id, issuers, verify, now)


def parse(
    der: bytes,
    cert_id: CertId,
    issuers: list[x509.Certificate],
    verify: bool,
    now: dt.datetime,
) -> OcspAnswer:
    """Check a DER OCSP response against the request and read its status."""
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError:
        return OcspAnswer(CertStatus.UNAVAILABLE, reason="not an OCSP response")
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return OcspAnswer(
            CertStatus.UNAVAILABLE, reason=f"responder said {response.response_status.name}"
        )
    single = None
    for one in response.responses:
        if (
            one.serial_number == cert_id.serial_number
            and one.issuer_key_hash == cert_id.issuer_key_hash
            and one.issuer_name_hash == cert_id.issuer_name_hash
        ):
            single = one
            break
    if single is None:
        return OcspAnswer(CertStatus.UNAVAILABLE, reason="about another certificate")
    if single.this_update_utc > now + SKEW:
        return OcspAnswer(CertStatus.UNAVAILABLE, reason="response from the future")
    next_update = single.next_update_utc
    if next_update is not None and next_update < now:
        return OcspAnswer(CertStatus.UNAVAILABLE, reason="stale response")
    if verify and not _signed_by_issuer(response, cert_id, issuers):
        return OcspAnswer(CertStatus.UNAVAILABLE, reason="response not signed by the issuer")
    status = {
        ocsp.OCSPCertStatus.GOOD: CertStatus.GOOD,
        ocsp.OCSPCertStatus.REVOKED: CertStatus.REVOKED,
        ocsp.OCSPCertStatus.UNKNOWN: CertStatus.UNKNOWN,
    }[single.certificate_status]
    return OcspAnswer(status, der, next_update=next_update)


def _signed_by_issuer(
    response: ocsp.OCSPResponse, cert_id: CertId, issuers: list[x509.Certificate]
) -> bool:
    candidates = [*issuers, *response.certificates]
    issuer = next(
        (
            c
            for c in candidates
            if digest(cert_id.hash_algorithm, key_bits(c)) == cert_id.issuer_key_hash
            and digest(cert_id.hash_algorithm, c.subject.public_bytes()) == cert_id.issuer_name_hash
        ),
        None,
    )
    if issuer is None:
        return False
    if _verify(issuer.public_key(), response):
        return True
    # A delegated responder: its certificate, in the response, issued by the
    # issuer and for OCSP signing (RFC 6960 §4.2.2.2).
    for delegate in response.certificates:
        try:
            delegate.verify_directly_issued_by(issuer)
            usage = delegate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (
            ValueError,
            TypeError,
            InvalidSignature,
            UnsupportedAlgorithm,
            x509.ExtensionNotFound,
        ):
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING in usage and _verify(delegate.public_key(), response):
            return True
    return False


def _verify(key: object, response: ocsp.OCSPResponse) -> bool:
    try:
        algorithm = response.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return False
    try:
        if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(response.signature, response.tbs_response_bytes)
        elif algorithm is None:
            return False
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(
                response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm
            )
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def responder_urls(cert: x509.Certificate) -> list[str]:
    """The OCSP URLs of the certificate's Authority Information Access."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [
        d.access_location.value
        for d in aia
        if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]
