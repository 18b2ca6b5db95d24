"""Contract certificate providers: who answers an EV's request to install or
update its contract certificate (2.0.1 M01 / M02, Get15118EVCertificate).

The request and the answer are ISO 15118-2 / -20 messages
(CertificateInstallationReq/Res, CertificateUpdateReq/Res) in EXI, base64
encoded. Volta has no EXI codec (the only one on PyPI, the `iso15118`
package, runs a Java EXI library through py4j), so it does not read them:
a provider gets the EXI request as the station sent it and returns the EXI
response the station hands to the EV. A provider is anything with
`get_ev_certificate()` (the `ContractCertificateProvider` protocol):

- `HttpProvider` (setting `pnc_provider_url`): POSTs the request as JSON to a
  contract certificate service (a Hubject-style CPS / PKI gateway or your
  MO's backend) and passes its answer on;
- `NoProvider` (no URL set): answers Failed, saying why.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from typing import Protocol

import httpx
import orjson

from volta.blocks.plug_and_charge.ocsp import tls_context
from volta.config import Settings

log = logging.getLogger(__name__)

# Get15118EVCertificateResponse.exiResponse, 2.0.1 schema.
MAX_EXI_RESPONSE = 5600
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class EvCertificateRequest:
    station_id: str
    schema_version: str
    action: str  # Install | Update
    exi_request: str  # base64 EXI, as the station sent it


@dataclass(frozen=True, slots=True)
class EvCertificateAnswer:
    status: str  # Accepted | Failed (Iso15118EVCertificateStatusEnumType)
    exi_response: str = ""
    # reasonCode for statusInfo (at most 20 characters) when Failed.
    reason: str = ""


class ContractCertificateProvider(Protocol):
    name: str

    async def get_ev_certificate(self, request: EvCertificateRequest) -> EvCertificateAnswer: ...


class NoProvider:
    name = "none"

    async def get_ev_certificate(self, request: EvCertificateRequest) -> EvCertificateAnswer:
        return EvCertificateAnswer("Failed", reason="NoProvider")


class HttpProvider:
    """Forwards the EXI request as JSON:

    request  {"stationId", "iso15118SchemaVersion", "action", "exiRequest"}
    answer   {"status": "Accepted" | "Failed", "exiResponse": base64 EXI}

    The URL is the operator's (a setting), not a station's; redirects are not
    followed, proxies from the environment not used, the answer is bounded."""

    name = "http"

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout

    async def get_ev_certificate(self, request: EvCertificateRequest) -> EvCertificateAnswer:
        body = {
            "stationId": request.station_id,
            "iso15118SchemaVersion": request.schema_version,
            "action": request.action,
            "exiRequest": request.exi_request,
        }
        try:
            async with (
                httpx.AsyncClient(
                    timeout=self.timeout,
                    trust_env=False,
                    follow_redirects=False,
                    verify=tls_context(),
                ) as client,
                client.stream("POST", self.url, json=body) as reply,
            ):
                if reply.status_code != 200:
                    log.warning("contract certificate provider answered HTTP %s", reply.status_code)
                    return EvCertificateAnswer("Failed", reason="ProviderError")
                raw = bytearray()
                async for chunk in reply.aiter_bytes():
                    raw += chunk
                    if len(raw) > MAX_ANSWER_BYTES:
                        return EvCertificateAnswer("Failed", reason="ProviderError")
        except httpx.TimeoutException:
            log.warning("contract certificate provider timed out")
            return EvCertificateAnswer("Failed", reason="ProviderTimeout")
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
            log.warning("contract certificate provider unreachable (%s)", type(exc).__name__)
            return EvCertificateAnswer("Failed", reason="ProviderError")
        return _answer(bytes(raw))


def _answer(raw: bytes) -> EvCertificateAnswer:
    try:
        data = orjson.loads(raw)
        status = data["status"]
        exi = data.get("exiResponse", "")
        if status not in ("Accepted", "Failed") or not isinstance(exi, str):
            raise ValueError("bad status or exiResponse")
        if len(exi) > MAX_EXI_RESPONSE:
            raise ValueError("exiResponse too long")
        base64.b64decode(exi, validate=True)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error):
        log.warning("contract certificate provider sent an answer Volta cannot use")
        return EvCertificateAnswer("Failed", reason="ProviderError")
    if status == "Accepted" and not exi:
        return EvCertificateAnswer("Failed", reason="ProviderError")
    return EvCertificateAnswer(status, exi, "" if status == "Accepted" else "ProviderFailed")


def provider_for(settings: Settings) -> ContractCertificateProvider:
    if settings.pnc_provider_url:
        return HttpProvider(settings.pnc_provider_url, settings.pnc_provider_timeout)
    return NoProvider()
