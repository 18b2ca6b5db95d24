"""OCPP 2.1 ad hoc payment (block C): NotifySettlement kept and attached to
the session and its CDR, NotifyWebPaymentStarted sent through the API,
VatNumberValidation answered from a format check or the operator's list."""

from __future__ import annotations

import pytest

from tests.helpers import add_token, answer, now_iso, register, station, wait_until
from tests.v21.payment_flows import BOOT, end, start
from volta.app import outgoing_tables
from volta.blocks.payment import service
from volta.blocks.payment.service import NotifyWebPaymentStarted
from volta.blocks.transactions import queries as tx_queries
from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version
from volta.outgoing import Message

OUTGOING_CASES: list[tuple[object, Message]] = [
    (
        NotifyWebPaymentStarted(evse_id=2, timeout=120),
        Message("NotifyWebPaymentStarted", {"evseId": 2, "timeout": 120}),
    ),
]


@pytest.mark.parametrize(("command", "message"), OUTGOING_CASES)
def test_the_v21_table_builds_payment_commands(command, message):
    built = outgoing_tables()[Version.V21].build(command)
    assert built == message
    registry().validate(Version.V21, built.action, built.payload)


def settlement(tx: str | None, status: str = "Settled", **more: object) -> dict:
    payload: dict = {
        "pspRef": "PSP-77",
        "status": status,
        "settlementAmount": 12.35,
        "settlementTime": now_iso(),
        **more,
    }
    if tx is not None:
        payload["transactionId"] = tx
    return payload


