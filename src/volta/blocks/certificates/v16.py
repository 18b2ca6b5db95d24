"""OCPP 1.6 security whitepaper (edition 3): SignCertificate answered and
followed by CertificateSigned; how InstallCertificate,
GetInstalledCertificateIds, DeleteCertificate and ExtendedTriggerMessage
SignChargePointCertificate are spelled. 1.6 knows only the charge point
certificate (no V2G) and two root kinds, CentralSystemRootCertificate (2.0.1's
CSMSRootCertificate, the name Volta keeps) and ManufacturerRootCertificate."""

from __future__ import annotations

from typing import Any

from volta.blocks.certificates import service
from volta.blocks.certificates.csr import CHARGING_STATION, V2G
from volta.blocks.certificates.service import (
    CertificateSigned,
    DeleteCertificate,
    GetInstalledCertificateIds,
    InstallCertificate,
    RequestCsr,
)
from volta.blocks.plug_and_charge.wrapping import wrap
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell, Message, OutgoingTable
from volta.services import CallContext, HandlerTable

V16 = Version.V16

handlers = HandlerTable()

# 2.0.1 names -> 1.6 CertificateUseEnumType.
_USE = {
    "CSMSRootCertificate": "CentralSystemRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
}


@handlers.on(V16, "SignCertificate")
async def sign_certificate(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    accepted = await service.receive_csr(ctx.services, ctx.station_id, p["csr"], CHARGING_STATION)
    return {"status": "Accepted" if accepted else "Rejected"}


@handlers.after(V16, "SignCertificate")
async def certificate_signed(
    ctx: CallContext, request: dict[str, Any], response: dict[str, Any]
) -> None:
    if response.get("status") == "Accepted":
        await service.issue(ctx.services, ctx.station_id, V16, request["csr"], CHARGING_STATION)


outgoing = OutgoingTable()


def _use(certificate_type: str) -> str:
    try:
        return _USE[certificate_type]
    except KeyError:
        raise CannotSpell(f"OCPP 1.6 has no {certificate_type}") from None


@outgoing.builds(CertificateSigned)
def certificate_signed_request(command: CertificateSigned) -> Message:
    if command.certificate_type == V2G:
        # The OCA's "ISO 15118 Plug & Charge with OCPP 1.6": the 2.0.1
        # message in a DataTransfer.
        return wrap(
            Message(
                "CertificateSigned",
                {"certificateChain": command.certificate_chain, "certificateType": V2G},
            )
        )
    if command.certificate_type != CHARGING_STATION:
        raise CannotSpell(f"OCPP 1.6 has no {command.certificate_type}")
    return Message("CertificateSigned", {"certificateChain": command.certificate_chain})


@outgoing.builds(InstallCertificate)
def install_certificate(command: InstallCertificate) -> Message:
    if command.certificate_type in ("V2GRootCertificate", "MORootCertificate"):
        # ISO 15118 roots: the Plug & Charge whitepaper's InstallCertificate,
        # in a DataTransfer.
        return wrap(
            Message(
                "InstallCertificate",
                {"certificateType": command.certificate_type, "certificate": command.certificate},
            )
        )
    return Message(
        "InstallCertificate",
        {"certificateType": _use(command.certificate_type), "certificate": command.certificate},
    )


@outgoing.builds(GetInstalledCertificateIds)
def get_installed_certificate_ids(command: GetInstalledCertificateIds) -> Message:
    if len(command.certificate_types) != 1:
        raise CannotSpell("OCPP 1.6 asks for one certificate type at a time")
    return Message(
        "GetInstalledCertificateIds", {"certificateType": _use(command.certificate_types[0])}
    )


@outgoing.builds(DeleteCertificate)
def delete_certificate(command: DeleteCertificate) -> Message:
    return Message("DeleteCertificate", {"certificateHashData": command.hash_data.payload()})


@outgoing.builds(RequestCsr)
def request_csr(command: RequestCsr) -> Message:
    if command.certificate_type == V2G:
        # The Plug & Charge whitepaper's TriggerMessage, in a DataTransfer.
        return wrap(Message("TriggerMessage", {"requestedMessage": "SignV2GCertificate"}))
    if command.certificate_type != CHARGING_STATION:
        raise CannotSpell(f"OCPP 1.6 cannot ask for a {command.certificate_type} CSR")
    return Message("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
