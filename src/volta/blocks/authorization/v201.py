"""OCPP 2.0.1 block C: Authorize, and the IdTokenInfo of TransactionEvent."""

from __future__ import annotations

from typing import Any

from volta.blocks.authorization.service import Authorization, authorize
from volta.blocks.plug_and_charge.contracts import authorize_contract
from volta.ocpp.times import format_timestamp
from volta.ocpp.versions import Version
from volta.services import CallContext, HandlerTable


def id_token_info(auth: Authorization) -> dict[str, Any]:
    info: dict[str, Any] = {"status": auth.status}
    if auth.expires_at is not None:
        info["cacheExpiryDateTime"] = format_timestamp(auth.expires_at)
    if auth.group_id:
        info["groupIdToken"] = {"idToken": auth.group_id, "type": auth.group_type or "Central"}
    if auth.language1:
        info["language1"] = auth.language1
    if auth.language2:
        info["language2"] = auth.language2
    return info


handlers = HandlerTable()


@handlers.on(Version.V201, "Authorize")
async def authorize_handler(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    token = p["idToken"]
    if p.get("certificate") or p.get("iso15118CertificateHashData"):
        # C07: a contract certificate (Plug & Charge), checked by OCSP.
        verdict = await authorize_contract(
            ctx.services,
            ctx.station_id,
            token["idToken"],
            certificate=p.get("certificate"),
            hash_data=p.get("iso15118CertificateHashData"),
        )
        return {
            "idTokenInfo": id_token_info(verdict.authorization),
            "certificateStatus": verdict.certificate_status,
        }
    auth = await authorize(ctx.services.db, token["idToken"], token["type"])
    return {"idTokenInfo": id_token_info(auth)}
