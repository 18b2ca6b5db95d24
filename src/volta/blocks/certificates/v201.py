"""OCPP 2.0.1 A02/A03 and block M: SignCertificate answered and followed by
CertificateSigned; how InstallCertificate (M05), GetInstalledCertificateIds
(M03), DeleteCertificate (M04) and the CSR trigger (A02, F06) are spelled."""

from __future__ import annotations

from typing import Any

from volta.blocks.certificates import service
from volta.blocks.certificates.csr import CHARGING_STATION
from volta.blocks.certificates.service import (
    CertificateSigned,
    DeleteCertificate,
    GetInstalledCertificateIds,
    InstallCertificate,
    RequestCsr,
)
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

V201 = Version.V201

handlers = HandlerTable()


def _kind(p: dict[str, Any]) -> str:
    # certificateType omitted: a ChargingStationCertificate (A02.FR.xx).
    return str(p.get("certificateType") or CHARGING_STATION)


@handlers.on(V201, "SignCertificate")
async def sign_certificate(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    accepted = await service.receive_csr(ctx.services, ctx.station_id, p["csr"], _kind(p))
    if accepted:
        return {"status": "Accepted"}
    return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCSR"}}


@handlers.after(V201, "SignCertificate")
async def certificate_signed(
    ctx: CallContext, request: dict[str, Any], response: dict[str, Any]
) -> None:
    if response.get("status") == "Accepted":
        await service.issue(ctx.services, ctx.station_id, V201, request["csr"], _kind(request))


outgoing = OutgoingTable()


@outgoing.builds(CertificateSigned)
def certificate_signed_request(command: CertificateSigned) -> Message:
    return Message(
        "CertificateSigned",
        {
            "certificateChain": command.certificate_chain,
            "certificateType": command.certificate_type,
        },
    )


@outgoing.builds(InstallCertificate)
def install_certificate(command: InstallCertificate) -> Message:
    return Message(
        "InstallCertificate",
        {"certificateType": command.certificate_type, "certificate": command.certificate},
    )


@outgoing.builds(GetInstalledCertificateIds)
def get_installed_certificate_ids(command: GetInstalledCertificateIds) -> Message:
    payload: dict[str, Any] = {}
    if command.certificate_types:
        payload["certificateType"] = list(command.certificate_types)
    return Message("GetInstalledCertificateIds", payload)


@outgoing.builds(DeleteCertificate)
def delete_certificate(command: DeleteCertificate) -> Message:
    return Message("DeleteCertificate", {"certificateHashData": command.hash_data.payload()})


_TRIGGERS = {
    "ChargingStationCertificate": "SignChargingStationCertificate",
    "V2GCertificate": "SignV2GCertificate",
    "Combined": "SignCombinedCertificate",
}


@outgoing.builds(RequestCsr)
def request_csr(command: RequestCsr) -> Message:
    return Message("TriggerMessage", {"requestedMessage": _TRIGGERS[command.certificate_type]})