async def test_a_settlement_is_attached_to_its_session_and_cdr(volta, api):
    """NotifySettlement (2.1 ad hoc payment): stored with the PSP reference,
    status, amount and receipt, shown with the session and its CDR."""
    await register(volta, "PAY-1")
    await add_token(volta, "TAG-PAY")
    async with station(volta, "PAY-1", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        await start(cp, "pay-tx-1", "TAG-PAY")
        await end(cp, "pay-tx-1")
        answered = await cp.call(
            "NotifySettlement",
            settlement(
                "pay-tx-1",
                receiptId="R-1",
                receiptUrl="https://receipts.example/R-1",
                vatNumber="NL123456789B01",
                vatCompany={"name": "ACME", "address1": "Main 1", "city": "Delft", "country": "NL"},
            ),
        )
        assert answered == {}
        # A repeat of the same attempt (a retry) is kept once.
        repeat = settlement("pay-tx-1")
        await cp.call("NotifySettlement", repeat)
        await cp.call("NotifySettlement", repeat)
    [tx] = await tx_queries.list_transactions(volta.services.db, station_id="PAY-1")
    session = (await api.get(f"/api/v1/transactions/{tx['id']}")).json()
    assert [s["psp_ref"] for s in session["settlements"]] == ["PSP-77", "PSP-77"]
    first = session["settlements"][0]
    assert first["status"] == "Settled"
    assert first["amount"] == "12.35"
    assert first["receipt_url"] == "https://receipts.example/R-1"
    assert first["station_transaction_id"] == "pay-tx-1"
    assert first["transaction_id"] == tx["id"]
    assert first["vat_company"]["city"] == "Delft"

    async def cdr_written() -> bool:
        return (await api.get(f"/api/v1/cdrs/VOLTA-{tx['id']}")).status_code == 200

    assert await wait_until(cdr_written)
    cdr = (await api.get(f"/api/v1/cdrs/VOLTA-{tx['id']}")).json()
    assert [s["receipt_id"] for s in cdr["settlements"]] == ["R-1", None]
    listed = (await api.get("/api/v1/settlements", params={"station_id": "PAY-1"})).json()
    assert len(listed) == 2
    events = (await api.get("/api/v1/events", params={"type": "payment.settlement"})).json()
    assert any(e["data"].get("psp_ref") == "PSP-77" for e in events)


async def test_a_settlement_canceled_before_a_transaction_is_kept_alone(volta, api):
    """NotifySettlement without transactionId: the payment was canceled
    before the transaction started; it is kept, attached to no session."""
    await register(volta, "PAY-2")
    async with station(volta, "PAY-2", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        await cp.call("NotifySettlement", settlement(None, "Canceled", settlementAmount=0))
    [row] = (await api.get("/api/v1/settlements", params={"psp_ref": "PSP-77"})).json()
    assert row["status"] == "Canceled"
    assert row["transaction_id"] is None
    assert row["amount"] == "0"


async def test_web_payment_started_is_sent_to_a_2_1_station(volta, api):
    """NotifyWebPaymentStarted (2.1 ad hoc payment by QR code): the API tells
    the station a driver opened the web payment for an EVSE."""
    await register(volta, "PAY-3")
    async with station(volta, "PAY-3", "2.1") as cp:
        cp.handlers["NotifyWebPaymentStarted"] = answer({})
        await cp.call("BootNotification", BOOT)
        resp = await api.post(
            "/api/v1/stations/PAY-3/web-payments", json={"evse_id": 1, "timeout": 90}
        )
        assert resp.status_code == 202, resp.text
        assert resp.json()["status"] == "accepted"
        assert cp.received[-1] == ("NotifyWebPaymentStarted", {"evse_id": 1, "timeout": 90})


async def test_web_payment_is_refused_to_a_2_0_1_station(volta, api):
    await register(volta, "PAY-4")
    async with station(volta, "PAY-4", "2.0.1") as cp:
        await cp.call("BootNotification", BOOT)
        resp = await api.post(
            "/api/v1/stations/PAY-4/web-payments", json={"evse_id": 1, "timeout": 90}
        )
        assert resp.status_code == 409
        assert "OCPP 2.1" in resp.json()["detail"]
    assert (
        await api.post("/api/v1/stations/NOPE/web-payments", json={"evse_id": 1, "timeout": 9})
    ).status_code == 404


async def test_vat_numbers_by_format_and_by_the_operators_list(volta, api):
    """VatNumberValidation: a well-formed number is Accepted (vat_validation
    "format"), a malformed one Rejected; a number on the operator's list is
    answered with its company."""
    await register(volta, "PAY-5")
    put = await api.put(
        "/api/v1/vat-numbers",
        json={
            "vat_number": "de 123.456.789",
            "company": {
                "name": "Muster GmbH",
                "address1": "Weg 1",
                "city": "Berlin",
                "country": "DE",
                "postal_code": "10115",
            },
        },
    )
    assert put.status_code == 200, put.text
    assert put.json()["vat_number"] == "DE123456789"
    assert put.json()["well_formed"] is True
    async with station(volta, "PAY-5", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        listed = await cp.call("VatNumberValidation", {"vatNumber": "DE123456789", "evseId": 1})
        assert listed["status"] == "Accepted"
        assert listed["company"]["postalCode"] == "10115"
        assert listed["evseId"] == 1
        formed = await cp.call("VatNumberValidation", {"vatNumber": "FR40303265045"})
        assert formed == {"vatNumber": "FR40303265045", "status": "Accepted"}
        bad = await cp.call("VatNumberValidation", {"vatNumber": "DE12"})
        assert bad["status"] == "Rejected"
        assert bad["statusInfo"]["reasonCode"] == "InvalidFormat"
    assert (await api.delete("/api/v1/vat-numbers/DE123456789")).status_code == 204
    assert (await api.delete("/api/v1/vat-numbers/DE123456789")).status_code == 404


@pytest.mark.parametrize("volta_settings", [{"vat_validation": "list"}])
async def test_vat_list_mode_accepts_only_listed_numbers(volta, api):
    await register(volta, "PAY-6")
    async with station(volta, "PAY-6", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        unknown = await cp.call("VatNumberValidation", {"vatNumber": "FR40303265045"})
        assert unknown["status"] == "Rejected"
        assert unknown["statusInfo"]["reasonCode"] == "UnknownVatNumber"


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("ATU12345678", True),
        ("BE0123456789", True),
        ("GR123456789", True),
        ("EL123456789", True),
        ("NL123456789B01", True),
        ("CHE-123.456.789 MWST", True),
        ("XX123", False),
        ("DE1234567890", False),
        ("", False),
    ],
)
def test_vat_formats(number, ok):
    assert service.well_formed(number) is ok
