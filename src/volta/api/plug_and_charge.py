"""Plug & Charge: what Volta trusts and asks, and a contract check by hand."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from volta.blocks.plug_and_charge import contracts, ocsp
from volta.blocks.plug_and_charge.providers import provider_for
from volta.http import ServicesDep

router = APIRouter(tags=["plug-and-charge"])


class TrustRootOut(BaseModel):
    subject: str
    not_after: str
    sha256: str = Field(description="the certificate's SHA-256 fingerprint, hex")


class PlugAndChargeOut(BaseModel):
    trust_roots: list[TrustRootOut] = Field(
        description="the V2G / MO roots of pnc_trust_roots (central contract validation)"
    )
    provider: str = Field(description="the contract certificate provider: http or none")
    ocsp_cache_entries: int
    allowed_networks: str = Field(description="pnc_allowed_networks: internal OCSP responders")


class ContractCheck(BaseModel):
    certificate: str = Field(
        min_length=1,
        max_length=10_000,
        description="the contract certificate chain in PEM, leaf first, root excluded",
    )
    id_token: str = Field(min_length=1, max_length=36, description="the eMAID presented")


class ContractCheckOut(BaseModel):
    certificate_status: str = Field(
        description="as an AuthorizeResponse would say it: Accepted, CertificateRevoked, "
        "CertificateExpired, SignatureError, CertChainError"
    )
    id_token_status: str = Field(description="the eMAID's idTokenInfo status")
    reason: str = Field(description="why the certificate was not accepted; empty if it was")


@router.get("/plug-and-charge", response_model=PlugAndChargeOut)
async def plug_and_charge_status(services: ServicesDep) -> PlugAndChargeOut:
    """What Plug & Charge trusts and asks: the configured roots, the
    provider, how many OCSP answers are cached."""
    settings = services.settings
    roots = await contracts.describe_roots(settings.pnc_trust_roots)
    return PlugAndChargeOut(
        trust_roots=[TrustRootOut(**r) for r in roots],
        provider=provider_for(settings).name,
        ocsp_cache_entries=len(ocsp.cache),
        allowed_networks=settings.pnc_allowed_networks,
    )


@router.post("/plug-and-charge/contract-check", response_model=ContractCheckOut)
async def check_contract(body: ContractCheck, services: ServicesDep) -> ContractCheckOut:
    """Check a contract certificate chain as a central-validation Authorize
    would (C07.FR.06): chain to the roots, OCSP, eMAID to token. Nothing is
    stored but the OCSP answers' cache; a refusal is a security event."""
    verdict = await contracts.authorize_contract(
        services, None, body.id_token, certificate=body.certificate, hash_data=None
    )
    return ContractCheckOut(
        certificate_status=verdict.certificate_status,
        id_token_status=verdict.authorization.status,
        reason=verdict.reason,
    )


@router.delete("/plug-and-charge/ocsp-cache", status_code=204)
async def clear_ocsp_cache() -> Response:
    """Forget the cached OCSP answers (e.g. after a revocation the responder
    announced before the answers' nextUpdate)."""
    ocsp.cache.clear()
    return Response(status_code=204)
