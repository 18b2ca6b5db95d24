"""Plug & Charge, version-neutral: what both the 2.0.1 messages and the
OCA's 1.6 DataTransfer wrapping of them answer (docs/security.md)."""

from __future__ import annotations

import base64
from typing import Any

from volta.blocks.authorization.v201 import id_token_info
from volta.blocks.plug_and_charge import ocsp
from volta.blocks.plug_and_charge.contracts import authorize_contract
from volta.blocks.plug_and_charge.providers import EvCertificateRequest, provider_for
from volta.services import Services

# GetCertificateStatusResponse.ocspResult, 2.0.1 schema.
MAX_OCSP_RESULT = 5500


def _status_info(reason: str, info: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"reasonCode": reason[:20]}
    if info:
        out["additionalInfo"] = info[:512]
    return out


async def authorize(services: Services, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
    """AuthorizeResponse (2.0.1 shape) for an AuthorizeRequest with contract
    certificate data (C07)."""
    verdict = await authorize_contract(
        services,
        station_id,
        p["idToken"]["idToken"],
        certificate=p.get("certificate"),
        hash_data=p.get("iso15118CertificateHashData"),
    )
    return {
        "idTokenInfo": id_token_info(verdict.authorization),
        "certificateStatus": verdict.certificate_status,
    }


async def certificate_status(services: Services, p: dict[str, Any]) -> dict[str, Any]:
    """GetCertificateStatusResponse (M06: the OCSP status of one of the
    station's V2G certificates): the responder's DER answer, base64, which
    the station checks and hands to EVs. Failed when there is none."""
    try:
        cert_id = ocsp.CertId.from_ocpp(p["ocspRequestData"])
    except (KeyError, ValueError) as exc:
        return {"status": "Failed", "statusInfo": _status_info("InvalidRequest", str(exc))}
    # The station's V2G chain ends in a root Volta may not hold: the station
    # verifies the response's signature itself (it is passed on unchanged).
    answer = await ocsp.check(services.settings, cert_id, verify=False)
    if answer.der is None:
        return {"status": "Failed", "statusInfo": _status_info("OCSPUnavailable", answer.reason)}
    result = base64.b64encode(answer.der).decode()
    if len(result) > MAX_OCSP_RESULT:
        return {"status": "Failed", "statusInfo": _status_info("OCSPTooLarge")}
    return {"status": "Accepted", "ocspResult": result}


async def ev_certificate(services: Services, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
    """Get15118EVCertificateResponse (M01 install, M02 update) from the
    configured contract certificate provider."""
    provider = provider_for(services.settings)
    answer = await provider.get_ev_certificate(
        EvCertificateRequest(station_id, p["iso15118SchemaVersion"], p["action"], p["exiRequest"])
    )
    out: dict[str, Any] = {"status": answer.status, "exiResponse": answer.exi_response}
    if answer.status != "Accepted":
        out["statusInfo"] = _status_info(answer.reason or "Failed", f"provider {provider.name}")
    return out
