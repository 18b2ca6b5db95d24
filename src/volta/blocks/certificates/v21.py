"""OCPP 2.1 certificates: GetCertificateChainStatus.

A 2.1 station asks the CSMS for the revocation status of up to four
certificates of a chain (typically the V2G or MO sub-CAs it cannot check
itself while offline from the internet), each with the URLs to ask: OCSP
responders or CRL distribution points. Volta asks them as it asks OCSP
responders for Plug & Charge (plug_and_charge.ocsp: only public addresses
unless `pnc_allowed_networks` says otherwise, bounded in size and time,
answers cached until their nextUpdate) and answers each certificate Good,
Revoked, Unknown (the responder does not know it) or Failed (no usable
answer from any of its URLs), with the nextUpdate the station may cache it
until (Failed: FAILED_RETRY from now).

A CRL is matched to the certificate by its issuer's name hash; its signature
is not verified (Volta need not hold the issuer's certificate; the station
named the URL). OCSP responses are not verified either, as for
GetCertificateStatus: the responder is the station's.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509

from volta.blocks.certificates.hashdata import HASHES, digest
from volta.blocks.plug_and_charge import ocsp
from volta.config import Settings
from volta.events.targets import GuardedTransport, TargetRefused
from volta.ocpp.times import format_timestamp
from volta.ocpp.versions import Version
from volta.outgoing import OutgoingTable
from volta.services import CallContext, HandlerTable

log = logging.getLogger(__name__)

handlers = HandlerTable()
outgoing = OutgoingTable()

FAILED_RETRY = dt.timedelta(hours=1)
# A CRL without nextUpdate (or a Good without one) is kept this long at most.
DEFAULT_VALIDITY = dt.timedelta(hours=24)
MAX_CRL_BYTES = 4 * 1024 * 1024
CRL_CACHE_SIZE = 16

_STATUS = {
    ocsp.CertStatus.GOOD: "Good",
    ocsp.CertStatus.REVOKED: "Revoked",
    ocsp.CertStatus.UNKNOWN: "Unknown",
}


class _CrlCache:
    def __init__(self) -> None:
        self.entries: OrderedDict[str, x509.CertificateRevocationList] = OrderedDict()

    def get(self, url: str, now: dt.datetime) -> x509.CertificateRevocationList | None:
        crl = self.entries.get(url)
        if crl is None:
            return None
        if crl.next_update_utc is None or crl.next_update_utc <= now:
            del self.entries[url]
            return None
        self.entries.move_to_end(url)
        return crl

    def put(self, url: str, crl: x509.CertificateRevocationList) -> None:
        if crl.next_update_utc is None:
            return
        self.entries[url] = crl
        while len(self.entries) > CRL_CACHE_SIZE:
            self.entries.popitem(last=False)


crl_cache = _CrlCache()


async def _fetch_crl(settings: Settings, url: str) -> x509.CertificateRevocationList | None:
    now = dt.datetime.now(dt.UTC)
    cached = crl_cache.get(url, now)
    if cached is not None:
        return cached
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        current = ocsp.policy(settings)
    except ValueError:
        return None
    try:
        async with (
            httpx.AsyncClient(
                transport=GuardedTransport(lambda: current, verify=ocsp.tls_context()),
                timeout=settings.pnc_ocsp_timeout,
                follow_redirects=False,
            ) as client,
            client.stream("GET", url) as reply,
        ):
            if reply.status_code != 200:
                return None
            body = bytearray()
            async for chunk in reply.aiter_bytes():
                body += chunk
                if len(body) > MAX_CRL_BYTES:
                    return None
    except TargetRefused:
        log.warning("CRL distribution point %s refused: not a public address", url)
        return None
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError):
        return None
    raw = bytes(body)
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            crl = x509.load_pem_x509_crl(raw)
        else:
            crl = x509.load_der_x509_crl(raw)
    except ValueError:
        return None
    crl_cache.put(url, crl)
    return crl


def _failed(hash_data: dict[str, Any], source: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "certificateHashData": hash_data,
        "source": source,
        "status": "Failed",
        "nextUpdate": format_timestamp(now + FAILED_RETRY),
    }


async def _by_ocsp(settings: Settings, request: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    hash_data = request["certificateHashData"]
    for url in request["urls"]:
        try:
            cert_id = ocsp.CertId.from_ocpp({**hash_data, "responderURL": url})
        except (KeyError, ValueError):
            return _failed(hash_data, "OCSP", now)
        answer = await ocsp.check(settings, cert_id, verify=False)
        if answer.status in _STATUS:
            next_update = answer.next_update or now + DEFAULT_VALIDITY
            return {
                "certificateHashData": hash_data,
                "source": "OCSP",
                "status": _STATUS[answer.status],
                "nextUpdate": format_timestamp(next_update),
            }
    return _failed(hash_data, "OCSP", now)


async def _by_crl(settings: Settings, request: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    hash_data = request["certificateHashData"]
    algorithm = hash_data["hashAlgorithm"]
    try:
        serial = int(hash_data["serialNumber"], 16)
        name_hash = bytes.fromhex(hash_data["issuerNameHash"])
    except ValueError:
        return _failed(hash_data, "CRL", now)
    if algorithm not in HASHES:
        return _failed(hash_data, "CRL", now)
    for url in request["urls"]:
        crl = await _fetch_crl(settings, url)
        if crl is None:
            continue
        if digest(algorithm, crl.issuer.public_bytes()) != name_hash:
            log.info("CRL at %s is not of the certificate's issuer", url)
            continue
        next_update = crl.next_update_utc or now + DEFAULT_VALIDITY
        revoked = crl.get_revoked_certificate_by_serial_number(serial)
        return {
            "certificateHashData": hash_data,
            "source": "CRL",
            "status": "Revoked" if revoked is not None else "Good",
            "nextUpdate": format_timestamp(next_update),
        }
    return _failed(hash_data, "CRL", now)


async def chain_status(settings: Settings, p: dict[str, Any]) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    statuses = []
    for request in p["certificateStatusRequests"]:
        if request["source"] == "OCSP":
            statuses.append(await _by_ocsp(settings, request, now))
        else:
            statuses.append(await _by_crl(settings, request, now))
    return {"certificateStatus": statuses}


@handlers.on(Version.V21, "GetCertificateChainStatus")
async def get_certificate_chain_status(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    """The revocation status of each certificate of the chain the station asks about."""
    return await chain_status(ctx.services.settings, p)
