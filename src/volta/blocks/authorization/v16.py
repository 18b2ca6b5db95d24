"""OCPP 1.6 Core: Authorize, and the IdTagInfo every transaction message uses."""

from __future__ import annotations

from typing import Any

from volta.blocks.authorization.service import Authorization, authorize
from volta.ocpp.times import format_timestamp
from volta.ocpp.versions import Version
from volta.services import CallContext, HandlerTable


def id_tag_info(auth: Authorization) -> dict[str, Any]:
    # 1.6 AuthorizationStatus has no "Unknown": an unknown tag is Invalid.
    info: dict[str, Any] = {"status": "Invalid" if auth.status == "Unknown" else auth.status}
    if auth.expires_at is not None:
        info["expiryDate"] = format_timestamp(auth.expires_at)
    if auth.group_id:
        info["parentIdTag"] = auth.group_id
    return info


handlers = HandlerTable()


@handlers.on(Version.V16, "Authorize")
async def authorize_handler(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"idTagInfo": id_tag_info(await authorize(ctx.services.db, p["idTag"]))}
