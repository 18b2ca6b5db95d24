"""Volta's tariffs as OCPP 2.1 TariffType (block I, I07-I10): every
translation validates against the 2.1 schema of the messages that carry it,
says the same prices, and a tariff 2.1 cannot say is refused, not changed.
The V21 builders of the tariff commands (OUTGOING_CASES)."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from volta.blocks.tariffs.model import Tariff
from volta.blocks.tariffs.station import (
    ChangeTransactionTariff,
    ClearTariffs,
    GetTariffs,
    SetDefaultTariff,
)
from volta.blocks.tariffs.translate import (
    Untranslatable,
    ocpp_tariff_id,
    to_ocpp,
    volta_tariff_id,
)
from volta.blocks.tariffs.v21 import outgoing
from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version
from volta.outgoing import Message


def tariff(**kw: object) -> Tariff:
    return Tariff.from_dict({"id": 7, "name": "Standard", "currency": "EUR", **kw})


def valid(tariff_type: dict[str, object]) -> None:
    """The TariffType validates where 2.1 carries it (I07, I08, I10)."""
    schemas = registry()
    for action, payload in (
        ("SetDefaultTariff", {"evseId": 0, "tariff": tariff_type}),
        ("ChangeTransactionTariff", {"transactionId": "tx", "tariff": tariff_type}),
    ):
        schemas.validate(Version.V21, action, payload)
    schemas.validate(
        Version.V21,
        "Authorize",
        {"idTokenInfo": {"status": "Accepted"}, "tariff": tariff_type},
        response=True,
    )


def test_energy_only_tariff_with_tax() -> None:
    """I07: priceKwh and the tax rate; nothing Volta does not charge is sent."""
    out = to_ocpp(tariff(price_kwh="0.35", tax_percent="19"))
    valid(out)
    assert out["currency"] == "EUR"
    assert out["tariffId"].startswith("7-")
    assert out["energy"] == {
        "prices": [{"priceKwh": 0.35}],
        "taxRates": [{"type": "Tax", "tax": 19, "stack": 0}],
    }
    assert "chargingTime" not in out and "idleTime" not in out and "fixedFee" not in out


def test_every_component() -> None:
    """Energy, charging time, idle time after the grace (minIdleTime in
    seconds) and the session fee as fixedFee."""
    out = to_ocpp(
        tariff(
            price_kwh="0.30",
            price_minute="0.05",
            price_idle_minute="0.10",
            idle_grace_minutes="15",
            session_fee="1.50",
        )
    )
    valid(out)
    assert out["chargingTime"]["prices"] == [{"priceMinute": 0.05}]
    assert out["idleTime"]["prices"] == [{"priceMinute": 0.1, "conditions": {"minIdleTime": 900}}]
    assert out["fixedFee"]["prices"] == [{"priceFixed": 1.5}]


def test_periods_become_conditions_before_the_base_price() -> None:
    """A period is a conditional price before the unconditional base one;
    one that keeps the base kWh price still says it, so a later period
    cannot take its place."""
    out = to_ocpp(
        tariff(
            price_kwh="0.40",
            price_minute="0.02",
            timezone="Europe/Berlin",
            periods=[
                {"days": ["SATURDAY", "SUNDAY"], "price_minute": "0.01"},
                {"start": "08:00", "end": "20:00", "price_kwh": "0.50"},
            ],
        )
    )
    valid(out)
    assert out["energy"]["prices"] == [
        {"priceKwh": 0.4, "conditions": {"dayOfWeek": ["Saturday", "Sunday"]}},
        {"priceKwh": 0.5, "conditions": {"startTimeOfDay": "08:00", "endTimeOfDay": "20:00"}},
        {"priceKwh": 0.4},
    ]
    assert out["chargingTime"]["prices"][0] == {
        "priceMinute": 0.01,
        "conditions": {"dayOfWeek": ["Saturday", "Sunday"]},
    }


def test_a_night_window_on_some_days_is_split_at_midnight() -> None:
    """Volta: FRIDAY 22:00-06:00 covers Saturday morning. 2.1 could read a
    wrapping window with dayOfWeek two ways: it is sent as two."""
    out = to_ocpp(
        tariff(
            price_kwh="0.40",
            periods=[{"days": ["FRIDAY"], "start": "22:00", "end": "06:00", "price_kwh": "0.20"}],
        )
    )
    valid(out)
    assert out["energy"]["prices"][:2] == [
        {
            "priceKwh": 0.2,
            "conditions": {
                "startTimeOfDay": "22:00",
                "endTimeOfDay": "00:00",
                "dayOfWeek": ["Friday"],
            },
        },
        {
            "priceKwh": 0.2,
            "conditions": {
                "startTimeOfDay": "00:00",
                "endTimeOfDay": "06:00",
                "dayOfWeek": ["Saturday"],
            },
        },
    ]


def test_a_night_window_every_day_wraps_as_2_1_says() -> None:
    """2.1: an end before the start wraps to the next day; 24:00 is 00:00."""
    out = to_ocpp(
        tariff(
            price_kwh="0.40",
            periods=[
                {"start": "22:00", "end": "06:00", "price_kwh": "0.20"},
                {"start": "18:00", "end": "24:00", "price_kwh": "0.60"},
            ],
        )
    )
    valid(out)
    conditions = [p.get("conditions") for p in out["energy"]["prices"]]
    assert conditions == [
        {"startTimeOfDay": "22:00", "endTimeOfDay": "06:00"},
        {"startTimeOfDay": "18:00", "endTimeOfDay": "00:00"},
        None,
    ]


def test_the_id_changes_with_the_prices_and_reads_back() -> None:
    """An edited tariff is a new tariffId (never DuplicateTariffId)."""
    a, b = tariff(price_kwh="0.30"), tariff(price_kwh="0.31")
    assert ocpp_tariff_id(a) != ocpp_tariff_id(b)
    assert ocpp_tariff_id(a) == ocpp_tariff_id(tariff(price_kwh="0.30"))
    assert volta_tariff_id(ocpp_tariff_id(a)) == 7
    assert volta_tariff_id("someone-elses") is None
    assert len(ocpp_tariff_id(a)) <= 60


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"currency": "XXX"}, "XXX"),
        ({"price_idle_minute": "0.1", "idle_grace_minutes": "0.0001"}, "whole number of seconds"),
        ({"id": None}, "no id"),
    ],
)
def test_what_2_1_cannot_say_is_refused(kw: dict[str, object], why: str) -> None:
    data = {"id": 7, "name": "T", "currency": "EUR", "price_kwh": "0.3", **kw}
    with pytest.raises(Untranslatable, match=why):
        to_ocpp(Tariff.from_dict(data))


def test_amounts_are_exact() -> None:
    """Six decimals and up to a million survive as JSON numbers."""
    out = to_ocpp(tariff(price_kwh="999999.123456", session_fee="0.000001"))
    assert Decimal(repr(out["energy"]["prices"][0]["priceKwh"])) == Decimal("999999.123456")
    assert Decimal(repr(out["fixedFee"]["prices"][0]["priceFixed"])) == Decimal("0.000001")


def test_a_free_tariff_says_only_its_currency() -> None:
    out = to_ocpp(tariff())
    valid(out)
    assert set(out) == {"tariffId", "currency", "description"}


TARIFF = to_ocpp(tariff(price_kwh="0.35"))

OUTGOING_CASES: list[tuple[object, Message]] = [
    (SetDefaultTariff(1, TARIFF), Message("SetDefaultTariff", {"evseId": 1, "tariff": TARIFF})),
    (
        ChangeTransactionTariff("tx-1", TARIFF),
        Message("ChangeTransactionTariff", {"transactionId": "tx-1", "tariff": TARIFF}),
    ),
    (GetTariffs(0), Message("GetTariffs", {"evseId": 0})),
    (ClearTariffs(), Message("ClearTariffs", {})),
    (
        ClearTariffs(("7-abcdef01",), 2),
        Message("ClearTariffs", {"tariffIds": ["7-abcdef01"], "evseId": 2}),
    ),
]


@pytest.mark.parametrize(("command", "message"), OUTGOING_CASES)
def test_v21_builders(command: object, message: Message) -> None:
    built = outgoing.build(copy.deepcopy(command))
    assert built == message
    registry().validate(Version.V21, built.action, built.payload)
